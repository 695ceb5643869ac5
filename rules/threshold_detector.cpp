#include "rules/threshold_detector.h"

#include <cmath>
#include <optional>

namespace pn::rules {
namespace {

class ThresholdDetector final : public Detector {
 public:
  ThresholdDetector(std::optional<double> above, std::optional<double> below)
      : above_(above), below_(below) {}

  double Update(std::int64_t /*ts_ns*/, std::span<const double> values) override {
    double v = values[0];
    if (above_ && v > *above_) return 1.0;
    if (below_ && v < *below_) return 1.0;
    return 0.0;
  }
  std::size_t state_bytes() const override { return sizeof(*this); }

 private:
  std::optional<double> above_;
  std::optional<double> below_;
};

const config::TableSpec kThresholdSpec{
    "Static limits: the score is 1 when the value crosses a limit, else 0.",
    {
        {.name = "above",
         .type = config::ValueType::kFloat,
         .description = "Anomalous when the value is greater than this.",
         .example = "80.0"},
        {.name = "below",
         .type = config::ValueType::kFloat,
         .description = "Anomalous when the value is less than this.",
         .example = "5.0"},
    },
};

void CheckThreshold(const config::Section& s, config::ErrorList& errors) {
  if (!s.Has("above") && !s.Has("below")) {
    errors.Add(s.file(), s.node()->pos, s.path(),
               "threshold detector needs \"above\", \"below\" or both");
    return;
  }
  if (s.Has("above") && s.Has("below") && !(s.GetFloat("below") < s.GetFloat("above"))) {
    s.AddError(errors, "below", "must be less than \"above\" (every value would be anomalous)");
  }
}

std::unique_ptr<Detector> CreateThreshold(const config::Section& s, std::size_t /*arity*/) {
  std::optional<double> above, below;
  if (s.Has("above")) above = s.GetFloat("above");
  if (s.Has("below")) below = s.GetFloat("below");
  return std::make_unique<ThresholdDetector>(above, below);
}

}  // namespace

const DetectorType& ThresholdDetectorType() {
  static const DetectorType type{
      .name = "threshold",
      .summary = "static limits: score 1 when above/below is crossed",
      .multivariate = false,
      .spec = &kThresholdSpec,
      .check = CheckThreshold,
      .create = CreateThreshold,
  };
  return type;
}

const DetectorType* FindAnyDetectorType(std::string_view name) {
  if (const DetectorType* t = FindDetectorType(name)) return t;
  if (name == ThresholdDetectorType().name) return &ThresholdDetectorType();
  return nullptr;
}

std::string KnownDetectorNames() {
  std::string out;
  bool has_threshold = false;
  for (const auto& t : DetectorTypes()) {
    if (!out.empty()) out += ", ";
    out += t.name;
    if (t.name == "threshold") has_threshold = true;
  }
  if (!has_threshold) {
    if (!out.empty()) out += ", ";
    out += "threshold";
  }
  return out;
}

}  // namespace pn::rules
