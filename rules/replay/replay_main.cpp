// pn_replay: the replay contract as a stand-alone dev executable (see replay.h).
#include <iostream>
#include <string>
#include <vector>

#include "rules/replay/replay.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  pn::rules::ReplayOptions options;
  if (!pn::rules::ParseReplayArgs(args, options, std::cerr)) return pn::kExitUsage;
  return pn::rules::RunReplay(options, std::cout, std::cerr);
}
