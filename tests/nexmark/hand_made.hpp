// tests/nexmark/hand_made.hpp — hand-made events: edge cases for the COST loops and the jobs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model.hpp"

namespace sluice::nexmark::hand_made {

// 2015-07-15T00:00:00Z, a multiple of 10 s: window boundaries are base + k * 10 000.
constexpr int64_t base = 1'436'918'400'000;

inline Event person(int64_t id, std::string name, std::string city, std::string state,
                    int64_t time) {
  Event event;
  event.kind = Event::Kind::person;
  event.person.id = id;
  event.person.name = std::move(name);
  event.person.city = std::move(city);
  event.person.state = std::move(state);
  event.person.date_time = time;
  return event;
}

inline Event auction(int64_t id, int64_t seller, int64_t category, int64_t time, int64_t expires) {
  Event event;
  event.kind = Event::Kind::auction;
  event.auction.id = id;
  event.auction.seller = seller;
  event.auction.category = category;
  event.auction.date_time = time;
  event.auction.expires = expires;
  return event;
}

inline Event bid(int64_t auction, int64_t bidder, int64_t price, int64_t time,
                 std::string extra = "x") {
  Event event;
  event.kind = Event::Kind::bid;
  event.bid.auction = auction;
  event.bid.bidder = bidder;
  event.bid.price = price;
  event.bid.date_time = time;
  event.bid.extra = std::move(extra);
  return event;
}

inline std::vector<std::string> sorted(std::vector<std::string> rows) {
  std::sort(rows.begin(), rows.end());
  return rows;
}

inline std::vector<Event> reversed(std::vector<Event> events) {
  std::reverse(events.begin(), events.end());
  return events;
}

inline std::string ms(int64_t time) { return std::to_string(time); }

/// q3: pairs on either side of the arrival order, wrong states and categories, a seller
/// never seen, a name that needs quoting.
inline std::vector<Event> q3_events() {
  return {
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
}

/// q4: a bid before its auction, bids just outside and at the bounds, an auction without a
/// qualifying bid, negative prices whose average truncates toward zero.
inline std::vector<Event> q4_events() {
  return {
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
}

/// q5: bids on hop window boundaries.
inline std::vector<Event> q5_alignment_events() {
  return {bid(7, 9, 1, base + 10'000), bid(7, 9, 1, base + 19'999), bid(8, 9, 1, base + 11'000)};
}

/// q7: ties, a bid at exactly a window's end with the previous window's maximum, a bid that
/// is its own window's maximum and the previous one's.
inline std::vector<Event> q7_events() {
  return {
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
}

/// q8: a person and an auction in neighbouring windows, repeated persons and sellers, one id
/// with two names, a seller never registered.
inline std::vector<Event> q8_events() {
  return {
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
}

/// q11: sessions that touch, sessions 1 ms too far apart, a bid that bridges two sessions,
/// bids at the same instant.
inline std::vector<Event> q11_events() {
  return {
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
}

}  // namespace sluice::nexmark::hand_made
