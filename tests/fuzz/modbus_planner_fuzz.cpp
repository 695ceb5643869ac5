// Fuzzes the Modbus request planner (drivers/modbus/planner.h) with arbitrary tag maps and
// exception-02 splits, checking its invariants: every due tag is in exactly one block, every
// block lies in 0..65535, within the read limit, covers its tags, and never spans a cut.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <vector>

#include "drivers/modbus/planner.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pn::modbus;
  if (size < 4) return 0;
  PlannerLimits limits;
  limits.max_registers = 1 + data[0] % kMaxRegistersPerRead;
  limits.max_bits = 1 + data[1] * 8;
  limits.max_gap = data[2] % 40;
  limits.max_gap_bits = data[3];
  std::vector<PlanTag> tags;
  for (std::size_t i = 4; i + 4 <= size && tags.size() < 300; i += 4) {
    PlanTag t;
    t.unit_id = data[i] % 3;
    t.table = static_cast<Table>(data[i] / 3 % 4);
    t.address = (data[i + 1] << 8 | data[i + 2]);
    t.count = IsBitTable(t.table) ? 1 : 1 + data[i + 3] % 4;
    if (t.count > limits.max_registers) t.count = 1;
    if (t.address + t.count > 65536) t.address = 65536 - t.count;
    tags.push_back(t);
  }
  Planner planner(tags, limits);
  for (int round = 0; round < 3; ++round) {
    std::vector<Block> blocks = planner.PlanAll();
    std::vector<int> seen(tags.size(), 0);
    for (const Block& b : blocks) {
      const int limit = IsBitTable(b.table) ? limits.max_bits : limits.max_registers;
      if (b.count < 1 || b.count > limit || b.address < 0 || b.address + b.count > 65536) {
        std::abort();
      }
      for (std::size_t idx : b.tags) {
        const PlanTag& t = tags[idx];
        ++seen[idx];
        if (t.unit_id != b.unit_id || t.table != b.table || t.address < b.address ||
            t.address + t.count > b.address + b.count) {
          std::abort();
        }
      }
      if (auto it = planner.cuts().find({b.unit_id, b.table}); it != planner.cuts().end()) {
        for (int c : it->second) {
          bool below = false, above = false;
          for (std::size_t idx : b.tags) (tags[idx].address < c ? below : above) = true;
          if (below && above) std::abort();
        }
      }
    }
    for (int s : seen) {
      if (s != 1) std::abort();
    }
    // Split the blocks the input selects, as if the device had rejected them.
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (data[(round + i) % size] & 1) {
        std::vector<Block> halves = planner.Split(blocks[i]);
        std::size_t n = 0;
        for (const Block& h : halves) n += h.tags.size();
        if (!halves.empty() && (halves.size() < 2 || n != blocks[i].tags.size())) std::abort();
      }
    }
  }
  return 0;
}
