// The request planner: which Modbus reads to send for the tags that are due.
//
// Pure and deterministic: no I/O, no clock. At each tick the driver passes the indices of the
// due tags; Plan() groups them by unit id and table and coalesces each group, sorted by address,
// into the fewest block reads that respect the limits: a block never spans more than
// `max_registers` registers (holding, input) or `max_bits` bits (coil, discrete input), and two
// tags share a block only when the unread gap between them is at most `max_gap` registers (or
// `max_gap_bits` bits). Greedy left-to-right extension is optimal for this covering problem.
//
// When a device rejects a block with exception 02 (illegal data address) -- typically because a
// filled gap holds unmapped addresses -- Split() cuts the block in two at the tag start nearest
// its middle and remembers the cut: every later plan breaks blocks there too. Repeated splits
// narrow the bad range down in log2(tags) steps, after which the rest is read in as few blocks
// as the remembered cuts allow.
//
// Thread-safety: none; owned by one driver thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "drivers/modbus/decode.h"

namespace pn::modbus {

// Protocol limits: read holding/input registers 125, read coils/discrete inputs 2000.
inline constexpr int kMaxRegistersPerRead = 125;
inline constexpr int kMaxBitsPerRead = 2000;

// What the planner needs to know about a tag. `address` is 0-based (protocol address).
struct PlanTag {
  int unit_id = 1;
  Table table = Table::kHolding;
  int address = 0;
  int count = 1;  // registers, or bits (1) in a bit table
};

struct PlannerLimits {
  int max_registers = kMaxRegistersPerRead;  // clamped to 1..125
  int max_bits = kMaxBitsPerRead;            // clamped to 1..2000
  int max_gap = 0;                           // registers
  int max_gap_bits = 0;                      // bits
};

// One read request: `count` registers or bits from `address` of `table` on `unit_id`, covering
// the tags listed (indices into the planner's tag list, sorted by address then index).
struct Block {
  int unit_id = 1;
  Table table = Table::kHolding;
  int address = 0;
  int count = 0;
  std::vector<std::size_t> tags;

  bool operator==(const Block&) const = default;
};

// "unit 1 holding 0..9 (3 tags)" for logs and test messages.
std::string Describe(const Block& b);

class Planner {
 public:
  // REQUIRES: every tag fits in one read (count <= the limit for its table) and in 0..65535.
  Planner(std::vector<PlanTag> tags, PlannerLimits limits);

  // The reads for the tags in `due` (indices into the tag list; order and duplicates do not
  // matter), ordered by unit id, table, address.
  std::vector<Block> Plan(std::span<const std::size_t> due) const;

  // Every tag at once: the reads of a full scan.
  std::vector<Block> PlanAll() const;

  // Called when `block` (as returned by Plan) was rejected with exception 02. Remembers a cut
  // and returns the two halves to read instead. Returns an empty vector when the block cannot be
  // split (all its tags start at the same address): those tags are themselves unreadable.
  std::vector<Block> Split(const Block& block);

  // Remembered cuts per unit id and table: a block never contains addresses on both sides.
  const std::map<std::pair<int, Table>, std::set<int>>& cuts() const { return cuts_; }

  const std::vector<PlanTag>& tags() const { return tags_; }
  const PlannerLimits& limits() const { return limits_; }

 private:
  // Coalesces the tags in `group` (same unit and table, sorted by address) into blocks.
  void Coalesce(std::span<const std::size_t> group, std::vector<Block>& out) const;

  std::vector<PlanTag> tags_;
  std::vector<std::size_t> sorted_;  // every tag index by (unit id, table, address, index)
  PlannerLimits limits_;
  std::map<std::pair<int, Table>, std::set<int>> cuts_;
};

}  // namespace pn::modbus
