// apps/nexmark/cost.cpp — COST baselines: single-threaded hand-written loops for Nexmark q0-q2.
#include "cost.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "csv.hpp"

namespace sluice::nexmark {
namespace {

constexpr int64_t q2_auction_skip = 123;

void append_int(std::string& out, int64_t value) { out += std::to_string(value); }

// auction,bidder,<price>,dateTime,extra — the shape q0 and q1 share.
std::string bid_row(const Bid& bid, std::string_view price) {
  std::string row;
  append_int(row, bid.auction);
  row += ',';
  append_int(row, bid.bidder);
  row += ',';
  row += price;
  row += ',';
  append_int(row, bid.date_time);
  row += ',';
  append_csv_field(row, bid.extra);
  return row;
}

// Feeds every bid of the stream to `on_bid`, split after split.
template <typename OnBid>
void for_each_bid(const GeneratorConfig& whole_stream, OnBid&& on_bid) {
  for (const GeneratorConfig& split : stream_splits(whole_stream)) {
    SplitReader reader(split);
    while (reader.has_next()) {
      const NextEvent next = reader.next();
      if (next.event.kind == Event::Kind::bid) on_bid(next.event.bid);
    }
  }
}

std::vector<std::string> sorted(std::vector<std::string> rows) {
  std::sort(rows.begin(), rows.end());
  return rows;
}

}  // namespace

std::optional<Query> parse_query(std::string_view name) {
  if (name == "q0") return Query::q0;
  if (name == "q1") return Query::q1;
  if (name == "q2") return Query::q2;
  return std::nullopt;
}

std::string_view header(Query query) {
  switch (query) {
    case Query::q0:
    case Query::q1:
      return "auction,bidder,price,dateTime,extra";
    case Query::q2:
      return "auction,price";
  }
  throw std::invalid_argument("header: unknown query");
}

std::string format_q1_price(int64_t price) {
  const int64_t scaled = price * 908;
  const uint64_t magnitude =
      scaled < 0 ? 0 - static_cast<uint64_t>(scaled) : static_cast<uint64_t>(scaled);
  std::string fraction = std::to_string(magnitude % 1000);
  fraction.insert(0, 3 - fraction.size(), '0');
  std::string out = scaled < 0 ? "-" : "";
  out += std::to_string(magnitude / 1000);
  out += '.';
  out += fraction;
  return out;
}

std::string q0_row(const Bid& bid) { return bid_row(bid, std::to_string(bid.price)); }

std::string q1_row(const Bid& bid) { return bid_row(bid, format_q1_price(bid.price)); }

bool q2_selects(const Bid& bid) { return bid.auction % q2_auction_skip == 0; }

std::string q2_row(const Bid& bid) {
  std::string row;
  append_int(row, bid.auction);
  row += ',';
  append_int(row, bid.price);
  return row;
}

std::vector<std::string> cost_q0(const GeneratorConfig& whole_stream) {
  std::vector<std::string> rows;
  for_each_bid(whole_stream, [&](const Bid& bid) { rows.push_back(q0_row(bid)); });
  return sorted(std::move(rows));
}

std::vector<std::string> cost_q1(const GeneratorConfig& whole_stream) {
  std::vector<std::string> rows;
  for_each_bid(whole_stream, [&](const Bid& bid) { rows.push_back(q1_row(bid)); });
  return sorted(std::move(rows));
}

std::vector<std::string> cost_q2(const GeneratorConfig& whole_stream) {
  std::vector<std::string> rows;
  for_each_bid(whole_stream, [&](const Bid& bid) {
    if (q2_selects(bid)) rows.push_back(q2_row(bid));
  });
  return sorted(std::move(rows));
}

std::vector<std::string> run_cost(Query query, const GeneratorConfig& whole_stream) {
  switch (query) {
    case Query::q0:
      return cost_q0(whole_stream);
    case Query::q1:
      return cost_q1(whole_stream);
    case Query::q2:
      return cost_q2(whole_stream);
  }
  throw std::invalid_argument("run_cost: unknown query");
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
