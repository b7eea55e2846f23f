// apps/nexmark/stepped_clock.cpp — readers wait at a step until all do and the job caught up.
#include "stepped_clock.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cost_stateful.hpp"

namespace sluice::nexmark {

SteppedClock::SteppedClock(int64_t step_ms, std::function<bool(const Event&)> counts)
    : step_ms_(step_ms), counts_(std::move(counts)) {
  if (step_ms_ <= 0) throw std::invalid_argument("a stepped clock needs a positive step");
}

void SteppedClock::join(int subtask, int parallelism) {
  std::lock_guard lock(mutex_);
  if (readers_.empty()) readers_.assign(static_cast<size_t>(parallelism), running);
  if (parallelism != static_cast<int>(readers_.size()) || subtask < 0 || subtask >= parallelism) {
    throw std::invalid_argument("stepped clock: reader " + std::to_string(subtask) + " of " +
                                std::to_string(parallelism) + " joins a clock of " +
                                std::to_string(readers_.size()) + " readers");
  }
  ++joined_;
}

bool SteppedClock::admit(int subtask, int64_t time) {
  const int64_t step = window_start(time, step_ms_);
  if (started_.load(std::memory_order_acquire) && step <= now()) return true;
  std::lock_guard lock(mutex_);
  readers_[static_cast<size_t>(subtask)] = step;
  try_advance();
  if (!started_.load(std::memory_order_relaxed) || step > now()) return false;
  readers_[static_cast<size_t>(subtask)] = running;
  return true;
}

void SteppedClock::emitted(int subtask, const Event& event) {
  if (counts_(event)) emitted_[size_t(subtask) % shards].n.fetch_add(1, std::memory_order_acq_rel);
}

void SteppedClock::taken() {
  static std::atomic<size_t> threads{0};
  thread_local const size_t mine = threads.fetch_add(1, std::memory_order_relaxed) % shards;
  taken_[mine].n.fetch_add(1, std::memory_order_acq_rel);
}

uint64_t SteppedClock::sum(const std::array<Counter, shards>& counters) {
  uint64_t n = 0;
  for (const auto& c : counters) n += c.n.load(std::memory_order_acquire);
  return n;
}

void SteppedClock::ended(int subtask) {
  std::lock_guard lock(mutex_);
  readers_[static_cast<size_t>(subtask)] = finished;
  try_advance();
}

void SteppedClock::try_advance() {
  if (joined_ < static_cast<int>(readers_.size())) return;
  const uint64_t taken = sum(taken_);  // first: read shard by shard, it may only fall short
  if (taken != sum(emitted_)) return;
  // A reader that waited for a step the clock has reached since runs again, though only its
  // own next `admit` marks it so: its step is not ahead of the clock.
  const bool started = started_.load(std::memory_order_relaxed);
  int64_t earliest = finished;
  for (const int64_t reader : readers_) {
    if (reader == running || (started && reader <= now())) return;
    earliest = std::min(earliest, reader);
  }
  if (earliest == finished) return;
  now_.store(std::max(earliest, now()), std::memory_order_release);
  started_.store(true, std::memory_order_release);
}

}  // namespace sluice::nexmark
