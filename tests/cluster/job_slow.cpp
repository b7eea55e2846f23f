// tests/cluster/job_slow.cpp — a job library with a deliberately slow operator for the console's tests: an endless source, a map that spins 20 µs a record ("slow"), a sink; unchained, so each is a task of its own.
#include <sluice/sluice.hpp>

#include <chrono>

namespace {

int64_t slow(int64_t v) {
  auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
  while (std::chrono::steady_clock::now() < until) {
  }
  return v;
}

int job(sluice::JobContext& ctx) {
  auto cfg = ctx.config;
  cfg.chaining = false;
  cfg.probe_interval = std::chrono::milliseconds(20);
  sluice::StreamEnvironment env(cfg);
  env.from_generator(-1, [](int64_t i) { return i; })
      .map(slow, "slow")
      .sink_to(sluice::DiscardSink<int64_t>());
  env.execute("slow job");
  return 0;
}

}  // namespace

SLUICE_JOB_MAIN(job)
