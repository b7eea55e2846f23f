// apps/nexmark/queries.cpp — q0-q2 as filter and map chains over the Nexmark source.
#include "queries.hpp"

#include <stdexcept>

namespace sluice::nexmark {
namespace {

bool is_bid(const Event& event) { return event.kind == Event::Kind::bid; }

}  // namespace

DataStream<Event> add_nexmark_source(StreamEnvironment& env, const SourceOptions& options) {
  return env.from_source<Event>(NexmarkSource(options), "Nexmark Source");
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

DataStream<std::string> add_query(Query query, DataStream<Event> events) {
  switch (query) {
    case Query::q0:
      return q0(std::move(events));
    case Query::q1:
      return q1(std::move(events));
    case Query::q2:
      return q2(std::move(events));
  }
  throw std::invalid_argument("add_query: unknown query");
}

}  // namespace sluice::nexmark
