#include "rules/testing/rule_test.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <ostream>

#include "core/exit_codes.h"
#include "gateway/config/schema.h"
#include "rules/engine.h"

namespace pn::rules {
namespace {

using config::Node;
using config::TableSpec;
using config::ValueType;

const TableSpec kInputSpec{
    "One input series of a rule test.",
    {
        {.name = "device",
         .type = ValueType::kString,
         .description = "Device name.",
         .required = true,
         .example = "\"pump-1\""},
        {.name = "series",
         .type = ValueType::kString,
         .description = "Series name.",
         .required = true,
         .example = "\"temperature\""},
        {.name = "start_ms",
         .type = ValueType::kInt,
         .default_value = std::int64_t{0},
         .description = "Time of the first value, epoch milliseconds."},
        {.name = "interval_ms",
         .type = ValueType::kInt,
         .default_value = std::int64_t{1000},
         .description = "Time between values.",
         .min = 1.0},
        {.name = "values",
         .type = ValueType::kStringList,
         .description = "Numbers; \"_\" for no reading at that step; \"nan\", \"inf\", \"-inf\".",
         .required = true,
         .example = "[70, 81, \"_\", 82]"},
        {.name = "unit",
         .type = ValueType::kString,
         .description = "Engineering unit.",
         .example = "\"degC\""},
    },
};

const TableSpec kExpectSpec{
    "One expected event; only the fields given are compared.",
    {
        {.name = "kind",
         .type = ValueType::kString,
         .description = "Event kind.",
         .required = true,
         .choices = {"anomaly", "alarm", "clear", "health", "rul"}},
        {.name = "rule",
         .type = ValueType::kString,
         .description = "Rule name.",
         .example = "\"r\""},
        {.name = "device",
         .type = ValueType::kString,
         .description = "Device.",
         .example = "\"d\""},
        {.name = "series",
         .type = ValueType::kString,
         .description = "Series.",
         .example = "\"s\""},
        {.name = "at_ms",
         .type = ValueType::kInt,
         .description = "Event time, epoch ms.",
         .example = "0"},
        {.name = "value",
         .type = ValueType::kFloat,
         .description = "Reading value.",
         .example = "0.0"},
        {.name = "score",
         .type = ValueType::kFloat,
         .description = "Anomaly score.",
         .example = "1.0"},
        {.name = "health",
         .type = ValueType::kFloat,
         .description = "Health index.",
         .example = "1.0"},
        {.name = "rul",
         .type = ValueType::kFloat,
         .description = "Remaining useful life.",
         .example = "1.0"},
        {.name = "severity",
         .type = ValueType::kString,
         .description = "Alarm severity.",
         .example = "\"warning\""},
    },
};

const TableSpec kTestSpec{
    "One rule test.",
    {
        {.name = "name",
         .type = ValueType::kString,
         .description = "Shown in the report.",
         .required = true,
         .example = "\"alarm after three readings\""},
        {.name = "kinds",
         .type = ValueType::kStringList,
         .description = "Compare only events of these kinds (default: all kinds).",
         .example = "[\"alarm\", \"clear\"]"},
        {.name = "tolerance",
         .type = ValueType::kFloat,
         .default_value = 1e-6,
         .description = "Absolute tolerance for value, score, health and rul.",
         .min = 0.0},
        {.name = "input",
         .type = ValueType::kTableArray,
         .description = "Input series.",
         .required = true},
        {.name = "expect",
         .type = ValueType::kTableArray,
         .description = "Expected events, in order (none: expect no events)."},
    },
};

const TableSpec kTestFileSpec{
    "A rule test file.",
    {
        {.name = "rule_files",
         .type = ValueType::kStringList,
         .description = "Rule files under test, relative to this file.",
         .required = true,
         .example = "[\"../rules.d/pumps.toml\"]"},
        {.name = "test",
         .type = ValueType::kTableArray,
         .description = "A test.",
         .table = &kTestSpec},
    },
};

struct Sample {
  std::int64_t ts_ns;
  std::size_t input;
  std::size_t step;
  double value;
};

std::string Describe(const Event& e) {
  std::string s = fmt::format("kind={} rule={} device={} series={} at_ms={}", EventKindName(e.kind),
                              e.rule, e.device, e.series, e.ts_ns / 1'000'000);
  if (!std::isnan(e.value)) s += fmt::format(" value={}", e.value);
  if (!std::isnan(e.score)) s += fmt::format(" score={}", e.score);
  if (!std::isnan(e.health)) s += fmt::format(" health={}", e.health);
  if (!std::isnan(e.rul)) s += fmt::format(" rul={}", e.rul);
  if (!e.severity.empty()) s += " severity=" + e.severity;
  return s;
}

std::string Describe(const config::Section& x) {
  std::string s = "kind=" + x.GetString("kind");
  for (const char* k : {"rule", "device", "series"}) {
    if (x.Has(k)) s += fmt::format(" {}={}", k, x.GetString(k));
  }
  if (x.Has("at_ms")) s += fmt::format(" at_ms={}", x.GetInt("at_ms"));
  for (const char* k : {"value", "score", "health", "rul"}) {
    if (x.Has(k)) s += fmt::format(" {}={}", k, x.GetFloat(k));
  }
  if (x.Has("severity")) s += " severity=" + x.GetString("severity");
  return s;
}

// Empty when `e` matches `x`, else the first field that differs.
std::string Mismatch(const config::Section& x, const Event& e, double tol) {
  if (x.GetString("kind") != EventKindName(e.kind)) return "kind";
  if (x.Has("rule") && x.GetString("rule") != e.rule) return "rule";
  if (x.Has("device") && x.GetString("device") != e.device) return "device";
  if (x.Has("series") && x.GetString("series") != e.series) return "series";
  if (x.Has("at_ms") && x.GetInt("at_ms") * 1'000'000 != e.ts_ns) return "at_ms";
  const std::pair<const char*, double> nums[] = {
      {"value", e.value}, {"score", e.score}, {"health", e.health}, {"rul", e.rul}};
  for (const auto& [k, v] : nums) {
    if (x.Has(k) && !(std::fabs(x.GetFloat(k) - v) <= tol)) return k;
  }
  if (x.Has("severity") && x.GetString("severity") != e.severity) return "severity";
  return {};
}

// Parses an input's values (numbers or the strings "_", "nan", "inf", "-inf").
bool InputValues(const config::Section& in, std::vector<std::optional<double>>& values,
                 config::ErrorList& errors) {
  const Node* list = in.node()->Find("values");
  bool ok = true;
  for (std::size_t i = 0; i < list->array.size(); ++i) {
    const Node& n = list->array[i];
    if (n.is_number()) {
      values.emplace_back(n.as_double());
    } else if (n.kind == Node::Kind::kString && n.str == "_") {
      values.emplace_back(std::nullopt);
    } else if (n.kind == Node::Kind::kString &&
               (n.str == "nan" || n.str == "inf" || n.str == "-inf")) {
      values.emplace_back(n.str == "nan" ? std::nan("") : n.str == "inf" ? HUGE_VAL : -HUGE_VAL);
    } else {
      errors.Add(in.file(), n.pos, in.PathOf("values") + "[" + std::to_string(i) + "]",
                 "expected a number, \"_\", \"nan\", \"inf\" or \"-inf\"");
      ok = false;
    }
  }
  return ok;
}

int RunFile(const std::string& file, std::ostream& out, std::ostream& err) {
  config::ErrorList errors;
  auto doc = config::ParseFile(file);
  if (!doc) {
    err << doc.error().message() << '\n';
    return kExitConfig;
  }
  // `values` mixes numbers and strings: validated here, not by the spec.
  const Node& root = doc->root;
  config::Validate(root, kTestFileSpec, "", file, errors, {"test"});
  const Node* tests = root.Find("test");
  if (tests != nullptr && !tests->is_array()) {
    errors.Add(file, tests->pos, "test", "expected an array of tables");
    tests = nullptr;
  }
  std::vector<Node> scratch;
  if (tests != nullptr) {
    for (std::size_t i = 0; i < tests->array.size(); ++i) {
      const Node& t = tests->array[i];
      std::string tp = "test[" + std::to_string(i) + "]";
      config::Validate(t, kTestSpec, tp, file, errors, {"input", "expect"});
      if (!t.is_table()) continue;
      for (const char* key : {"input", "expect"}) {
        const Node* arr = t.Find(key);
        if (arr == nullptr) {
          if (std::string(key) == "input") {
            errors.Add(file, t.pos, tp + ".input", "required key is missing");
          }
          continue;
        }
        if (!arr->is_array()) {
          errors.Add(file, arr->pos, tp + "." + key, "expected an array of tables");
          continue;
        }
        for (std::size_t j = 0; j < arr->array.size(); ++j) {
          std::string p = tp + "." + key + "[" + std::to_string(j) + "]";
          const TableSpec& spec = std::string(key) == "input" ? kInputSpec : kExpectSpec;
          std::vector<std::string> skip;
          if (&spec == &kInputSpec) skip.push_back("values");
          config::Validate(arr->array[j], spec, p, file, errors, skip);
          if (&spec == &kInputSpec && arr->array[j].is_table()) {
            const Node* v = arr->array[j].Find("values");
            if (v == nullptr) {
              errors.Add(file, arr->array[j].pos, p + ".values", "required key is missing");
            } else if (!v->is_array()) {
              errors.Add(file, v->pos, p + ".values", "expected an array");
            } else {
              std::vector<std::optional<double>> dummy;
              InputValues(config::Section(&arr->array[j], &kInputSpec, p, file), dummy, errors);
            }
          }
        }
      }
    }
  }
  if (!errors.empty()) {
    err << errors.ToString();
    return kExitConfig;
  }

  config::Section rs(&root, &kTestFileSpec, "", file);
  std::filesystem::path base = std::filesystem::path(file).parent_path();
  std::vector<std::string> rule_files;
  for (const auto& f : rs.GetStringList("rule_files")) {
    std::filesystem::path p(f);
    rule_files.push_back(p.is_absolute() ? f : (base / p).lexically_normal().string());
  }
  {
    auto probe = Engine::LoadFiles(rule_files, errors);
    if (!probe) {
      err << errors.ToString();
      return kExitConfig;
    }
  }

  int failed = 0;
  for (std::size_t i = 0; tests != nullptr && i < tests->array.size(); ++i) {
    config::Section t(&tests->array[i], &kTestSpec, "test[" + std::to_string(i) + "]", file);
    std::string name = t.GetString("name");
    auto engine = Engine::LoadFiles(rule_files, errors);

    // Inputs, merged by time.
    const Node* inputs = t.node()->Find("input");
    std::vector<config::Section> in_sections;
    std::vector<Sample> samples;
    for (std::size_t k = 0; k < inputs->array.size(); ++k) {
      in_sections.emplace_back(&inputs->array[k], &kInputSpec, "", file);
      std::vector<std::optional<double>> values;
      InputValues(in_sections.back(), values, errors);
      std::int64_t start = in_sections.back().GetInt("start_ms");
      std::int64_t step = in_sections.back().GetInt("interval_ms");
      for (std::size_t s = 0; s < values.size(); ++s) {
        if (!values[s]) continue;
        samples.push_back(
            {(start + static_cast<std::int64_t>(s) * step) * 1'000'000, k, s, *values[s]});
      }
    }
    std::stable_sort(samples.begin(), samples.end(),
                     [](const Sample& a, const Sample& b) { return a.ts_ns < b.ts_ns; });
    std::vector<Event> events;
    for (const Sample& s : samples) {
      engine->Tick(s.ts_ns, events);
      const config::Section& in = in_sections[s.input];
      Reading r{in.GetString("device"), in.GetString("series"), s.value,
                in.GetString("unit"),   Quality::kGood,         s.ts_ns};
      engine->Process(r, events);
    }

    // Compare.
    std::vector<std::string> kinds = t.GetStringList("kinds");
    std::vector<const Event*> actual;
    for (const Event& e : events) {
      if (kinds.empty() ||
          std::find(kinds.begin(), kinds.end(), EventKindName(e.kind)) != kinds.end()) {
        actual.push_back(&e);
      }
    }
    std::vector<config::Section> expected;
    if (const Node* ex = t.node()->Find("expect")) {
      for (const Node& n : ex->array) expected.emplace_back(&n, &kExpectSpec, "", file);
    }
    double tol = t.GetFloat("tolerance");
    std::string diff;
    std::size_t n = std::max(actual.size(), expected.size());
    for (std::size_t k = 0; k < n; ++k) {
      if (k >= expected.size()) {
        diff += fmt::format("    unexpected event [{}]: {}\n", k, Describe(*actual[k]));
      } else if (k >= actual.size()) {
        diff += fmt::format("    missing event [{}]: {}\n", k, Describe(expected[k]));
      } else if (std::string field = Mismatch(expected[k], *actual[k], tol); !field.empty()) {
        diff +=
            fmt::format("    event [{}] differs in {}:\n      expected: {}\n      got:      {}\n",
                        k, field, Describe(expected[k]), Describe(*actual[k]));
      }
    }
    if (diff.empty()) {
      out << file << ": test \"" << name << "\": ok\n";
    } else {
      ++failed;
      out << file << ": test \"" << name << "\": FAILED (expected " << expected.size()
          << " events, got " << actual.size() << ")\n"
          << diff;
    }
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

int RunRuleTests(const std::vector<std::string>& test_files, std::ostream& out, std::ostream& err) {
  int worst = 0;
  for (const auto& f : test_files) {
    int rc = RunFile(f, out, err);
    if (rc == 78 || (rc != 0 && worst == 0)) worst = rc;
  }
  return worst;
}

}  // namespace pn::rules
