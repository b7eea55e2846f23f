// tests/cluster/job_batch.cpp — a job library for the BATCH cluster tests: three stages (records; per-key counts and sums; totals per bucket), a second-stage task failing once or waiting at a gate when asked, the totals written to a file by the main.
#include <filesystem>
#include <fstream>
#include <sluice/sluice.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>

namespace {
using Row = std::tuple<int64_t, int64_t, int64_t>;  // key (or bucket), count, sum

int job(sluice::JobContext& ctx) {
  if (ctx.args.size() < 3 || ctx.args.size() > 6)
    throw std::invalid_argument("usage: job_batch RECORDS KEYS OUTPUT [FAIL_MARKER|-] [GATE|-] [SOURCE_PARALLELISM]");
  const int64_t records = std::stoll(ctx.args[0]), keys = std::stoll(ctx.args[1]);
  // With FAIL_MARKER, the second stage's task that holds key 3 fails once: it creates the file
  // and throws; its rerun finds the file and goes on.
  const std::string marker = ctx.args.size() >= 4 && ctx.args[3] != "-" ? ctx.args[3] : std::string();
  // With GATE, each second-stage subtask, having read its whole input, writes GATE.reached
  // and waits until the file GATE exists.
  const std::string gate = ctx.args.size() >= 5 && ctx.args[4] != "-" ? ctx.args[4] : std::string();
  // The source's own parallelism (default: the job's, -p).
  const int source_parallelism = ctx.args.size() == 6 ? std::stoi(ctx.args[5]) : 0;
  sluice::StreamEnvironment env(ctx.config);
  sluice::CollectSink<Row> sink;
  auto sum = [](Row a, Row b) {
    return Row{std::get<0>(a), std::get<1>(a) + std::get<1>(b), std::get<2>(a) + std::get<2>(b)};
  };
  auto rows = env.from_generator(records, [keys](int64_t i) { return Row{(i * 7919) % keys, 1, i}; });
  if (source_parallelism > 0) rows.set_parallelism(source_parallelism);
  rows.key_by([](const Row& r) { return std::get<0>(r); })
      .reduce(sum)
      .map([marker, gate, waited = false](const Row& r) mutable {
        if (!gate.empty() && !waited) {
          std::ofstream(gate + ".reached") << "reached\n";
          while (!std::filesystem::exists(gate)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
          waited = true;
        }
        if (!marker.empty() && std::get<0>(r) == 3 && !std::filesystem::exists(marker)) {
          std::ofstream(marker) << "failed\n";
          throw std::runtime_error("key 3 fails once, as the test asked");
        }
        return Row{std::get<0>(r) % 10, std::get<1>(r), std::get<2>(r)};
      })
      .key_by([](const Row& r) { return std::get<0>(r); })
      .reduce(sum)
      .sink_to(sink);
  env.execute("batch stages");
  auto totals = sink.collected()->values();
  std::sort(totals.begin(), totals.end());
  std::ofstream out(ctx.args[2]);
  for (const auto& [bucket, count, total] : totals) out << bucket << " " << count << " " << total << "\n";
  return 0;
}
}  // namespace

SLUICE_JOB_MAIN(job)
