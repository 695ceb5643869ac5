// ReferenceLibrary: run-to-failure trajectories of several assets, loaded once from a CSV file
// and shared read-only between the per-asset health models.
//
// The CSV has a header row; the separator (`,`, `;` or whitespace) is detected from the header.
// One column names the asset (unit), one holds the time; the chosen value columns are read in the
// order asked for. Each unit's rows must be contiguous and in strictly increasing time; the last
// row of a unit is its failure.
//
// Thread-safety: immutable after loading; safe for concurrent reads.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "gateway/config/schema.h"

namespace pn::rules {

struct ReferenceTrajectory {
  std::string unit;
  std::vector<double> time;    // strictly increasing
  std::vector<double> values;  // row-major: time.size() rows of `arity` values
};

struct ReferenceLibrary {
  std::vector<std::string> columns;  // value columns, in the order asked for
  std::vector<ReferenceTrajectory> units;
  std::size_t arity() const { return columns.size(); }
  std::size_t rows() const;
};

struct ReferenceLibraryOptions {
  std::string unit_column = "unit";
  std::string time_column = "cycle";
  std::vector<std::string> columns;  // value columns to read, in order; must not be empty
  std::size_t max_rows = 1'000'000;  // a bound on what one library may hold
};

// Loads `path`. Problems in the file are appended to `errors` as `path:LINE:COL: what is wrong`
// (every one found, up to a limit); an unreadable file as one error at `path:0:0`.
// Returns nullopt when there was any problem.
std::optional<ReferenceLibrary> LoadReferenceLibrary(const std::string& path,
                                                     const ReferenceLibraryOptions& options,
                                                     config::ErrorList& errors);

// Resolves a path from a rule file: absolute paths stay, relative ones are joined to `base_dir`
// (the rule file's folder; empty means the current directory).
std::string ResolvePath(const std::string& base_dir, const std::string& path);

}  // namespace pn::rules
