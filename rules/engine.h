// The rules engine: validation, derived series, anomaly detectors, alarms and maintenance
// scoring, configured from TOML rule files.
//
// Deterministic: the output depends only on the rule files and the readings fed in, in order.
// It never reads a clock; time comes from the readings' timestamps.
//
// Thread-safety: not thread-safe; one thread (the rules stage, or replay) owns an Engine.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/reading.h"
#include "gateway/config/schema.h"

namespace pn::rules {

// How one rule's detector scored: samples fed, how many were still warming up (NaN), how many
// reached min_score, and a histogram of the scores.
struct RuleScoreSummary {
  // Upper edges of the histogram bins; a last bin holds scores of exactly 1.
  static constexpr std::array<double, 5> kEdges{0.5, 0.9, 0.99, 0.999, 1.0};
  std::string rule;
  double min_score = 0.0;
  std::uint64_t samples = 0;
  std::uint64_t warming_up = 0;
  std::uint64_t flagged = 0;
  std::array<std::uint64_t, kEdges.size() + 1> bins{};

  void Add(double score, double threshold) {
    ++samples;
    if (std::isnan(score)) {
      ++warming_up;
      return;
    }
    if (score >= threshold) ++flagged;
    std::size_t b = 0;
    while (b < kEdges.size() && score >= kEdges[b]) ++b;
    ++bins[b];
  }

  std::uint64_t scored() const { return samples - warming_up; }
  double flagged_percent() const {
    return scored() > 0 ? 100.0 * static_cast<double>(flagged) / static_cast<double>(scored())
                        : 0.0;
  }
  // A rule that flags more than 5% of at least 100 scored samples is likely mis-tuned.
  bool flags_too_much() const { return scored() >= 100 && flagged_percent() > 5.0; }
  // Lower edge of bin `b` (its upper edge is kEdges[b]; the last bin holds exactly 1).
  static double BinLower(std::size_t b) { return b == 0 ? 0.0 : kEdges[b - 1]; }
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Loads rule files. Every problem is appended to `errors` as FILE:LINE:COL: key.path: what;
  // returns nullptr when there was any.
  static std::unique_ptr<Engine> LoadFiles(const std::vector<std::string>& files,
                                           config::ErrorList& errors);
  // Same, from TOML text; `name` stands for the file in messages.
  static std::unique_ptr<Engine> LoadString(std::string_view text, const std::string& name,
                                            config::ErrorList& errors);

  // Feeds one reading. Readings of one series must come in time order. The engine may change
  // the reading's quality (validation marks bad values bad). Appends the events it causes to
  // `out`. Returns true if the reading itself should be forwarded (report-on-change with a
  // deadband may suppress readings that did not change).
  virtual bool Process(Reading& reading, std::vector<Event>& out) = 0;

  // Advances the engine's notion of time without a reading (the rules stage calls it on a
  // timer with the wall clock; replay calls it with each row's time before the row). Series of
  // rules with `validate.stale_after_ms` that got no reading for longer than that raise an
  // `alarm` event (message "stale: ..."), once; their next reading clears it with `clear`.
  // `now_ns` must not go backwards. Appends the events to `out`.
  virtual void Tick(std::int64_t now_ns, std::vector<Event>& out) {
    (void)now_ns;
    (void)out;
  }

  // Moves the derived readings ([[derive]] series) computed since the last call into `out`,
  // so the daemon can forward them like any reading. Replay and rule tests need not call it.
  virtual void TakeDerived(std::vector<Reading>& out) { (void)out; }

  // Reload support: takes over the learned state of every rule of `previous` that is unchanged
  // in this engine (same name, same definition). Called before the first Process().
  virtual void AdoptState(Engine& previous) = 0;

  virtual std::size_t rule_count() const = 0;

  // Receives every detector score as it is computed (NaN while warming up), for replay's
  // report. Not owned; null (the default) turns it off at the cost of one branch per score.
  class ScoreObserver {
   public:
    virtual ~ScoreObserver() = default;
    virtual void OnScore(const std::string& rule, const std::string& device,
                         const std::string& series, std::int64_t ts_ns, double score) = 0;
  };
  void set_score_observer(ScoreObserver* observer) { score_observer_ = observer; }

  // Per rule with a detector, what its detector's scores looked like so far (replay prints it
  // so that a user tuning a rule sees at once when it fires on everything).
  virtual std::vector<RuleScoreSummary> ScoreSummaries() const = 0;

 protected:
  ScoreObserver* score_observer_ = nullptr;
};

}  // namespace pn::rules
