// apps/bench/pipeline_bench.cpp — records/s of source -> map -> filter -> key_by -> sink, at parallelism 1 and 2, chained and unchained.
//
//   pipeline_bench [--records N]
//
// Prints one line per configuration and a CSV block. Not a test: figures vary with the machine.
#include <sluice/sluice.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

struct Event {
  int64_t id = 0;
  int64_t user = 0;
  int64_t amount = 0;
};

}  // namespace

SLUICE_CODEC(Event, id, user, amount);

namespace {

double run(int64_t records, int parallelism, bool chaining) {
  sluice::StreamEnvironment env;
  env.set_parallelism(parallelism);
  env.config().worker_threads = parallelism;
  if (!chaining) env.disable_chaining();
  env.from_generator(records, [](int64_t i) { return Event{i, i % 10007, i % 1000}; })
      .map([](Event e) {
        e.amount = e.amount * 3 + 1;
        return e;
      }, "map")
      .filter([](const Event& e) { return e.amount % 7 != 0; }, "filter")
      .key_by([](const Event& e) { return e.user; })
      .sink_to(sluice::DiscardSink<Event>());
  auto t0 = std::chrono::steady_clock::now();
  env.execute("pipeline bench");
  std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
  return double(records) / dt.count();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t records = 20'000'000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--records") == 0 && i + 1 < argc) {
      records = std::stoll(argv[++i]);
    } else {
      std::fprintf(stderr, "pipeline_bench: unknown argument '%s' (use --records N)\n", argv[i]);
      return 2;
    }
  }
  struct Row {
    int p;
    bool chained;
    double rate;
  };
  std::vector<Row> rows;
  run(records / 10, 1, true);  // warm-up: page in code and the buffer pool
  for (int p : {1, 2})
    for (bool chained : {true, false}) {
      auto rate = run(records, p, chained);
      rows.push_back({p, chained, rate});
      std::printf("parallelism %d %-9s %8.2f M records/s  (%6.2f M/s per worker thread)\n", p,
                  chained ? "chained" : "unchained", rate / 1e6, rate / 1e6 / p);
      std::fflush(stdout);
    }
  std::printf("\nparallelism,chaining,records,records_per_s\n");
  for (auto& r : rows)
    std::printf("%d,%s,%lld,%.0f\n", r.p, r.chained ? "chained" : "unchained",
                static_cast<long long>(records), r.rate);
  return 0;
}
