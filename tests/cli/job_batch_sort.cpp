// tests/cli/job_batch_sort.cpp — a job library for the BATCH sort test: N records with a payload, summed per key, each key's count and sum written to a file.
#include <fstream>
#include <string>
#include <tuple>

#include <sluice/sluice.hpp>

namespace {
using Row = std::tuple<int64_t, int64_t, int64_t, std::string>;  // key, count, sum, payload

int job(sluice::JobContext& ctx) {
  if (ctx.args.size() != 4) throw std::invalid_argument("usage: job_batch_sort RECORDS PAYLOAD_BYTES KEYS OUTPUT");
  const int64_t records = std::stoll(ctx.args[0]), payload = std::stoll(ctx.args[1]), keys = std::stoll(ctx.args[2]);
  sluice::StreamEnvironment env(ctx.config);
  sluice::CollectSink<std::tuple<int64_t, int64_t, int64_t>> sink;
  env.from_generator(records,
                     [payload, keys](int64_t i) {
                       return Row{(i * 7919) % keys, 1, i, std::string(size_t(payload), char('a' + i % 26))};
                     })
      .key_by([](const Row& r) { return std::get<0>(r); })
      .reduce([](Row a, Row b) {
        return Row{std::get<0>(a), std::get<1>(a) + std::get<1>(b), std::get<2>(a) + std::get<2>(b),
                   std::move(std::get<3>(a))};
      })
      .map([](const Row& r) { return std::make_tuple(std::get<0>(r), std::get<1>(r), std::get<2>(r)); })
      .sink_to(sink);
  env.execute("batch sort");
  auto rows = sink.collected()->values();
  std::sort(rows.begin(), rows.end());
  std::ofstream out(ctx.args[3]);
  for (const auto& [key, count, sum] : rows) out << key << " " << count << " " << sum << "\n";
  return 0;
}
}  // namespace

SLUICE_JOB_MAIN(job)
