// tests/actors/test_credit.cpp — the input gate's credit state machine: grants, floating buffers, blocking, invariants.
#include <catch2/catch.hpp>

#include <random>

#include "actors/credit.hpp"

using namespace sluice::runtime;

namespace {
uint32_t sum_for(const std::vector<Grant>& gs, int ch) {
  uint32_t n = 0;
  for (auto& g : gs)
    if (g.channel == ch) n += g.credits;
  return n;
}
}  // namespace

TEST_CASE("each channel starts with its exclusive buffers as credit", "[credit]") {
  InputCredit c(3, 2, 4);
  auto gs = c.start();
  for (int ch = 0; ch < 3; ++ch) CHECK(sum_for(gs, ch) == 2);
  CHECK(c.capacity() == 10);
  CHECK(c.check().empty());
}

TEST_CASE("a frame without credit is a protocol breach", "[credit]") {
  InputCredit c(1, 1, 0);
  std::vector<Grant> gs;
  c.start();
  CHECK(c.on_frame(0, 0, gs));
  CHECK_FALSE(c.on_frame(0, 0, gs));
  CHECK(c.queued(0) == 1);
}

TEST_CASE("backlog draws floating buffers, consumption returns them", "[credit]") {
  InputCredit c(2, 2, 4);
  c.start();
  std::vector<Grant> gs;
  REQUIRE(c.on_frame(0, 3, gs));  // sender has 3 more queued
  CHECK(sum_for(gs, 0) == 3);     // three floating buffers lent at once
  CHECK(c.floating_held(0) == 3);
  CHECK(c.floating_available() == 1);
  CHECK(c.check().empty());

  // Channel 1 asks for more than is left: it gets the last floating buffer.
  gs.clear();
  REQUIRE(c.on_frame(1, 5, gs));
  CHECK(sum_for(gs, 1) == 1);
  CHECK(c.floating_available() == 0);

  // Channel 0's sender drained its backlog: its freed buffers go back to the gate, and
  // from there to channel 1, which still has a backlog.
  gs.clear();
  REQUIRE(c.on_frame(0, 0, gs));
  gs.clear();
  c.on_consumed(0, gs);
  CHECK(c.floating_held(0) == 2);
  CHECK(sum_for(gs, 1) == 1);
  CHECK(c.floating_held(1) == 2);
  CHECK(c.check().empty());
}

TEST_CASE("a blocked channel gets no floating buffers and gives back what it frees", "[credit]") {
  InputCredit c(2, 1, 2);
  c.start();
  std::vector<Grant> gs;
  c.block(0);
  REQUIRE(c.on_frame(0, 10, gs));
  CHECK(gs.empty());  // no floating buffers for a blocked channel
  CHECK(c.outstanding(0) == 0);
  // The sender of channel 0 is now out of credit: it pauses until consumption resumes.
  REQUIRE(c.on_frame(1, 10, gs));
  CHECK(sum_for(gs, 1) == 2);
  gs.clear();
  c.unblock(0, gs);
  CHECK(gs.empty());  // both floating buffers are with channel 1
  c.on_consumed(0, gs);
  CHECK(sum_for(gs, 0) == 1);  // its exclusive buffer comes back as credit
  CHECK(c.check().empty());
}

TEST_CASE("random frames, consumption and blocking keep every invariant", "[credit]") {
  std::mt19937 rng(12345);
  for (int round = 0; round < 50; ++round) {
    int channels = 1 + int(rng() % 5);
    uint32_t exclusive = 1 + rng() % 3, floating = rng() % 6;
    InputCredit c(channels, exclusive, floating);
    std::vector<uint32_t> sender_credit(size_t(channels), 0);
    std::vector<uint32_t> sender_backlog(size_t(channels), 0);
    for (auto& g : c.start()) sender_credit[size_t(g.channel)] += g.credits;
    std::vector<Grant> gs;
    for (int step = 0; step < 2000; ++step) {
      int ch = int(rng() % uint32_t(channels));
      switch (rng() % 4) {
        case 0:  // the sender produces
          ++sender_backlog[size_t(ch)];
          [[fallthrough]];
        case 1:  // the sender sends if it has credit
          if (sender_credit[size_t(ch)] > 0 && sender_backlog[size_t(ch)] > 0) {
            --sender_credit[size_t(ch)];
            --sender_backlog[size_t(ch)];
            gs.clear();
            REQUIRE(c.on_frame(ch, sender_backlog[size_t(ch)], gs));
            for (auto& g : gs) sender_credit[size_t(g.channel)] += g.credits;
          }
          break;
        case 2:  // the receiver consumes
          if (c.queued(ch) > 0 && !c.blocked(ch)) {
            gs.clear();
            c.on_consumed(ch, gs);
            for (auto& g : gs) sender_credit[size_t(g.channel)] += g.credits;
          }
          break;
        case 3:
          gs.clear();
          if (c.blocked(ch)) c.unblock(ch, gs);
          else if (rng() % 4 == 0) c.block(ch);
          for (auto& g : gs) sender_credit[size_t(g.channel)] += g.credits;
          break;
      }
      INFO("round " << round << " step " << step);
      REQUIRE(c.check().empty());
      for (int k = 0; k < channels; ++k) REQUIRE(sender_credit[size_t(k)] == c.outstanding(k));
      REQUIRE(c.total_queued() + c.total_outstanding() <= c.capacity());
    }
  }
}
