// apps/nexmark/queries.hpp — the Nexmark queries as Sluice jobs (public DataStream API only).
#pragma once

#include <memory>
#include <sluice/stream.hpp>
#include <string>

#include "codecs.hpp"
#include "cost.hpp"
#include "model.hpp"
#include "source.hpp"
#include "stepped_clock.hpp"

namespace sluice::nexmark {

/// How the engine runs a query job: the settings `nexmark run` and `bench` expose.
struct EngineOptions {
  /// Parallelism of the source and the query operators (default 1).
  int parallelism = 1;
  /// Where keyed state lives (default heap), as `sluice run --state-backend`.
  StateBackendKind state_backend = StateBackendKind::heap;
  /// RocksDB's working directory; empty (the default) means the system's temporary directory.
  std::string state_dir;
  /// RocksDB's memory in bytes, as `sluice run --rocksdb-memory` (0, the default: none set).
  uint64_t rocksdb_memory = 0;
  /// STREAMING (the default), BATCH or AUTOMATIC, as `sluice run --execution-mode`.
  ExecutionMode execution_mode = ExecutionMode::streaming;
  /// BATCH: subtasks that run at once, as `sluice run --slots` (0: no limit).
  int slots = 0;
  /// BATCH: sort memory of each keyed subtask, as `sluice run --batch-memory`.
  uint64_t batch_memory = ExecutionConfig{}.batch_memory;
  /// The record cache of each keyed subtask on RocksDB, as `sluice run --rocksdb-record-cache`.
  uint64_t rocksdb_record_cache = ExecutionConfig{}.rocksdb_record_cache;
  /// Checkpoints, restore and restarts, as `sluice run --checkpoint-*` (default off).
  CheckpointConfig checkpoint;
};

/// The job configuration of `engine`; everything else at its default.
ExecutionConfig execution_config(const EngineOptions& engine);

/// Adds the Nexmark source over `options.stream` to `env`, at the environment's parallelism.
DataStream<Event> add_nexmark_source(StreamEnvironment& env, const SourceOptions& options);

/// Adds `query` reading `events` and returns its result as CSV rows without line breaks,
/// formatted by the same row functions as the COST loops (cost.hpp, cost_stateful.hpp), so
/// engine and baseline outputs compare row for row. The rows come in no particular order; a
/// query whose result updates (q4) emits its final value per key when the input ends.
/// `clock` is q12's (see `q12`), ignored by the others.
DataStream<std::string> add_query(Query query, DataStream<Event> events,
                                  std::shared_ptr<SteppedClock> clock = nullptr);

/// The Nexmark source and `query` over it, in `env`: the job `run_query` runs. For q12 it makes
/// a SteppedClock of q12's window, the processing-time clock of `env` (its config's `clock`)
/// and of the source's readers, so that q12's result equals its COST loop's. That clock counts
/// events between the source and q12's windows and cannot be checkpointed: q12 with
/// checkpointing on throws std::invalid_argument.
DataStream<std::string> add_nexmark_job(StreamEnvironment& env, Query query, SourceOptions source);

/// q0, pass-through: every bid as `auction,bidder,price,dateTime,extra`.
DataStream<std::string> q0(DataStream<Event> events);
/// q1, currency conversion: every bid with `0.908 * price` as an exact three-decimal DECIMAL.
DataStream<std::string> q1(DataStream<Event> events);
/// q2, selection: `auction,price` of the bids with `auction % 123 == 0`.
DataStream<std::string> q2(DataStream<Event> events);

// The stateful queries (queries_stateful.cpp). Each computes what its COST loop in
// cost_stateful.cpp computes; the semantic choices are documented there. Event time is the
// records' timestamps (the source's dateTime), with the source's watermarks.

/// q3, local item suggestion: category-10 auctions joined with OR/ID/CA persons on
/// seller = id, every pair whichever side arrives first (a keyed co-process keeping both
/// sides in list state).
DataStream<std::string> q3(DataStream<Event> events);
/// q4, average price per category: per auction, the highest bid within
/// [dateTime, expires] (a keyed co-process with an event-time timer at `expires`); per
/// category, the truncated average of those maxima, emitted once at the end of event time.
DataStream<std::string> q4(DataStream<Event> events);
/// q5, hot items: bids per auction in sliding event-time windows (10 s every 2 s), then per
/// window the auctions with the highest count, ties kept.
DataStream<std::string> q5(DataStream<Event> events);
/// q7, highest bid: per 10 s tumbling window the bids carrying its highest price, and the bids
/// at exactly its end with that price (the inclusive upper bound).
DataStream<std::string> q7(DataStream<Event> events);
/// q8, new users: persons and sellers of the same 10 s tumbling window, both distinct, joined
/// on id = seller (one keyed window over both sides).
DataStream<std::string> q8(DataStream<Event> events);
/// q11, user sessions: bids per bidder in event-time session windows with a 10 s gap.
DataStream<std::string> q11(DataStream<Event> events);
/// q12, processing-time windows: bids per bidder in 10 s tumbling processing-time windows.
/// With a `clock`, every bid reports to it once its window is assigned (`taken`): the job
/// must then run with that clock as processing time and a source stepping it
/// (`add_nexmark_job` wires this). Without, processing time is whatever the job's clock says.
DataStream<std::string> q12(DataStream<Event> events,
                            std::shared_ptr<SteppedClock> clock = nullptr);

/// The name of `query`'s job: `Nexmark q5`. Its default checkpoint directory is
/// `checkpoints/<name>`.
std::string job_name(Query query);

/// Runs `query` over `source.stream` embedded as `add_nexmark_job` builds it: source and query
/// operators at `engine.parallelism`, the rows into `sink` at `sink_parallelism` (0: the
/// query's parallelism). Waits for the end; throws JobError with one sentence if the job fails.
template <class S>
JobResult run_query(Query query, const SourceOptions& source, const EngineOptions& engine, S sink,
                    int sink_parallelism = 0) {
  StreamEnvironment env(execution_config(engine));
  auto rows = add_nexmark_job(env, query, source);
  auto handle = rows.sink_to(std::move(sink));
  handle.uid("sink");  // its name holds the output path, which may change between runs
  if (sink_parallelism > 0) handle.set_parallelism(sink_parallelism);
  return env.execute(job_name(query));
}

/// `run_query` on the heap backend at `parallelism`.
template <class S>
JobResult run_query(Query query, const SourceOptions& source, int parallelism, S sink,
                    int sink_parallelism = 0) {
  EngineOptions engine;
  engine.parallelism = parallelism;
  return run_query(query, source, engine, std::move(sink), sink_parallelism);
}

}  // namespace sluice::nexmark
