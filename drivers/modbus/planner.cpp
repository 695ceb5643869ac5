#include "drivers/modbus/planner.h"

#include <algorithm>
#include <cstdlib>
#include <tuple>

namespace pn::modbus {

std::string Describe(const Block& b) {
  return "unit " + std::to_string(b.unit_id) + " " + std::string(TableName(b.table)) + " " +
         std::to_string(b.address) + ".." + std::to_string(b.address + b.count - 1) + " (" +
         std::to_string(b.tags.size()) + (b.tags.size() == 1 ? " tag)" : " tags)");
}

Planner::Planner(std::vector<PlanTag> tags, PlannerLimits limits)
    : tags_(std::move(tags)), limits_(limits) {
  limits_.max_registers = std::clamp(limits_.max_registers, 1, kMaxRegistersPerRead);
  limits_.max_bits = std::clamp(limits_.max_bits, 1, kMaxBitsPerRead);
  limits_.max_gap = std::max(limits_.max_gap, 0);
  limits_.max_gap_bits = std::max(limits_.max_gap_bits, 0);
  sorted_.resize(tags_.size());
  for (std::size_t i = 0; i < sorted_.size(); ++i) sorted_[i] = i;
  auto key = [this](std::size_t i) {
    const PlanTag& t = tags_[i];
    return std::make_tuple(t.unit_id, static_cast<int>(t.table), t.address, i);
  };
  std::sort(sorted_.begin(), sorted_.end(),
            [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
}

std::vector<Block> Planner::Plan(std::span<const std::size_t> due) const {
  // Filtering the presorted index keeps a tick O(tags) instead of a sort per tick.
  std::vector<char> is_due(tags_.size(), 0);
  for (std::size_t i : due) {
    if (i < is_due.size()) is_due[i] = 1;
  }
  std::vector<std::size_t> order;
  order.reserve(due.size());
  for (std::size_t i : sorted_) {
    if (is_due[i] != 0) order.push_back(i);
  }

  std::vector<Block> out;
  std::size_t begin = 0;
  while (begin < order.size()) {
    const PlanTag& first = tags_[order[begin]];
    std::size_t end = begin + 1;
    while (end < order.size() && tags_[order[end]].unit_id == first.unit_id &&
           tags_[order[end]].table == first.table) {
      ++end;
    }
    Coalesce(std::span(order).subspan(begin, end - begin), out);
    begin = end;
  }
  return out;
}

std::vector<Block> Planner::PlanAll() const {
  std::vector<std::size_t> all(tags_.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  return Plan(all);
}

void Planner::Coalesce(std::span<const std::size_t> group, std::vector<Block>& out) const {
  if (group.empty()) return;
  const PlanTag& head = tags_[group.front()];
  const bool bits = IsBitTable(head.table);
  const int limit = bits ? limits_.max_bits : limits_.max_registers;
  const int gap = bits ? limits_.max_gap_bits : limits_.max_gap;
  const std::set<int>* cuts = nullptr;
  if (auto it = cuts_.find({head.unit_id, head.table}); it != cuts_.end()) cuts = &it->second;

  Block cur;
  int cur_end = 0;  // one past the last address covered
  bool open = false;
  for (std::size_t idx : group) {
    const PlanTag& t = tags_[idx];
    const int t_end = t.address + t.count;
    if (open) {
      const int new_end = std::max(cur_end, t_end);
      bool fits = t.address - cur_end <= gap && new_end - cur.address <= limit;
      if (fits && cuts != nullptr) {
        // A cut at c forbids a block holding a tag starting before c and one starting at or
        // after c: the tags on either side of the cut go to different reads.
        auto c = cuts->upper_bound(cur.address);
        if (c != cuts->end() && *c <= t.address) fits = false;
      }
      if (fits) {
        cur_end = new_end;
        cur.count = cur_end - cur.address;
        cur.tags.push_back(idx);
        continue;
      }
      out.push_back(std::move(cur));
    }
    cur = Block{t.unit_id, t.table, t.address, t.count, {idx}};
    cur_end = t_end;
    open = true;
  }
  if (open) out.push_back(std::move(cur));
}

std::vector<Block> Planner::Split(const Block& block) {
  // Distinct tag start addresses in the block, other than the first: the possible cuts.
  std::vector<int> starts;
  for (std::size_t idx : block.tags) {
    const int a = tags_[idx].address;
    if (a != block.address) starts.push_back(a);
  }
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  if (starts.empty()) return {};
  const int middle = block.address + block.count / 2;
  int cut = starts.front();
  for (int s : starts) {
    if (std::abs(s - middle) < std::abs(cut - middle)) cut = s;
  }
  cuts_[{block.unit_id, block.table}].insert(cut);
  return Plan(block.tags);
}

}  // namespace pn::modbus
