// pn_test_rules: `processnow test-rules FILE...` as a stand-alone dev executable.
#include <iostream>
#include <string>
#include <vector>

#include "rules/testing/rule_test.h"

int main(int argc, char** argv) {
  std::vector<std::string> files(argv + 1, argv + argc);
  if (files.empty() || files[0] == "-h" || files[0] == "--help") {
    std::cerr << "usage: test-rules TEST.toml [TEST2.toml ...]\n";
    return files.empty() ? 64 : 0;
  }
  return pn::rules::RunRuleTests(files, std::cout, std::cerr);
}
