// Every detector compiled in, listed explicitly (no self-registration: the linker would drop it
// from the static library). Each type gets the shared post-processing keys (common/postprocess.h).
#include "rules/detectors/common/postprocess.h"
#include "rules/detectors/cusum/cusum.h"
#include "rules/detectors/detector.h"
#include "rules/detectors/ensemble/ensemble.h"
#include "rules/detectors/ewma/ewma.h"
#include "rules/detectors/hotelling/hotelling.h"
#include "rules/detectors/knn/knn.h"
#include "rules/detectors/mad/mad.h"
#include "rules/detectors/zscore/zscore.h"

namespace pn::rules {

const std::vector<DetectorType>& DetectorTypes() {
  static const std::vector<DetectorType> types = [] {
    std::vector<DetectorType> t;
    for (const DetectorType* base :
         {&ZScoreDetectorType(), &EwmaDetectorType(), &MadDetectorType(), &CusumDetectorType(),
          &KnnDetectorType(), &HotellingDetectorType(), &EnsembleDetectorType()}) {
      t.push_back(detail::WithPostprocess(*base));
    }
    return t;
  }();
  return types;
}

const DetectorType* FindDetectorType(std::string_view name) {
  for (const auto& t : DetectorTypes()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace pn::rules
