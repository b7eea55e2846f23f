// tests/actors/test_partition.cpp — the sender side: frames within the buffer size, credit-gated sending, full queues, sequence numbers.
#include <catch2/catch.hpp>

#include "actors/partition.hpp"

using namespace sluice;
using namespace sluice::runtime;

namespace {
struct Sent {
  ChannelId ch;
  uint32_t backlog;
  FrameBuffer frame;
};

struct Fixture {
  ExecutionConfig config;
  Availability availability;
  std::vector<Sent> sent;
  std::unique_ptr<ResultPartition> part;
  explicit Fixture(int channels, uint32_t buffer_size = 1024, uint32_t queue = 2, uint32_t floating = 0) {
    config.buffer_size = buffer_size;
    config.output_queue_buffers = queue;
    config.output_floating_buffers = floating;
    std::vector<int> consumers;
    for (int i = 0; i < channels; ++i) consumers.push_back(i);
    part = std::make_unique<ResultPartition>(5, 0, consumers, config, availability,
                                             [this](const ChannelId& ch, uint32_t b, FrameBuffer&& f) {
                                               sent.push_back({ch, b, std::move(f)});
                                             });
  }
  void record(int ch, const std::string& s, int64_t ts = 0) {
    auto& buf = part->begin_record(ch);
    buf.insert(buf.end(), s.begin(), s.end());
    part->end_record(ch, ts);
  }
};
}  // namespace

TEST_CASE("nothing is sent without credit, and credit releases frames in order", "[partition]") {
  Fixture f(1);
  for (int i = 0; i < 200; ++i) f.record(0, std::string(20, char('a' + i % 26)), i);
  CHECK(f.sent.empty());
  CHECK_FALSE(f.availability.ok());  // the queue filled up: the task must stop consuming
  f.part->on_credit(0, 1);
  REQUIRE(f.sent.size() == 1);
  CHECK(f.sent[0].backlog > 0);
  f.part->on_credit(0, 100);
  f.part->flush_all();
  uint64_t seq = 0;
  size_t records = 0;
  for (auto& s : f.sent) {
    FrameView v(s.frame);
    CHECK(v.sequence() == seq++);
    CHECK(s.frame.size() * 8 <= f.config.buffer_size);
    for (size_t r = 0; r < v.record_count(); ++r) CHECK(v.timestamp(r) == int64_t(records + r));
    records += v.record_count();
  }
  CHECK(records == 200);
  CHECK(f.availability.ok());
  CHECK(f.part->queued_bytes() == 0);
}

TEST_CASE("the queue counts as full at the configured number of buffers", "[partition]") {
  Fixture f(2, 1024, 3);
  while (f.availability.ok()) f.record(1, std::string(100, 'x'));
  CHECK(f.part->queued_buffers() >= 3);
  CHECK_FALSE(f.availability.ok());
  CHECK(f.availability.full_partitions == 1);
  f.part->on_credit(1, 1);
  CHECK(f.availability.ok());
  CHECK(f.part->max_queued_bytes() <= 3 * 1024 + 1024);
}

TEST_CASE("floating buffers let any channel queue beyond its own until they are used up", "[partition]") {
  Fixture f(2, 1024, 2, 3);
  const std::string frame(880, 'x');  // encodes to exactly one full buffer
  auto queued = [&](int ch) { return f.part->channel_probe(ch).queued_buffers; };
  while (f.availability.ok()) f.record(1, frame);
  CHECK(queued(1) == 5);  // its own 2 and all 3 floating
  CHECK(f.part->channel_probe(1).blocked);
  f.part->on_credit(1, 1);
  CHECK(f.availability.ok());
  CHECK_FALSE(f.part->channel_probe(1).blocked);
  while (f.availability.ok()) f.record(0, frame);
  CHECK(queued(0) == 3);  // its own 2 and the one floating buffer left
  CHECK(f.availability.full_partitions == 1);
  f.part->on_credit(0, 3);
  CHECK(queued(0) == 0);
  CHECK(queued(1) == 4);
  CHECK(f.availability.ok());  // channel 1 holds 2 floating buffers; the third is free again
}

TEST_CASE("broadcast copies each record to every channel", "[partition]") {
  Fixture f(3);
  f.record(-1, "hello", 9);
  for (int ch = 0; ch < 3; ++ch) f.part->on_credit(ch, 5);
  f.part->flush_all();
  REQUIRE(f.sent.size() == 3);
  for (auto& s : f.sent) {
    FrameView v(s.frame);
    REQUIRE(v.record_count() == 1);
    CHECK(std::string(reinterpret_cast<const char*>(v.record_data(0)), v.record_size(0)) == "hello");
  }
}

TEST_CASE("end of input flushes records, then EndOfData, and end_partition closes", "[partition]") {
  Fixture f(1);
  f.record(0, "last");
  f.part->watermark(77);
  f.part->end_of_data();
  CHECK_FALSE(f.part->all_sent());
  f.part->end_partition();
  f.part->on_credit(0, 10);
  REQUIRE(f.sent.size() == 3);
  FrameView last(f.sent[0].frame);
  CHECK(last.kind() == FrameKind::records);
  CHECK(last.record_count() == 1);
  REQUIRE(last.marks().size() == 1);  // the watermark rode with the record
  CHECK(last.marks()[0].after == 1);
  CHECK(last.marks()[0].watermark == 77);
  CHECK(FrameView(f.sent[1].frame).kind() == FrameKind::end_of_data);
  CHECK(FrameView(f.sent[2].frame).kind() == FrameKind::end_of_partition);
  CHECK(f.part->all_sent());
}

TEST_CASE("watermarks are staged between records on every channel and go with them, costing no frame", "[partition]") {
  Fixture f(2, 256);
  f.part->on_credit(0, 100);
  f.part->on_credit(1, 100);
  f.part->watermark(1);
  f.record(0, "a", 2);
  f.part->watermark(3);
  f.part->watermark(4);  // nothing between: replaces 3
  CHECK(f.sent.empty());  // nothing is full: all waits for the buffer timeout
  CHECK(f.part->queued_buffers() == 2);  // both channels hold a partly filled buffer
  f.part->flush_all();
  REQUIRE(f.sent.size() == 2);
  FrameView c0(f.sent[0].frame), c1(f.sent[1].frame);
  CHECK(c0.record_count() == 1);
  REQUIRE(c0.marks().size() == 2);
  CHECK((c0.marks()[0].after == 0 && c0.marks()[0].watermark == 1));
  CHECK((c0.marks()[1].after == 1 && c0.marks()[1].watermark == 4));
  CHECK(c1.record_count() == 0);  // a channel without records gets the latest watermark alone
  REQUIRE(c1.marks().size() == 1);
  CHECK((c1.marks()[0].after == 0 && c1.marks()[0].watermark == 4));
  CHECK(f.part->queued_bytes() == 0);

  // Watermarks count toward the buffer: many of them between records fill it like records do.
  for (int i = 0; i < 40; ++i) {
    f.record(0, "r", 10 + i);
    f.part->watermark(10 + i);
  }
  f.part->flush_all();
  size_t records = 0, marks = 0;
  int64_t last = -1;  // timestamp of the last record channel 0 carried: each watermark follows its record
  for (size_t i = 2; i < f.sent.size(); ++i) {
    CHECK(f.sent[i].frame.size() * 8 <= 256);
    FrameView v(f.sent[i].frame);
    if (v.channel().consumer != 0) continue;
    size_t m = 0;
    for (size_t r = 0; r <= v.record_count(); ++r) {
      for (; m < v.marks().size() && v.marks()[m].after == r; ++m, ++marks) CHECK(v.marks()[m].watermark == last);
      if (r < v.record_count()) last = v.timestamp(r), ++records;
    }
  }
  CHECK(records == 40);
  CHECK(marks == 40);
  CHECK(f.sent.size() > 4);  // several frames on channel 0
}
