// apps/nexmark/stepped_clock.hpp — q12's processing time, stepped window by window by the source.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <sluice/config.hpp>
#include <vector>

#include "model.hpp"

namespace sluice::nexmark {

/// A processing-time clock that makes a processing-time query deterministic and equal to its
/// COST loop with the default q12 clock (an event is processed at its own dateTime).
///
/// The clock reads the start of the current step (an epoch-aligned interval of `step_ms`:
/// q12's window). The Nexmark source readers ask it before they emit each event; an event of
/// a later step makes its reader wait. The clock moves to the earliest step waited for only
/// when every reader of the job waits or has ended and the job has reported, with `taken()`,
/// every counted event the readers emitted. So every counted event is taken while the clock
/// reads the start of the step that holds its dateTime: a processing-time window of the step's
/// size then gets exactly the events whose dateTime lies in it, whatever the parallelism, the
/// state backend or the thread timing. Requires each reader's event times not to decrease (the
/// Nexmark source with `out_of_order_group_size` 1); an event behind the current step is let
/// through at the current step.
///
/// Thread-safe: readers and the job's operators call it from their own threads. One clock
/// serves one job run.
class SteppedClock final : public ProcessingClock {
 public:
  /// `counts` tells which emitted events the job reports back with `taken()` (q12: the bids).
  SteppedClock(int64_t step_ms, std::function<bool(const Event&)> counts);

  /// The start of the current step, epoch ms; 0 before the first event.
  int64_t now() const override { return now_.load(std::memory_order_acquire); }

  /// Registers source reader `subtask` of `parallelism`: the clock does not move before every
  /// reader of the job has registered.
  void join(int subtask, int parallelism);
  /// Whether reader `subtask` may emit an event at `time` now. When not, the reader waits (it
  /// asks again later), and the clock moves if it can.
  bool admit(int subtask, int64_t time);
  /// Reader `subtask` emitted one event (counted if `counts` says so).
  void emitted(int subtask, const Event& event);
  /// Reader `subtask` has emitted its last event.
  void ended(int subtask);

  /// The job has taken one counted event: its processing time has been read.
  void taken();

 private:
  static constexpr int64_t running = INT64_MIN;
  static constexpr int64_t finished = INT64_MAX;

  /// Moves the clock to the earliest step waited for, if every reader waits or has ended and
  /// every counted event was taken. Requires `mutex_`.
  void try_advance();

  /// Counters spread over cache lines: every reader and every window subtask counts each
  /// event, and one shared counter had their threads take its line from each other per event
  /// (SteppedClock::emitted was 8.7 % of q12 at parallelism 2). Sums are read only to move
  /// the clock; both only grow and taken never passes emitted, so a sum of taken read shard
  /// by shard that equals emitted means every event was taken.
  static constexpr size_t shards = 16;
  struct alignas(64) Counter {
    std::atomic<uint64_t> n{0};
  };
  static uint64_t sum(const std::array<Counter, shards>& counters);

  int64_t step_ms_;
  std::function<bool(const Event&)> counts_;
  std::atomic<int64_t> now_{0};
  std::atomic<bool> started_{false};
  std::array<Counter, shards> emitted_;  // by reader
  std::array<Counter, shards> taken_;    // by thread
  std::mutex mutex_;
  /// Per reader: `running`, the step it waits for, or `finished`.
  std::vector<int64_t> readers_;
  int joined_ = 0;
};

}  // namespace sluice::nexmark
