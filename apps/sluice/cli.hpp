// apps/sluice/cli.hpp — the sluice command line as a function, so tests can run it in-process.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "sluice/job.hpp"

namespace sluice::cli {

/// Runs `sluice <args>` and returns its exit status: 0 success, 1 the job failed, 2 a usage
/// or input error. Results go to `out`, error sentences to `err`.
int main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// The JobContext that `sluice run ARGS` (ARGS without `run`: the job's path, options, `--`
/// and the job's own arguments) gives a job. The master and agents rebuild a cluster job's
/// context so. Throws UsageError with CLI11's sentence.
JobContext parse_run_options(const std::vector<std::string>& args);

}  // namespace sluice::cli
