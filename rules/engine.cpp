// The rules engine implementation: dispatch of readings to rule states, per-series stages
// (validation, univariate detection, alarms, report-on-change) and per-device groups
// (multivariate detection, health models).
#include "rules/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <functional>
#include <unordered_map>

#include "rules/alarms/alarm.h"
#include "rules/glob.h"
#include "rules/rule_set.h"
#include "rules/validation.h"

namespace pn::rules {
namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// State of one rule for one series of one device.
struct SeriesState {
  std::string device;
  std::string series;
  bool stale = false;  // a stale alarm is raised
  Validator validator;
  Reporter reporter;
  std::unique_ptr<Detector> detector;  // univariate rules with a detector
  AlarmState alarm;
};

// State of one grouped (multivariate / health) rule for one device.
struct GroupState {
  std::vector<double> values;
  std::vector<bool> fresh;  // which series got a good value since the last complete sample
  std::size_t fresh_count = 0;
  std::unique_ptr<Detector> detector;
  AlarmState alarm;
  std::unique_ptr<HealthModel> model;
};

struct RuleRuntime {
  const RuleDef* def = nullptr;
  std::function<std::unique_ptr<HealthModel>()> health_factory;
  StringMap<std::unique_ptr<SeriesState>> series;  // key: device '\x1f' series
  StringMap<std::unique_ptr<GroupState>> groups;   // key: device
  RuleScoreSummary summary;                        // the detector's scores, all series
};

// One rule applying to one (device, series).
struct Binding {
  std::size_t rule = 0;
  SeriesState* series = nullptr;
  GroupState* group = nullptr;  // grouped rules only
  std::size_t slot = 0;         // index of the series in the group
  bool good = false;            // scratch: this rule's validation verdict on the reading
};

// Last good values of a derive's inputs for one device.
struct DeriveState {
  std::vector<double> values;
  std::vector<bool> fresh;
  std::size_t fresh_count = 0;
};

// One derive reading this (device, series).
struct DeriveBinding {
  std::size_t derive = 0;
  DeriveState* state = nullptr;
  std::size_t slot = 0;
};

struct SeriesEntry {
  std::vector<Binding> bindings;
  std::vector<DeriveBinding> derives;
  bool any_report = false;
};

struct DeviceEntry {
  std::vector<bool> device_matches;  // per rule
  std::vector<bool> derive_matches;  // per derive
  StringMap<SeriesEntry> series;
};

bool MatchesAny(const std::vector<std::string>& globs, const std::string& text) {
  for (const auto& g : globs) {
    if (GlobMatch(g, text)) return true;
  }
  return false;
}

class EngineImpl final : public Engine {
 public:
  explicit EngineImpl(std::unique_ptr<RuleSet> set) : set_(std::move(set)) {
    runtimes_.resize(set_->rules.size());
    derive_states_.resize(set_->derives.size());
    for (std::size_t i = 0; i < set_->rules.size(); ++i) {
      runtimes_[i].def = &set_->rules[i];
      runtimes_[i].health_factory = set_->rules[i].health_factory;
      const auto& v = set_->rules[i].validate;
      if (v && v->stale_after_ms > 0) has_stale_rules_ = true;
    }
  }

  bool Process(Reading& reading, std::vector<Event>& out) override {
    return ProcessOne(reading, out, 0);
  }

  void TakeDerived(std::vector<Reading>& out) override {
    for (Reading& r : derived_) out.push_back(std::move(r));
    derived_.clear();
  }

  bool ProcessOne(Reading& reading, std::vector<Event>& out, std::size_t depth) {
    SeriesEntry& entry = Lookup(reading.device, reading.series);
    // A text has no numeric meaning: no validation, detector, health or derived series; only
    // report-on-change applies (forward when the text changes).
    if (reading.kind == ValueKind::kString) return ShouldForward(entry, reading);
    if (entry.bindings.empty()) {
      if (!entry.derives.empty()) FeedDerives(entry, reading, out, depth);
      return true;
    }

    const bool incoming_ok = reading.quality != Quality::kBad && std::isfinite(reading.value);
    if (!std::isfinite(reading.value)) reading.quality = Quality::kBad;
    // Validation first, over every rule, so that the detectors of all rules see the same
    // verdict whatever their order.
    bool marked_bad = false;
    for (Binding& b : entry.bindings) {
      const RuleDef& def = *runtimes_[b.rule].def;
      if (def.validate) {
        b.good = incoming_ok &&
                 b.series->validator.Check(*def.validate, reading.ts_ns, reading.value).empty();
        if (!b.good) marked_bad = true;
      } else {
        b.good = incoming_ok;
      }
    }
    if (marked_bad) reading.quality = Quality::kBad;
    if (has_stale_rules_) {
      for (Binding& b : entry.bindings) {
        const auto& v = runtimes_[b.rule].def->validate;
        if (v && v->stale_after_ms > 0) {
          next_stale_check_ns_ =
              std::min(next_stale_check_ns_, reading.ts_ns + v->stale_after_ms * 1'000'000 + 1);
        }
      }
    }
    if (any_stale_) {
      for (Binding& b : entry.bindings) {
        if (!b.series->stale) continue;
        b.series->stale = false;
        const RuleDef& def = *runtimes_[b.rule].def;
        Event& e =
            NewEvent(out, def, reading.ts_ns, reading.device, reading.series, EventKind::kClear);
        e.value = reading.value;
        e.severity = def.alarm ? def.alarm->severity : "warning";
        e.message = "stale: readings resumed";
      }
    }

    for (Binding& b : entry.bindings) {
      if (!b.good) continue;
      RuleRuntime& rt = runtimes_[b.rule];
      const RuleDef& def = *rt.def;
      if (b.group != nullptr) {
        FeedGroup(rt, *b.group, b.slot, reading, out);
      } else if (def.detector != nullptr) {
        SeriesState& s = *b.series;
        if (!s.detector) s.detector = def.detector->create(*def.detector_section, 1);
        if (!s.detector) continue;
        double v = reading.value;
        double score = s.detector->Update(reading.ts_ns, std::span<const double>(&v, 1));
        Observe(rt, reading.device, reading.series, reading.ts_ns, score);
        HandleScore(def, s.alarm, reading.ts_ns, reading.value, score, reading.device,
                    reading.series, out);
      }
    }

    if (!entry.derives.empty()) FeedDerives(entry, reading, out, depth);
    return ShouldForward(entry, reading);
  }

  // Report-on-change: forwarded when no rule reports it, or when one says it changed.
  bool ShouldForward(SeriesEntry& entry, const Reading& reading) {
    if (!entry.any_report) return true;
    bool forward = false;
    for (Binding& b : entry.bindings) {
      const RuleDef& def = *runtimes_[b.rule].def;
      if (def.report && b.series->reporter.ShouldForward(*def.report, reading)) forward = true;
    }
    return forward;
  }

  void AdoptState(Engine& previous) override {
    auto* prev = dynamic_cast<EngineImpl*>(&previous);
    if (prev == nullptr || prev == this) return;
    for (RuleRuntime& rt : runtimes_) {
      for (RuleRuntime& old : prev->runtimes_) {
        if (old.def->name != rt.def->name) continue;
        if (old.def->definition == rt.def->definition) {
          rt.series = std::move(old.series);
          rt.groups = std::move(old.groups);
          // Models made by the old factory may share its resources: keep them together.
          if (old.health_factory) rt.health_factory = std::move(old.health_factory);
        }
        break;
      }
    }
    devices_.clear();
    prev->devices_.clear();
    any_stale_ = true;
    next_stale_check_ns_ = 0;
  }

  std::size_t rule_count() const override { return runtimes_.size(); }

  std::vector<RuleScoreSummary> ScoreSummaries() const override {
    std::vector<RuleScoreSummary> out;
    for (const RuleRuntime& rt : runtimes_) {
      if (rt.def->detector == nullptr) continue;
      RuleScoreSummary s = rt.summary;
      s.rule = rt.def->name;
      s.min_score = rt.def->min_score;
      out.push_back(std::move(s));
    }
    return out;
  }

  void Tick(std::int64_t now_ns, std::vector<Event>& out) override {
    if (!has_stale_rules_ || now_ns < next_stale_check_ns_) return;
    std::int64_t next = INT64_MAX;
    for (RuleRuntime& rt : runtimes_) {
      const RuleDef& def = *rt.def;
      if (!def.validate || def.validate->stale_after_ms <= 0) continue;
      const std::int64_t limit_ns = def.validate->stale_after_ms * 1'000'000;
      for (auto& [key, s] : rt.series) {
        if (s->stale || s->validator.last_ts_ns() == 0) continue;
        const std::int64_t due = s->validator.last_ts_ns() + limit_ns;
        if (now_ns <= due) {
          next = std::min(next, due + 1);
          continue;
        }
        s->stale = true;
        any_stale_ = true;
        Event& e = NewEvent(out, def, now_ns, s->device, s->series, EventKind::kAlarm);
        e.severity = def.alarm ? def.alarm->severity : "warning";
        e.message = "stale: no reading for " +
                    std::to_string((now_ns - s->validator.last_ts_ns()) / 1'000'000) + " ms";
      }
    }
    // Nothing can become stale before `next` unless a new reading arrives, which only moves
    // deadlines later; new series are picked up by the reset in Process.
    next_stale_check_ns_ = next;
  }

 private:
  SeriesEntry& Lookup(const std::string& device, const std::string& series) {
    auto dit = devices_.find(std::string_view(device));
    if (dit == devices_.end()) {
      DeviceEntry d;
      d.device_matches.resize(runtimes_.size());
      for (std::size_t i = 0; i < runtimes_.size(); ++i) {
        d.device_matches[i] = MatchesAny(runtimes_[i].def->devices, device);
      }
      d.derive_matches.resize(set_->derives.size());
      for (std::size_t i = 0; i < set_->derives.size(); ++i) {
        d.derive_matches[i] = MatchesAny(set_->derives[i].devices, device);
      }
      dit = devices_.emplace(device, std::move(d)).first;
    }
    DeviceEntry& d = dit->second;
    auto sit = d.series.find(std::string_view(series));
    if (sit != d.series.end()) return sit->second;

    SeriesEntry e;
    for (std::size_t i = 0; i < set_->derives.size(); ++i) {
      if (!d.derive_matches[i]) continue;
      const DeriveDef& def = set_->derives[i];
      const auto& vars = def.expr->variables();
      for (std::size_t k = 0; k < vars.size(); ++k) {
        if (vars[k] != series) continue;
        auto& st = derive_states_[i][device];
        if (!st) {
          st = std::make_unique<DeriveState>();
          st->values.assign(vars.size(), 0.0);
          st->fresh.assign(vars.size(), false);
        }
        e.derives.push_back({i, st.get(), k});
      }
    }
    for (std::size_t i = 0; i < runtimes_.size(); ++i) {
      if (!d.device_matches[i]) continue;
      RuleRuntime& rt = runtimes_[i];
      const RuleDef& def = *rt.def;
      Binding b;
      b.rule = i;
      if (def.grouped) {
        std::size_t slot = def.series.size();
        for (std::size_t k = 0; k < def.series.size(); ++k) {
          if (def.series[k] == series) slot = k;
        }
        if (slot == def.series.size()) continue;
        auto& g = rt.groups[device];
        if (!g) {
          g = std::make_unique<GroupState>();
          g->values.assign(def.series.size(), 0.0);
          g->fresh.assign(def.series.size(), false);
        }
        b.group = g.get();
        b.slot = slot;
      } else if (!MatchesAny(def.series, series)) {
        continue;
      }
      std::string key = device;
      key += '\x1f';
      key += series;
      auto& s = rt.series[key];
      if (!s) {
        s = std::make_unique<SeriesState>();
        s->device = device;
        s->series = series;
      }
      b.series = s.get();
      if (def.report) e.any_report = true;
      e.bindings.push_back(b);
    }
    return d.series.emplace(series, std::move(e)).first->second;
  }

  void FeedDerives(SeriesEntry& entry, const Reading& r, std::vector<Event>& out,
                   std::size_t depth) {
    if (r.quality == Quality::kBad || !std::isfinite(r.value)) return;
    if (depth > set_->derives.size()) return;  // cannot happen: derives read earlier ones only
    for (const DeriveBinding& db : entry.derives) {
      DeriveState& st = *db.state;
      st.values[db.slot] = r.value;
      if (!st.fresh[db.slot]) {
        st.fresh[db.slot] = true;
        ++st.fresh_count;
      }
      if (st.fresh_count < st.values.size()) continue;
      st.fresh.assign(st.fresh.size(), false);
      st.fresh_count = 0;
      const DeriveDef& def = set_->derives[db.derive];
      Reading derived{r.device, def.name,       def.expr->Eval(st.values),
                      def.unit, Quality::kGood, r.ts_ns};
      if (ProcessOne(derived, out, depth + 1)) derived_.push_back(std::move(derived));
    }
  }

  void FeedGroup(RuleRuntime& rt, GroupState& g, std::size_t slot, const Reading& r,
                 std::vector<Event>& out) {
    const RuleDef& def = *rt.def;
    g.values[slot] = r.value;
    if (!g.fresh[slot]) {
      g.fresh[slot] = true;
      ++g.fresh_count;
    }
    if (g.fresh_count < g.values.size()) return;
    // A complete sample: every series has a good value since the last one.
    g.fresh.assign(g.fresh.size(), false);
    g.fresh_count = 0;
    std::span<const double> values(g.values);
    if (def.detector != nullptr) {
      if (!g.detector) g.detector = def.detector->create(*def.detector_section, values.size());
      if (g.detector) {
        double score = g.detector->Update(r.ts_ns, values);
        Observe(rt, r.device, def.group_series, r.ts_ns, score);
        HandleScore(def, g.alarm, r.ts_ns, kNaN, score, r.device, def.group_series, out);
      }
    }
    if (def.health != nullptr && rt.health_factory) {
      if (!g.model) g.model = rt.health_factory();
      if (g.model) {
        HealthEstimate est = g.model->Update(static_cast<double>(r.ts_ns) / 1e9, values);
        if (!std::isnan(est.health)) {
          Event& e = NewEvent(out, def, r.ts_ns, r.device, def.group_series, EventKind::kHealth);
          e.health = est.health;
          e.trend = est.trend;
        }
        if (!std::isnan(est.rul)) {
          Event& e = NewEvent(out, def, r.ts_ns, r.device, def.group_series, EventKind::kRul);
          e.rul = est.rul;
        }
      }
    }
  }

  // Counts a detector's score in its rule's summary and hands it to the observer, if any.
  void Observe(RuleRuntime& rt, const std::string& device, const std::string& series,
               std::int64_t ts_ns, double score) {
    rt.summary.Add(score, rt.def->min_score);
    if (score_observer_ != nullptr) {
      score_observer_->OnScore(rt.def->name, device, series, ts_ns, score);
    }
  }

  static Event& NewEvent(std::vector<Event>& out, const RuleDef& def, std::int64_t ts_ns,
                         const std::string& device, const std::string& series, EventKind kind) {
    Event& e = out.emplace_back();
    e.ts_ns = ts_ns;
    e.device = device;
    e.series = series;
    e.rule = def.name;
    e.kind = kind;
    return e;
  }

  static void HandleScore(const RuleDef& def, AlarmState& alarm, std::int64_t ts_ns, double value,
                          double score, const std::string& device, const std::string& series,
                          std::vector<Event>& out) {
    if (std::isnan(score)) return;
    if (score >= def.min_score) {
      Event& e = NewEvent(out, def, ts_ns, device, series, EventKind::kAnomaly);
      e.value = value;
      e.score = score;
    }
    if (!def.alarm) return;
    AlarmState::Transition t = alarm.Update(*def.alarm, ts_ns, score);
    if (t == AlarmState::Transition::kNone) return;
    bool raised = t == AlarmState::Transition::kRaised;
    Event& e =
        NewEvent(out, def, ts_ns, device, series, raised ? EventKind::kAlarm : EventKind::kClear);
    e.value = value;
    e.score = score;
    e.severity = def.alarm->severity;
    e.message = AlarmMessage(def, raised, device, series, value, score);
  }

  // What an operator reads on an alarm or clear event: which series, how bad, why.
  //   "pump-2 temperature: critical alarm raised by pump_overheat: value 131.2, score 1.00 >= 0.50
  //    for 3 readings"
  //   "pump-2 temperature: back to normal (pump_overheat): value 80.1, score 0.00 < 0.50 for 5
  //    readings"
  static std::string AlarmMessage(const RuleDef& def, bool raised, const std::string& device,
                                  const std::string& series, double value, double score) {
    const AlarmParams& a = *def.alarm;
    std::string where = series.empty() ? device : device + " " + series;
    auto readings = [](std::int64_t n) {
      return fmt::format("{} reading{}", n, n == 1 ? "" : "s");
    };
    if (raised) {
      return fmt::format("{}: {} alarm raised by {}: value {:g}, score {:.2f} >= {:.2f} for {}",
                         where, a.severity, def.name, value, score, a.raise_level,
                         readings(a.raise_after));
    }
    return fmt::format("{}: back to normal ({}): value {:g}, score {:.2f} < {:.2f} for {}", where,
                       def.name, value, score, a.clear_level, readings(a.clear_after));
  }

  std::unique_ptr<RuleSet> set_;
  std::vector<RuleRuntime> runtimes_;
  bool has_stale_rules_ = false;          // some rule has validate.stale_after_ms
  bool any_stale_ = false;                // some series may have a raised stale alarm
  std::int64_t next_stale_check_ns_ = 0;  // Tick() has nothing to do before this
  StringMap<DeviceEntry> devices_;
  std::vector<StringMap<std::unique_ptr<DeriveState>>> derive_states_;
  std::vector<Reading>
      derived_;  // derived readings not yet taken by TakeDerived()  // per derive, by device
};

}  // namespace

std::unique_ptr<Engine> NewEngine(std::unique_ptr<RuleSet> set) {
  return std::make_unique<EngineImpl>(std::move(set));
}

std::unique_ptr<Engine> Engine::LoadFiles(const std::vector<std::string>& files,
                                          config::ErrorList& errors) {
  std::size_t before = errors.size();
  auto set = LoadRuleFiles(files, errors);
  if (errors.size() != before) return nullptr;
  return std::make_unique<EngineImpl>(std::move(set));
}

std::unique_ptr<Engine> Engine::LoadString(std::string_view text, const std::string& name,
                                           config::ErrorList& errors) {
  std::size_t before = errors.size();
  auto set = LoadRuleText(text, name, errors);
  if (errors.size() != before) return nullptr;
  return std::make_unique<EngineImpl>(std::move(set));
}

}  // namespace pn::rules
