// apps/nexmark/queries.hpp — the Nexmark queries as Sluice jobs (public DataStream API only).
#pragma once

#include <sluice/stream.hpp>
#include <string>

#include "codecs.hpp"
#include "cost.hpp"
#include "model.hpp"
#include "source.hpp"

namespace sluice::nexmark {

/// Adds the Nexmark source over `options.stream` to `env`, at the environment's parallelism.
DataStream<Event> add_nexmark_source(StreamEnvironment& env, const SourceOptions& options);

/// Adds `query` reading `events` and returns its result as CSV rows without line breaks,
/// formatted by the same row functions as the COST loops (cost.hpp), so engine and baseline
/// outputs compare row for row. The rows come in no particular order; a query whose result
/// updates emits its final value per key when the input ends.
DataStream<std::string> add_query(Query query, DataStream<Event> events);

/// q0, pass-through: every bid as `auction,bidder,price,dateTime,extra`.
DataStream<std::string> q0(DataStream<Event> events);
/// q1, currency conversion: every bid with `0.908 * price` as an exact three-decimal DECIMAL.
DataStream<std::string> q1(DataStream<Event> events);
/// q2, selection: `auction,price` of the bids with `auction % 123 == 0`.
DataStream<std::string> q2(DataStream<Event> events);

/// Runs `query` over `source.stream` embedded: source and query operators at `parallelism`,
/// the rows into `sink` at `sink_parallelism` (0: `parallelism`). Waits for the end; throws
/// JobError with one sentence if the job fails.
template <class S>
JobResult run_query(Query query, const SourceOptions& source, int parallelism, S sink,
                    int sink_parallelism = 0) {
  ExecutionConfig config;
  config.parallelism = parallelism;
  StreamEnvironment env(config);
  auto rows = add_query(query, add_nexmark_source(env, source));
  auto handle = rows.sink_to(std::move(sink));
  if (sink_parallelism > 0) handle.set_parallelism(sink_parallelism);
  return env.execute("Nexmark " + std::string(query_name(query)));
}

}  // namespace sluice::nexmark
