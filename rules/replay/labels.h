// Labelled anomaly windows for replay's report (`--labels FILE`), NAB style: a JSON object that
// maps data files to lists of [start, end] time pairs,
//   {"realKnownCause/nyc_taxi.csv": [["2014-10-30 15:30:00.000000", "2014-11-03 22:30:00.000000"]]}
// or a bare list of pairs for one file. Times are strings (as in the CSV's time column) or
// numbers. The entry used is the one whose key is the longest suffix of the CSV's path.
// The only file that includes simdjson in the rules library.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace pn::rules {

struct LabelWindowText {
  std::string start;  // as written: a time string, or a number's text
  std::string end;
};

// The windows for `csv_path` in the labels file; an empty list when no key matches.
Result<std::vector<LabelWindowText>> LoadLabelWindows(const std::string& labels_path,
                                                      const std::string& csv_path);

}  // namespace pn::rules
