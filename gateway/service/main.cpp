#include "gateway/service/cli.h"

int main(int argc, char** argv) { return pn::service::RunCli(argc, argv); }
