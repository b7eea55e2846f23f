// tests/nexmark/test_cost_stateful.cpp — stateful COST baselines on hand-made and generated events.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "cost_stateful.hpp"

using namespace sluice::nexmark;

namespace {

// 2015-07-15T00:00:00Z, a multiple of 10 s: window boundaries are base + k * 10 000.
constexpr int64_t base = 1'436'918'400'000;

Event person(int64_t id, std::string name, std::string city, std::string state, int64_t time) {
  Event event;
  event.kind = Event::Kind::person;
  event.person.id = id;
  event.person.name = std::move(name);
  event.person.city = std::move(city);
  event.person.state = std::move(state);
  event.person.date_time = time;
  return event;
}

Event auction(int64_t id, int64_t seller, int64_t category, int64_t time, int64_t expires) {
  Event event;
  event.kind = Event::Kind::auction;
  event.auction.id = id;
  event.auction.seller = seller;
  event.auction.category = category;
  event.auction.date_time = time;
  event.auction.expires = expires;
  return event;
}

Event bid(int64_t auction, int64_t bidder, int64_t price, int64_t time, std::string extra = "x") {
  Event event;
  event.kind = Event::Kind::bid;
  event.bid.auction = auction;
  event.bid.bidder = bidder;
  event.bid.price = price;
  event.bid.date_time = time;
  event.bid.extra = std::move(extra);
  return event;
}

std::vector<std::string> sorted(std::vector<std::string> rows) {
  std::sort(rows.begin(), rows.end());
  return rows;
}

std::vector<Event> reversed(std::vector<Event> events) {
  std::reverse(events.begin(), events.end());
  return events;
}

std::string ms(int64_t time) { return std::to_string(time); }

std::size_t count_csv_fields(const std::string& row) {
  std::size_t fields = 1;
  bool quoted = false;
  for (const char c : row) {
    if (c == '"') quoted = !quoted;
    if (c == ',' && !quoted) ++fields;
  }
  return fields;
}

std::size_t count_columns(std::string_view header) {
  return static_cast<std::size_t>(std::count(header.begin(), header.end(), ',')) + 1;
}

const std::vector<StatefulQuery> all_queries = {
    StatefulQuery::q3, StatefulQuery::q4,  StatefulQuery::q5, StatefulQuery::q7,
    StatefulQuery::q8, StatefulQuery::q11, StatefulQuery::q12};

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

std::vector<std::string> run_on_events(StatefulQuery query, std::span<const Event> events) {
  switch (query) {
    case StatefulQuery::q3:
      return cost_q3(events);
    case StatefulQuery::q4:
      return cost_q4(events);
    case StatefulQuery::q5:
      return cost_q5(events);
    case StatefulQuery::q7:
      return cost_q7(events);
    case StatefulQuery::q8:
      return cost_q8(events);
    case StatefulQuery::q11:
      return cost_q11(events);
    case StatefulQuery::q12:
      return cost_q12(events);
  }
  return {};
}

}  // namespace

TEST_CASE("stateful query names and headers", "[nexmark][cost]") {
  CHECK(parse_stateful_query("q3") == StatefulQuery::q3);
  CHECK(parse_stateful_query("q11") == StatefulQuery::q11);
  CHECK(parse_stateful_query("q12") == StatefulQuery::q12);
  CHECK_FALSE(parse_stateful_query("q6").has_value());
  CHECK_FALSE(parse_stateful_query("q0").has_value());
  CHECK(stateful_header(StatefulQuery::q3) == "name,city,state,id");
  CHECK(stateful_header(StatefulQuery::q4) == "id,final");
  CHECK(stateful_header(StatefulQuery::q5) == "auction,num");
  CHECK(stateful_header(StatefulQuery::q7) == "auction,price,bidder,dateTime,extra");
  CHECK(stateful_header(StatefulQuery::q8) == "id,name,stime");
  CHECK(stateful_header(StatefulQuery::q11) == "bidder,bid_count,starttime,endtime");
  CHECK(stateful_header(StatefulQuery::q12) == "bidder,bid_count,starttime,endtime");
}

TEST_CASE("q3 joins every pair whichever side arrives first", "[nexmark][cost]") {
  const std::vector<Event> events = {
      person(1, "Ann Lee", "Boise", "ID", base),
      person(2, "Bo Ray", "Salem", "OR", base + 1),
      person(3, "Cy Dee", "Phoenix", "AZ", base + 2),       // wrong state
      auction(100, 1, 10, base + 3, base + 99),             // Ann, before nothing
      auction(101, 1, 10, base + 500'000, base + 600'000),  // Ann again, much later
      auction(102, 2, 11, base + 4, base + 99),             // wrong category
      auction(103, 3, 10, base + 5, base + 99),             // seller in AZ
      auction(104, 4, 10, base + 6, base + 99),             // seller arrives after
      auction(105, 9, 10, base + 7, base + 99),             // seller never seen
      person(4, "Di, Jr.", "Los Angeles", "CA", base + 8),
  };
  const std::vector<std::string> expected = {
      "\"Di, Jr.\",Los Angeles,CA,104",
      "Ann Lee,Boise,ID,100",
      "Ann Lee,Boise,ID,101",
  };
  CHECK(cost_q3(events) == expected);
  CHECK(cost_q3(reversed(events)) == expected);
}

TEST_CASE("q4 bounds are inclusive and the average truncates", "[nexmark][cost]") {
  const std::vector<Event> events = {
      bid(1, 7, 3, base + 1000),  // before its auction arrives: still counts
      auction(1, 50, 10, base + 1000, base + 2000),
      bid(1, 7, 999, base + 999),   // before auction.dateTime
      bid(1, 7, 998, base + 2001),  // after expires
      bid(1, 7, 2, base + 1500),
      auction(2, 50, 10, base + 1000, base + 2000),
      bid(2, 7, 4, base + 2000),  // exactly at expires
      bid(2, 7, 1, base + 1000),
      auction(3, 50, 10, base + 1000, base + 2000),  // no qualifying bid: no group
      bid(3, 7, 1'000'000, base + 5000),
      auction(4, 50, 11, base + 0, base + 10),
      bid(4, 7, -7, base + 5),  // AVG(-7) over one group
      auction(5, 50, 12, base + 0, base + 10),
      auction(6, 50, 12, base + 0, base + 10),
      bid(5, 7, -3, base + 5),
      bid(6, 7, -4, base + 5),  // (-3 + -4) / 2 = -3.5, truncated toward zero
  };
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
    const std::vector<Event> events = {bid(7, 9, 1, base + 10'000), bid(7, 9, 1, base + 19'999),
                                       bid(8, 9, 1, base + 11'000)};
    std::vector<std::string> expected(8, "7,1");
    expected.push_back("7,2");
    expected.insert(expected.end(), 4, "8,1");
    CHECK(cost_q5(events) == sorted(expected));
    CHECK(cost_q5(reversed(events)) == sorted(expected));
  }
}

TEST_CASE("q7 matches bids with window_end - 10 s <= dateTime <= window_end", "[nexmark][cost]") {
  const std::vector<Event> events = {
      // window [base, base + 10 s): max 100
      bid(1, 11, 100, base),         // at the window start: in the window
      bid(2, 12, 50, base + 9999),   // below the max
      bid(3, 13, 100, base + 5000),  // a tie
      // window [base + 10 s, base + 20 s): max 200
      bid(4, 14, 100, base + 10'000),  // exactly at the previous end, previous max: matches it
      bid(5, 15, 100, base + 10'001),  // previous max, but past the previous end
      bid(6, 16, 200, base + 15'000),
      // window [base + 20 s, base + 30 s): only bid, max 200
      bid(7, 17, 200, base + 20'000, "a,b"),  // its own max and the previous one: two rows
  };
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
  const std::vector<Event> events = {
      person(1, "Ann", "c", "OR", base + 9999),
      auction(100, 1, 10, base + 10'000, base + 20'000),  // next window: no match
      person(2, "Bo", "c", "OR", base + 10'000),
      auction(101, 2, 10, base + 19'999, base + 30'000),  // same window as Bo
      auction(102, 2, 10, base + 15'000, base + 30'000),  // distinct sellers: one row
      person(2, "Bo", "c", "OR", base + 12'000),          // distinct persons: one row
      person(3, "Cy", "c", "OR", base + 20'000),
      auction(103, 3, 10, base + 25'000, base + 30'000),
      person(3, "Cyrus", "c", "OR", base + 21'000),       // same id, other name: own row
      auction(104, 4, 10, base + 25'000, base + 30'000),  // seller never registered
  };
  const std::vector<std::string> expected = sorted({
      "2,Bo," + ms(base + 10'000),
      "3,Cy," + ms(base + 20'000),
      "3,Cyrus," + ms(base + 20'000),
  });
  CHECK(cost_q8(events) == expected);
  CHECK(cost_q8(reversed(events)) == expected);
}

TEST_CASE("q11 sessions merge when they touch", "[nexmark][cost]") {
  const std::vector<Event> events = {
      // bidder 1: exactly 10 s apart -> one session
      bid(1, 1, 1, base),
      bid(1, 1, 1, base + 10'000),
      // bidder 2: 10 s + 1 ms apart -> two sessions
      bid(1, 2, 1, base),
      bid(1, 2, 1, base + 10'001),
      // bidder 3: two sessions bridged by a bid that arrives last
      bid(1, 3, 1, base),
      bid(1, 3, 1, base + 20'000),
      bid(1, 3, 1, base + 10'000),
      // bidder 4: two bids at the same instant
      bid(1, 4, 1, base + 7),
      bid(1, 4, 1, base + 7),
  };
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

  for (const StatefulQuery query : all_queries) {
    const std::string_view header = stateful_header(query);
    INFO("query header " << header);
    const std::vector<std::string> rows = run_stateful_cost(query, whole);
    CHECK_FALSE(rows.empty());
    CHECK(std::is_sorted(rows.begin(), rows.end()));
    for (const std::string& row : rows) {
      REQUIRE(count_csv_fields(row) == count_columns(header));
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
  for (const StatefulQuery query : {StatefulQuery::q11, StatefulQuery::q12}) {
    int64_t counted = 0;
    for (const std::string& row : run_stateful_cost(query, hundred_thousand())) {
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
