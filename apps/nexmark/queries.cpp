// apps/nexmark/queries.cpp — the job a query runs in; q0-q2 as filter and map chains.
#include "queries.hpp"

#include <stdexcept>

#include "cost_stateful.hpp"

namespace sluice::nexmark {
namespace {

bool is_bid(const Event& event) { return event.kind == Event::Kind::bid; }

}  // namespace

ExecutionConfig execution_config(const EngineOptions& engine) {
  ExecutionConfig config;
  config.parallelism = engine.parallelism;
  config.state_backend = engine.state_backend;
  config.state_dir = engine.state_dir;
  config.rocksdb_memory = engine.rocksdb_memory;
  config.rocksdb_record_cache = engine.rocksdb_record_cache;
  config.execution_mode = engine.execution_mode;
  config.slots = engine.slots;
  config.batch_memory = engine.batch_memory;
  config.checkpoint = engine.checkpoint;
  return config;
}

std::string job_name(Query query) { return "Nexmark " + std::string(query_name(query)); }

DataStream<Event> add_nexmark_source(StreamEnvironment& env, const SourceOptions& options) {
  return env.from_source<Event>(NexmarkSource(options), "Nexmark Source");
}

DataStream<std::string> add_nexmark_job(StreamEnvironment& env, Query query, SourceOptions source) {
  std::shared_ptr<SteppedClock> clock;
  if (query == Query::q12) {
    if (env.config().checkpoint.enabled()) {
      throw std::invalid_argument(
          "q12 cannot checkpoint: its stepped processing-time clock keeps counts outside the "
          "job's state");
    }
    // The clock moves only once the window subtasks took every event emitted so far, so the
    // source and the windows must run at once; BATCH runs the windows after the source ended.
    if (env.config().execution_mode != ExecutionMode::streaming) {
      throw std::invalid_argument(
          "q12 runs in streaming mode only: its stepped processing-time clock moves with the windows "
          "taking the source's events, and BATCH runs the windows after the source ended");
    }
    clock = std::make_shared<SteppedClock>(tumble_size_ms, is_bid);
    env.config().clock = clock;
    source.stepped_clock = clock;
  }
  return add_query(query, add_nexmark_source(env, source), std::move(clock));
}

DataStream<std::string> q0(DataStream<Event> events) {
  return events.filter(is_bid, "Bids")
      .map([](const Event& event) { return q0_row(event.bid); }, "q0 Row");
}

DataStream<std::string> q1(DataStream<Event> events) {
  return events.filter(is_bid, "Bids")
      .map([](const Event& event) { return q1_row(event.bid); }, "q1 Row");
}

DataStream<std::string> q2(DataStream<Event> events) {
  return events
      .filter([](const Event& event) { return is_bid(event) && q2_selects(event.bid); },
              "Selected Bids")
      .map([](const Event& event) { return q2_row(event.bid); }, "q2 Row");
}

DataStream<std::string> add_query(Query query, DataStream<Event> events,
                                  std::shared_ptr<SteppedClock> clock) {
  switch (query) {
    case Query::q0:
      return q0(std::move(events));
    case Query::q1:
      return q1(std::move(events));
    case Query::q2:
      return q2(std::move(events));
    case Query::q3:
      return q3(std::move(events));
    case Query::q4:
      return q4(std::move(events));
    case Query::q5:
      return q5(std::move(events));
    case Query::q7:
      return q7(std::move(events));
    case Query::q8:
      return q8(std::move(events));
    case Query::q11:
      return q11(std::move(events));
    case Query::q12:
      return q12(std::move(events), std::move(clock));
  }
  throw std::invalid_argument("add_query: unknown query");
}

}  // namespace sluice::nexmark
