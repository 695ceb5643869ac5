// Similarity-based prognostics (Wang, Yu, Siegel, Lee, PHM 2008), streaming.
//
// Shared part (SimilarityLibrary, built once from a ReferenceLibrary of run-to-failure
// trajectories): operating regimes found by k-means on the library's setting columns (if the
// rule names any), each sensor's mean and standard deviation per regime, a linear
// health-indicator regression on the per-regime normalised sensors, fitted on the library (each
// unit's first `healthy_fraction` of life labelled 1, its last `failed_fraction` labelled 0),
// and every library unit's smoothed health-indicator trajectory with its remaining time at each
// row.
//
// Per asset (SimilarityModel): each sample is assigned to the nearest regime, its sensors are
// normalised with that regime's statistics and mapped to a health indicator; for every library
// row e the model keeps the (optionally exponentially forgetting) sum of squared differences
// between the asset's history and the library trajectory aligned so that the newest sample sits
// on row e. Each library unit's best alignment gives a RUL candidate (that unit's remaining time
// after row e); the `neighbours` most similar units' candidates, each clipped to `rul_cap`, are
// combined by median or mean. One update costs O(library rows); the per-asset state is one
// double per library row plus a small ring for the trend, independent of stream length.
//
// Optionally (regression_weight > 0) a second estimate is blended in: boosted regression trees
// (BoostedTrees), fitted on the library, from HealthHistory features of the asset's raw
// health-indicator history (windowed means and slopes, whole-history mean, age) and
// SensorHistory features (each normalised sensor's windowed mean and slope) to the remaining
// time capped at rul_cap. Weight 1 skips the matching (no per-row state).
//
// Thread-safety: SimilarityLibrary is immutable and shared; a SimilarityModel is owned by one
// thread.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gateway/config/schema.h"
#include "rules/maintenance/boosted_trees.h"
#include "rules/maintenance/health_model.h"
#include "rules/maintenance/reference_library.h"

namespace pn::rules {

struct SimilarityParams {
  std::vector<std::size_t> settings;  // indexes (in rule order) of operating-setting series
  int regimes = 0;                    // operating regimes; 0 = chosen automatically
  double min_separation = 0.0;        // drop sensors separating healthy from failed rows less
  int regime_history = 0;             // EWMA span of the regime-occupancy features; 0 = none
  double healthy_fraction = 0.1;      // first part of each library life labelled health 1
  double failed_fraction = 0.1;       // last part labelled health 0
  int library_smoothing = 15;         // centred moving-average window of library trajectories
  int memory = 0;                     // forgetting horizon in samples; 0 = whole history
  int neighbours = 10;                // library units combined
  bool median = true;                 // combine by median (else mean)
  double rul_cap = 0.0;               // clip each candidate RUL to this; 0 = no cap
  bool age_beyond_cap = false;        // a candidate beyond rul_cap becomes the age prior
  int min_samples = 10;               // no RUL before this many samples
  int health_smoothing = 10;          // EWMA span of the emitted health
  int trend_window = 30;              // samples in the trend's least-squares slope
  // Weight of the regression estimate in the emitted RUL (the rest: the similarity estimate);
  // 0 = no regression, 1 = regression only (the matching is then skipped).
  double regression_weight = 0.0;
  int regression_sensor_window = 240;  // samples of the per-sensor inputs; 0 = none
  BoostedTreesParams trees;            // the regression's boosted trees
};

// The regression's inputs from an asset's history of (unsmoothed) health-indicator values, the
// same for a library unit's rows as for a streaming asset: the mean of the last 5, 15, 30, 60,
// 120 and 240 values, the least-squares slope per sample of the last 30, 60, 120 and 240, the
// mean of the whole history, and its length in samples (the asset's age). Fewer values than a
// window: all of them (a slope of fewer than two values is 0). Constant memory (a ring of the
// last 240 values).
class HealthHistory {
 public:
  static constexpr std::array<std::size_t, 6> kMeans{5, 15, 30, 60, 120, 240};
  static constexpr std::array<std::size_t, 4> kSlopes{30, 60, 120, 240};
  static constexpr std::size_t kFeatures = kMeans.size() + kSlopes.size() + 2;
  static constexpr std::size_t kLongest = 240;

  HealthHistory() : ring_(kLongest, 0.0) {}
  void Push(double hi);
  // REQUIRES: out.size() == kFeatures.
  void Features(std::span<double> out) const;
  std::size_t size() const { return count_; }

 private:
  double Mean(std::size_t window) const;
  double SlopeOf(std::size_t window) const;
  // The k-th newest value (k = 0: the newest). REQUIRES: k < min(count_, kLongest).
  double Back(std::size_t k) const { return ring_[(next_ + kLongest - 1 - k) % kLongest]; }

  std::vector<double> ring_;
  std::size_t next_ = 0;
  std::size_t count_ = 0;
  double total_ = 0.0;  // sum of every value pushed
};

// Per-sensor regression inputs: the mean and the least-squares slope per sample of each sensor's
// normalised value over the last `window` samples (fewer: all of them; a slope of fewer than two
// values is 0). Constant memory: window x sensors values.
class SensorHistory {
 public:
  SensorHistory(std::size_t sensors, std::size_t window)
      : sensors_(sensors), window_(std::max<std::size_t>(window, 1)), ring_(sensors_ * window_) {}
  // REQUIRES: z.size() == sensors.
  void Push(std::span<const double> z);
  // The means, then the slopes, sensor by sensor. REQUIRES: out.size() == feature_count().
  void Features(std::span<double> out) const;
  std::size_t feature_count() const { return 2 * sensors_; }

 private:
  std::size_t sensors_;
  std::size_t window_;
  std::vector<double> ring_;  // window_ rows of sensors_ values
  std::size_t next_ = 0;
  std::size_t count_ = 0;
};

class SimilarityLibrary {
 public:
  struct Unit {
    std::vector<double> hi;   // smoothed health indicator per row
    std::vector<double> rul;  // remaining time after each row (last row: 0)
  };

  // Fits the health-indicator regression and builds the trajectories. Returns nullptr and sets
  // `*error` when the library cannot support a fit (too few rows, degenerate data).
  static std::shared_ptr<const SimilarityLibrary> Build(const ReferenceLibrary& library,
                                                        const SimilarityParams& params,
                                                        std::string* error);

  // The operating regime (0..regimes()-1) of a sample: the nearest regime centre in
  // standardised setting space; 0 when there is one regime. REQUIRES: values.size() == arity().
  std::size_t Regime(std::span<const double> values) const;

  // The health indicator of one sample of `regime`, given the regime-occupancy history
  // (regimes() values; ignored unless params().regime_history > 0). `features` is scratch of
  // feature_count() values. REQUIRES: values.size() == arity().
  double HealthIndicator(std::span<const double> values, std::size_t regime,
                         std::span<const double> history, std::span<double> features) const;
  // The unsmoothed health indicator of one sample with no history (its own regime only).
  double HealthIndicator(std::span<const double> values) const;

  std::size_t arity() const { return arity_; }
  std::size_t rows() const { return rows_; }
  std::size_t regimes() const { return regimes_; }
  // Indexes (rule order) of the sensors the health indicator uses: not settings, not constant
  // within every regime, separating healthy from failed rows by at least min_separation.
  const std::vector<std::size_t>& sensors() const { return sensors_; }
  std::size_t feature_count() const { return weights_.size(); }
  const std::vector<Unit>& units() const { return units_; }
  // Mean remaining life, over the library units that lived at least `age` samples, after their
  // age-th row; 0 when none did. REQUIRES: age >= 1.
  double RemainingAtAge(std::size_t age) const {
    return age <= remaining_at_age_.size() ? remaining_at_age_[age - 1] : 0.0;
  }
  const SimilarityParams& params() const { return params_; }
  // Regression coefficients on the features (the per-regime normalised sensors, then the
  // regime-occupancy history if enabled), and the intercept.
  const std::vector<double>& weights() const { return weights_; }
  double bias() const { return bias_; }
  // The regression's RUL estimate from its inputs (HealthHistory features, then SensorHistory
  // features when regression_sensor_window > 0), clipped to 0..rul_cap (no upper bound without
  // a cap); NaN when regression_weight is 0 (no regression fitted).
  // REQUIRES: features.size() == regression_inputs().
  double RegressionRul(std::span<const double> features) const;
  std::size_t regression_inputs() const {
    return HealthHistory::kFeatures +
           (params_.regression_sensor_window > 0 ? 2 * sensors_.size() : 0);
  }

 private:
  // Writes the features of one sample into `out` (feature_count() values).
  void Features(std::span<const double> values, std::size_t regime, std::span<const double> history,
                std::span<double> out) const;

  SimilarityParams params_;
  std::size_t arity_ = 0;
  std::vector<double> setting_mean_;  // per setting (params_.settings order)
  std::vector<double> setting_sd_;    // 0: the setting is constant and ignored
  std::vector<double> centres_;       // regimes_ x settings, standardised
  std::size_t regimes_ = 1;
  std::vector<std::size_t> sensors_;  // kept sensors, rule order
  std::vector<double> regime_mean_;   // regimes_ x sensors_
  std::vector<double> regime_sd_;     // regimes_ x sensors_; 0: constant there, z = 0
  std::vector<double> weights_;       // per feature
  double bias_ = 0.0;
  std::vector<Unit> units_;
  std::vector<double> remaining_at_age_;  // per age in samples (1-based)
  std::size_t rows_ = 0;
  std::optional<BoostedTrees> regression_;  // RUL (capped at rul_cap) from HealthHistory
};

class SimilarityModel : public HealthModel {
 public:
  explicit SimilarityModel(std::shared_ptr<const SimilarityLibrary> library);

  // Non-finite values leave the state unchanged and return the previous estimate.
  HealthEstimate Update(double t, std::span<const double> values) override;

  // Bytes of per-asset state (the shared library excluded).
  std::size_t state_bytes() const;
  std::size_t samples() const { return samples_; }

 private:
  double EstimateRul() const;
  double MatchRul() const;

  std::shared_ptr<const SimilarityLibrary> lib_;
  double lambda_;             // forgetting factor, 1 = none
  std::vector<double> dist_;  // per library row: weighted sum of squared differences
  std::size_t samples_ = 0;
  double health_ = NAN;           // EWMA of the health indicator
  std::vector<double> history_;   // regime-occupancy EWMA (regime_history > 0 only)
  std::vector<double> features_;  // scratch, feature_count() values
  std::vector<double> ring_t_;    // last trend_window (t, health) pairs
  std::vector<double> ring_h_;
  std::size_t ring_next_ = 0;
  std::optional<HealthHistory> hi_history_;      // regression inputs (regression_weight > 0)
  std::optional<SensorHistory> sensor_history_;  // and with regression_sensor_window > 0
  HealthEstimate last_;
};

// The registry entry: `method = "similarity"`.
HealthModelType SimilarityModelType();

}  // namespace pn::rules
