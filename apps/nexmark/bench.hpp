// apps/nexmark/bench.hpp — `nexmark bench`: generator, COST loop, engine at 1 and N cores, or in each execution mode.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "cost.hpp"
#include "queries.hpp"
#include "source.hpp"

namespace sluice::nexmark {

/// What `nexmark bench` measures.
struct BenchOptions {
  /// The stream every run reads (its `max_events` is the event count) and how the engine's
  /// source reads it.
  SourceOptions source;
  /// The queries to run, in order (default all).
  std::vector<Query> queries = all_queries();
  /// The engine's "N cores" parallelism; 0 means the machine's hardware threads (default 0).
  int parallelism = 0;
  /// The engine's state backend and its directory; `engine.parallelism` is ignored (every
  /// query runs at 1 and at `parallelism`). Default heap.
  EngineOptions engine;
  /// Instead of the engine at 1 and N: the engine at N in STREAMING on the heap, STREAMING on
  /// RocksDB and BATCH, one after the other in this process (`--compare-modes`).
  bool compare_modes = false;
};

/// One query's measurements. Every rate is events of the whole stream per second of wall
/// time; the generator, COST and engine-p1 runs use one core.
struct BenchRow {
  Query query = Query::q0;
  double generator_eps = 0;
  double cost_eps = 0;
  double engine_p1_eps = 0;
  double engine_pn_eps = 0;
  /// Result rows of the COST loop and of the two engine runs; they must agree.
  uint64_t cost_rows = 0;
  uint64_t engine_p1_rows = 0;
  uint64_t engine_pn_rows = 0;
  /// With compare_modes: events/s and rows of each mode at parallelism N.
  double streaming_heap_eps = 0, streaming_rocksdb_eps = 0, batch_eps = 0;
  uint64_t streaming_heap_rows = 0, streaming_rocksdb_rows = 0, batch_rows = 0;
};

struct BenchResult {
  int64_t events = 0;
  /// The "N" of engine-pN.
  int cores = 1;
  std::vector<BenchRow> rows;
};

/// Runs the benchmark in this process: the generator alone once, then per query the COST loop
/// (`measure_cost`) and the engine at parallelism 1 and `cores` into a CountingSink. Both sides
/// build every row string and count it; neither stores nor sorts rows (a stateful COST loop
/// builds its rows at the end of the input, as its engine job emits them when windows or
/// timers fire). `progress` gets one line per step. Throws sluice::JobError if an engine run
/// fails.
BenchResult run_bench(const BenchOptions& options,
                      const std::function<void(const std::string&)>& progress);

/// The machine's hardware threads, at least 1: the default "N" of engine-pN.
int hardware_threads();

/// A rate in millions with two decimals: `2.35 M`.
std::string format_millions(double per_second);

/// With compare_modes: the modes' table, then CSV with a header: `query,events,cores,cost_eps,`
/// `streaming_heap_eps,streaming_rocksdb_eps,batch_eps,batch_over_streaming_heap`.
void print_modes(const BenchResult& result, std::ostream& out);

/// Prints the result as an aligned table.
void print_bench_table(const BenchResult& result, std::ostream& out);
/// Prints the result as CSV with a header: `query,events,cores,generator_eps,cost_eps,`
/// `engine_p1_eps,engine_pn_eps,engine_pn_eps_per_core,engine_p1_over_cost,`
/// `engine_pn_over_engine_p1`.
void print_bench_csv(const BenchResult& result, std::ostream& out);

}  // namespace sluice::nexmark
