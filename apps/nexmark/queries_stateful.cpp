// apps/nexmark/queries_stateful.cpp — q3-q12 as Sluice jobs: keyed state, timers, windows, joins.
//
// Every query keeps only keyed state (so it runs on either backend unchanged) and relies on
// the source's watermarks: no event is late (cost_stateful.cpp's common choices), so an
// event-time timer at t fires once every record at or before t has arrived, and the end of
// input (the maximum watermark) fires whatever is still pending.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <sluice/sluice.hpp>
#include <sluice/windows.hpp>
#include <string>
#include <utility>
#include <vector>

#include "cost_stateful.hpp"
#include "queries.hpp"

namespace sluice::nexmark {
namespace {

// ---- the records between operators, and state values

/// q3: a person of OR, ID or CA.
struct LocalPerson {
  int64_t id = 0;
  std::string name;
  std::string city;
  std::string state;
};

/// q3: a category-10 auction.
struct LocalAuction {
  int64_t id = 0;
  int64_t seller = 0;
};

/// q4: an auction's id, lifetime and category.
struct AuctionSpan {
  int64_t id = 0;
  int64_t date_time = 0;
  int64_t expires = 0;
  int64_t category = 0;
};

/// q4: what a bid contributes.
struct PricedBid {
  int64_t auction = 0;
  int64_t date_time = 0;
  int64_t price = 0;
};

/// q4: an auction's state — its span, the highest qualifying price so far, whether its
/// maximum has been emitted.
struct OpenAuction {
  int64_t date_time = 0;
  int64_t expires = 0;
  int64_t category = 0;
  int64_t max_price = 0;
  bool has_bid = false;
  bool closed = false;
};

/// q4: the final maximum of one auction.
struct CategoryPrice {
  int64_t category = 0;
  int64_t price = 0;
};

/// q4: a running average.
struct SumCount {
  int64_t sum = 0;
  int64_t count = 0;
};

/// q5: the bids of one auction in one window.
struct AuctionCount {
  int64_t window = 0;
  int64_t auction = 0;
  int64_t count = 0;
};

/// q7: a bid for a window: a member of the window that starts at `window`, or (`boundary`) a
/// bid at exactly its end, which the inclusive upper bound also joins with it.
struct WindowBid {
  int64_t window = 0;
  bool boundary = false;
  Bid bid;
};

/// q8: a person registering (with a name) or a seller opening an auction, by person id.
struct UserActivity {
  int64_t id = 0;
  bool seller = false;
  std::string name;
};

/// q8: what a window knows of one person id: its distinct names, whether it sold.
struct NewUser {
  std::vector<std::string> names;
  bool seller = false;
};

}  // namespace
}  // namespace sluice::nexmark

SLUICE_CODEC(sluice::nexmark::LocalPerson, id, name, city, state);
SLUICE_CODEC(sluice::nexmark::LocalAuction, id, seller);
SLUICE_CODEC(sluice::nexmark::AuctionSpan, id, date_time, expires, category);
SLUICE_CODEC(sluice::nexmark::PricedBid, auction, date_time, price);
SLUICE_CODEC(sluice::nexmark::OpenAuction, date_time, expires, category, max_price, has_bid,
             closed);
SLUICE_CODEC(sluice::nexmark::CategoryPrice, category, price);
SLUICE_CODEC(sluice::nexmark::SumCount, sum, count);
SLUICE_CODEC(sluice::nexmark::AuctionCount, window, auction, count);
SLUICE_CODEC(sluice::nexmark::WindowBid, window, boundary, bid);
SLUICE_CODEC(sluice::nexmark::UserActivity, id, seller, name);
SLUICE_CODEC(sluice::nexmark::NewUser, names, seller);

namespace sluice::nexmark {
namespace {

using std::chrono::milliseconds;

/// `pick(event, out)` for every event: the first operator of a query that reads one kind of
/// event, chained to the source.
template <class Out, class Pick>
DataStream<Out> pick(DataStream<Event>& events, std::string name, Pick select) {
  return events.flat_map<Out>(
      [select](Event&& event, Collector<Out>& out) { select(std::move(event), out); },
      std::move(name));
}

/// Splits the events in one pass into two streams, `split(event, first, second)` emitting to
/// either: the first operator of a query that reads two kinds of event. (Two `pick`s would
/// copy every event for the first of them.)
template <class A, class B, class Split>
class SplitEvents final : public ProcessFunction<Event, A> {
 public:
  SplitEvents(OutputTag<B> tag, Split split) : tag_(std::move(tag)), split_(std::move(split)) {}

  void process(const Event& event, ElementContext& ctx, Collector<A>& first) override {
    split_(event, first, [&](B value) { ctx.output(tag_, std::move(value)); });
  }

 private:
  OutputTag<B> tag_;
  Split split_;
};

/// The two streams of a SplitEvents over `events`.
template <class A, class B, class Split>
std::pair<DataStream<A>, DataStream<B>> split_events(DataStream<Event>& events,
                                                     const std::string& name, Split split) {
  const OutputTag<B> tag(name + " (second)");
  auto first = events.process(SplitEvents<A, B, Split>(tag, std::move(split)), name);
  auto second = first.get_side_output(tag);
  return {std::move(first), std::move(second)};
}

/// The bidder of every bid.
DataStream<int64_t> bidders(DataStream<Event>& events) {
  return pick<int64_t>(events, "Bidders", [](Event&& event, Collector<int64_t>& out) {
    if (event.kind == Event::Kind::bid) out.collect(event.bid.bidder);
  });
}

int64_t identity(const int64_t& key) { return key; }

/// Counts a window's elements. With a stepped clock, reports every element to it as taken:
/// the window operator read the processing time before adding it.
class CountAggregate final : public AggregateFunction<int64_t, int64_t, int64_t> {
 public:
  explicit CountAggregate(std::shared_ptr<SteppedClock> clock = nullptr)
      : clock_(std::move(clock)) {}

  int64_t create_accumulator() const override { return 0; }
  void add(const int64_t&, int64_t& count) const override {
    ++count;
    if (clock_) clock_->taken();
  }
  int64_t get_result(const int64_t& count) const override { return count; }
  int64_t merge(int64_t a, const int64_t& b) const override { return a + b; }

 private:
  std::shared_ptr<SteppedClock> clock_;
};

/// Emits `make(key, window, count)` for a fired window's count.
template <class Out, class Make>
class CountResult final : public ProcessWindowFunction<int64_t, Out, int64_t, TimeWindow> {
 public:
  using Context = typename ProcessWindowFunction<int64_t, Out, int64_t, TimeWindow>::Context;
  explicit CountResult(Make make) : make_(std::move(make)) {}

  void process(const int64_t& key, Context& ctx, const std::vector<int64_t>& counts,
               Collector<Out>& out) override {
    for (const int64_t count : counts) out.collect(make_(key, ctx.window(), count));
  }

 private:
  Make make_;
};

/// The `bidder,bid_count,starttime,endtime` row of a window's count (q11, q12).
std::string bidder_count_row(const int64_t& bidder, const TimeWindow& window, int64_t count) {
  return bidder_window_row(bidder, count, window.start, window.end);
}

using BidderCountRow = CountResult<std::string, decltype(&bidder_count_row)>;

// ---- q3

/// Joins persons and auctions of one person id: both sides are kept, every new element
/// joins everything the other side holds.
class LocalItems final
    : public KeyedCoProcessFunction<int64_t, LocalPerson, LocalAuction, std::string> {
 public:
  void open(RuntimeContext& rc) override {
    persons_ = &rc.state(ListStateDescriptor<LocalPerson>{"persons"});
    auctions_ = &rc.state(ListStateDescriptor<int64_t>{"auctions"});
  }
  void process_element1(const LocalPerson& person, Context&, Collector<std::string>& out) override {
    for (const int64_t auction : auctions_->get()) out.collect(row(person, auction));
    persons_->add(person);
  }
  void process_element2(const LocalAuction& auction, Context&,
                        Collector<std::string>& out) override {
    for (const LocalPerson& person : persons_->get()) out.collect(row(person, auction.id));
    auctions_->add(auction.id);
  }

 private:
  static std::string row(const LocalPerson& person, int64_t auction) {
    return q3_row(person.name, person.city, person.state, auction);
  }

  ListState<LocalPerson>* persons_ = nullptr;
  ListState<int64_t>* auctions_ = nullptr;
};

// ---- q4

/// The highest price of each auction over its bids with dateTime in [dateTime, expires],
/// emitted as (category, max) when event time passes `expires` (no bid at or before it can
/// come after that). Bids that come before their auction wait in list state until it comes,
/// or until event time passes them (then no auction still to come can include them: its
/// dateTime is after the watermark). A closed auction keeps its state, marked closed, so that
/// its later bids are dropped at once. Auction ids are unique, as the generator makes them: an
/// auction arriving again under a known id replaces the first.
class AuctionMaxPrice final
    : public KeyedCoProcessFunction<int64_t, AuctionSpan, PricedBid, CategoryPrice> {
 public:
  void open(RuntimeContext& rc) override {
    auction_ = &rc.state(ValueStateDescriptor<OpenAuction>{"auction"});
    early_ = &rc.state(ListStateDescriptor<PricedBid>{"early bids"});
  }
  void process_element1(const AuctionSpan& span, Context& ctx, Collector<CategoryPrice>&) override {
    OpenAuction auction{span.date_time, span.expires, span.category, 0, false, false};
    for (const PricedBid& bid : early_->get()) add_bid(auction, bid);
    early_->clear();
    auction_->update(auction);
    ctx.timer_service().register_event_time_timer(span.expires);
  }
  void process_element2(const PricedBid& bid, Context& ctx, Collector<CategoryPrice>&) override {
    if (std::optional<OpenAuction> auction = auction_->value()) {
      if (!auction->closed && add_bid(*auction, bid)) auction_->update(*auction);
      return;
    }
    early_->add(bid);
    ctx.timer_service().register_event_time_timer(bid.date_time);
  }
  void on_timer(int64_t time, OnTimerContext&, Collector<CategoryPrice>& out) override {
    std::optional<OpenAuction> auction = auction_->value();
    if (!auction) {
      std::vector<PricedBid> early = early_->get();
      std::erase_if(early, [time](const PricedBid& bid) { return bid.date_time <= time; });
      if (early.empty())
        early_->clear();
      else
        early_->update(std::move(early));
      return;
    }
    if (auction->closed || time != auction->expires) return;
    if (auction->has_bid) out.collect(CategoryPrice{auction->category, auction->max_price});
    auction->closed = true;
    auction_->update(*auction);
  }

 private:
  /// Folds `bid` into the auction's maximum if it qualifies; true when the maximum changed.
  static bool add_bid(OpenAuction& auction, const PricedBid& bid) {
    if (bid.date_time < auction.date_time || bid.date_time > auction.expires) return false;
    if (auction.has_bid && bid.price <= auction.max_price) return false;
    auction.max_price = bid.price;
    auction.has_bid = true;
    return true;
  }

  ValueState<OpenAuction>* auction_ = nullptr;
  ListState<PricedBid>* early_ = nullptr;
};

/// Per category, the truncated average of the auction maxima; the final value is emitted
/// once, when event time ends (a timer at the maximum watermark).
class CategoryAverage final : public KeyedProcessFunction<int64_t, CategoryPrice, std::string> {
 public:
  void open(RuntimeContext& rc) override {
    sum_ = &rc.state(ValueStateDescriptor<SumCount>{"sum and count"});
  }
  void process(const CategoryPrice& max, Context& ctx, Collector<std::string>&) override {
    SumCount sum = sum_->value().value_or(SumCount{});
    if (sum.count == 0) ctx.timer_service().register_event_time_timer(max_watermark);
    sum.sum += max.price;
    ++sum.count;
    sum_->update(sum);
  }
  void on_timer(int64_t, OnTimerContext& ctx, Collector<std::string>& out) override {
    if (std::optional<SumCount> sum = sum_->value()) {
      out.collect(q4_row(ctx.current_key(), sum->sum / sum->count));
    }
    sum_->clear();
  }

 private:
  ValueState<SumCount>* sum_ = nullptr;
};

// ---- q5

/// Per window (the key), the auctions with the highest count, emitted when event time
/// passes the window's end: every count of the window has come by then.
class HotItems final : public KeyedProcessFunction<int64_t, AuctionCount, std::string> {
 public:
  void open(RuntimeContext& rc) override {
    max_ = &rc.state(ValueStateDescriptor<int64_t>{"max count"});
    auctions_ = &rc.state(ListStateDescriptor<int64_t>{"auctions at max"});
  }
  void process(const AuctionCount& count, Context& ctx, Collector<std::string>&) override {
    const std::optional<int64_t> max = max_->value();
    if (!max) ctx.timer_service().register_event_time_timer(ctx.timestamp());
    if (!max || count.count > *max) {
      max_->update(count.count);
      auctions_->update({count.auction});
    } else if (count.count == *max) {
      auctions_->add(count.auction);
    }
  }
  void on_timer(int64_t, OnTimerContext&, Collector<std::string>& out) override {
    if (const std::optional<int64_t> max = max_->value()) {
      for (const int64_t auction : auctions_->get()) out.collect(q5_row(auction, *max));
    }
    max_->clear();
    auctions_->clear();
  }

 private:
  ValueState<int64_t>* max_ = nullptr;
  ListState<int64_t>* auctions_ = nullptr;
};

// ---- q7

/// Per window (the key), the bids carrying its highest price and the boundary bids at its
/// end, emitted when event time reaches the end: every member (before the end) and every
/// boundary bid (at the end) has come by then.
class HighestBid final : public KeyedProcessFunction<int64_t, WindowBid, std::string> {
 public:
  void open(RuntimeContext& rc) override {
    max_ = &rc.state(ValueStateDescriptor<int64_t>{"max price"});
    top_ = &rc.state(ListStateDescriptor<Bid>{"bids at max"});
    boundary_ = &rc.state(ListStateDescriptor<Bid>{"bids at the end"});
  }
  void process(const WindowBid& in, Context& ctx, Collector<std::string>&) override {
    const int64_t end = in.window + tumble_size_ms;
    if (in.boundary) {
      boundary_->add(in.bid);
      ctx.timer_service().register_event_time_timer(end);
      return;
    }
    const std::optional<int64_t> max = max_->value();
    if (!max) ctx.timer_service().register_event_time_timer(end);
    if (!max || in.bid.price > *max) {
      max_->update(in.bid.price);
      top_->update({in.bid});
    } else if (in.bid.price == *max) {
      top_->add(in.bid);
    }
  }
  void on_timer(int64_t, OnTimerContext&, Collector<std::string>& out) override {
    if (const std::optional<int64_t> max = max_->value()) {
      for (const Bid& bid : top_->get()) out.collect(q7_row(bid));
      for (const Bid& bid : boundary_->get()) {
        if (bid.price == *max) out.collect(q7_row(bid));
      }
    }
    max_->clear();
    top_->clear();
    boundary_->clear();
  }

 private:
  ValueState<int64_t>* max_ = nullptr;
  ListState<Bid>* top_ = nullptr;
  ListState<Bid>* boundary_ = nullptr;
};

// ---- q8

/// Folds a window's activity of one person id into its distinct names and whether it sold.
class NewUserAggregate final : public AggregateFunction<UserActivity, NewUser, NewUser> {
 public:
  NewUser create_accumulator() const override { return {}; }
  void add(const UserActivity& activity, NewUser& user) const override {
    if (activity.seller) {
      user.seller = true;
    } else {
      add_name(user, activity.name);
    }
  }
  NewUser get_result(const NewUser& user) const override { return user; }
  NewUser merge(NewUser a, const NewUser& b) const override {
    for (const std::string& name : b.names) add_name(a, name);
    a.seller = a.seller || b.seller;
    return a;
  }

 private:
  static void add_name(NewUser& user, const std::string& name) {
    if (std::find(user.names.begin(), user.names.end(), name) == user.names.end()) {
      user.names.push_back(name);
    }
  }
};

/// One row per distinct name of a person id that also sold in the window.
class NewUserRows final : public ProcessWindowFunction<NewUser, std::string, int64_t, TimeWindow> {
 public:
  void process(const int64_t& id, Context& ctx, const std::vector<NewUser>& users,
               Collector<std::string>& out) override {
    for (const NewUser& user : users) {
      if (!user.seller) continue;
      for (const std::string& name : user.names) out.collect(q8_row(id, name, ctx.window().start));
    }
  }
};

}  // namespace

DataStream<std::string> q3(DataStream<Event> events) {
  auto [persons, auctions] = split_events<LocalPerson, LocalAuction>(
      events, "Local Persons and Category 10 Auctions",
      [](const Event& event, Collector<LocalPerson>& persons, auto&& auctions) {
        if (event.kind == Event::Kind::person && q3_selects(event.person)) {
          const Person& p = event.person;
          persons.collect(LocalPerson{p.id, p.name, p.city, p.state});
        } else if (event.kind == Event::Kind::auction && q3_selects(event.auction)) {
          auctions(LocalAuction{event.auction.id, event.auction.seller});
        }
      });
  return persons.connect(auctions)
      .key_by([](const LocalPerson& person) { return person.id; },
              [](const LocalAuction& auction) { return auction.seller; })
      .process(LocalItems(), "q3 Join");
}

DataStream<std::string> q4(DataStream<Event> events) {
  auto [auctions, bids] = split_events<AuctionSpan, PricedBid>(
      events, "Auctions and Bids",
      [](const Event& event, Collector<AuctionSpan>& auctions, auto&& bids) {
        if (event.kind == Event::Kind::auction) {
          const Auction& a = event.auction;
          auctions.collect(AuctionSpan{a.id, a.date_time, a.expires, a.category});
        } else if (event.kind == Event::Kind::bid) {
          bids(PricedBid{event.bid.auction, event.bid.date_time, event.bid.price});
        }
      });
  return auctions.connect(bids)
      .key_by([](const AuctionSpan& auction) { return auction.id; },
              [](const PricedBid& bid) { return bid.auction; })
      .process(AuctionMaxPrice(), "q4 Auction Max")
      .key_by([](const CategoryPrice& max) { return max.category; })
      .process(CategoryAverage(), "q4 Category Average");
}

DataStream<std::string> q5(DataStream<Event> events) {
  auto auctions = pick<int64_t>(events, "Bid Auctions", [](Event&& event, auto& out) {
    if (event.kind == Event::Kind::bid) out.collect(event.bid.auction);
  });
  auto count_of = [](const int64_t& auction, const TimeWindow& window, int64_t count) {
    return AuctionCount{window.start, auction, count};
  };
  return auctions.key_by(identity)
      .window(SlidingEventTimeWindows::of(milliseconds(hop_size_ms), milliseconds(hop_slide_ms)))
      .aggregate(CountAggregate(), CountResult<AuctionCount, decltype(count_of)>(count_of),
                 "q5 Bids per Auction")
      .key_by([](const AuctionCount& count) { return count.window; })
      .process(HotItems(), "q5 Hot Items");
}

DataStream<std::string> q7(DataStream<Event> events) {
  auto bids = pick<WindowBid>(events, "Window Bids", [](Event&& event, auto& out) {
    if (event.kind != Event::Kind::bid) return;
    const int64_t start = window_start(event.bid.date_time, tumble_size_ms);
    if (event.bid.date_time == start)
      out.collect(WindowBid{start - tumble_size_ms, true, event.bid});
    out.collect(WindowBid{start, false, std::move(event.bid)});
  });
  return bids.key_by([](const WindowBid& bid) { return bid.window; })
      .process(HighestBid(), "q7 Highest Bid");
}

DataStream<std::string> q8(DataStream<Event> events) {
  auto activity = pick<UserActivity>(events, "User Activity", [](Event&& event, auto& out) {
    if (event.kind == Event::Kind::person) {
      out.collect(UserActivity{event.person.id, false, std::move(event.person.name)});
    } else if (event.kind == Event::Kind::auction) {
      out.collect(UserActivity{event.auction.seller, true, {}});
    }
  });
  return activity.key_by([](const UserActivity& a) { return a.id; })
      .window(TumblingEventTimeWindows::of(milliseconds(tumble_size_ms)))
      .aggregate(NewUserAggregate(), NewUserRows(), "q8 New Users");
}

DataStream<std::string> q11(DataStream<Event> events) {
  return bidders(events)
      .key_by(identity)
      .window(EventTimeSessionWindows::with_gap(milliseconds(session_gap_ms)))
      .aggregate(CountAggregate(), BidderCountRow(&bidder_count_row), "q11 Sessions");
}

DataStream<std::string> q12(DataStream<Event> events, std::shared_ptr<SteppedClock> clock) {
  return bidders(events)
      .key_by(identity)
      .window(TumblingProcessingTimeWindows::of(milliseconds(tumble_size_ms)))
      .aggregate(CountAggregate(std::move(clock)), BidderCountRow(&bidder_count_row),
                 "q12 Processing-Time Windows");
}

}  // namespace sluice::nexmark
