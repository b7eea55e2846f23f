// apps/nexmark/cost.hpp — the Nexmark queries by name; COST baselines (single-threaded loops).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "generator.hpp"
#include "model.hpp"

namespace sluice::nexmark {

/// The Nexmark queries of the suite: stateless q0-q2 (baselines here) and the stateful ones
/// (baselines in cost_stateful.hpp).
enum class Query : uint8_t { q0, q1, q2, q3, q4, q5, q7, q8, q11, q12 };

/// Every query, in order: what `nexmark bench` runs by default.
const std::vector<Query>& all_queries();

/// `"q0"`, `"q1"`, ..., `"q12"` to a query; nullopt for anything else (q6, q9, q10).
std::optional<Query> parse_query(std::string_view name);
/// The query's name as `parse_query` reads it.
std::string_view query_name(Query query);

/// The query's CSV header line, without a line break, column names as in NEXMARK.md:
/// `auction,bidder,price,dateTime,extra` for q0 and q1, `auction,price` for q2, and for the
/// stateful queries q3 `name,city,state,id`; q4 `id,final`; q5 `auction,num`;
/// q7 `auction,price,bidder,dateTime,extra`; q8 `id,name,stime`;
/// q11 and q12 `bidder,bid_count,starttime,endtime`.
std::string_view header(Query query);

/// q0 row of a bid: `auction,bidder,price,dateTime,extra` (extra quoted per RFC 4180).
std::string q0_row(const Bid& bid);
/// q1 row of a bid: as q0 with the price replaced by `format_q1_price(price)`.
std::string q1_row(const Bid& bid);
/// q2 row of a bid: `auction,price`. Whether the bid qualifies is `q2_selects`.
std::string q2_row(const Bid& bid);
/// q2's filter: `auction % 123 == 0` (Beam's default auctionSkip).
bool q2_selects(const Bid& bid);

/// `0.908 * price` as an exact decimal with three decimals, computed on integers
/// (`price * 908`, then the point placed): 100 gives `90.800`, -1 gives `-0.908`.
std::string format_q1_price(int64_t price);

/// Runs the query's baseline over the whole stream `whole_stream` describes: every split of
/// `stream_splits(whole_stream)`, read to its end in one thread (q12 with its default clock, the
/// event time). Returns the result rows without header, sorted bytewise (the result is a
/// multiset, so the order of reading does not matter). Duplicates are kept.
std::vector<std::string> run_cost(Query query, const GeneratorConfig& whole_stream);
std::vector<std::string> cost_q0(const GeneratorConfig& whole_stream);
std::vector<std::string> cost_q1(const GeneratorConfig& whole_stream);
std::vector<std::string> cost_q2(const GeneratorConfig& whole_stream);

/// What a timed baseline run produced.
struct CostThroughput {
  int64_t events = 0;
  uint64_t rows = 0;
  /// Bytes of all rows, without line breaks.
  uint64_t bytes = 0;
  double seconds = 0;

  double events_per_second() const {
    return seconds > 0 ? static_cast<double>(events) / seconds : 0;
  }
};

/// Runs the query's baseline loop over `whole_stream` as `run_cost` does, building every row
/// string, but counts the rows and their bytes instead of keeping and sorting them; timed on
/// the steady clock. This is the COST side of a benchmark whose engine side ends in a
/// counting sink. A stateful query's loop keeps its state and builds its rows at the end of
/// the input, as `run_cost` does, and the time includes that.
CostThroughput measure_cost(Query query, const GeneratorConfig& whole_stream);

/// How fast the bare generator runs: every event of the stream produced and dropped.
struct GeneratorThroughput {
  int64_t events = 0;
  double seconds = 0;
  /// Folded from every event so the work cannot be optimized away; equal runs give equal sums.
  uint64_t checksum = 0;

  double events_per_second() const {
    return seconds > 0 ? static_cast<double>(events) / seconds : 0;
  }
};

/// Generates every event of `whole_stream` in one thread, split after split, and times it on
/// the steady clock: the "generator alone" ceiling for a benchmark.
GeneratorThroughput measure_generator(const GeneratorConfig& whole_stream);

}  // namespace sluice::nexmark
