// apps/nexmark/generator.hpp — Beam's Nexmark event generator, bit for bit.
//
// Mirrors `org.apache.beam.sdk.nexmark.sources.generator` (Generator, GeneratorConfig and the
// model generators) together with the parts of NexmarkConfiguration and NexmarkUtils they read.
// Every event is a pure function of (configuration, events already emitted by its split): its
// randomness is a fresh java.util.Random seeded with the event id, so any position of any split
// can be produced without the events before it.
#pragma once

#include <cstdint>
#include <vector>

#include "model.hpp"

namespace sluice::nexmark {

/// Mirrors `NexmarkUtils.RateShape`: how the event rate moves between the first and next rate.
/// Only matters when `first_event_rate != next_event_rate`.
enum class RateShape : uint8_t { square, sine };

/// Mirrors `NexmarkUtils.RateUnit`: the unit the event rates are given in.
enum class RateUnit : uint8_t { per_second, per_minute };

/// Mirrors Beam's `GeneratorConfig` with the `NexmarkConfiguration` fields it reads folded in.
/// Defaults are Beam's. A configuration describes one timeline: the whole stream before
/// `split`, or one split after it.
struct GeneratorConfig {
  /// Overall events per `rate_unit` at the start (default 10 000).
  int32_t first_event_rate = 10'000;
  /// Overall events per `rate_unit` after the first step (default 10 000).
  int32_t next_event_rate = 10'000;
  /// Default per second.
  RateUnit rate_unit = RateUnit::per_second;
  /// Default sine, as in Beam (irrelevant while both rates are equal).
  RateShape rate_shape = RateShape::sine;
  /// Period of the whole rate shape, in seconds (default 600).
  int32_t rate_period_sec = 600;
  /// Number of parallel timelines the stream is split into; each one's inter-event delay is
  /// scaled by it so that together they reach the configured rate (default 100).
  int32_t num_event_generators = 100;
  /// Average idealized event sizes in bytes, reached by padding `extra` (defaults 200/500/100).
  int32_t avg_person_byte_size = 200;
  int32_t avg_auction_byte_size = 500;
  int32_t avg_bid_byte_size = 100;
  /// Ratios of hot auctions / sellers / bidders: a draw is hot with probability 1 - 1/ratio
  /// (defaults 2/4/4).
  int32_t hot_auction_ratio = 2;
  int32_t hot_sellers_ratio = 4;
  int32_t hot_bidders_ratio = 4;
  /// Auctions a bid may pick from, behind the newest one (default 100).
  int32_t num_in_flight_auctions = 100;
  /// People a bid or auction may pick from, behind the newest one (default 1000).
  int32_t num_active_people = 1000;
  /// Events per group emitted in a shuffled order; 1 keeps the order (default 1).
  int64_t out_of_order_group_size = 1;
  /// Event time of event number 0, epoch ms (default 2015-07-15T00:00:00Z).
  int64_t base_time = 1'436'918'400'000;
  /// Event id of this timeline's first event (default 0).
  int64_t first_event_id = 0;
  /// Events in this timeline (default 100 000, Beam's numEvents); 0 means as many as Beam
  /// allows, see `resolved_max_events`.
  int64_t max_events = 100'000;
  /// Event number of this timeline's first event; it fixes the timestamps (default 0).
  int64_t first_event_number = 0;
  /// Set on the results of split(): `max_events` is then exact, 0 included (a stream of fewer
  /// events than splits has empty splits, as in Beam), never "as many as possible".
  bool exact_count = false;

  /// `max_events`, with 0 (unless exact_count) replaced by Beam's overflow-safe bound
  /// `INT64_MAX / (50 * max(avg sizes))` (the constructor of Beam's GeneratorConfig).
  int64_t resolved_max_events() const;

  /// Mirrors `GeneratorConfig.split(n)`: n timelines over disjoint, contiguous event-id ranges
  /// of `max_events / n` events, the last one taking the remainder; all keep
  /// `first_event_number`, so they run in parallel over the same timestamps. n == 1 returns
  /// this configuration unchanged.
  std::vector<GeneratorConfig> split(int32_t n) const;

  /// Mirrors `getStartEventId()` / `getStopEventId()`: the event ids this timeline covers.
  int64_t start_event_id() const { return first_event_id + first_event_number; }
  int64_t stop_event_id() const { return start_event_id() + resolved_max_events(); }

  /// Mirrors `nextEventNumber(numEvents)`.
  int64_t next_event_number(int64_t events_so_far) const {
    return first_event_number + events_so_far;
  }
  /// Mirrors `nextAdjustedEventNumber(numEvents)`: the event number shuffled within its
  /// out-of-order group.
  int64_t next_adjusted_event_number(int64_t events_so_far) const;
  /// Mirrors `nextEventNumberForWatermark(numEvents)`: the first event number of the group.
  int64_t next_event_number_for_watermark(int64_t events_so_far) const;
};

/// The splits that make up the stream a whole-stream configuration describes:
/// `whole.split(whole.num_event_generators)`, as Beam's bounded and unbounded sources do.
std::vector<GeneratorConfig> stream_splits(const GeneratorConfig& whole);

/// Mirrors `NexmarkUtils.RateUnit.rateToPeriodUs`: microseconds between events at `rate`,
/// rounded to nearest. It is 0 above two million events per second per unit, where timestamps
/// stop advancing.
int64_t rate_to_period_us(RateUnit unit, int64_t rate);

/// The event-time schedule of a configuration: mirrors `RateShape.interEventDelayUs`,
/// `RateShape.stepLengthSec` and `GeneratorConfig.timestampAndInterEventDelayUsForEvent`.
/// Built once per configuration; throws std::invalid_argument for rates Beam would divide by
/// zero on.
class Timeline {
 public:
  explicit Timeline(const GeneratorConfig& config);

  /// Event time, epoch ms, of event number `event_number`.
  int64_t timestamp(int64_t event_number) const;
  /// Microseconds between events around `event_number`, per generator.
  int64_t inter_event_delay_us(int64_t event_number) const;

 private:
  struct Point {
    int64_t timestamp;
    int64_t delay_us;
  };
  Point at(int64_t event_number) const;

  int64_t base_time_;
  std::vector<int64_t> delays_us_;
  int64_t step_length_sec_ = 0;
  int64_t events_per_epoch_ = 0;
  int64_t epoch_period_ms_ = 0;
};

/// One generated event with its times (the part of Beam's `Generator.NextEvent` that does not
/// depend on the wall clock).
struct NextEvent {
  Event event;
  /// Event time the event carries (`dateTime`), epoch ms.
  int64_t event_timestamp = 0;
  /// Lower bound on the event times this split will still produce.
  int64_t watermark = 0;
};

/// Mirrors `Generator.nextEvent()` for a generator over `config` that has emitted
/// `events_so_far` events: the event id is `first_event_id` plus the adjusted event number,
/// the kind follows `event_id % 50` (0 person, 1-3 auction, 4-49 bid) and the fields come from
/// `java.util.Random(event_id)`. `timeline` must be `Timeline(config)`.
NextEvent generate_event(const GeneratorConfig& config, const Timeline& timeline,
                         int64_t events_so_far);

/// `generate_event(...).event`, building the timeline on the spot.
Event next_event(const GeneratorConfig& config, int64_t events_so_far);

/// Mirrors `PersonGenerator.lastBase0PersonId`: the newest person id (minus 1000) at `event_id`.
int64_t last_base0_person_id(int64_t event_id);
/// Mirrors `AuctionGenerator.lastBase0AuctionId`: the newest auction id (minus 1000) at
/// `event_id`.
int64_t last_base0_auction_id(int64_t event_id);

/// Reads one split in order, like Beam's `Generator` iterator without the wall clock. Its
/// whole state is the split's configuration and `position()`, the number of events emitted:
/// a reader built from the same configuration and position continues identically, which is
/// what a checkpoint of the source stores.
class SplitReader {
 public:
  explicit SplitReader(GeneratorConfig config, int64_t position = 0);

  /// Mirrors `Generator.hasNext()`.
  bool has_next() const { return position_ < max_events_; }
  /// Mirrors `Generator.nextEvent()`; advances the position. Requires `has_next()`.
  NextEvent next();
  /// Events emitted so far.
  int64_t position() const { return position_; }
  /// Mirrors `Generator.getNextEventId()`.
  int64_t next_event_id() const {
    return config_.first_event_id + config_.next_adjusted_event_number(position_);
  }
  const GeneratorConfig& config() const { return config_; }

 private:
  GeneratorConfig config_;
  Timeline timeline_;
  int64_t max_events_;
  int64_t position_;
};

}  // namespace sluice::nexmark
