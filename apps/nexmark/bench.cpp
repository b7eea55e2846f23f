// apps/nexmark/bench.cpp — runs and prints the Nexmark benchmark.
#include "bench.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <thread>

#include "queries.hpp"
#include "sinks.hpp"

namespace sluice::nexmark {
namespace {

struct EngineRun {
  double events_per_second = 0;
  uint64_t rows = 0;
};

EngineRun measure_engine(Query query, const SourceOptions& source, EngineOptions engine,
                         int parallelism) {
  engine.parallelism = parallelism;
  CountingSink sink;
  const auto count = sink.count();
  const auto start = std::chrono::steady_clock::now();
  run_query(query, source, engine, std::move(sink));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EngineRun run;
  run.events_per_second =
      seconds > 0 ? static_cast<double>(source.stream.resolved_max_events()) / seconds : 0;
  run.rows = count->rows.load();
  return run;
}

std::string ratio_text(double numerator, double denominator) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", denominator > 0 ? numerator / denominator : 0.0);
  return text;
}

}  // namespace

int hardware_threads() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::string format_millions(double per_second) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f M", per_second / 1e6);
  return text;
}

BenchResult run_bench(const BenchOptions& options,
                      const std::function<void(const std::string&)>& progress) {
  BenchResult result;
  result.events = options.source.stream.resolved_max_events();
  result.cores = options.parallelism > 0 ? options.parallelism : hardware_threads();
  const int steps = 2 + (options.compare_modes ? 4 : 3) * static_cast<int>(options.queries.size());
  int step = 0;
  const auto announce = [&](const std::string& what) {
    progress("[" + std::to_string(++step) + "/" + std::to_string(steps) + "] " + what);
  };

  // The first job of a process also starts the runtime; keep that out of the measurements.
  announce("engine warm-up");
  SourceOptions warm_up = options.source;
  warm_up.stream.max_events = std::min<int64_t>(result.events, 10'000);
  run_query(Query::q0, warm_up, result.cores, CountingSink());

  announce("generator alone");
  const double generator_eps = measure_generator(options.source.stream).events_per_second();

  for (const Query query : options.queries) {
    const std::string name(query_name(query));
    BenchRow row;
    row.query = query;
    row.generator_eps = generator_eps;
    announce(name + " COST loop");
    const CostThroughput cost = measure_cost(query, options.source.stream);
    row.cost_eps = cost.events_per_second();
    row.cost_rows = cost.rows;
    if (options.compare_modes) {
      const auto in_mode = [&](ExecutionMode mode, StateBackendKind backend, const char* what) {
        announce(name + " engine at parallelism " + std::to_string(result.cores) + ", " + what);
        EngineOptions engine = options.engine;
        engine.execution_mode = mode;
        engine.state_backend = backend;
        return measure_engine(query, options.source, engine, result.cores);
      };
      const EngineRun heap = in_mode(ExecutionMode::streaming, StateBackendKind::heap, "STREAMING on the heap");
      const EngineRun rocksdb = in_mode(ExecutionMode::streaming, StateBackendKind::rocksdb, "STREAMING on RocksDB");
      const EngineRun batch = in_mode(ExecutionMode::batch, StateBackendKind::heap, "BATCH");
      row.streaming_heap_eps = heap.events_per_second;
      row.streaming_heap_rows = heap.rows;
      row.streaming_rocksdb_eps = rocksdb.events_per_second;
      row.streaming_rocksdb_rows = rocksdb.rows;
      row.batch_eps = batch.events_per_second;
      row.batch_rows = batch.rows;
      result.rows.push_back(row);
      continue;
    }
    announce(name + " engine at parallelism 1");
    const EngineRun p1 = measure_engine(query, options.source, options.engine, 1);
    row.engine_p1_eps = p1.events_per_second;
    row.engine_p1_rows = p1.rows;
    announce(name + " engine at parallelism " + std::to_string(result.cores));
    const EngineRun pn = measure_engine(query, options.source, options.engine, result.cores);
    row.engine_pn_eps = pn.events_per_second;
    row.engine_pn_rows = pn.rows;
    result.rows.push_back(row);
  }
  return result;
}

void print_modes(const BenchResult& result, std::ostream& out) {
  const std::string pn = "p" + std::to_string(result.cores);
  char line[256];
  std::snprintf(line, sizeof line, "%-6s %12s %16s %16s %12s %12s\n", "query", "COST/s",
                ("streaming-heap-" + pn).c_str(), ("streaming-rocks-" + pn).c_str(), ("batch-" + pn).c_str(),
                "batch/heap");
  out << line;
  for (const BenchRow& row : result.rows) {
    std::snprintf(line, sizeof line, "%-6s %12s %16s %16s %12s %12s\n", std::string(query_name(row.query)).c_str(),
                  format_millions(row.cost_eps).c_str(), format_millions(row.streaming_heap_eps).c_str(),
                  format_millions(row.streaming_rocksdb_eps).c_str(), format_millions(row.batch_eps).c_str(),
                  ratio_text(row.batch_eps, row.streaming_heap_eps).c_str());
    out << line;
  }
  out << "\nquery,events,cores,cost_eps,streaming_heap_eps,streaming_rocksdb_eps,batch_eps,batch_over_streaming_heap\n";
  for (const BenchRow& row : result.rows) {
    std::snprintf(line, sizeof line, "%s,%lld,%d,%.0f,%.0f,%.0f,%.0f,%.4f\n", std::string(query_name(row.query)).c_str(),
                  static_cast<long long>(result.events), result.cores, row.cost_eps, row.streaming_heap_eps,
                  row.streaming_rocksdb_eps, row.batch_eps,
                  row.streaming_heap_eps > 0 ? row.batch_eps / row.streaming_heap_eps : 0.0);
    out << line;
  }
}

void print_bench_table(const BenchResult& result, std::ostream& out) {
  const std::string pn = "p" + std::to_string(result.cores);
  char line[256];
  std::snprintf(line, sizeof line, "%-6s %12s %12s %12s %12s %14s %10s %10s\n", "query",
                "generator/s", "COST/s", "engine-p1/s", ("engine-" + pn + "/s").c_str(),
                ("engine-" + pn + "/core").c_str(), "p1/COST", (pn + "/p1").c_str());
  out << line;
  for (const BenchRow& row : result.rows) {
    std::snprintf(line, sizeof line, "%-6s %12s %12s %12s %12s %14s %10s %10s\n",
                  std::string(query_name(row.query)).c_str(),
                  format_millions(row.generator_eps).c_str(), format_millions(row.cost_eps).c_str(),
                  format_millions(row.engine_p1_eps).c_str(),
                  format_millions(row.engine_pn_eps).c_str(),
                  format_millions(row.engine_pn_eps / result.cores).c_str(),
                  ratio_text(row.engine_p1_eps, row.cost_eps).c_str(),
                  ratio_text(row.engine_pn_eps, row.engine_p1_eps).c_str());
    out << line;
  }
}

void print_bench_csv(const BenchResult& result, std::ostream& out) {
  out << "query,events,cores,generator_eps,cost_eps,engine_p1_eps,engine_pn_eps,"
         "engine_pn_eps_per_core,engine_p1_over_cost,engine_pn_over_engine_p1\n";
  char line[512];
  for (const BenchRow& row : result.rows) {
    std::snprintf(line, sizeof line, "%s,%lld,%d,%.0f,%.0f,%.0f,%.0f,%.0f,%.4f,%.4f\n",
                  std::string(query_name(row.query)).c_str(), static_cast<long long>(result.events),
                  result.cores, row.generator_eps, row.cost_eps, row.engine_p1_eps,
                  row.engine_pn_eps, row.engine_pn_eps / result.cores,
                  row.cost_eps > 0 ? row.engine_p1_eps / row.cost_eps : 0.0,
                  row.engine_p1_eps > 0 ? row.engine_pn_eps / row.engine_p1_eps : 0.0);
    out << line;
  }
}

}  // namespace sluice::nexmark
