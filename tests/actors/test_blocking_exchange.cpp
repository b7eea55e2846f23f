// tests/actors/test_blocking_exchange.cpp — a blocking exchange end to end without actors: a result partition writes its partition file (never backpressured, sealed at EndOfPartition), and each consumer's input gate reads its channel back within its buffers, records and watermarks in order.
#include <catch2/catch.hpp>

#include "actors/blocking_exchange.hpp"
#include "actors/input_gate.hpp"
#include "scheduler/plan.hpp"

#include <map>
#include <string>

#include "support/temp_dir.hpp"

using namespace sluice;
using namespace sluice::runtime;
namespace fs = std::filesystem;

TEST_CASE("a blocking exchange carries each channel's records and watermarks through its file within the gate's buffers",
          "[blocking-exchange]") {
  test_support::TempDir dir;
  constexpr int consumers = 3;
  constexpr uint32_t edge = 5;
  auto path = partition_file_path(dir.path(), edge, 0);
  ExecutionConfig config;
  config.buffer_size = 512;
  config.output_queue_buffers = 1;
  config.output_floating_buffers = 0;
  Availability availability;
  BlockingOutput out(path, consumers, 4 << 10);
  ResultPartition part(edge, 0, {0, 1, 2}, config, availability, out.send_fn());
  out.open(part);
  std::map<int, std::vector<std::string>> sent;
  for (int i = 0; i < 3'000; ++i) {
    int ch = i % consumers;
    auto text = "record-" + std::to_string(i);
    auto& buf = part.begin_record(ch);
    buf.insert(buf.end(), text.begin(), text.end());
    part.end_record(ch, i);
    sent[ch].push_back(text);
    if (i % 500 == 499) part.watermark(i);
    CHECK(availability.ok());  // never backpressured: nobody reads yet
  }
  part.end_of_data();
  CHECK_FALSE(out.sealed());
  CHECK_FALSE(fs::exists(path));
  part.end_partition();
  REQUIRE(out.sealed());
  CHECK(out.file().regions() > 1);
  REQUIRE(fs::exists(path));

  scheduler::Exchange x;
  x.edge = int(edge);
  x.partitioning = scheduler::Partitioning::hash;
  x.producers = 1;
  x.consumers = consumers;
  for (int c = 0; c < consumers; ++c) {
    INFO("consumer " << c);
    uint32_t granted = 0;
    InputGates gates(c, 2, 1, [&](const ChannelId& ch, uint32_t n) {
      CHECK(ch == ChannelId{edge, 0, uint32_t(c)});
      granted += n;
    });
    gates.add(x, 0, 0, nullptr);
    gates.start();
    BlockingInput in(path, c);
    std::vector<std::string> received;
    std::vector<int64_t> watermarks;
    bool closed = false;
    uint64_t most_queued = 0;
    for (int round = 0; round < 100'000 && !closed; ++round) {
      for (auto& f : in.take(std::exchange(granted, 0))) {
        auto view = std::make_unique<FrameView>(f);
        gates.accept(in.exhausted() ? 0 : 1, std::move(view), std::move(f));
      }
      most_queued = std::max(most_queued, gates.queued_buffers());
      auto [gate, channel] = gates.next();
      if (!gate) continue;
      const auto& v = *channel->queue().front().view;
      for (size_t r = 0; r < v.record_count(); ++r)
        received.emplace_back(reinterpret_cast<const char*>(v.record_data(r)), v.record_size(r));
      for (const auto& m : v.marks()) watermarks.push_back(m.watermark);
      closed = v.kind() == FrameKind::end_of_partition;
      gates.consume_front(*gate, *channel);
    }
    CHECK(closed);
    CHECK(in.exhausted());
    CHECK(received == sent[c]);
    CHECK(watermarks == std::vector<int64_t>{499, 999, 1499, 1999, 2499, 2999});
    CHECK(most_queued <= 3);  // its 2 exclusive buffers and the 1 floating
  }
}

TEST_CASE("a blocking input refuses a partition whose producer has not finished", "[blocking-exchange]") {
  test_support::TempDir dir;
  CHECK_THROWS_WITH(BlockingInput(partition_file_path(dir.path(), 1, 0), 0), Catch::Contains("is not complete"));
}
