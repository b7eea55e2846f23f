// tests/nexmark/test_cost_stateful.cpp — stateful COST baselines on hand-made and generated events.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "cost_stateful.hpp"
#include "csv.hpp"
#include "hand_made.hpp"

using namespace sluice::nexmark;
using namespace sluice::nexmark::hand_made;

namespace {


std::size_t count_columns(std::string_view header) {
  return static_cast<std::size_t>(std::count(header.begin(), header.end(), ',')) + 1;
}

const std::vector<Query> stateful_queries = {Query::q3, Query::q4,  Query::q5, Query::q7,
                                             Query::q8, Query::q11, Query::q12};

GeneratorConfig hundred_thousand() {
  GeneratorConfig whole;
  whole.max_events = 100'000;
  return whole;
}

// The events of `hundred_thousand()`, split after split, generated once.
const std::vector<Event>& generated_events() {
  static const std::vector<Event> events = [] {
    std::vector<Event> all;
    for (const GeneratorConfig& split : stream_splits(hundred_thousand())) {
      SplitReader reader(split);
      while (reader.has_next()) all.push_back(reader.next().event);
    }
    return all;
  }();
  return events;
}

std::vector<std::string> run_on_events(Query query, std::span<const Event> events) {
  switch (query) {
    case Query::q3:
      return cost_q3(events);
    case Query::q4:
      return cost_q4(events);
    case Query::q5:
      return cost_q5(events);
    case Query::q7:
      return cost_q7(events);
    case Query::q8:
      return cost_q8(events);
    case Query::q11:
      return cost_q11(events);
    case Query::q12:
      return cost_q12(events);
    case Query::q0:
    case Query::q1:
    case Query::q2:
      break;
  }
  return {};
}

}  // namespace

TEST_CASE("stateful query names and headers", "[nexmark][cost]") {
  CHECK(parse_query("q3") == Query::q3);
  CHECK(parse_query("q11") == Query::q11);
  CHECK(parse_query("q12") == Query::q12);
  CHECK_FALSE(parse_query("q6").has_value());
  CHECK_FALSE(parse_query("q13").has_value());
  for (const Query query : stateful_queries) CHECK(parse_query(query_name(query)) == query);
  CHECK(header(Query::q3) == "name,city,state,id");
  CHECK(header(Query::q4) == "id,final");
  CHECK(header(Query::q5) == "auction,num");
  CHECK(header(Query::q7) == "auction,price,bidder,dateTime,extra");
  CHECK(header(Query::q8) == "id,name,stime");
  CHECK(header(Query::q11) == "bidder,bid_count,starttime,endtime");
  CHECK(header(Query::q12) == "bidder,bid_count,starttime,endtime");
  CHECK_THROWS_AS(run_stateful_cost(Query::q0, hundred_thousand()), std::invalid_argument);
}

TEST_CASE("q3 joins every pair whichever side arrives first", "[nexmark][cost]") {
  const std::vector<Event> events = q3_events();
  const std::vector<std::string> expected = {
      "\"Di, Jr.\",Los Angeles,CA,104",
      "Ann Lee,Boise,ID,100",
      "Ann Lee,Boise,ID,101",
  };
  CHECK(cost_q3(events) == expected);
  CHECK(cost_q3(reversed(events)) == expected);
}

TEST_CASE("q4 bounds are inclusive and the average truncates", "[nexmark][cost]") {
  const std::vector<Event> events = q4_events();
  // category 10: maxima 3 and 4, (3 + 4) / 2 = 3.5 -> 3.
  const std::vector<std::string> expected = {"10,3", "11,-7", "12,-3"};
  CHECK(cost_q4(events) == expected);
  CHECK(cost_q4(reversed(events)) == expected);
}

TEST_CASE("q5 counts in 2 s / 10 s hop windows and keeps ties", "[nexmark][cost]") {
  SECTION("ties in one window") {
    // All inside [base, base + 2 s): the same five windows, each with A 2, B 2, C 1.
    const std::vector<Event> events = {
        bid(1, 9, 1, base),      bid(1, 9, 1, base + 1999), bid(2, 9, 1, base + 10),
        bid(2, 9, 1, base + 20), bid(3, 9, 1, base + 30),
    };
    std::vector<std::string> expected(5, "1,2");
    expected.insert(expected.end(), 5, "2,2");
    CHECK(cost_q5(events) == expected);
  }
  SECTION("counts below the maximum are dropped") {
    // In [base + 2 s, base + 4 s): auctions 1 and 3 have 3 bids, auction 2 has 2.
    std::vector<Event> events;
    for (const int64_t auction_id : {1, 1, 1, 2, 2, 3, 3, 3}) {
      events.push_back(bid(auction_id, 9, 1, base + 2000 + 100 * auction_id));
    }
    std::vector<std::string> expected(5, "1,3");
    expected.insert(expected.end(), 5, "3,3");
    CHECK(cost_q5(events) == expected);
  }
  SECTION("window alignment") {
    // X at +10 s (windows starting +2..+10 s) and at +19.999 s (windows +10..+18 s); Y at
    // +11 s (windows +2..+10 s). Windows +2..+8 s: X 1, Y 1 (tie); +10 s: X 2, Y 1;
    // +12..+18 s: X 1.
    const std::vector<Event> events = q5_alignment_events();
    std::vector<std::string> expected(8, "7,1");
    expected.push_back("7,2");
    expected.insert(expected.end(), 4, "8,1");
    CHECK(cost_q5(events) == sorted(expected));
    CHECK(cost_q5(reversed(events)) == sorted(expected));
  }
}

TEST_CASE("q7 matches bids with window_end - 10 s <= dateTime <= window_end", "[nexmark][cost]") {
  const std::vector<Event> events = q7_events();
  const std::vector<std::string> expected = sorted({
      "1,100,11," + ms(base) + ",x",
      "3,100,13," + ms(base + 5000) + ",x",
      "4,100,14," + ms(base + 10'000) + ",x",
      "6,200,16," + ms(base + 15'000) + ",x",
      "7,200,17," + ms(base + 20'000) + ",\"a,b\"",
      "7,200,17," + ms(base + 20'000) + ",\"a,b\"",
  });
  CHECK(cost_q7(events) == expected);
  CHECK(cost_q7(reversed(events)) == expected);
}

TEST_CASE("q8 joins new people and sellers of the same aligned window", "[nexmark][cost]") {
  const std::vector<Event> events = q8_events();
  const std::vector<std::string> expected = sorted({
      "2,Bo," + ms(base + 10'000),
      "3,Cy," + ms(base + 20'000),
      "3,Cyrus," + ms(base + 20'000),
  });
  CHECK(cost_q8(events) == expected);
  CHECK(cost_q8(reversed(events)) == expected);
}

TEST_CASE("q11 sessions merge when they touch", "[nexmark][cost]") {
  const std::vector<Event> events = q11_events();
  const std::vector<std::string> expected = sorted({
      "1,2," + ms(base) + "," + ms(base + 20'000),
      "2,1," + ms(base) + "," + ms(base + 10'000),
      "2,1," + ms(base + 10'001) + "," + ms(base + 20'001),
      "3,3," + ms(base) + "," + ms(base + 30'000),
      "4,2," + ms(base + 7) + "," + ms(base + 10'007),
  });
  CHECK(cost_q11(events) == expected);
  CHECK(cost_q11(reversed(events)) == expected);
}

TEST_CASE("q12 counts per bidder in processing-time windows", "[nexmark][cost]") {
  std::vector<Event> events = {
      bid(1, 1, 1, base),          bid(1, 1, 1, base + 9999),       bid(1, 1, 1, base + 10'000),
      bid(1, 2, 1, base + 25'000), person(5, "P", "c", "OR", base),
  };
  for (std::size_t i = 0; i < events.size(); ++i) events[i].event_id = static_cast<int64_t>(i);

  SECTION("default clock: the event time") {
    const std::vector<std::string> expected = sorted({
        "1,2," + ms(base) + "," + ms(base + 10'000),
        "1,1," + ms(base + 10'000) + "," + ms(base + 20'000),
        "2,1," + ms(base + 20'000) + "," + ms(base + 30'000),
    });
    CHECK(cost_q12(events) == expected);
    CHECK(cost_q12(reversed(events)) == expected);
  }
  SECTION("injected clock ignores the event time") {
    // Event ids 0..3 are processed 4 s apart from base + 3 s: windows base (ids 0, 1) and
    // base + 10 s (ids 2, 3).
    const ProcTimeFn clock = [](const Event& event) { return base + 3000 + 4000 * event.event_id; };
    const std::vector<std::string> expected = sorted({
        "1,2," + ms(base) + "," + ms(base + 10'000),
        "1,1," + ms(base + 10'000) + "," + ms(base + 20'000),
        "2,1," + ms(base + 10'000) + "," + ms(base + 20'000),
    });
    CHECK(cost_q12(events, clock) == expected);
    CHECK(cost_q12(reversed(events), clock) == expected);
  }
}

TEST_CASE("stateful baselines on 100 000 generated events", "[nexmark][cost]") {
  const GeneratorConfig whole = hundred_thousand();
  const std::vector<Event>& events = generated_events();
  REQUIRE(events.size() == 100'000);
  std::vector<Event> shuffled = events;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(42));

  for (const Query query : stateful_queries) {
    INFO(query_name(query));
    const std::vector<std::string> rows = run_cost(query, whole);
    CHECK_FALSE(rows.empty());
    CHECK(std::is_sorted(rows.begin(), rows.end()));
    for (const std::string& row : rows) {
      REQUIRE(csv_field_count(row) == count_columns(header(query)));
    }
    // The event-sequence path shares the implementation and ignores the arrival order.
    CHECK(run_on_events(query, events) == rows);
    CHECK(run_on_events(query, shuffled) == rows);
  }
}

TEST_CASE("q4 on generated events has one row per category 10-14", "[nexmark][cost]") {
  const std::vector<std::string> rows = cost_q4(hundred_thousand());
  REQUIRE(rows.size() == 5);
  for (int i = 0; i < 5; ++i) CHECK(rows[i].rfind(std::to_string(10 + i) + ",", 0) == 0);
}

TEST_CASE("q11 and q12 on generated events count every bid", "[nexmark][cost]") {
  int64_t bids = 0;
  for (const Event& event : generated_events()) bids += event.kind == Event::Kind::bid ? 1 : 0;
  for (const Query query : {Query::q11, Query::q12}) {
    int64_t counted = 0;
    for (const std::string& row : run_cost(query, hundred_thousand())) {
      const std::size_t first = row.find(',');
      counted += std::stoll(row.substr(first + 1, row.find(',', first + 1) - first - 1));
    }
    CHECK(counted == bids);
  }
}

TEST_CASE("q12 on generated events depends on the injected clock only", "[nexmark][cost]") {
  const ProcTimeFn by_id = [](const Event& event) { return base + event.event_id; };
  const std::vector<std::string> rows = cost_q12(hundred_thousand(), by_id);
  std::vector<Event> shuffled = generated_events();
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(7));
  CHECK(cost_q12(shuffled, by_id) == rows);
  CHECK(rows != cost_q12(hundred_thousand()));
}
