// apps/nexmark/cost.cpp — query names and headers; COST loops for q0-q2, dispatch for q3-q12.
#include "cost.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <stdexcept>

#include "cost_stateful.hpp"
#include "csv.hpp"

namespace sluice::nexmark {
namespace {

constexpr int64_t q2_auction_skip = 123;

// auction,bidder,<price>,dateTime,extra — the shape q0 and q1 share; `append_price` writes the
// price column.
template <typename AppendPrice>
std::string bid_row(const Bid& bid, AppendPrice&& append_price) {
  std::string row;
  row.reserve(64 + bid.extra.size());
  append_csv_int(row, bid.auction);
  row += ',';
  append_csv_int(row, bid.bidder);
  row += ',';
  append_price(row, bid.price);
  row += ',';
  append_csv_int(row, bid.date_time);
  row += ',';
  append_csv_field(row, bid.extra);
  return row;
}

// `0.908 * price` with three decimals, computed on integers.
void append_q1_price(std::string& out, int64_t price) {
  const int64_t scaled = price * 908;
  const uint64_t magnitude =
      scaled < 0 ? 0 - static_cast<uint64_t>(scaled) : static_cast<uint64_t>(scaled);
  if (scaled < 0) out += '-';
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, magnitude / 1000).ptr);
  const auto fraction = static_cast<unsigned>(magnitude % 1000);
  out += '.';
  out += static_cast<char>('0' + fraction / 100);
  out += static_cast<char>('0' + fraction / 10 % 10);
  out += static_cast<char>('0' + fraction % 10);
}

// Feeds every event of the stream to `on_event`, split after split.
template <typename OnEvent>
void for_each_event(const GeneratorConfig& whole_stream, OnEvent&& on_event) {
  for (const GeneratorConfig& split : stream_splits(whole_stream)) {
    SplitReader reader(split);
    while (reader.has_next()) on_event(reader.next().event);
  }
}

// Feeds every result row of a stateless query over the stream to `on_row`, in reading order.
template <typename OnRow>
void for_each_row(Query query, const GeneratorConfig& whole_stream, OnRow&& on_row) {
  switch (query) {
    case Query::q0:
      for_each_event(whole_stream, [&](const Event& event) {
        if (event.kind == Event::Kind::bid) on_row(q0_row(event.bid));
      });
      return;
    case Query::q1:
      for_each_event(whole_stream, [&](const Event& event) {
        if (event.kind == Event::Kind::bid) on_row(q1_row(event.bid));
      });
      return;
    case Query::q2:
      for_each_event(whole_stream, [&](const Event& event) {
        if (event.kind == Event::Kind::bid && q2_selects(event.bid)) on_row(q2_row(event.bid));
      });
      return;
    case Query::q3:
    case Query::q4:
    case Query::q5:
    case Query::q7:
    case Query::q8:
    case Query::q11:
    case Query::q12:
      break;
  }
  throw std::invalid_argument("for_each_row: " + std::string(query_name(query)) +
                              " is not a stateless query");
}

bool is_stateless(Query query) {
  return query == Query::q0 || query == Query::q1 || query == Query::q2;
}

}  // namespace

const std::vector<Query>& all_queries() {
  static const std::vector<Query> queries = {Query::q0,  Query::q1, Query::q2, Query::q3,
                                             Query::q4,  Query::q5, Query::q7, Query::q8,
                                             Query::q11, Query::q12};
  return queries;
}

std::optional<Query> parse_query(std::string_view name) {
  for (const Query query : all_queries()) {
    if (query_name(query) == name) return query;
  }
  return std::nullopt;
}

std::string_view query_name(Query query) {
  switch (query) {
    case Query::q0:
      return "q0";
    case Query::q1:
      return "q1";
    case Query::q2:
      return "q2";
    case Query::q3:
      return "q3";
    case Query::q4:
      return "q4";
    case Query::q5:
      return "q5";
    case Query::q7:
      return "q7";
    case Query::q8:
      return "q8";
    case Query::q11:
      return "q11";
    case Query::q12:
      return "q12";
  }
  throw std::invalid_argument("query_name: unknown query");
}

std::string_view header(Query query) {
  switch (query) {
    case Query::q0:
    case Query::q1:
      return "auction,bidder,price,dateTime,extra";
    case Query::q2:
      return "auction,price";
    case Query::q3:
      return "name,city,state,id";
    case Query::q4:
      return "id,final";
    case Query::q5:
      return "auction,num";
    case Query::q7:
      return "auction,price,bidder,dateTime,extra";
    case Query::q8:
      return "id,name,stime";
    case Query::q11:
    case Query::q12:
      return "bidder,bid_count,starttime,endtime";
  }
  throw std::invalid_argument("header: unknown query");
}

std::string format_q1_price(int64_t price) {
  std::string out;
  append_q1_price(out, price);
  return out;
}

std::string q0_row(const Bid& bid) { return bid_row(bid, append_csv_int); }

std::string q1_row(const Bid& bid) { return bid_row(bid, append_q1_price); }

bool q2_selects(const Bid& bid) { return bid.auction % q2_auction_skip == 0; }

std::string q2_row(const Bid& bid) {
  std::string row;
  append_csv_int(row, bid.auction);
  row += ',';
  append_csv_int(row, bid.price);
  return row;
}

std::vector<std::string> run_cost(Query query, const GeneratorConfig& whole_stream) {
  if (!is_stateless(query)) return run_stateful_cost(query, whole_stream);
  std::vector<std::string> rows;
  for_each_row(query, whole_stream, [&](std::string row) { rows.push_back(std::move(row)); });
  std::sort(rows.begin(), rows.end());
  return rows;
}

std::vector<std::string> cost_q0(const GeneratorConfig& whole_stream) {
  return run_cost(Query::q0, whole_stream);
}

std::vector<std::string> cost_q1(const GeneratorConfig& whole_stream) {
  return run_cost(Query::q1, whole_stream);
}

std::vector<std::string> cost_q2(const GeneratorConfig& whole_stream) {
  return run_cost(Query::q2, whole_stream);
}

CostThroughput measure_cost(Query query, const GeneratorConfig& whole_stream) {
  if (!is_stateless(query)) return measure_stateful_cost(query, whole_stream);
  CostThroughput result;
  const auto start = std::chrono::steady_clock::now();
  for_each_row(query, whole_stream, [&](const std::string& row) {
    ++result.rows;
    result.bytes += row.size();
  });
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.events = whole_stream.resolved_max_events();
  return result;
}

GeneratorThroughput measure_generator(const GeneratorConfig& whole_stream) {
  GeneratorThroughput result;
  const auto start = std::chrono::steady_clock::now();
  for (const GeneratorConfig& split : stream_splits(whole_stream)) {
    SplitReader reader(split);
    while (reader.has_next()) {
      const NextEvent next = reader.next();
      result.checksum = result.checksum * 31 + static_cast<uint64_t>(next.event_timestamp) +
                        static_cast<uint64_t>(next.event.event_id);
      ++result.events;
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace sluice::nexmark
