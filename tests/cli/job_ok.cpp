// tests/cli/job_ok.cpp — a small job library for the CLI tests: sums 1..N and writes the sum to a file.
#include <fstream>
#include <sluice/sluice.hpp>

namespace {
int job(sluice::JobContext& ctx) {
  if (ctx.args.size() != 1) throw std::invalid_argument("usage: job_ok OUTPUT");
  sluice::StreamEnvironment env(ctx.config);
  sluice::CollectSink<int64_t> sink;
  env.from_generator(1000, [](int64_t i) { return i + 1; })
      .key_by([](int64_t) { return 0; })
      .sum()
      .sink_to(sink);
  env.execute("sum job");
  int64_t total = 0;
  for (auto v : sink.collected()->values()) total = std::max(total, v);
  std::ofstream(ctx.args[0]) << total << " p=" << ctx.config.effective_parallelism() << "\n";
  return 0;
}
}  // namespace

SLUICE_JOB_MAIN(job)
