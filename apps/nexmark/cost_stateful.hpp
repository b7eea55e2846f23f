// apps/nexmark/cost_stateful.hpp — COST baselines: hand-written loops for Nexmark q3-q12.
//
// Each query follows the Flink Nexmark SQL (nexmark/nexmark, `queries/qN.sql`) as refined by
// the project's notes on the generator and the queries, evaluated to the end of a bounded
// input: every window is fired (the end of input is the maximum watermark), updating results
// are given as their final value.
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
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cost.hpp"
#include "generator.hpp"
#include "model.hpp"

namespace sluice::nexmark {

/// Windows of the windowed queries, in ms: q7, q8 and q12 tumble by 10 s; q5 hops by 2 s over
/// 10 s; q11's sessions close after a 10 s gap. Windows are aligned to the epoch.
inline constexpr int64_t tumble_size_ms = 10'000;
inline constexpr int64_t hop_slide_ms = 2'000;
inline constexpr int64_t hop_size_ms = 10'000;
inline constexpr int64_t session_gap_ms = 10'000;

/// Start of the epoch-aligned window of `size` ms that contains `time` (floor division, so a
/// time before the epoch lands in the window that contains it).
int64_t window_start(int64_t time, int64_t size);

/// q3's filters: persons in OR, ID or CA (exact, case-sensitive), auctions of category 10.
bool q3_selects(const Person& person);
bool q3_selects(const Auction& auction);

// The result rows, shared by the baselines and the engine jobs: CSV without a line break,
// integers as integers, times as epoch ms, text quoted per RFC 4180 where needed.

/// q3: `name,city,state,id` of a person and an auction id.
std::string q3_row(std::string_view name, std::string_view city, std::string_view state,
                   int64_t auction_id);
/// q4: `id,final`, a category and its truncated average.
std::string q4_row(int64_t category, int64_t average);
/// q5: `auction,num`.
std::string q5_row(int64_t auction, int64_t count);
/// q7: `auction,price,bidder,dateTime,extra` of a bid.
std::string q7_row(const Bid& bid);
/// q8: `id,name,stime`.
std::string q8_row(int64_t id, std::string_view name, int64_t stime);
/// q11 and q12: `bidder,bid_count,starttime,endtime`.
std::string bidder_window_row(int64_t bidder, int64_t count, int64_t start, int64_t end);

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

/// Runs a stateful query's baseline over the whole stream (q12 with `proctime`, ignored
/// otherwise). Throws std::invalid_argument for q0-q2.
std::vector<std::string> run_stateful_cost(Query query, const GeneratorConfig& whole_stream,
                                           const ProcTimeFn& proctime = event_time);

/// `measure_cost` of a stateful query: the loop as `run_stateful_cost` (q12 with the event
/// time), its rows built at the end of the input and counted, neither kept nor sorted.
CostThroughput measure_stateful_cost(Query query, const GeneratorConfig& whole_stream);

}  // namespace sluice::nexmark
