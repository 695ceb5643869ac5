// LoadTypedTable(): the shared loader of tables whose keys depend on a discriminator key
// ([drivers.NAME] type, [rule.detector] type, [rule.health] method), on a registry of its own.
#include "gateway/config/typed_table.h"

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace pn::config;

namespace {

struct ShapeType {
  std::string name;
  const TableSpec* spec;
  std::function<void(const Section&, ErrorList&)> check;
};

int checks_run = 0;

const std::vector<ShapeType>& Shapes() {
  static const TableSpec circle{
      "A circle.", {{.name = "radius", .type = ValueType::kFloat, .required = true, .min = 0.0}}};
  static const TableSpec square{
      "A square.", {{.name = "side", .type = ValueType::kFloat, .default_value = 1.0}}};
  static const std::vector<ShapeType> shapes = {
      {"circle", &circle,
       [](const Section& s, ErrorList& errors) {
         ++checks_run;
         if (s.GetFloat("radius") > 10) s.AddError(errors, "radius", "too large to draw");
       }},
      {"square", &square, nullptr},
  };
  return shapes;
}

const ShapeType* FindShape(std::string_view name) {
  for (const auto& t : Shapes()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

TypedTableSpec<ShapeType> Spec() {
  return {.key = "kind", .find = FindShape, .unknown_message = [](const std::string& name) {
            return "unknown shape \"" + name + "\" (known: circle, square)";
          }};
}

struct Loaded {
  std::unique_ptr<Document> doc;  // the tree the Section points into
  ErrorList errors;
  std::optional<TypedTable<ShapeType>> table;
};

// Loads the [shape] table of `text`; the Document is kept so the Section stays valid.
Loaded Load(const std::string& text, const TypedTableSpec<ShapeType>& spec = Spec()) {
  auto doc = ParseString(text, "s.toml");
  REQUIRE(doc);
  Loaded out{std::make_unique<Document>(std::move(*doc)), {}, std::nullopt};
  const Node* shape = out.doc->root.Find("shape");
  REQUIRE(shape != nullptr);
  out.table = LoadTypedTable(*shape, "shape", out.doc->file, spec, out.errors);
  return out;
}

}  // namespace

TEST_CASE("typed table: a missing discriminator without a default is a required key") {
  Loaded l = Load("[shape]\nradius = 1.0\n");
  CHECK_FALSE(l.table);
  REQUIRE(l.errors.size() == 1);
  const ConfigError& e = l.errors.errors()[0];
  CHECK(e.file == "s.toml");
  CHECK(e.pos.line == l.doc->root.Find("shape")->pos.line);
  CHECK(e.pos.col == l.doc->root.Find("shape")->pos.col);
  CHECK(e.path == "shape.kind");
  CHECK(e.message == "required key is missing");
}

TEST_CASE("typed table: a discriminator that is not a string is an error, worded as asked") {
  Loaded l = Load("[shape]\nkind = 3\nradius = \"big\"\n");
  CHECK_FALSE(l.table);
  CHECK(l.errors.ToString() == "s.toml:2:1: shape.kind: expected a string, found an integer\n");

  TypedTableSpec<ShapeType> spec = Spec();
  spec.wrong_type_message = [](const Node& v) {
    return "not a string but a " + std::string(KindName(v.kind));
  };
  Loaded custom = Load("[shape]\nkind = [1]\n", spec);
  CHECK_FALSE(custom.table);
  CHECK(custom.errors.ToString() == "s.toml:2:1: shape.kind: not a string but a array\n");
}

TEST_CASE("typed table: an unknown name is one error, the other keys are not reported") {
  Loaded l = Load("[shape]\nradius = 1.0\nkind = \"cirle\"\nnonsense = 1\n");
  CHECK_FALSE(l.table);
  CHECK(l.errors.ToString() ==
        "s.toml:3:1: shape.kind: unknown shape \"cirle\" (known: circle, square)\n");
}

TEST_CASE("typed table: without the key the default name is used") {
  TypedTableSpec<ShapeType> spec = Spec();
  spec.default_name = "square";
  Loaded l = Load("[shape]\nside = 2.5\n", spec);
  REQUIRE(l.table);
  CHECK(l.errors.empty());
  CHECK(l.table->ok);
  CHECK(l.table->entry->name == "square");
  CHECK(l.table->section.GetFloat("side") == 2.5);
  CHECK(l.table->section.path() == "shape");

  // A default the registry does not know is reported at the table, having no key to point at.
  spec.default_name = "hexagon";
  Loaded unknown = Load("[shape]\nside = 2.5\n", spec);
  CHECK_FALSE(unknown.table);
  REQUIRE(unknown.errors.size() == 1);
  CHECK(unknown.errors.errors()[0].pos.line == unknown.doc->root.Find("shape")->pos.line);
  CHECK(unknown.errors.errors()[0].path == "shape.kind");
  CHECK(unknown.errors.errors()[0].message == "unknown shape \"hexagon\" (known: circle, square)");
}

TEST_CASE("typed table: an error in the table's own keys suppresses the check") {
  checks_run = 0;
  Loaded l = Load("[shape]\nkind = \"circle\"\nradius = -1.0\nsides = 3\n");
  REQUIRE(l.table);  // the entry is known even though its keys are wrong
  CHECK_FALSE(l.table->ok);
  CHECK(l.table->entry->name == "circle");
  CHECK(checks_run == 0);
  CHECK(l.errors.ToString() ==
        "s.toml:3:1: shape.radius: value -1 is out of range: must be at least 0\n"
        "s.toml:4:1: shape.sides: unknown key\n");

  Loaded missing = Load("[shape]\nkind = \"circle\"\n");
  REQUIRE(missing.table);
  CHECK_FALSE(missing.table->ok);
  CHECK(checks_run == 0);
  REQUIRE(missing.errors.size() == 1);
  CHECK(missing.errors.errors()[0].path == "shape.radius");
  CHECK(missing.errors.errors()[0].message == "required key is missing");
}

TEST_CASE("typed table: the check runs on a clean table and its errors clear ok") {
  checks_run = 0;
  Loaded clean = Load("[shape]\nkind = \"circle\"\nradius = 2.0\n");
  REQUIRE(clean.table);
  CHECK(clean.table->ok);
  CHECK(checks_run == 1);
  CHECK(clean.errors.empty());
  CHECK(clean.table->section.GetFloat("radius") == 2.0);

  Loaded large = Load("[shape]\nkind = \"circle\"\nradius = 20.0\n");
  REQUIRE(large.table);
  CHECK_FALSE(large.table->ok);
  CHECK(checks_run == 2);
  CHECK(large.errors.ToString() == "s.toml:3:1: shape.radius: too large to draw\n");

  // An entry without a check is fine.
  Loaded square = Load("[shape]\nkind = \"square\"\n");
  REQUIRE(square.table);
  CHECK(square.table->ok);
}

TEST_CASE("typed table: skipped keys are the caller's, run_check false only validates") {
  checks_run = 0;
  TypedTableSpec<ShapeType> spec = Spec();
  spec.skip = {"colour"};
  spec.run_check = false;
  Loaded l = Load("[shape]\nkind = \"circle\"\nradius = 20.0\ncolour = 7\n", spec);
  REQUIRE(l.table);
  CHECK(l.table->ok);
  CHECK(l.errors.empty());
  CHECK(checks_run == 0);

  Loaded bad = Load("[shape]\nkind = \"circle\"\nradius = true\ncolour = 7\n", spec);
  REQUIRE(bad.table);
  CHECK_FALSE(bad.table->ok);
  CHECK(bad.errors.ToString() == "s.toml:3:1: shape.radius: expected a number, found a boolean\n");
}
