// apps/nexmark/cost_stateful.hpp — COST baselines: hand-written loops for Nexmark q3-q12.
//
// Each query follows the Flink Nexmark SQL (nexmark/nexmark, `queries/qN.sql`) as refined by
// ../shared/NEXMARK.md, evaluated to the end of a bounded input: every window is fired (the
// end of input is the maximum watermark), updating results are given as their final value.
// The choices the definitions leave open are documented on each function in
// cost_stateful.cpp. Every query has two entry points sharing one implementation: the whole
// generated stream (every split of `stream_splits(whole_stream)`, read to its end, as
// cost.cpp does) and an explicit event sequence, for hand-made tests.
//
// Results are CSV rows without header, sorted bytewise; duplicates are kept (multisets).
// Integers print as integers, timestamps as epoch milliseconds, strings quoted per RFC 4180
// where needed.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "generator.hpp"
#include "model.hpp"

namespace sluice::nexmark {

/// The stateful queries that have a baseline loop here.
enum class StatefulQuery : uint8_t { q3, q4, q5, q7, q8, q11, q12 };

/// `"q3"`, `"q4"`, `"q5"`, `"q7"`, `"q8"`, `"q11"`, `"q12"` to a query; nullopt otherwise.
std::optional<StatefulQuery> parse_stateful_query(std::string_view name);

/// The query's CSV header line without a line break, column names as in NEXMARK.md:
/// q3 `name,city,state,id`; q4 `id,final`; q5 `auction,num`;
/// q7 `auction,price,bidder,dateTime,extra`; q8 `id,name,stime`;
/// q11 and q12 `bidder,bid_count,starttime,endtime`.
std::string_view stateful_header(StatefulQuery query);

/// A processing-time clock for q12: the processing time, epoch ms, at which an event is
/// handled. A function of the event alone (its `event_id` is unique over the stream), so the
/// result does not depend on the order in which splits are read.
using ProcTimeFn = std::function<int64_t(const Event& event)>;

/// The event's own time (`dateTime` of its person, auction or bid): the default q12 clock.
int64_t event_time(const Event& event);

/// q3: auction ⋈ person on seller = id, category 10, state OR/ID/CA.
std::vector<std::string> cost_q3(const GeneratorConfig& whole_stream);
std::vector<std::string> cost_q3(std::span<const Event> events);

/// q4: per category, the truncated average of the per-auction maximum bid price.
std::vector<std::string> cost_q4(const GeneratorConfig& whole_stream);
std::vector<std::string> cost_q4(std::span<const Event> events);

/// q5: hot items, bids counted per auction in HOP windows (slide 2 s, size 10 s).
std::vector<std::string> cost_q5(const GeneratorConfig& whole_stream);
std::vector<std::string> cost_q5(std::span<const Event> events);

/// q7: the bids carrying the highest price of a 10 s TUMBLE window.
std::vector<std::string> cost_q7(const GeneratorConfig& whole_stream);
std::vector<std::string> cost_q7(std::span<const Event> events);

/// q8: people who registered and opened an auction in the same 10 s TUMBLE window.
std::vector<std::string> cost_q8(const GeneratorConfig& whole_stream);
std::vector<std::string> cost_q8(std::span<const Event> events);

/// q11: bids per bidder session (10 s gap).
std::vector<std::string> cost_q11(const GeneratorConfig& whole_stream);
std::vector<std::string> cost_q11(std::span<const Event> events);

/// q12: bids per bidder in 10 s processing-time TUMBLE windows on `proctime`.
std::vector<std::string> cost_q12(const GeneratorConfig& whole_stream,
                                  const ProcTimeFn& proctime = event_time);
std::vector<std::string> cost_q12(std::span<const Event> events,
                                  const ProcTimeFn& proctime = event_time);

/// Runs the query's baseline over the whole stream (q12 with `proctime`, ignored otherwise).
std::vector<std::string> run_stateful_cost(StatefulQuery query, const GeneratorConfig& whole_stream,
                                           const ProcTimeFn& proctime = event_time);

}  // namespace sluice::nexmark
