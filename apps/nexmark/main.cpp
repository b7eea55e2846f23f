// apps/nexmark/main.cpp — entry of the `nexmark` binary.
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return sluice::nexmark::cli_main(args, std::cout, std::cerr);
}
