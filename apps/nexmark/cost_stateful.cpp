// apps/nexmark/cost_stateful.cpp — COST baselines: hand-written loops for Nexmark q3-q12.
//
// Every query is a small state class with `add(event)`, fed each event once, and `finish()`,
// which evaluates the query at the end of the bounded input. The classes keep only what their
// query needs and never look at the order in which events arrived (except q12, whose result
// depends on the processing-time clock only), so the generator-driven and the hand-made
// entry points share them and any interleaving of the splits gives the same multiset.
//
// Choices common to all windowed queries:
// - Windows are aligned to the epoch (offset 0), start inclusive, end exclusive; the window
//   start of a time is computed with floor division, so times before the epoch land in the
//   window that contains them.
// - The input is bounded and its end is the maximum watermark: every window that received an
//   element fires, including the partial ones at the start and the end of the stream.
// - No element is late: the engine's source bounds out-of-orderness (4 s) so that none is
//   dropped, and the results here are those of an unbounded allowed lateness.
#include "cost_stateful.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "csv.hpp"

namespace sluice::nexmark {
namespace {

int64_t floor_div(int64_t value, int64_t divisor) {
  const int64_t quotient = value / divisor;
  return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient;
}

// Calls `on_start(start)` for every HOP window [start, start + size) containing `time`, starts
// aligned to multiples of `slide`: newest first, as Flink's SlidingEventTimeWindows assigns.
template <typename OnStart>
void for_each_hop_window(int64_t time, int64_t slide, int64_t size, OnStart&& on_start) {
  for (int64_t start = window_start(time, slide); start > time - size; start -= slide) {
    on_start(start);
  }
}

// splitmix64's finalizer: spreads the bits of a 64-bit key over the whole word.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return x;
}

using KeyPair = std::pair<int64_t, int64_t>;

struct KeyPairHash {
  std::size_t operator()(const KeyPair& key) const noexcept {
    return static_cast<std::size_t>(mix(static_cast<uint64_t>(key.first) * 0x9E3779B97F4A7C15ULL ^
                                        static_cast<uint64_t>(key.second)));
  }
};

template <typename Value>
using PairMap = std::unordered_map<KeyPair, Value, KeyPairHash>;

void append_value(std::string& out, int64_t value) { out += std::to_string(value); }
void append_value(std::string& out, std::string_view text) { append_csv_field(out, text); }

// One CSV row of the given fields: integers as integers, text quoted per RFC 4180 if needed.
template <typename... Fields>
std::string csv_row(const Fields&... fields) {
  std::string row;
  bool first = true;
  ((row += first ? "" : ",", first = false, append_value(row, fields)), ...);
  return row;
}

std::vector<std::string> sorted(std::vector<std::string> rows) {
  std::sort(rows.begin(), rows.end());
  return rows;
}

// Feeds every event of the stream to `query`, split after split, as cost.cpp reads it.
template <typename QueryState>
std::vector<std::string> run_over_stream(const GeneratorConfig& whole_stream, QueryState query) {
  for (const GeneratorConfig& split : stream_splits(whole_stream)) {
    SplitReader reader(split);
    while (reader.has_next()) query.add(reader.next().event);
  }
  return sorted(std::move(query).finish());
}

template <typename QueryState>
std::vector<std::string> run_over_events(std::span<const Event> events, QueryState query) {
  for (const Event& event : events) query.add(event);
  return sorted(std::move(query).finish());
}

// Feeds the stream to `query` as `run_over_stream`, timed, and counts the rows it finishes with.
template <typename QueryState>
CostThroughput measure_over_stream(const GeneratorConfig& whole_stream, QueryState query) {
  CostThroughput result;
  const auto start = std::chrono::steady_clock::now();
  for (const GeneratorConfig& split : stream_splits(whole_stream)) {
    SplitReader reader(split);
    while (reader.has_next()) query.add(reader.next().event);
  }
  for (const std::string& row : std::move(query).finish()) {
    ++result.rows;
    result.bytes += row.size();
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.events = whole_stream.resolved_max_events();
  return result;
}

}  // namespace

int64_t window_start(int64_t time, int64_t size) { return floor_div(time, size) * size; }

bool q3_selects(const Person& person) {
  return person.state == "OR" || person.state == "ID" || person.state == "CA";
}

bool q3_selects(const Auction& auction) { return auction.category == 10; }

std::string q3_row(std::string_view name, std::string_view city, std::string_view state,
                   int64_t auction_id) {
  return csv_row(name, city, state, auction_id);
}

std::string q4_row(int64_t category, int64_t average) { return csv_row(category, average); }

std::string q5_row(int64_t auction, int64_t count) { return csv_row(auction, count); }

std::string q7_row(const Bid& bid) {
  return csv_row(bid.auction, bid.price, bid.bidder, bid.date_time, bid.extra);
}

std::string q8_row(int64_t id, std::string_view name, int64_t stime) {
  return csv_row(id, name, stime);
}

std::string bidder_window_row(int64_t bidder, int64_t count, int64_t start, int64_t end) {
  return csv_row(bidder, count, start, end);
}

int64_t event_time(const Event& event) {
  switch (event.kind) {
    case Event::Kind::person:
      return event.person.date_time;
    case Event::Kind::auction:
      return event.auction.date_time;
    case Event::Kind::bid:
      return event.bid.date_time;
  }
  throw std::invalid_argument("event_time: unknown event kind");
}

// ---------------------------------------------------------------------------------------------
// q3 — local item suggestion.
// SQL: SELECT P.name, P.city, P.state, A.id FROM auction A JOIN person P ON A.seller = P.id
//      WHERE A.category = 10 AND P.state IN ('OR', 'ID', 'CA').
// Choices:
// - A regular (unwindowed) inner join: every matching (auction, person) pair is a row,
//   whichever side arrived first and however far apart in time; neither side expires.
// - Duplicates are kept: two person rows with the same id each join (the generator never
//   makes them, hand-made input may).
// - The state match is exact and case-sensitive, as SQL string equality.
namespace {

class Q3State {
 public:
  void add(const Event& event) {
    if (event.kind == Event::Kind::person) {
      const Person& person = event.person;
      if (q3_selects(person)) persons_[person.id].push_back(person);
    } else if (event.kind == Event::Kind::auction && q3_selects(event.auction)) {
      auctions_.emplace_back(event.auction.seller, event.auction.id);
    }
  }

  std::vector<std::string> finish() && {
    std::vector<std::string> rows;
    for (const auto& [seller, auction_id] : auctions_) {
      const auto found = persons_.find(seller);
      if (found == persons_.end()) continue;
      for (const Person& person : found->second) {
        rows.push_back(q3_row(person.name, person.city, person.state, auction_id));
      }
    }
    return rows;
  }

 private:
  // The qualifying persons, by person id.
  std::unordered_map<int64_t, std::vector<Person>> persons_;
  // (seller, auction id) of the category-10 auctions.
  std::vector<KeyPair> auctions_;
};

}  // namespace

std::vector<std::string> cost_q3(const GeneratorConfig& whole_stream) {
  return run_over_stream(whole_stream, Q3State{});
}

std::vector<std::string> cost_q3(std::span<const Event> events) {
  return run_over_events(events, Q3State{});
}

// ---------------------------------------------------------------------------------------------
// q4 — average price per category.
// SQL: SELECT category, AVG(final) FROM (SELECT MAX(B.price) AS final, A.category
//      FROM auction A, bid B WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND
//      A.expires GROUP BY A.id, A.category) GROUP BY category.
// Choices:
// - A regular join, both bounds inclusive: a bid counts when
//   `auction.dateTime <= bid.dateTime <= auction.expires`, whether it arrived before or after
//   its auction.
// - Auctions without a qualifying bid form no group and do not weigh on the average;
//   categories without such an auction have no row.
// - AVG over BIGINT is BIGINT: the sum of the maxima divided by their count in integer
//   arithmetic, truncated toward zero (Java's long division).
// - Streaming Flink updates (retracts) the result; this is the final value per category at
//   end of input, one row per category.
// - Groups are (auction id, category): duplicate auction rows with the same id and category
//   join the same bids again, which leaves MAX unchanged, so they count once.
namespace {

class Q4State {
 public:
  void add(const Event& event) {
    if (event.kind == Event::Kind::auction) {
      const Auction& auction = event.auction;
      by_auction_[auction.id].auctions.push_back(
          AuctionSpan{auction.date_time, auction.expires, auction.category});
    } else if (event.kind == Event::Kind::bid) {
      by_auction_[event.bid.auction].bids.push_back(
          PricedBid{event.bid.date_time, event.bid.price});
    }
  }

  std::vector<std::string> finish() && {
    struct Average {
      int64_t sum = 0;
      int64_t count = 0;
    };
    std::unordered_map<int64_t, Average> by_category;
    std::vector<KeyPair> group_maxima;  // (category, max price) of one auction id
    for (const auto& [auction_id, entry] : by_auction_) {
      group_maxima.clear();
      for (const AuctionSpan& auction : entry.auctions) {
        for (const PricedBid& bid : entry.bids) {
          if (bid.date_time < auction.date_time || bid.date_time > auction.expires) continue;
          auto group = std::find_if(group_maxima.begin(), group_maxima.end(),
                                    [&](const KeyPair& g) { return g.first == auction.category; });
          if (group == group_maxima.end()) {
            group_maxima.emplace_back(auction.category, bid.price);
          } else {
            group->second = std::max(group->second, bid.price);
          }
        }
      }
      for (const auto& [category, max_price] : group_maxima) {
        Average& average = by_category[category];
        average.sum += max_price;
        ++average.count;
      }
    }
    std::vector<std::string> rows;
    for (const auto& [category, average] : by_category) {
      rows.push_back(q4_row(category, average.sum / average.count));
    }
    return rows;
  }

 private:
  struct AuctionSpan {
    int64_t date_time;
    int64_t expires;
    int64_t category;
  };
  struct PricedBid {
    int64_t date_time;
    int64_t price;
  };
  struct Entry {
    std::vector<AuctionSpan> auctions;
    std::vector<PricedBid> bids;
  };
  std::unordered_map<int64_t, Entry> by_auction_;
};

}  // namespace

std::vector<std::string> cost_q4(const GeneratorConfig& whole_stream) {
  return run_over_stream(whole_stream, Q4State{});
}

std::vector<std::string> cost_q4(std::span<const Event> events) {
  return run_over_events(events, Q4State{});
}

// ---------------------------------------------------------------------------------------------
// q5 — hot items.
// SQL: bids counted per (auction, HOP window of slide 2 s, size 10 s); joined with the maximum
//      of those counts per window on `num >= maxn`.
// Choices:
// - Each bid belongs to the five windows [s, s + 10 s) with s a multiple of 2 s and
//   t - 10 s < s <= t; a window exists when it holds at least one bid.
// - `num >= maxn` with maxn the window's maximum keeps exactly the auctions whose count equals
//   the maximum: ties are all kept, one row each.
// - Rows carry no window, so the same (auction, num) from different windows are duplicates
//   and are kept.
namespace {

class Q5State {
 public:
  void add(const Event& event) {
    if (event.kind != Event::Kind::bid) return;
    const Bid& bid = event.bid;
    for_each_hop_window(bid.date_time, hop_slide_ms, hop_size_ms, [&](int64_t start) {
      ++counts_[KeyPair{start, bid.auction}];
    });
  }

  std::vector<std::string> finish() && {
    std::unordered_map<int64_t, int64_t> window_max;
    for (const auto& [key, count] : counts_) {
      int64_t& max_count = window_max[key.first];
      max_count = std::max(max_count, count);
    }
    std::vector<std::string> rows;
    for (const auto& [key, count] : counts_) {
      if (count >= window_max[key.first]) rows.push_back(q5_row(key.second, count));
    }
    return rows;
  }

 private:
  // Bids per (window start, auction).
  PairMap<int64_t> counts_;
};

}  // namespace

std::vector<std::string> cost_q5(const GeneratorConfig& whole_stream) {
  return run_over_stream(whole_stream, Q5State{});
}

std::vector<std::string> cost_q5(std::span<const Event> events) {
  return run_over_events(events, Q5State{});
}

// ---------------------------------------------------------------------------------------------
// q7 — highest bid.
// SQL: SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra FROM bid B JOIN
//      (SELECT MAX(price) AS maxprice, window_end AS dateTime FROM TUMBLE(bid, 10 s)
//      GROUP BY window_start, window_end) B1 ON B.price = B1.maxprice
//      WHERE B.dateTime BETWEEN B1.dateTime - 10 s AND B1.dateTime.
// Choices:
// - A bid joins every window W = [s, e) with a maximum (W holds at least one bid) such that
//   `s <= bid.dateTime <= e` and `bid.price == max(W)`. Both bounds are inclusive, so:
//   a bid inside W joins W when it carries W's maximum; a bid at exactly e — which belongs to
//   the next window [e, e + 10 s) — also joins W when its price equals W's maximum, whether
//   or not it is the maximum of its own window. Such a boundary bid can therefore produce two
//   identical rows (one per window), and both are kept.
// - Every bid carrying the maximum is a row (ties kept).
// - Columns are named by what they hold: auction, price, bidder (Flink's sink names the
//   second and third columns the other way round).
namespace {

class Q7State {
 public:
  void add(const Event& event) {
    if (event.kind != Event::Kind::bid) return;
    const Bid& bid = event.bid;
    const int64_t start = window_start(bid.date_time, tumble_size_ms);
    auto [window, inserted] = windows_.try_emplace(start, WindowMax{bid.price, {}});
    if (!inserted && bid.price > window->second.price) {
      window->second.price = bid.price;
      window->second.bids.clear();
    }
    if (bid.price == window->second.price) window->second.bids.push_back(bid);
    if (bid.date_time == start) boundary_bids_.push_back(bid);
  }

  std::vector<std::string> finish() && {
    std::vector<std::string> rows;
    for (const auto& [start, window] : windows_) {
      for (const Bid& bid : window.bids) rows.push_back(q7_row(bid));
    }
    for (const Bid& bid : boundary_bids_) {
      const auto previous = windows_.find(bid.date_time - tumble_size_ms);
      if (previous != windows_.end() && previous->second.price == bid.price) {
        rows.push_back(q7_row(bid));
      }
    }
    return rows;
  }

 private:
  struct WindowMax {
    int64_t price;
    std::vector<Bid> bids;  // the window's bids carrying `price`
  };
  // By window start.
  std::unordered_map<int64_t, WindowMax> windows_;
  // Bids at exactly a window start, which is also the previous window's (inclusive) end.
  std::vector<Bid> boundary_bids_;
};

}  // namespace

std::vector<std::string> cost_q7(const GeneratorConfig& whole_stream) {
  return run_over_stream(whole_stream, Q7State{});
}

std::vector<std::string> cost_q7(std::span<const Event> events) {
  return run_over_events(events, Q7State{});
}

// ---------------------------------------------------------------------------------------------
// q8 — monitor new users.
// SQL: distinct (id, name, window) of persons per 10 s TUMBLE, joined with distinct
//      (seller, window) of auctions per 10 s TUMBLE on id = seller and the same window;
//      output P.id, P.name, window_start.
// Choices:
// - Both sides are distinct per window, so a person opening several auctions in the window
//   gives one row; a person id seen with two names in one window gives one row per name.
// - Person and auction are matched by the window of their own dateTime only: a person at
//   9.999 s and an auction at 10.000 s fall in different windows and do not join.
// - stime is the window start in epoch ms.
namespace {

class Q8State {
 public:
  void add(const Event& event) {
    if (event.kind == Event::Kind::person) {
      const Person& person = event.person;
      persons_.insert(
          PersonKey{window_start(person.date_time, tumble_size_ms), person.id, person.name});
    } else if (event.kind == Event::Kind::auction) {
      sellers_.insert(
          KeyPair{window_start(event.auction.date_time, tumble_size_ms), event.auction.seller});
    }
  }

  std::vector<std::string> finish() && {
    std::vector<std::string> rows;
    for (const PersonKey& person : persons_) {
      if (sellers_.contains(KeyPair{person.window, person.id})) {
        rows.push_back(q8_row(person.id, person.name, person.window));
      }
    }
    return rows;
  }

 private:
  struct PersonKey {
    int64_t window;
    int64_t id;
    std::string name;
    friend bool operator==(const PersonKey&, const PersonKey&) = default;
  };
  struct PersonKeyHash {
    std::size_t operator()(const PersonKey& key) const noexcept {
      return KeyPairHash{}(KeyPair{key.window, key.id}) ^ std::hash<std::string>{}(key.name);
    }
  };
  std::unordered_set<PersonKey, PersonKeyHash> persons_;
  // (window start, seller).
  std::unordered_set<KeyPair, KeyPairHash> sellers_;
};

}  // namespace

std::vector<std::string> cost_q8(const GeneratorConfig& whole_stream) {
  return run_over_stream(whole_stream, Q8State{});
}

std::vector<std::string> cost_q8(std::span<const Event> events) {
  return run_over_events(events, Q8State{});
}

// ---------------------------------------------------------------------------------------------
// q11 — user sessions.
// SQL: SELECT bidder, COUNT(*), SESSION_START(dateTime, 10 s), SESSION_END(dateTime, 10 s)
//      FROM bid GROUP BY bidder, SESSION(dateTime, 10 s).
// Choices:
// - Each bid opens the window [t, t + 10 s); windows of one bidder merge when they intersect
//   in Flink's sense (`a.start <= b.end && a.end >= b.start`), so windows that only touch
//   merge: bids exactly 10 s apart are one session, 10 s + 1 ms apart are two.
// - starttime is the first bid's time, endtime the last bid's time + 10 s (exclusive end).
// - Sessions are computed on each bidder's sorted bid times, so the result does not depend
//   on arrival order: with no late data, Flink's incremental merging reaches the same
//   sessions whatever the order (a late bid bridging two sessions merges them).
// - Bids at the same instant all count.
namespace {

class Q11State {
 public:
  void add(const Event& event) {
    if (event.kind == Event::Kind::bid) times_[event.bid.bidder].push_back(event.bid.date_time);
  }

  std::vector<std::string> finish() && {
    std::vector<std::string> rows;
    for (auto& [bidder, times] : times_) {
      std::sort(times.begin(), times.end());
      int64_t first = times.front();
      int64_t last = first;
      int64_t count = 0;
      for (const int64_t time : times) {
        if (time - last > session_gap_ms) {
          rows.push_back(bidder_window_row(bidder, count, first, last + session_gap_ms));
          first = time;
          count = 0;
        }
        last = time;
        ++count;
      }
      rows.push_back(bidder_window_row(bidder, count, first, last + session_gap_ms));
    }
    return rows;
  }

 private:
  // Bid times by bidder.
  std::unordered_map<int64_t, std::vector<int64_t>> times_;
};

}  // namespace

std::vector<std::string> cost_q11(const GeneratorConfig& whole_stream) {
  return run_over_stream(whole_stream, Q11State{});
}

std::vector<std::string> cost_q11(std::span<const Event> events) {
  return run_over_events(events, Q11State{});
}

// ---------------------------------------------------------------------------------------------
// q12 — processing-time windows.
// SQL: SELECT bidder, COUNT(*), window_start, window_end FROM TUMBLE(bid with PROCTIME(),
//      10 s) GROUP BY bidder, window_start, window_end.
// Choices:
// - Processing time comes from the injected clock `proctime`, asked once per bid (persons and
//   auctions are filtered out before PROCTIME() is taken); the result depends on it only.
//   The clock is a function of the event, not of the read position, so the engine can apply
//   the same clock at any parallelism. The default clock is the event's dateTime.
// - Windows are epoch-aligned 10 s tumbles on that time: starttime = window start,
//   endtime = window start + 10 s.
// - At end of input every open window is emitted, as if processing time then passed all of
//   them. (Flink does not promise to fire pending processing-time timers when a bounded
//   input ends; emitting them makes the result cover every bid.)
namespace {

class Q12State {
 public:
  explicit Q12State(const ProcTimeFn& proctime) : proctime_(proctime) {}

  void add(const Event& event) {
    if (event.kind != Event::Kind::bid) return;
    const int64_t start = window_start(proctime_(event), tumble_size_ms);
    ++counts_[KeyPair{event.bid.bidder, start}];
  }

  std::vector<std::string> finish() && {
    std::vector<std::string> rows;
    for (const auto& [key, count] : counts_) {
      rows.push_back(bidder_window_row(key.first, count, key.second, key.second + tumble_size_ms));
    }
    return rows;
  }

 private:
  const ProcTimeFn& proctime_;
  // Bids per (bidder, window start).
  PairMap<int64_t> counts_;
};

}  // namespace

std::vector<std::string> cost_q12(const GeneratorConfig& whole_stream, const ProcTimeFn& proctime) {
  return run_over_stream(whole_stream, Q12State{proctime});
}

std::vector<std::string> cost_q12(std::span<const Event> events, const ProcTimeFn& proctime) {
  return run_over_events(events, Q12State{proctime});
}

// ---------------------------------------------------------------------------------------------

std::vector<std::string> run_stateful_cost(Query query, const GeneratorConfig& whole_stream,
                                           const ProcTimeFn& proctime) {
  switch (query) {
    case Query::q3:
      return cost_q3(whole_stream);
    case Query::q4:
      return cost_q4(whole_stream);
    case Query::q5:
      return cost_q5(whole_stream);
    case Query::q7:
      return cost_q7(whole_stream);
    case Query::q8:
      return cost_q8(whole_stream);
    case Query::q11:
      return cost_q11(whole_stream);
    case Query::q12:
      return cost_q12(whole_stream, proctime);
    case Query::q0:
    case Query::q1:
    case Query::q2:
      break;
  }
  throw std::invalid_argument("run_stateful_cost: " + std::string(query_name(query)) +
                              " is not a stateful query");
}

CostThroughput measure_stateful_cost(Query query, const GeneratorConfig& whole_stream) {
  switch (query) {
    case Query::q3:
      return measure_over_stream(whole_stream, Q3State{});
    case Query::q4:
      return measure_over_stream(whole_stream, Q4State{});
    case Query::q5:
      return measure_over_stream(whole_stream, Q5State{});
    case Query::q7:
      return measure_over_stream(whole_stream, Q7State{});
    case Query::q8:
      return measure_over_stream(whole_stream, Q8State{});
    case Query::q11:
      return measure_over_stream(whole_stream, Q11State{});
    case Query::q12: {
      const ProcTimeFn proctime = event_time;
      return measure_over_stream(whole_stream, Q12State{proctime});
    }
    case Query::q0:
    case Query::q1:
    case Query::q2:
      break;
  }
  throw std::invalid_argument("measure_stateful_cost: " + std::string(query_name(query)) +
                              " is not a stateful query");
}

}  // namespace sluice::nexmark
