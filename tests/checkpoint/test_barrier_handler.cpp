// tests/checkpoint/test_barrier_handler.cpp — the barrier state machine in every mode, driven event by event.
#include <catch2/catch.hpp>

#include "checkpoint/barrier_handler.hpp"

using namespace sluice;
using namespace sluice::checkpoint;
using V = std::vector<int>;

TEST_CASE("aligned: channels that delivered the barrier wait until all did", "[barrier]") {
  BarrierHandler h(3, CheckpointingMode::aligned);
  auto a = h.on_barrier(1, 7, 0);
  CHECK(a.block == V{1});
  CHECK_FALSE(a.snapshot);
  a = h.on_barrier(0, 7, 5);
  CHECK(a.block == V{0});
  CHECK(h.blocked(0));
  CHECK(h.blocked(1));
  CHECK_FALSE(h.blocked(2));
  a = h.on_barrier(2, 7, 9);
  CHECK(a.snapshot == 7);
  CHECK_FALSE(a.overtake);
  CHECK(a.completed == 7);
  CHECK(a.unblock == V{0, 1, 2});
  CHECK_FALSE(h.pending());
  CHECK_FALSE(h.blocked(0));
}

TEST_CASE("aligned: a newer barrier overtaking the pending checkpoint aborts it", "[barrier]") {
  BarrierHandler h(2, CheckpointingMode::aligned);
  h.on_barrier(0, 1, 0);
  auto a = h.on_barrier(0, 2, 1);
  CHECK(a.aborted == 1);
  CHECK(h.pending() == 2);
  CHECK(h.blocked(0));
  // The old checkpoint's barrier arriving late on channel 1 changes nothing.
  a = h.on_barrier(1, 1, 2);
  CHECK_FALSE(a.snapshot);
  CHECK(h.pending() == 2);
  a = h.on_barrier(1, 2, 3);
  CHECK(a.completed == 2);
}

TEST_CASE("unaligned: snapshot and overtake at the first barrier, record the others until theirs", "[barrier]") {
  BarrierHandler h(3, CheckpointingMode::unaligned);
  auto a = h.on_barrier(2, 4, 0);
  CHECK(a.snapshot == 4);
  CHECK(a.overtake);
  CHECK(a.block.empty());
  CHECK(a.start_recording == V{0, 1});
  CHECK_FALSE(a.completed);
  a = h.on_barrier(0, 4, 1);
  CHECK(a.stop_recording == V{0});
  CHECK_FALSE(a.snapshot);
  CHECK(h.recording(1));
  a = h.on_barrier(1, 4, 2);
  CHECK(a.stop_recording == V{1});
  CHECK(a.completed == 4);
  CHECK_FALSE(h.recording(1));
}

TEST_CASE("aligned with timeout: switches to unaligned when alignment takes too long", "[barrier]") {
  BarrierHandler h(3, CheckpointingMode::aligned_with_timeout, 100);
  auto a = h.on_barrier(0, 1, 1000);
  CHECK(a.block == V{0});
  CHECK(h.on_time(1099).snapshot == std::nullopt);
  a = h.on_time(1100);
  CHECK(a.snapshot == 1);
  CHECK(a.overtake);
  CHECK(a.unblock == V{0});
  CHECK(a.start_recording == V{1, 2});
  CHECK(h.unaligned_now());
  a = h.on_barrier(1, 1, 1200);
  CHECK(a.block.empty());  // unaligned now: nothing is held back
  a = h.on_barrier(2, 1, 1300);
  CHECK(a.completed == 1);
  // The next checkpoint starts aligned again, and completes aligned when it is quick.
  h.on_barrier(0, 2, 2000);
  a = h.on_barrier(1, 2, 2010);
  CHECK(h.blocked(0));
  a = h.on_barrier(2, 2, 2020);
  CHECK(a.snapshot == 2);
  CHECK_FALSE(a.overtake);
}

TEST_CASE("aligned with timeout: a late barrier past the timeout switches too", "[barrier]") {
  BarrierHandler h(2, CheckpointingMode::aligned_with_timeout, 50);
  h.on_barrier(0, 1, 0);
  auto a = h.on_barrier(1, 1, 80);
  CHECK(a.snapshot == 1);
  CHECK(a.completed == 1);
}

TEST_CASE("at-least-once: nothing is held back, and snapshot when all delivered", "[barrier]") {
  BarrierHandler h(2, CheckpointingMode::at_least_once);
  auto a = h.on_barrier(0, 3, 0);
  CHECK(a.block.empty());
  CHECK_FALSE(a.snapshot);
  a = h.on_barrier(1, 3, 1);
  CHECK(a.snapshot == 3);
  CHECK(a.completed == 3);
}

TEST_CASE("closed channels count as delivered, and an abort releases everything", "[barrier]") {
  BarrierHandler h(3, CheckpointingMode::aligned);
  h.on_end_of_partition(2, 0);
  h.on_barrier(0, 5, 0);
  auto a = h.on_barrier(1, 5, 1);
  CHECK(a.completed == 5);

  h.on_barrier(0, 6, 2);
  a = h.on_abort(6);
  CHECK(a.unblock == V{0});
  CHECK_FALSE(h.pending());
  a = h.on_barrier(1, 6, 3);  // the aborted checkpoint's barrier arrives later: ignored
  CHECK_FALSE(h.pending());
  CHECK(a.block.empty());
  // Channel 1 closing completes a pending checkpoint that only waited for it.
  h.on_barrier(0, 7, 4);
  a = h.on_end_of_partition(1, 5);
  CHECK(a.completed == 7);
}

TEST_CASE("a checkpoint triggered at the task itself makes its barriers late and releases an older alignment",
          "[barrier]") {
  BarrierHandler h(2, CheckpointingMode::aligned);
  h.on_barrier(0, 4, 0);  // checkpoint 4 aligning: channel 0 blocked
  auto a = h.on_trigger(5);
  CHECK(a.aborted == 4);
  CHECK(a.unblock == V{0});
  CHECK_FALSE(h.pending());
  // Barrier 5, sent before the inputs ended, arrives after the trigger: no second snapshot.
  a = h.on_barrier(0, 5, 1);
  CHECK_FALSE(a.snapshot);
  CHECK(a.block.empty());
  CHECK_FALSE(h.pending());
  a = h.on_barrier(1, 5, 2);
  CHECK_FALSE(a.snapshot);
  CHECK_FALSE(a.completed);
}

TEST_CASE("aligned with timeout: a priority barrier (its sender timed out) switches at once", "[barrier]") {
  BarrierHandler h(3, CheckpointingMode::aligned_with_timeout, 1000);
  auto a = h.on_barrier(0, 7, 0);
  CHECK(a.block == V{0});
  a = h.on_barrier(1, 7, 10, /*priority=*/true);
  CHECK(a.snapshot == 7);
  CHECK(a.overtake);
  CHECK(a.unblock == V{0});
  CHECK(a.start_recording == V{2});  // channel 1 delivered its barrier: nothing to record there
  CHECK(h.unaligned_now());
  a = h.on_barrier(2, 7, 20, true);
  CHECK(a.stop_recording == V{2});
  CHECK(a.completed == 7);
}

TEST_CASE("aligned with timeout: an announced barrier starts the alignment clock before any arrives", "[barrier]") {
  BarrierHandler h(2, CheckpointingMode::aligned_with_timeout, 100);
  CHECK_FALSE(h.on_announcement(3, 1000).snapshot);
  CHECK(h.pending() == 3);
  CHECK_FALSE(h.arrived(0));
  auto a = h.on_time(1100);  // no barrier arrived yet, but the announced one waited too long
  CHECK(a.snapshot == 3);
  CHECK(a.start_recording == V{0, 1});
  a = h.on_barrier(0, 3, 1150);
  a = h.on_barrier(1, 3, 1160);
  CHECK(a.completed == 3);
  CHECK(h.on_announcement(3, 1200).snapshot == std::nullopt);  // over: ignored
  CHECK_FALSE(h.pending());
}

TEST_CASE("priority barriers change nothing in plain aligned mode's decisions for late duplicates", "[barrier]") {
  BarrierHandler h(2, CheckpointingMode::aligned);
  h.on_barrier(0, 1, 0);
  auto a = h.on_barrier(0, 1, 1);  // the same channel again: ignored
  CHECK(a.block.empty());
  CHECK_FALSE(a.completed);
  a = h.on_barrier(1, 1, 2);
  CHECK(a.completed == 1);
  CHECK(h.last_done() == 1);
  a = h.on_barrier(0, 1, 3);  // a late copy of a finished checkpoint
  CHECK_FALSE(h.pending());
  CHECK(a.block.empty());
}
