// Rule files: their schema (as data) and their parsed, checked form.
//
// See rules/README.md for the format. LoadRuleSet() reports every problem in every file at once
// as FILE:LINE:COL: key.path: what is wrong. The parsed documents are kept alive by the
// RuleSet, because detector factories read their parameters from config::Section views into them.
//
// Thread-safety: a RuleSet is immutable after loading; safe to read from several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/config/schema.h"
#include "rules/alarms/alarm.h"
#include "rules/detectors/detector.h"
#include "rules/expressions/expression.h"
#include "rules/maintenance/health_model.h"
#include "rules/validation.h"

namespace pn::rules {

class Engine;

// The schema of a rule file, for validation and the generated reference.
const config::TableSpec& RuleFileSpec();

struct RuleDef {
  std::string name;
  std::string file;
  std::string path;  // "rule[3]"
  std::vector<std::string> devices;
  std::vector<std::string> series;
  // True when the rule works on the series together (multivariate detector or health model):
  // `series` are then exact names, in order, and state is kept per device.
  bool grouped = false;
  std::string group_series;  // the series names joined with "+", the events' series

  std::optional<ValidateParams> validate;

  const DetectorType* detector = nullptr;  // nullptr: no detector
  std::optional<config::Section> detector_section;
  double min_score = 0.5;

  std::optional<AlarmParams> alarm;  // needs a detector

  const HealthModelType* health = nullptr;
  std::function<std::unique_ptr<HealthModel>()> health_factory;

  std::optional<ReportParams> report;

  // Canonical text of the rule's definition: equal texts mean an unchanged rule on reload.
  std::string definition;
};

// A derived series: computed per device from other series of that device, then processed by the
// rules like any reading (see expressions/expression.h).
struct DeriveDef {
  std::string name;  // the new series' name
  std::string file;
  std::string path;  // "derive[0]"
  std::vector<std::string> devices;
  std::string unit;
  config::SourcePos expr_pos;
  std::shared_ptr<const Expression> expr;
};

struct RuleSet {
  std::vector<std::unique_ptr<config::Document>> documents;
  std::vector<DeriveDef> derives;  // in file order; a derive reads raw or earlier derived series
  std::vector<RuleDef> rules;
};

// Extra detector and health model types, beyond the registries and the built-in threshold
// (tests use it to plug in fakes). Looked up before the registries.
struct TypeCatalog {
  std::vector<const DetectorType*> detectors;
  std::vector<const HealthModelType*> health_models;
};

// Parses and checks rule files (`files`) or one text (`text` named `name`). Appends every
// problem to `errors`; the returned set is only meaningful when `errors` stayed empty.
std::unique_ptr<RuleSet> LoadRuleFiles(const std::vector<std::string>& files,
                                       config::ErrorList& errors,
                                       const TypeCatalog* extra = nullptr);
std::unique_ptr<RuleSet> LoadRuleText(std::string_view text, const std::string& name,
                                      config::ErrorList& errors,
                                      const TypeCatalog* extra = nullptr);

// An engine running `set` (which must have loaded without errors).
std::unique_ptr<Engine> NewEngine(std::unique_ptr<RuleSet> set);

}  // namespace pn::rules
