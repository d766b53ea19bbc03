// The sluice binary: all logic lives in the library.
#include "cli/cli.h"

int main(int argc, char** argv) { return sluice::run_cli(argc, argv); }
