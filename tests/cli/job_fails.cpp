// tests/cli/job_fails.cpp — a job library whose map throws, for the CLI's exit status 1.
#include <sluice/sluice.hpp>

namespace {
int job(sluice::JobContext& ctx) {
  sluice::StreamEnvironment env(ctx.config);
  env.from_generator(100, [](int64_t i) { return i; })
      .map(
          [](int64_t x) -> int64_t {
            if (x == 50) throw std::runtime_error("fifty is too many");
            return x;
          },
          "fragile map")
      .sink_to(sluice::DiscardSink<int64_t>());
  env.execute("failing job");
  return 0;
}
}  // namespace

SLUICE_JOB_MAIN(job)
