// tests/actors/test_input_gate.cpp — input gates alone: frames checked for channel, order and credit, channels taking turns, held-back channels, credits back to the producers.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <map>

#include "actors/input_gate.hpp"
#include "scheduler/plan.hpp"
#include "sluice/detail/record_io.hpp"

using namespace sluice;
using namespace sluice::runtime;

namespace {

/// Subtask 0 of a parallelism-1 map reading three source subtasks: one gate, three channels.
struct Fixture {
  std::shared_ptr<const scheduler::ExecutionPlan> plan;
  std::map<uint32_t, uint32_t> credits;  // by producer
  std::unique_ptr<InputGates> gates;
  uint32_t edge = 0;
  uint64_t seq[3] = {0, 0, 0};

  Fixture() {
    StreamEnvironment env;
    env.set_parallelism(3);
    env.config().exclusive_buffers = 1;
    env.config().floating_buffers = 2;
    env.from_generator(3, [](int64_t i) { return i; }).map([](int64_t v) { return v; }).set_parallelism(1);
    auto g = env.graph();
    plan = std::make_shared<const scheduler::ExecutionPlan>(scheduler::plan(g));
    const auto& x = plan->exchanges.at(0);
    edge = uint32_t(x.edge);
    gates = std::make_unique<InputGates>(0, 1, 2, [this](const ChannelId& ch, uint32_t n) { credits[ch.producer] += n; });
    gates->add(x, 0, 0, nullptr);
    gates->start();
  }
  std::pair<InputGate*, InputChannel*> send(uint32_t producer, uint32_t backlog = 0) {
    auto b = encode_element(ChannelId{edge, producer, 0}, seq[producer]++, FrameKind::status, 0);
    auto v = std::make_unique<FrameView>(b);
    return gates->accept(backlog, std::move(v), std::move(b));
  }
  /// Reads the next frame and consumes it; returns its producer, or -1 when nothing is readable.
  int read() {
    auto [gate, c] = gates->next();
    if (!gate) return -1;
    int producer = int(c->id().producer);
    gates->consume_front(*gate, *c);
    return producer;
  }
};

}  // namespace

TEST_CASE("input channels take turns frame by frame, and consumed buffers go back as credits", "[input_gate]") {
  Fixture f;
  REQUIRE(f.gates->channels() == 3);
  CHECK(f.credits == std::map<uint32_t, uint32_t>{{0, 1}, {1, 1}, {2, 1}});  // one exclusive buffer each
  f.send(2, 1);  // producer 2 has one more frame queued: a floating buffer goes to it
  CHECK(f.credits[2] == 2);
  f.send(2);
  f.send(0);
  CHECK(f.gates->queued_buffers() == 3);
  CHECK(f.gates->readable());
  // Turn order: channel 2 (first ready), channel 0, then channel 2 again.
  CHECK(f.read() == 2);
  CHECK(f.read() == 0);
  CHECK(f.read() == 2);
  CHECK(f.read() == -1);
  CHECK_FALSE(f.gates->readable());
  CHECK(f.gates->queued_buffers() == 0);
  CHECK(f.credits[0] == 2);  // its exclusive buffer back
}

TEST_CASE("frames that break the protocol are refused with the channel named", "[input_gate]") {
  Fixture f;
  f.send(1);
  CHECK_THROWS_WITH(f.send(1), Catch::Contains("frame without credit on channel (edge") &&
                                   Catch::Contains("subtask 2 -> 1"));
  f.seq[0] = 5;
  CHECK_THROWS_WITH(f.send(0), Catch::Contains("expected sequence 0, got 5"));
  auto bad = encode_element(ChannelId{f.edge, 7, 0}, 0, FrameKind::status, 0);
  CHECK_THROWS_WITH(f.gates->accept(0, std::make_unique<FrameView>(bad), std::move(bad)), Catch::Contains("unknown producer"));
  auto elsewhere = encode_element(ChannelId{f.edge + 5, 0, 0}, 0, FrameKind::status, 0);
  CHECK_THROWS_WITH(f.gates->accept(0, std::make_unique<FrameView>(elsewhere), std::move(elsewhere)),
                    Catch::Contains("has no such input channel"));
  auto [gate, c] = f.gates->channel(2);
  c->mark_closed();
  f.seq[2] = 0;
  CHECK_THROWS_WITH(f.send(2), Catch::Contains("after EndOfPartition"));
}

TEST_CASE("a held-back channel is not read until released, and a priority barrier is not queued", "[input_gate]") {
  Fixture f;
  f.send(0);
  f.send(1);
  f.gates->block(0);
  CHECK(f.read() == 1);
  CHECK(f.read() == -1);  // channel 0 holds a frame but is held back
  CHECK_FALSE(f.gates->readable());
  // Released, it is read again and its buffer goes back to its producer.
  auto before = f.credits[0];
  f.gates->unblock(0);
  CHECK(f.gates->readable());
  CHECK(f.read() == 0);
  CHECK(f.credits[0] == before + 1);
  // A priority frame needs no credit and is not queued; only a barrier may be one.
  auto b = encode_priority_barrier(ChannelId{f.edge, 0, 0}, 4);
  auto [gate, c] = f.gates->accept(0, std::make_unique<FrameView>(b), FrameBuffer{});
  CHECK(c->id().producer == 0);
  CHECK(c->queue().empty());
}
