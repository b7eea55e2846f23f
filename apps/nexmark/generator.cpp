// apps/nexmark/generator.cpp — Beam's Nexmark event generator, bit for bit.
#include "generator.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>
#include <string_view>

#include "java_random.hpp"

namespace sluice::nexmark {
namespace {

// GeneratorConfig's constants.
constexpr int64_t first_auction_id = 1000;
constexpr int64_t first_person_id = 1000;
constexpr int64_t first_category_id = 10;
constexpr int64_t person_proportion = 1;
constexpr int64_t auction_proportion = 3;
constexpr int64_t bid_proportion = 46;
constexpr int64_t proportion_denominator = person_proportion + auction_proportion + bid_proportion;

// PersonGenerator / AuctionGenerator / BidGenerator constants.
constexpr int64_t person_id_lead = 10;
constexpr int64_t auction_id_lead = 10;
constexpr int64_t num_categories = 5;
constexpr int64_t hot_seller_ratio = 100;
constexpr int64_t hot_auction_ratio = 100;
constexpr int64_t hot_bidder_ratio = 100;
constexpr int32_t min_string_length = 3;
constexpr int32_t sine_steps = 10;

constexpr std::array<std::string_view, 6> us_states = {"AZ", "CA", "ID", "OR", "WA", "WY"};
constexpr std::array<std::string_view, 10> us_cities = {
    "Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
    "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne"};
constexpr std::array<std::string_view, 11> first_names = {
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"};
constexpr std::array<std::string_view, 9> last_names = {
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"};

// Java's Math.round(double): the closest long, ties toward positive infinity, NaN to 0,
// saturating at the long range.
int64_t java_round(double x) {
  if (std::isnan(x)) return 0;
  if (x >= 0x1.0p63) return std::numeric_limits<int64_t>::max();
  if (x < -0x1.0p63) return std::numeric_limits<int64_t>::min();
  double floor = std::floor(x);
  if (x - floor >= 0.5) floor += 1.0;
  return static_cast<int64_t>(floor);
}

template <std::size_t N>
std::string_view pick(JavaRandom& random, const std::array<std::string_view, N>& values) {
  return values[static_cast<std::size_t>(random.next_int(static_cast<int32_t>(N)))];
}

// LongGenerator.nextLong: uniform below 2^31 - 1, Beam's skewed modulo above.
int64_t next_long(JavaRandom& random, int64_t n) {
  if (n < std::numeric_limits<int32_t>::max()) return random.next_int(static_cast<int32_t>(n));
  const int64_t r = random.next_long() % n;
  return r < 0 ? -r : r;
}

// PriceGenerator.nextPrice.
int64_t next_price(JavaRandom& random) {
  return java_round(std::pow(10.0, random.next_double() * 6.0) * 100.0);
}

// StringsGenerator.nextString: letters and spaces, then trimmed, so it may come out shorter.
std::string next_string(JavaRandom& random, int32_t max_length) {
  int32_t length = min_string_length + random.next_int(max_length - min_string_length);
  std::string s;
  s.reserve(static_cast<std::size_t>(length));
  while (length-- > 0) {
    if (random.next_int(13) == 0) {
      s.push_back(' ');
    } else {
      s.push_back(static_cast<char>('a' + random.next_int(26)));
    }
  }
  const auto first = s.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(' ') - first + 1);
}

// The six characters nextExactString takes from one draw: each `'a' + rnd % 26` followed by
// `rnd /= 26`. Truncating division nests (`(r / a) / b == r / (a * b)`), so the k-th is
// `'a' + (rnd / 26^k) % 26`: six independent divisions by constants instead of a chain.
void six_chars(int32_t rnd, char* out) {
  out[0] = static_cast<char>('a' + rnd % 26);
  out[1] = static_cast<char>('a' + (rnd / 26) % 26);
  out[2] = static_cast<char>('a' + (rnd / 676) % 26);
  out[3] = static_cast<char>('a' + (rnd / 17'576) % 26);
  out[4] = static_cast<char>('a' + (rnd / 456'976) % 26);
  out[5] = static_cast<char>('a' + (rnd / 11'881'376) % 26);
}

// StringsGenerator.nextExactString: six characters per signed nextInt(); the remainder of a
// negative draw is negative, which yields characters below 'a'.
std::string next_exact_string(JavaRandom& random, int32_t length) {
  std::string s(static_cast<std::size_t>(std::max(length, 0)), '\0');
  char* out = s.data();
  int32_t i = 0;
  for (; i + 6 <= length; i += 6) six_chars(random.next_int(), out + i);
  if (i < length) {
    char tail[6];
    six_chars(random.next_int(), tail);
    std::copy(tail, tail + (length - i), out + i);
  }
  return s;
}

// StringsGenerator.nextExtra: padding so that current_size plus its length averages
// desired_average_size.
std::string next_extra(JavaRandom& random, int32_t current_size, int32_t desired_average_size) {
  if (current_size > desired_average_size) return {};
  desired_average_size -= current_size;
  const auto delta = static_cast<int32_t>(java_round(desired_average_size * 0.2));
  const int32_t min_size = desired_average_size - delta;
  const int32_t desired_size = min_size + (delta == 0 ? 0 : random.next_int(2 * delta));
  return next_exact_string(random, desired_size);
}

// PersonGenerator.nextBase0PersonId.
int64_t next_base0_person_id(int64_t event_id, JavaRandom& random, const GeneratorConfig& config) {
  const int64_t num_people = last_base0_person_id(event_id) + 1;
  const int64_t active_people = std::min<int64_t>(num_people, config.num_active_people);
  const int64_t n = next_long(random, active_people + person_id_lead);
  return num_people - active_people + n;
}

// AuctionGenerator.nextBase0AuctionId.
int64_t next_base0_auction_id(int64_t event_id, JavaRandom& random, const GeneratorConfig& config) {
  const int64_t max_auction = last_base0_auction_id(event_id);
  const int64_t min_auction = std::max<int64_t>(max_auction - config.num_in_flight_auctions, 0);
  return min_auction + next_long(random, max_auction - min_auction + 1 + auction_id_lead);
}

// PersonGenerator.nextCreditCard: four "%04d" groups.
std::string next_credit_card(JavaRandom& random) {
  std::string card;
  card.reserve(19);
  for (int i = 0; i < 4; ++i) {
    if (i > 0) card.push_back(' ');
    char group[8];
    std::snprintf(group, sizeof group, "%04d", random.next_int(10'000));
    card += group;
  }
  return card;
}

// PersonGenerator.nextPerson.
Person next_person(int64_t event_id, JavaRandom& random, int64_t timestamp,
                   const GeneratorConfig& config) {
  Person p;
  p.id = last_base0_person_id(event_id) + first_person_id;
  p.name = pick(random, first_names);
  p.name += ' ';
  p.name += pick(random, last_names);
  p.email_address = next_string(random, 7);
  p.email_address += '@';
  p.email_address += next_string(random, 5);
  p.email_address += ".com";
  p.credit_card = next_credit_card(random);
  p.city = pick(random, us_cities);
  p.state = pick(random, us_states);
  p.date_time = timestamp;
  const auto current_size =
      static_cast<int32_t>(8 + p.name.size() + p.email_address.size() + p.credit_card.size() +
                           p.city.size() + p.state.size());
  p.extra = next_extra(random, current_size, config.avg_person_byte_size);
  return p;
}

// AuctionGenerator.nextAuctionLengthMs: on average the time until num_in_flight_auctions more
// auctions have been generated.
int64_t next_auction_length_ms(int64_t events_so_far, JavaRandom& random, int64_t timestamp,
                               const GeneratorConfig& config, const Timeline& timeline) {
  const int64_t current_event_number = config.next_adjusted_event_number(events_so_far);
  const int64_t num_events_for_auctions =
      (int64_t{config.num_in_flight_auctions} * proportion_denominator) / auction_proportion;
  const int64_t future_auction = timeline.timestamp(current_event_number + num_events_for_auctions);
  const int64_t horizon_ms = future_auction - timestamp;
  return 1 + next_long(random, std::max<int64_t>(horizon_ms * 2, 1));
}

// AuctionGenerator.nextAuction.
Auction next_auction(int64_t events_so_far, int64_t event_id, JavaRandom& random, int64_t timestamp,
                     const GeneratorConfig& config, const Timeline& timeline) {
  Auction a;
  a.id = last_base0_auction_id(event_id) + first_auction_id;
  if (random.next_int(config.hot_sellers_ratio) > 0) {
    a.seller = (last_base0_person_id(event_id) / hot_seller_ratio) * hot_seller_ratio;
  } else {
    a.seller = next_base0_person_id(event_id, random, config);
  }
  a.seller += first_person_id;
  a.category = first_category_id + random.next_int(num_categories);
  a.initial_bid = next_price(random);
  a.date_time = timestamp;
  a.expires =
      timestamp + next_auction_length_ms(events_so_far, random, timestamp, config, timeline);
  a.item_name = next_string(random, 20);
  a.description = next_string(random, 100);
  a.reserve = a.initial_bid + next_price(random);
  const auto current_size =
      static_cast<int32_t>(8 + a.item_name.size() + a.description.size() + 8 + 8 + 8 + 8 + 8);
  a.extra = next_extra(random, current_size, config.avg_auction_byte_size);
  return a;
}

// BidGenerator.nextBid.
Bid next_bid(int64_t event_id, JavaRandom& random, int64_t timestamp,
             const GeneratorConfig& config) {
  Bid b;
  if (random.next_int(config.hot_auction_ratio) > 0) {
    b.auction = (last_base0_auction_id(event_id) / hot_auction_ratio) * hot_auction_ratio;
  } else {
    b.auction = next_base0_auction_id(event_id, random, config);
  }
  b.auction += first_auction_id;
  if (random.next_int(config.hot_bidders_ratio) > 0) {
    // The second person of the batch, so that hot bidders and hot sellers differ.
    b.bidder = (last_base0_person_id(event_id) / hot_bidder_ratio) * hot_bidder_ratio + 1;
  } else {
    b.bidder = next_base0_person_id(event_id, random, config);
  }
  b.bidder += first_person_id;
  b.price = next_price(random);
  b.date_time = timestamp;
  b.extra = next_extra(random, 8 + 8 + 8 + 8, config.avg_bid_byte_size);
  return b;
}

}  // namespace

int64_t GeneratorConfig::resolved_max_events() const {
  if (max_events != 0 || exact_count) return max_events;
  const int64_t largest =
      std::max({avg_person_byte_size, avg_auction_byte_size, avg_bid_byte_size});
  return std::numeric_limits<int64_t>::max() / (proportion_denominator * largest);
}

std::vector<GeneratorConfig> GeneratorConfig::split(int32_t n) const {
  if (n <= 0) throw std::invalid_argument("GeneratorConfig::split: n must be positive");
  std::vector<GeneratorConfig> splits;
  splits.reserve(static_cast<std::size_t>(n));
  if (n == 1) {
    splits.push_back(*this);
    return splits;
  }
  const int64_t total = resolved_max_events();
  int64_t sub_max_events = total / n;
  int64_t sub_first_event_id = first_event_id;
  for (int32_t i = 0; i < n; ++i) {
    if (i == n - 1) sub_max_events = total - sub_max_events * (n - 1);
    GeneratorConfig sub = *this;
    sub.first_event_id = sub_first_event_id;
    sub.max_events = sub_max_events;
    sub.exact_count = true;
    splits.push_back(sub);
    sub_first_event_id += sub_max_events;
  }
  return splits;
}

int64_t GeneratorConfig::next_adjusted_event_number(int64_t events_so_far) const {
  const int64_t n = out_of_order_group_size;
  const int64_t event_number = next_event_number(events_so_far);
  const int64_t base = (event_number / n) * n;
  const int64_t offset = (event_number * 953) % n;
  return base + offset;
}

int64_t GeneratorConfig::next_event_number_for_watermark(int64_t events_so_far) const {
  const int64_t n = out_of_order_group_size;
  return (next_event_number(events_so_far) / n) * n;
}

std::vector<GeneratorConfig> stream_splits(const GeneratorConfig& whole) {
  return whole.split(whole.num_event_generators);
}

int64_t rate_to_period_us(RateUnit unit, int64_t rate) {
  if (rate <= 0) throw std::invalid_argument("rate_to_period_us: rate must be positive");
  const int64_t us_per_unit = unit == RateUnit::per_second ? 1'000'000 : 60'000'000;
  return (us_per_unit + rate / 2) / rate;
}

Timeline::Timeline(const GeneratorConfig& config) : base_time_(config.base_time) {
  const int64_t generators = config.num_event_generators;
  const int64_t first = config.first_event_rate;
  const int64_t next = config.next_event_rate;
  if (first == next) {
    delays_us_.push_back(rate_to_period_us(config.rate_unit, first) * generators);
  } else if (config.rate_shape == RateShape::square) {
    delays_us_.push_back(rate_to_period_us(config.rate_unit, first) * generators);
    delays_us_.push_back(rate_to_period_us(config.rate_unit, next) * generators);
  } else {
    const double mid = static_cast<double>(first + next) / 2.0;
    const double amp = static_cast<double>(first - next) / 2.0;
    for (int32_t i = 0; i < sine_steps; ++i) {
      const double r = (2.0 * std::numbers::pi * i) / sine_steps;
      const double rate = mid + amp * std::cos(r);
      delays_us_.push_back(rate_to_period_us(config.rate_unit, java_round(rate)) * generators);
    }
  }
  const int32_t steps = config.rate_shape == RateShape::square ? 2 : sine_steps;
  step_length_sec_ = (config.rate_period_sec + steps - 1) / steps;
  if (delays_us_.size() > 1) {
    for (const int64_t delay_us : delays_us_) {
      if (delay_us == 0) throw std::invalid_argument("Timeline: event rate too high for a step");
      const int64_t events_this_step = (step_length_sec_ * 1'000'000) / delay_us;
      events_per_epoch_ += events_this_step;
      epoch_period_ms_ += (events_this_step * delay_us) / 1000;
    }
    if (events_per_epoch_ == 0) throw std::invalid_argument("Timeline: empty rate period");
  }
}

Timeline::Point Timeline::at(int64_t event_number) const {
  if (delays_us_.size() == 1) {
    return {base_time_ + (event_number * delays_us_[0]) / 1000, delays_us_[0]};
  }
  const int64_t epoch = event_number / events_per_epoch_;
  int64_t n = event_number % events_per_epoch_;
  int64_t offset_in_epoch_ms = 0;
  for (const int64_t delay_us : delays_us_) {
    const int64_t events_this_step = (step_length_sec_ * 1'000'000) / delay_us;
    if (n < events_this_step) {
      const int64_t offset_in_step_us = n * delay_us;
      return {base_time_ + epoch * epoch_period_ms_ + offset_in_epoch_ms + offset_in_step_us / 1000,
              delay_us};
    }
    n -= events_this_step;
    offset_in_epoch_ms += (events_this_step * delay_us) / 1000;
  }
  throw std::logic_error("Timeline: events per epoch inconsistent");
}

int64_t Timeline::timestamp(int64_t event_number) const { return at(event_number).timestamp; }

int64_t Timeline::inter_event_delay_us(int64_t event_number) const {
  return at(event_number).delay_us;
}

int64_t last_base0_person_id(int64_t event_id) {
  const int64_t epoch = event_id / proportion_denominator;
  int64_t offset = event_id % proportion_denominator;
  if (offset >= person_proportion) offset = person_proportion - 1;
  return epoch * person_proportion + offset;
}

int64_t last_base0_auction_id(int64_t event_id) {
  int64_t epoch = event_id / proportion_denominator;
  int64_t offset = event_id % proportion_denominator;
  if (offset < person_proportion) {
    --epoch;
    offset = auction_proportion - 1;
  } else if (offset >= person_proportion + auction_proportion) {
    offset = auction_proportion - 1;
  } else {
    offset -= person_proportion;
  }
  return epoch * auction_proportion + offset;
}

NextEvent generate_event(const GeneratorConfig& config, const Timeline& timeline,
                         int64_t events_so_far) {
  NextEvent next;
  next.event_timestamp = timeline.timestamp(config.next_adjusted_event_number(events_so_far));
  next.watermark = timeline.timestamp(config.next_event_number_for_watermark(events_so_far));

  const int64_t event_id = config.first_event_id + config.next_adjusted_event_number(events_so_far);
  JavaRandom random(event_id);
  Event& event = next.event;
  event.event_id = event_id;
  const int64_t rem = event_id % proportion_denominator;
  if (rem < person_proportion) {
    event.kind = Event::Kind::person;
    event.person = next_person(event_id, random, next.event_timestamp, config);
  } else if (rem < person_proportion + auction_proportion) {
    event.kind = Event::Kind::auction;
    event.auction =
        next_auction(events_so_far, event_id, random, next.event_timestamp, config, timeline);
  } else {
    event.kind = Event::Kind::bid;
    event.bid = next_bid(event_id, random, next.event_timestamp, config);
  }
  return next;
}

Event next_event(const GeneratorConfig& config, int64_t events_so_far) {
  return generate_event(config, Timeline(config), events_so_far).event;
}

SplitReader::SplitReader(GeneratorConfig config, int64_t position)
    : config_(config),
      timeline_(config_),
      max_events_(config_.resolved_max_events()),
      position_(position) {}

NextEvent SplitReader::next() { return generate_event(config_, timeline_, position_++); }

}  // namespace sluice::nexmark
