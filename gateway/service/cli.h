#pragma once
namespace pn::service {
// Parses argv and runs the chosen subcommand; returns the exit code.
int RunCli(int argc, char** argv);
}  // namespace pn::service
