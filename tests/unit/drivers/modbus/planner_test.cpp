// The request planner: exact blocks and request counts for a known map, the limits, and the
// split-on-exception-02 memory.
#include "drivers/modbus/planner.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace pn::modbus {
namespace {

PlanTag H(int unit, int address, int count) { return {unit, Table::kHolding, address, count}; }

std::vector<std::string> Describe(const std::vector<Block>& blocks) {
  std::vector<std::string> out;
  for (const Block& b : blocks) out.push_back(modbus::Describe(b));
  return out;
}

// The map of the request-count test: 22 tags on two units, all four tables.
std::vector<PlanTag> KnownMap() {
  std::vector<PlanTag> tags = {
      H(1, 0, 1),                        // 0  uint16
      H(1, 1, 2),                        // 1  int32 at 1..2
      H(1, 3, 2),                        // 2  float32 at 3..4
      H(1, 20, 1),                       // 3  gap of 15 after 4: new block
      H(1, 30, 4),                       // 4  float64 at 30..33, gap of 9: joins 20
      H(1, 100, 1),                      // 5  gap of 66: alone
      H(1, 200, 4),                      // 6  gap of 99: alone
      {1, Table::kInput, 0, 2},          // 7
      {1, Table::kInput, 5, 2},          // 8  gap 3: joins
      {1, Table::kCoil, 0, 1},           // 9
      {1, Table::kCoil, 100, 1},         // 10 gap 99 bits: joins
      {1, Table::kCoil, 170, 1},         // 11 gap 69: joins -> 0..170
      {1, Table::kCoil, 2100, 1},        // 12 gap 1929: alone
      {1, Table::kDiscreteInput, 7, 1},  // 13
      H(2, 0, 1),                        // 14 another unit
  };
  // 130 adjacent registers at 1000..1129: 125 + 5.
  for (int a = 1000; a < 1130; ++a) tags.push_back(H(1, a, 1));
  return tags;
}

PlannerLimits Limits(int max_registers = 125, int max_gap = 10) {
  PlannerLimits l;
  l.max_registers = max_registers;
  l.max_bits = 2000;
  l.max_gap = max_gap;
  l.max_gap_bits = 160;
  return l;
}

}  // namespace

TEST_CASE("planner: a known map needs exactly 11 requests, with these blocks") {
  Planner p(KnownMap(), Limits());
  const std::vector<Block> plan = p.PlanAll();
  CHECK(plan.size() == 11);
  const std::vector<std::string> expected = {
      "unit 1 coil 0..170 (3 tags)",        "unit 1 coil 2100..2100 (1 tag)",
      "unit 1 discrete_input 7..7 (1 tag)", "unit 1 holding 0..4 (3 tags)",
      "unit 1 holding 20..33 (2 tags)",     "unit 1 holding 100..100 (1 tag)",
      "unit 1 holding 200..203 (1 tag)",    "unit 1 holding 1000..1124 (125 tags)",
      "unit 1 holding 1125..1129 (5 tags)", "unit 1 input 0..6 (2 tags)",
      "unit 2 holding 0..0 (1 tag)",
  };
  CHECK(Describe(plan) == expected);
  CHECK(plan[3].tags == std::vector<std::size_t>{0, 1, 2});
  CHECK(plan[4].tags == std::vector<std::size_t>{3, 4});
}

TEST_CASE("planner: the per-device register limit and max_gap change the blocks") {
  SUBCASE("max_registers_per_read = 10 splits 20..33 and the 130-register run") {
    Planner p(KnownMap(), Limits(10, 10));
    const auto d = Describe(p.PlanAll());
    CHECK(d.size() == 11 - 1 + 1 + 12);  // 20..33 -> 2 blocks; 130 -> 13 blocks
    CHECK(std::find(d.begin(), d.end(), "unit 1 holding 20..20 (1 tag)") != d.end());
    CHECK(std::find(d.begin(), d.end(), "unit 1 holding 30..33 (1 tag)") != d.end());
    CHECK(std::find(d.begin(), d.end(), "unit 1 holding 1120..1129 (10 tags)") != d.end());
  }
  SUBCASE("max_gap = 0 joins only adjacent tags") {
    Planner p({H(1, 0, 1), H(1, 1, 2), H(1, 3, 2), H(1, 6, 1)}, Limits(125, 0));
    CHECK(Describe(p.PlanAll()) ==
          std::vector<std::string>{"unit 1 holding 0..4 (3 tags)", "unit 1 holding 6..6 (1 tag)"});
  }
  SUBCASE("max_gap = 100 bridges everything within 125 registers") {
    Planner p({H(1, 0, 1), H(1, 50, 2), H(1, 120, 4), H(1, 125, 1)}, Limits(125, 100));
    CHECK(Describe(p.PlanAll()) == std::vector<std::string>{"unit 1 holding 0..123 (3 tags)",
                                                            "unit 1 holding 125..125 (1 tag)"});
  }
  SUBCASE("the 2000-bit limit") {
    std::vector<PlanTag> tags;
    for (int a = 0; a < 2500; a += 100) tags.push_back({1, Table::kCoil, a, 1});
    PlannerLimits l = Limits();
    l.max_gap_bits = 1000;
    Planner p(tags, l);
    CHECK(Describe(p.PlanAll()) == std::vector<std::string>{"unit 1 coil 0..1900 (20 tags)",
                                                            "unit 1 coil 2000..2400 (5 tags)"});
  }
  SUBCASE("overlapping tags share a block") {
    Planner p({H(1, 10, 4), H(1, 10, 1), H(1, 12, 2)}, Limits());
    CHECK(Describe(p.PlanAll()) == std::vector<std::string>{"unit 1 holding 10..13 (3 tags)"});
  }
}

TEST_CASE("planner: only the due tags are planned, in a deterministic order") {
  Planner p(KnownMap(), Limits());
  const std::vector<std::size_t> due = {14, 4, 3, 3, 9};
  CHECK(Describe(p.Plan(due)) == std::vector<std::string>{"unit 1 coil 0..0 (1 tag)",
                                                          "unit 1 holding 20..33 (2 tags)",
                                                          "unit 2 holding 0..0 (1 tag)"});
  CHECK(p.Plan(std::vector<std::size_t>{}).empty());
}

TEST_CASE("planner: exception 02 splits a block, the split is remembered, and splitting ends") {
  Planner p({H(1, 0, 1), H(1, 1, 2), H(1, 3, 2), H(1, 20, 1), H(1, 30, 4)}, Limits(125, 30));
  std::vector<Block> plan = p.PlanAll();
  REQUIRE(Describe(plan) == std::vector<std::string>{"unit 1 holding 0..33 (5 tags)"});

  // Cut at the tag start nearest the middle (17): 20.
  std::vector<Block> halves = p.Split(plan[0]);
  CHECK(Describe(halves) ==
        std::vector<std::string>{"unit 1 holding 0..4 (3 tags)", "unit 1 holding 20..33 (2 tags)"});
  CHECK(p.cuts().at({1, Table::kHolding}) == std::set<int>{20});
  // Remembered: the next full scan plans two reads.
  CHECK(Describe(p.PlanAll()) == Describe(halves));

  // Rejected again: 20..33 splits at 30.
  std::vector<Block> quarters = p.Split(halves[1]);
  CHECK(Describe(quarters) ==
        std::vector<std::string>{"unit 1 holding 20..20 (1 tag)", "unit 1 holding 30..33 (1 tag)"});
  CHECK(p.PlanAll().size() == 3);
  // A block of one tag cannot be split: the tag itself is unreadable.
  CHECK(p.Split(quarters[1]).empty());
  CHECK(p.PlanAll().size() == 3);
  // Cuts are per unit and table: unit 2 is not affected.
  Planner q({H(1, 0, 1), H(1, 20, 1), H(2, 0, 1), H(2, 20, 1)}, Limits(125, 30));
  q.Split(q.PlanAll()[0]);
  CHECK(Describe(q.PlanAll()) == std::vector<std::string>{"unit 1 holding 0..0 (1 tag)",
                                                          "unit 1 holding 20..20 (1 tag)",
                                                          "unit 2 holding 0..20 (2 tags)"});
}

}  // namespace pn::modbus
