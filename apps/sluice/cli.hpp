// apps/sluice/cli.hpp — the sluice command line as a function, so tests can run it in-process.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace sluice::cli {

/// Runs `sluice <args>` and returns its exit status: 0 success, 1 the job failed, 2 a usage
/// or input error. Results go to `out`, error sentences to `err`.
int main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace sluice::cli
