// Every health model compiled in, listed explicitly (no static-initialiser self-registration).
#include "rules/maintenance/health_model.h"
#include "rules/maintenance/similarity/similarity_model.h"
#include "rules/maintenance/trend/trend_model.h"

namespace pn::rules {

const std::vector<HealthModelType>& HealthModelTypes() {
  static const std::vector<HealthModelType> types{
      SimilarityModelType(),
      TrendModelType(),
  };
  return types;
}

const HealthModelType* FindHealthModelType(std::string_view name) {
  for (const auto& t : HealthModelTypes()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace pn::rules
