#include "rules/rule_set.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <functional>
#include <map>

#include "gateway/config/typed_table.h"
#include "rules/glob.h"
#include "rules/threshold_detector.h"

namespace pn::rules {
namespace {

using config::KeySpec;
using config::Node;
using config::TableSpec;
using config::ValueType;

const TableSpec kValidateSpec{
    "Validation: readings that fail a check are marked bad and skip detection.",
    {
        {.name = "min",
         .type = ValueType::kFloat,
         .description = "Values below this are bad.",
         .example = "0.0"},
        {.name = "max",
         .type = ValueType::kFloat,
         .description = "Values above this are bad.",
         .example = "150.0"},
        {.name = "max_rate_per_s",
         .type = ValueType::kFloat,
         .description = "A change faster than this many units per second since the last good "
                        "reading is bad.",
         .min = 0.0,
         .example = "5.0"},
        {.name = "stale_after_ms",
         .type = ValueType::kInt,
         .description = "A gap longer than this between readings counts as stale data; the "
                        "rate check restarts after it.",
         .min = 1.0,
         .example = "60000"},
        {.name = "stuck_count",
         .type = ValueType::kInt,
         .description = "This many identical values in a row mean a stuck sensor: they are bad.",
         .min = 2.0,
         .example = "30"},
    },
};

const TableSpec kAlarmSpec{
    "Alarm: debounced raise, clear with hysteresis, deduplicated.",
    {
        {.name = "raise_after",
         .type = ValueType::kInt,
         .default_value = std::int64_t{1},
         .description = "Raise after this many consecutive anomalous readings.",
         .min = 1.0},
        {.name = "raise_after_ms",
         .type = ValueType::kInt,
         .default_value = std::int64_t{0},
         .description = "And only once the anomalous run has lasted this long.",
         .min = 0.0},
        {.name = "clear_after",
         .type = ValueType::kInt,
         .default_value = std::int64_t{1},
         .description = "Clear after this many consecutive normal readings.",
         .min = 1.0},
        {.name = "clear_after_ms",
         .type = ValueType::kInt,
         .default_value = std::int64_t{0},
         .description = "And only once the normal run has lasted this long.",
         .min = 0.0},
        {.name = "clear_below",
         .type = ValueType::kFloat,
         .description = "Hysteresis: while raised, a reading is normal only when its score is "
                        "below this. Defaults to the detector's min_score.",
         .min = 0.0,
         .max = 1.0,
         .example = "0.3"},
        {.name = "severity",
         .type = ValueType::kString,
         .default_value = std::string("warning"),
         .description = "Severity carried by the alarm and clear events.",
         .choices = {"info", "warning", "critical"}},
    },
};

const TableSpec kReportSpec{
    "Report-on-change: which readings are forwarded upstream.",
    {
        {.name = "deadband",
         .type = ValueType::kFloat,
         .default_value = 0.0,
         .description = "Forward a reading only when it moved more than this since the last "
                        "forwarded one.",
         .min = 0.0},
        {.name = "max_silence_ms",
         .type = ValueType::kInt,
         .default_value = std::int64_t{0},
         .description = "Forward a reading anyway when nothing was forwarded for this long; 0 "
                        "never.",
         .min = 0.0},
    },
};

const TableSpec kRuleSpec{
    "One rule: which series it applies to and its stages.",
    {
        {.name = "name",
         .type = ValueType::kString,
         .description = "Unique name across all loaded rule files; carried by every event.",
         .required = true,
         .example = "\"pump_temperature\""},
        {.name = "description",
         .type = ValueType::kString,
         .description = "Free text for humans.",
         .example = "\"\""},
        {.name = "devices",
         .type = ValueType::kStringList,
         .default_value = std::vector<std::string>{"*"},
         .description = "Device name globs (fnmatch syntax)."},
        {.name = "series",
         .type = ValueType::kStringList,
         .default_value = std::vector<std::string>{"*"},
         .description = "Series name globs. Multivariate detectors and health models take exact "
                        "names, in order."},
        {.name = "validate",
         .type = ValueType::kTable,
         .description = "Validation stage.",
         .table = &kValidateSpec},
        {.name = "detector",
         .type = ValueType::kTable,
         .description = "Anomaly detector: type, min_score and the detector's own keys."},
        {.name = "alarm",
         .type = ValueType::kTable,
         .description = "Alarm on the detector's anomalies.",
         .table = &kAlarmSpec},
        {.name = "health",
         .type = ValueType::kTable,
         .description = "Predictive maintenance: method and the model's own keys."},
        {.name = "report",
         .type = ValueType::kTable,
         .description = "Report-on-change for forwarding readings.",
         .table = &kReportSpec},
    },
};

const TableSpec kDeriveSpec{
    "A derived series, computed per device from other series of the same device.",
    {
        {.name = "name",
         .type = ValueType::kString,
         .description = "Name of the new series; rules select it like any other series.",
         .required = true,
         .example = "\"power_kw\""},
        {.name = "devices",
         .type = ValueType::kStringList,
         .default_value = std::vector<std::string>{"*"},
         .description = "Device name globs (fnmatch syntax)."},
        {.name = "expr",
         .type = ValueType::kString,
         .description = "The expression (see rules/README.md); names are series of the device.",
         .required = true,
         .example = "\"voltage * current / 1000\""},
        {.name = "unit",
         .type = ValueType::kString,
         .description = "Engineering unit of the derived readings.",
         .example = "\"kW\""},
    },
};

const TableSpec kFileSpec{
    "A rule file: any number of [[derive]] and [[rule]] tables.",
    {
        {.name = "derive",
         .type = ValueType::kTableArray,
         .description = "A derived series.",
         .table = &kDeriveSpec},
        {.name = "rule",
         .type = ValueType::kTableArray,
         .description = "A rule.",
         .table = &kRuleSpec},
    },
};

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// [rule.detector] `type` and [rule.health] `method` report their errors alike: "unknown detector
// \"x\" (known: a, b)", and for a value that is not a string "expected a string, found a
// integer" (KindName()'s word; Validate() would say "an integer", but users know this wording).
template <typename Entry>
config::TypedTableSpec<Entry> RuleTypedTable(std::string key, std::string what,
                                             std::function<const Entry*(std::string_view)> find,
                                             std::function<std::string()> known) {
  return {.key = std::move(key),
          .find = std::move(find),
          .unknown_message = [what = std::move(what),
                              known = std::move(known)](const std::string& name) {
            return "unknown " + what + " " + Quote(name) + " (known: " + known() + ")";
          }};
}

// Canonical text of a node: same text, same definition.
void Canonical(const Node& n, std::string& out) {
  switch (n.kind) {
    case Node::Kind::kTable:
      out += '{';
      for (const auto& [k, v] : n.table) {
        out += Quote(k);
        out += '=';
        Canonical(v, out);
        out += ',';
      }
      out += '}';
      break;
    case Node::Kind::kArray:
      out += '[';
      for (const auto& v : n.array) {
        Canonical(v, out);
        out += ',';
      }
      out += ']';
      break;
    case Node::Kind::kString:
      out += Quote(n.str);
      break;
    case Node::Kind::kDateTime:
      out += "dt:" + n.str;
      break;
    case Node::Kind::kInteger:
      out += std::to_string(n.integer);
      break;
    case Node::Kind::kFloat:
      out += fmt::format("{}", n.floating);
      break;
    case Node::Kind::kBool:
      out += n.boolean ? "true" : "false";
      break;
  }
}

bool HasErrorUnder(const config::ErrorList& errors, std::size_t from, std::string_view prefix) {
  for (std::size_t i = from; i < errors.size(); ++i) {
    const std::string& p = errors.errors()[i].path;
    if (p.compare(0, prefix.size(), prefix) == 0 &&
        (p.size() == prefix.size() || p[prefix.size()] == '.' || p[prefix.size()] == '[')) {
      return true;
    }
  }
  return false;
}

// "FILE:LINE:COL: what" from the TOML parser back into an error entry.
void AddParseError(const std::string& file, const Status& st, config::ErrorList& errors) {
  std::string_view msg = st.message();
  config::SourcePos pos;
  if (msg.compare(0, file.size(), file) == 0 && msg.size() > file.size() &&
      msg[file.size()] == ':') {
    std::string_view rest = msg.substr(file.size() + 1);
    int line = 0, col = 0;
    auto r1 = std::from_chars(rest.data(), rest.data() + rest.size(), line);
    if (r1.ec == std::errc() && r1.ptr < rest.data() + rest.size() && *r1.ptr == ':') {
      auto r2 = std::from_chars(r1.ptr + 1, rest.data() + rest.size(), col);
      if (r2.ec == std::errc()) {
        pos = {line, col};
        rest = rest.substr(static_cast<std::size_t>(r2.ptr - rest.data()));
      }
    }
    if (!rest.empty() && rest.front() == ':') rest.remove_prefix(1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    msg = rest;
  }
  errors.Add(file, pos, "", std::string(msg));
}

std::string KnownHealthNames() {
  std::string out;
  for (const auto& t : HealthModelTypes()) {
    if (!out.empty()) out += ", ";
    out += t.name;
  }
  return out.empty() ? "none compiled in" : out;
}

void CheckGlobList(const config::Section& rule, std::string_view key, config::ErrorList& errors) {
  const Node* list = rule.node()->Find(key);
  if (list == nullptr || !list->is_array()) return;
  if (list->array.empty()) {
    rule.AddError(errors, key, "must list at least one glob");
    return;
  }
  for (std::size_t i = 0; i < list->array.size(); ++i) {
    const Node& e = list->array[i];
    std::string problem = CheckGlob(e.str);
    if (!problem.empty()) {
      errors.Add(rule.file(), e.pos, rule.PathOf(key) + "[" + std::to_string(i) + "]", problem);
    }
  }
}

class Loader {
 public:
  Loader(RuleSet& set, config::ErrorList& errors, const TypeCatalog* extra)
      : set_(set), errors_(errors), extra_(extra) {}

  void AddDocument(std::unique_ptr<config::Document> doc) {
    const config::Document& d = *doc;
    set_.documents.push_back(std::move(doc));
    std::size_t before = errors_.size();
    config::Validate(d.root, kFileSpec, "", d.file, errors_);
    config::Section root(&d.root, &kFileSpec, "", d.file);
    if (const Node* derives = d.root.Find("derive"); derives != nullptr && derives->is_array()) {
      for (const config::Section& ds : root.GetTableArray("derive")) {
        if (ds.node()->is_table()) LoadDerive(ds, d.file, before);
      }
    }
    const Node* rules = d.root.Find("rule");
    if (rules == nullptr || !rules->is_array()) return;
    std::vector<config::Section> sections = root.GetTableArray("rule");
    for (std::size_t i = 0; i < sections.size(); ++i) {
      if (!sections[i].node()->is_table()) continue;
      LoadRule(sections[i], d.file, before);
    }
  }

  void LoadDerive(const config::Section& s, const std::string& file, std::size_t from) {
    if (HasErrorUnder(errors_, from, s.path())) return;
    DeriveDef def;
    def.name = s.GetString("name");
    def.file = file;
    def.path = s.path();
    def.devices = s.GetStringList("devices");
    def.unit = s.GetString("unit");
    CheckGlobList(s, "devices", errors_);
    if (def.name.empty()) s.AddError(errors_, "name", "must not be empty");
    for (const auto& other : set_.derives) {
      if (other.name == def.name) {
        s.AddError(errors_, "name",
                   "duplicate derived series " + Quote(def.name) + " (first defined in " +
                       other.file + " " + other.path + ")");
      }
    }
    def.expr_pos = s.PosOf("expr");
    auto expr = Expression::Compile(s.GetString("expr"));
    if (!expr) {
      s.AddError(errors_, "expr", expr.error().message());
    } else {
      for (const auto& v : expr->variables()) {
        if (v == def.name) {
          s.AddError(errors_, "expr", "refers to itself (" + Quote(v) + ")");
        }
      }
      def.expr = std::make_shared<const Expression>(std::move(*expr));
    }
    set_.derives.push_back(std::move(def));
  }

  void LoadRule(const config::Section& s, const std::string& file, std::size_t file_errors_from) {
    RuleDef def;
    def.file = file;
    def.path = s.path();
    def.name = s.GetString("name");
    std::string def_text;
    Canonical(*s.node(), def_text);
    def.definition = std::move(def_text);
    bool spec_ok = !HasErrorUnder(errors_, file_errors_from, s.path());

    if (s.Has("name") && s.node()->Find("name")->kind == Node::Kind::kString) {
      if (def.name.empty()) {
        s.AddError(errors_, "name", "must not be empty");
      } else {
        auto [it, fresh] =
            names_.emplace(def.name, file + ":" + std::to_string(s.PosOf("name").line) + ":" +
                                         std::to_string(s.PosOf("name").col));
        if (!fresh) {
          s.AddError(
              errors_, "name",
              "duplicate rule name " + Quote(def.name) + " (first defined at " + it->second + ")");
        }
      }
    }
    CheckGlobList(s, "devices", errors_);
    CheckGlobList(s, "series", errors_);
    def.devices = s.GetStringList("devices");
    def.series = s.GetStringList("series");

    if (auto v = s.GetTable("validate"); v && spec_ok) {
      ValidateParams p;
      if (v->Has("min")) p.min = v->GetFloat("min");
      if (v->Has("max")) p.max = v->GetFloat("max");
      if (v->Has("max_rate_per_s")) p.max_rate_per_s = v->GetFloat("max_rate_per_s");
      p.stale_after_ms = v->Has("stale_after_ms") ? v->GetInt("stale_after_ms") : 0;
      p.stuck_count = v->Has("stuck_count") ? v->GetInt("stuck_count") : 0;
      if (p.min && p.max && *p.min > *p.max) {
        v->AddError(errors_, "max", fmt::format("must be at least min ({})", *p.min));
      }
      def.validate = p;
    }

    // Detector: engine-owned keys first, then the detector's own spec.
    const Node* det = s.node()->Find("detector");
    bool detector_ok = true;
    if (det != nullptr && det->is_table()) {
      std::string path = s.PathOf("detector");
      const Node* min_score = det->Find("min_score");
      if (min_score != nullptr) {
        if (!min_score->is_number()) {
          errors_.Add(file, min_score->pos, path + ".min_score",
                      "expected a number, found " + config::DescribeKind(*min_score));
          detector_ok = false;
        } else if (!(min_score->as_double() >= 0.0 && min_score->as_double() <= 1.0)) {
          errors_.Add(file, min_score->pos, path + ".min_score",
                      fmt::format("value {} is out of range: must be between 0 and 1",
                                  min_score->as_double()));
          detector_ok = false;
        } else {
          def.min_score = min_score->as_double();
        }
      }
      auto spec = RuleTypedTable<DetectorType>(
          "type", "detector", [this](std::string_view name) { return FindDetector(name); },
          [this] { return KnownDetectors(); });
      // No type: the default detector, whose own defaults need no tuning per series.
      spec.default_name = kDefaultDetector;
      spec.skip = {"min_score"};  // the engine's, checked above
      auto typed = config::LoadTypedTable(*det, path, file, spec, errors_);
      if (!typed || !typed->ok) detector_ok = false;
      if (typed) {
        if (min_score == nullptr) def.min_score = typed->entry->default_min_score;
        def.detector = typed->entry;
        def.detector_section = typed->section;
      }
    }

    // Health model.
    const Node* health = s.node()->Find("health");
    const HealthModelType* ht = nullptr;
    std::optional<config::Section> hs;
    if (health != nullptr && health->is_table()) {
      auto typed = config::LoadTypedTable(
          *health, s.PathOf("health"), file,
          RuleTypedTable<HealthModelType>(
              "method", "health model", [this](std::string_view name) { return FindHealth(name); },
              [this] { return KnownHealth(); }),
          errors_);
      if (typed && typed->ok) {
        ht = typed->entry;
        hs = typed->section;
      }
    }

    def.grouped = (def.detector != nullptr && def.detector->multivariate) || health != nullptr;
    if (def.grouped) {
      const char* why = (def.detector != nullptr && def.detector->multivariate)
                            ? "a multivariate detector"
                            : "a health model";
      const Node* list = s.node()->Find("series");
      if (list == nullptr) {
        s.AddError(errors_, "series", std::string(why) + " needs the exact series names, in order");
      } else if (list->is_array()) {
        for (std::size_t i = 0; i < list->array.size(); ++i) {
          const Node& e = list->array[i];
          if (e.kind != Node::Kind::kString) continue;
          std::string epath = s.PathOf("series") + "[" + std::to_string(i) + "]";
          if (IsGlob(e.str)) {
            errors_.Add(file, e.pos, epath,
                        Quote(e.str) + " is a glob; " + why + " needs exact series names");
          }
          for (std::size_t j = 0; j < i; ++j) {
            if (list->array[j].str == e.str) {
              errors_.Add(file, e.pos, epath, "series " + Quote(e.str) + " is listed twice");
            }
          }
        }
      }
      for (std::size_t i = 0; i < def.series.size(); ++i) {
        if (i) def.group_series += '+';
        def.group_series += def.series[i];
      }
      if (def.detector != nullptr && !def.detector->multivariate) {
        // No `type` key means the default detector: point at the table itself.
        const Node* type_node = det->Find("type");
        errors_.Add(file, type_node != nullptr ? type_node->pos : det->pos,
                    s.PathOf("detector") + ".type",
                    "detector " + Quote(def.detector->name) +
                        " is univariate; a rule with [rule.health] takes only a multivariate "
                        "detector (put this one in a rule of its own)");
      }
    }
    if (ht != nullptr && hs) {
      std::size_t before = errors_.size();
      std::string base_dir = std::filesystem::path(file).parent_path().string();
      if (base_dir.empty()) base_dir = ".";
      def.health_factory = ht->prepare_named
                               ? ht->prepare_named(*hs, def.series, base_dir, errors_)
                               : ht->prepare(*hs, def.series.size(), base_dir, errors_);
      if (errors_.size() == before && def.health_factory) def.health = ht;
    }

    if (auto a = s.GetTable("alarm"); a) {
      if (det == nullptr) {
        errors_.Add(file, a->node()->pos, a->path(), "an alarm needs a [rule.detector]");
      } else if (spec_ok && detector_ok) {
        AlarmParams p;
        p.raise_level = def.min_score;
        p.raise_after = a->GetInt("raise_after");
        p.raise_after_ms = a->GetInt("raise_after_ms");
        p.clear_after = a->GetInt("clear_after");
        p.clear_after_ms = a->GetInt("clear_after_ms");
        p.clear_level = a->Has("clear_below") ? a->GetFloat("clear_below") : def.min_score;
        p.severity = a->GetString("severity");
        if (p.clear_level > p.raise_level) {
          a->AddError(errors_, "clear_below",
                      fmt::format("must be at most the detector's min_score ({})", def.min_score));
        }
        def.alarm = p;
      }
    }
    if (auto r = s.GetTable("report"); r && spec_ok) {
      def.report = ReportParams{r->GetFloat("deadband"), r->GetInt("max_silence_ms")};
    }
    set_.rules.push_back(std::move(def));
  }

  // A derive may read raw series and earlier derived series only (no cycles).
  void CheckDeriveOrder() {
    const auto& d = set_.derives;
    for (std::size_t i = 0; i < d.size(); ++i) {
      if (!d[i].expr) continue;
      for (const auto& v : d[i].expr->variables()) {
        for (std::size_t j = i + 1; j < d.size(); ++j) {
          if (d[j].name == v) {
            errors_.Add(d[i].file, d[i].expr_pos, d[i].path + ".expr",
                        "refers to derived series " + Quote(v) +
                            ", which is defined later (a derive reads raw series and earlier "
                            "derived series only)");
            break;
          }
        }
      }
    }
  }

 private:
  const DetectorType* FindDetector(std::string_view name) const {
    if (extra_ != nullptr) {
      for (const DetectorType* t : extra_->detectors) {
        if (t->name == name) return t;
      }
    }
    return FindAnyDetectorType(name);
  }
  const HealthModelType* FindHealth(std::string_view name) const {
    if (extra_ != nullptr) {
      for (const HealthModelType* t : extra_->health_models) {
        if (t->name == name) return t;
      }
    }
    return FindHealthModelType(name);
  }
  std::string KnownDetectors() const {
    std::string out;
    if (extra_ != nullptr) {
      for (const DetectorType* t : extra_->detectors) out += t->name + ", ";
    }
    return out + KnownDetectorNames();
  }
  std::string KnownHealth() const {
    std::string out;
    if (extra_ != nullptr) {
      for (const HealthModelType* t : extra_->health_models) out += t->name + ", ";
    }
    std::string reg = KnownHealthNames();
    if (!out.empty() && HealthModelTypes().empty()) return out.substr(0, out.size() - 2);
    return out + reg;
  }

  RuleSet& set_;
  config::ErrorList& errors_;
  const TypeCatalog* extra_;
  std::map<std::string, std::string> names_;  // rule name -> where first defined
};

}  // namespace

const config::TableSpec& RuleFileSpec() { return kFileSpec; }

std::unique_ptr<RuleSet> LoadRuleFiles(const std::vector<std::string>& files,
                                       config::ErrorList& errors, const TypeCatalog* extra) {
  auto set = std::make_unique<RuleSet>();
  Loader loader(*set, errors, extra);
  for (const auto& f : files) {
    auto doc = config::ParseFile(f);
    if (!doc) {
      AddParseError(f, doc.error(), errors);
      continue;
    }
    loader.AddDocument(std::make_unique<config::Document>(std::move(*doc)));
  }
  loader.CheckDeriveOrder();
  return set;
}

std::unique_ptr<RuleSet> LoadRuleText(std::string_view text, const std::string& name,
                                      config::ErrorList& errors, const TypeCatalog* extra) {
  auto set = std::make_unique<RuleSet>();
  Loader loader(*set, errors, extra);
  auto doc = config::ParseString(text, name);
  if (!doc) {
    AddParseError(name, doc.error(), errors);
    return set;
  }
  loader.AddDocument(std::make_unique<config::Document>(std::move(*doc)));
  loader.CheckDeriveOrder();
  return set;
}

}  // namespace pn::rules
