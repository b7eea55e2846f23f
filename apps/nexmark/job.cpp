// apps/nexmark/job.cpp — the Nexmark suite as a job library (nexmark_job.so): its main is the `nexmark` command line, so `nexmark run --master` runs the same query on a cluster.
#include <sstream>

#include <sluice/error.hpp>
#include <sluice/job.hpp>

#include "cli.hpp"

namespace {

int job(sluice::JobContext& ctx) {
  std::ostringstream out, err;
  int status = sluice::nexmark::cli_main(ctx.args, out, err);
  std::fputs(out.str().c_str(), stdout);  // on the master: its log
  auto why = err.str();
  while (!why.empty() && why.back() == '\n') why.pop_back();
  if (status == 2) throw sluice::UsageError(why);
  if (status != 0) throw std::runtime_error(why);
  return 0;
}

}  // namespace

SLUICE_JOB_MAIN(job)
