// tests/nexmark/test_source.cpp — the Nexmark source: splits, watermarks, pacing, snapshots.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <sluice/sluice.hpp>
#include <vector>

#include "codecs.hpp"
#include "generator.hpp"
#include "queries.hpp"
#include "source.hpp"

using namespace sluice::nexmark;

namespace {

GeneratorConfig stream_of(int64_t events, int32_t generators = 100) {
  GeneratorConfig whole;
  whole.max_events = events;
  whole.num_event_generators = generators;
  return whole;
}

// Every event of the stream, read split after split with the plain generator, by event id.
std::vector<Event> generator_events(const GeneratorConfig& whole) {
  std::vector<Event> events;
  for (const GeneratorConfig& split : stream_splits(whole)) {
    SplitReader reader(split);
    while (reader.has_next()) events.push_back(reader.next().event);
  }
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.event_id < b.event_id; });
  return events;
}

// Records what a reader pushes: records with their timestamps and watermarks, in order.
class RecordingOutput final : public sluice::Output<Event> {
 public:
  struct Item {
    bool is_watermark = false;
    int64_t time = 0;
    Event event;
  };
  void push(Event&& event, int64_t timestamp) override {
    items.push_back(Item{false, timestamp, std::move(event)});
  }
  void watermark(int64_t wm) override { items.push_back(Item{true, wm, {}}); }
  void end_input() override {}

  std::vector<Item> items;
};

// Polls `reader` until it has finished, 256 records a poll as the task does.
void drain(NexmarkReader& reader, RecordingOutput& out) {
  while (reader.poll(out, 256) == sluice::SourceStatus::more) {
  }
}

// Checks that every watermark is above the previous one and at or below every later timestamp.
void check_watermarks(const std::vector<RecordingOutput::Item>& items) {
  int64_t watermark = sluice::min_watermark;
  int64_t watermarks = 0;
  for (const auto& item : items) {
    if (item.is_watermark) {
      REQUIRE(item.time > watermark);
      watermark = item.time;
      ++watermarks;
    } else {
      REQUIRE(item.time >= watermark);
    }
  }
  if (items.size() > 1000) CHECK(watermarks > 0);
}

// What a downstream operator saw of one event: the event, its timestamp and the watermark then.
struct Seen {
  Event event;
  int64_t timestamp = 0;
  int64_t watermark = 0;
};

}  // namespace

SLUICE_CODEC(Seen, event, timestamp, watermark);

namespace {

class RecordWatermark final : public sluice::ProcessFunction<Event, Seen> {
 public:
  void process(const Event& event, Context& ctx, sluice::Collector<Seen>& out) override {
    out.collect(Seen{event, ctx.timestamp(), ctx.current_watermark()});
  }
};

}  // namespace

TEST_CASE("split i goes to subtask i % p", "[nexmark][source]") {
  CHECK(initial_reader_state(10, 1, 4).splits ==
        std::vector<SplitPosition>{{1, 0}, {5, 0}, {9, 0}});
  CHECK(initial_reader_state(3, 3, 4).splits.empty());
  for (int p : {1, 3, 7}) {
    std::vector<int> owners(100, 0);
    for (int subtask = 0; subtask < p; ++subtask) {
      for (const SplitPosition& at : initial_reader_state(100, subtask, p).splits) {
        CHECK(at.split % p == subtask);
        ++owners[static_cast<size_t>(at.split)];
      }
    }
    CHECK(std::all_of(owners.begin(), owners.end(), [](int n) { return n == 1; }));
  }
}

TEST_CASE("the interleaver merges its splits round-robin in timestamp order", "[nexmark][source]") {
  const GeneratorConfig whole = stream_of(10'053, 10);  // 1 005 events a split, the last 1 008
  const auto splits = stream_splits(whole);
  SplitInterleaver interleaver(splits, initial_reader_state(10, 0, 1));
  std::vector<int64_t> ids;
  int64_t last = INT64_MIN;
  while (interleaver.has_next()) {
    const int64_t expected = interleaver.next_timestamp();
    const NextEvent next = interleaver.next();
    CHECK(next.event_timestamp == expected);
    REQUIRE(next.event_timestamp >= last);
    last = next.event_timestamp;
    ids.push_back(next.event.event_id);
  }
  REQUIRE(ids.size() == 10'053);
  // Round 0 takes the first event of every split in split order; the tail is split 9 alone.
  for (int split = 0; split < 10; ++split) CHECK(ids[static_cast<size_t>(split)] == split * 1'005);
  CHECK(ids[10] == 1);
  CHECK(std::vector<int64_t>(ids.end() - 4, ids.end()) ==
        std::vector<int64_t>{10'049, 10'050, 10'051, 10'052});
  CHECK(interleaver.watermark() == INT64_MAX);
}

TEST_CASE("a reader rebuilt from its state continues identically", "[nexmark][source]") {
  const auto splits = stream_splits(stream_of(5'000));
  const SourceOptions options;
  NexmarkReader first(splits, initial_reader_state(100, 1, 3), options);
  RecordingOutput head;
  first.poll(head, 700);
  const SourceReaderState snapshot = first.state();
  CHECK(snapshot.splits.size() == 33);

  RecordingOutput rest;
  drain(first, rest);
  NexmarkReader restored(splits, snapshot, options);
  RecordingOutput replay;
  drain(restored, replay);

  const auto records = [](const RecordingOutput& out) {
    std::vector<Event> events;
    for (const auto& item : out.items) {
      if (!item.is_watermark) events.push_back(item.event);
    }
    return events;
  };
  CHECK(records(replay) == records(rest));
  CHECK(records(head).size() + records(rest).size() == 33 * 50);
}

TEST_CASE("a reader resumed from its position emits the same events and watermarks",
          "[nexmark][source][checkpoint]") {
  SourceOptions options;
  options.stream = stream_of(20'000);
  NexmarkSource source(options);
  for (int stop : {0, 1, 300, 5'000, 6'667}) {
    INFO("stopped after " << stop << " records");
    auto first = source.create_reader(1, 3);
    RecordingOutput head;
    first->poll(head, stop);
    const std::string position = first->position();
    RecordingOutput rest;
    while (first->poll(rest, 256) == sluice::SourceStatus::more) {
    }

    auto resumed = source.resume_reader(1, 3, position);
    RecordingOutput replay;
    while (resumed->poll(replay, 256) == sluice::SourceStatus::more) {
    }
    REQUIRE(replay.items.size() == rest.items.size());
    for (size_t i = 0; i < rest.items.size(); ++i) {
      CHECK(replay.items[i].is_watermark == rest.items[i].is_watermark);
      CHECK(replay.items[i].time == rest.items[i].time);
      CHECK(replay.items[i].event == rest.items[i].event);
    }
  }
}

TEST_CASE("a reader position resumes only over the stream it was taken from",
          "[nexmark][source][checkpoint]") {
  SourceOptions options;
  options.stream = stream_of(20'000);
  auto reader = NexmarkSource(options).create_reader(0, 2);
  RecordingOutput out;
  reader->poll(out, 100);
  const std::string position = reader->position();

  SourceOptions longer = options;
  longer.stream.max_events = 30'000;
  CHECK_THROWS_WITH(NexmarkSource(longer).resume_reader(0, 2, position),
                    "the Nexmark source was checkpointed over 20000 events in 100 splits at rate "
                    "10000 and cannot resume over 30000 events in 100 splits at rate 10000");
  CHECK_THROWS_AS(NexmarkSource(options).resume_reader(0, 2, position.substr(0, 5)),
                  sluice::JobError);
}

TEST_CASE("reader watermarks trail the events by the out-of-orderness and never make one late",
          "[nexmark][source]") {
  const auto splits = stream_splits(stream_of(50'000));
  for (int p : {1, 2, 4}) {
    for (int subtask = 0; subtask < p; ++subtask) {
      SourceOptions options;
      NexmarkReader reader(splits, initial_reader_state(100, subtask, p), options);
      RecordingOutput out;
      drain(reader, out);
      check_watermarks(out.items);
      int64_t last_watermark = sluice::min_watermark;
      int64_t last_timestamp = 0;
      for (const auto& item : out.items) {
        if (item.is_watermark)
          last_watermark = item.time;
        else
          last_timestamp = item.time;
      }
      // Checked every 256 records, so it lags at most one round of 10 ms per split.
      CHECK(last_watermark <= last_timestamp - default_out_of_orderness_ms);
      CHECK(last_watermark >= last_timestamp - default_out_of_orderness_ms - 10 * 256);
    }
  }
}

TEST_CASE("realtime pacing returns waiting until events are due, never sleeping",
          "[nexmark][source]") {
  auto now = std::chrono::steady_clock::time_point{};
  SourceOptions options;
  options.realtime = true;
  options.clock = [&now] { return now; };
  const auto splits = stream_splits(stream_of(1'000));
  NexmarkReader reader(splits, initial_reader_state(100, 0, 1), options);
  RecordingOutput out;
  const auto records = [&out] {
    return std::count_if(out.items.begin(), out.items.end(),
                         [](const auto& item) { return !item.is_watermark; });
  };
  // 100 generators at 10 000 events/s: every split emits once per 10 ms, all at once.
  CHECK(reader.poll(out, 1'000) == sluice::SourceStatus::waiting);
  CHECK(records() == 100);
  now += std::chrono::milliseconds(9);
  CHECK(reader.poll(out, 1'000) == sluice::SourceStatus::waiting);
  CHECK(records() == 100);
  now += std::chrono::milliseconds(1);
  CHECK(reader.poll(out, 1'000) == sluice::SourceStatus::waiting);
  CHECK(records() == 200);
  now += std::chrono::seconds(1);
  CHECK(reader.poll(out, 1'000) == sluice::SourceStatus::finished);
  CHECK(records() == 1'000);
}

TEST_CASE("events cross task boundaries intact", "[nexmark][source][codec]") {
  const auto events = generator_events(stream_of(200));
  for (const Event& event : events) {
    const auto bytes = sluice::encode_to_bytes(event);
    CHECK(sluice::decode_from_bytes<Event>(bytes.data(), bytes.size()) == event);
  }
  std::vector<uint8_t> bad = sluice::encode_to_bytes(events.front());
  bad[0] = 7;
  CHECK_THROWS_AS(sluice::decode_from_bytes<Event>(bad.data(), bad.size()), sluice::DecodeError);
}

TEST_CASE("the source emits the generator's events at every parallelism, none of them late",
          "[nexmark][source][job]") {
  const GeneratorConfig whole = stream_of(30'000);
  const std::vector<Event> expected = generator_events(whole);
  for (int p : {1, 2, 4}) {
    INFO("parallelism " << p);
    sluice::ExecutionConfig config;
    config.parallelism = p;
    sluice::StreamEnvironment env(config);
    SourceOptions options;
    options.stream = whole;
    sluice::CollectSink<Seen> sink;
    const auto collected = sink.collected();
    // One downstream subtask sees the minimum of all source subtasks' watermarks.
    add_nexmark_source(env, options)
        .process(RecordWatermark(), "Record Watermark")
        .set_parallelism(1)
        .sink_to(sink)
        .set_parallelism(1);
    env.execute("Nexmark source test");

    std::vector<Seen> seen = collected->values();
    int64_t late = 0;
    int64_t highest_watermark = sluice::min_watermark;
    for (const Seen& s : seen) {
      if (s.timestamp < s.watermark) ++late;
      highest_watermark = std::max(highest_watermark, s.watermark);
    }
    CHECK(late == 0);
    // 30 000 events over 100 splits span 3 s of event time: the watermark passes the start.
    CHECK(highest_watermark > whole.base_time - default_out_of_orderness_ms);
    std::sort(seen.begin(), seen.end(),
              [](const Seen& a, const Seen& b) { return a.event.event_id < b.event.event_id; });
    std::vector<Event> events;
    for (const Seen& s : seen) events.push_back(s.event);
    CHECK(events.size() == expected.size());
    CHECK(events == expected);
  }
}
