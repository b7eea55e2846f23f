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
  explicit Fixture(int channels, uint32_t buffer_size = 1024, uint32_t queue = 2) {
    config.buffer_size = buffer_size;
    config.output_queue_buffers = queue;
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
  CHECK(f.availability.full_channels == 1);
  f.part->on_credit(1, 1);
  CHECK(f.availability.ok());
  CHECK(f.part->max_queued_bytes() <= 3 * 1024 + 1024);
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
  REQUIRE(f.sent.size() == 4);
  CHECK(FrameView(f.sent[0].frame).kind() == FrameKind::records);
  CHECK(FrameView(f.sent[1].frame).kind() == FrameKind::watermark);
  CHECK(FrameView(f.sent[1].frame).value() == 77);
  CHECK(FrameView(f.sent[2].frame).kind() == FrameKind::end_of_data);
  CHECK(FrameView(f.sent[3].frame).kind() == FrameKind::end_of_partition);
  CHECK(f.part->all_sent());
}
