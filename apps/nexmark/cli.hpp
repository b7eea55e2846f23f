// apps/nexmark/cli.hpp — the `nexmark` command line: generate, run, bench.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace sluice::nexmark {

/// Runs the `nexmark` command line on `args` (without the program name). Returns the exit
/// status: 0 done, 1 a job or an output file failed, 2 a usage error (unknown subcommand,
/// option or query, a bad number). Every error is one sentence on `err`.
int cli_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace sluice::nexmark
