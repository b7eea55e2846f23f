// apps/nexmark/faults.hpp — testing faults for `nexmark run`: task failures after checkpoints and a full disk for some checkpoints, to exercise recovery.
#pragma once

#include <sluice/sinks.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::nexmark {

/// What `--inject-task-failures` and `--inject-disk-full` ask for (hidden testing flags).
struct FaultOptions {
  /// Task failures to inject, each at the first row written after a checkpoint completed
  /// since the previous one (default 0).
  int task_failures = 0;
  /// Checkpoints `disk_full_from` .. `disk_full_from + disk_full_for - 1` find the disk full:
  /// every write of theirs fails with ENOSPC, leaving a torn file (default none).
  int64_t disk_full_from = 0;
  int disk_full_for = 0;
};

/// Makes every checkpoint storage of the process fail the writes of the checkpoints
/// `options` names with ENOSPC. Nothing when it names none.
void inject_disk_full(const FaultOptions& options);

/// Passes rows to the sink it wraps and fails its task `failures` times over the process's
/// life, every attempt of the job included: each time at the first row after a checkpoint
/// completed since the last failure. Every run between failures makes progress.
template <class T>
class FailingSink final : public Sink<T> {
 public:
  FailingSink(std::shared_ptr<const Sink<T>> inner, int failures)
      : inner_(std::move(inner)), state_(std::make_shared<State>()) {
    state_->left = failures;
  }
  std::unique_ptr<SinkWriter<T>> create_writer(int subtask, int parallelism) const override {
    return std::make_unique<Writer>(inner_->create_writer(subtask, parallelism), state_);
  }
  std::string name() const override { return inner_->name(); }

 private:
  struct State {
    std::atomic<int> left{0};
    std::atomic<int64_t> completed{0};  // the newest checkpoint any writer heard completed
    std::atomic<int64_t> failed_after{0};
  };
  class Writer final : public SinkWriter<T> {
   public:
    Writer(std::unique_ptr<SinkWriter<T>> inner, std::shared_ptr<State> s) : inner_(std::move(inner)), s_(std::move(s)) {}
    void open(OperatorContext& ctx) override { inner_->open(ctx); }
    void write(T&& v, int64_t ts) override {
      auto completed = s_->completed.load();
      auto after = s_->failed_after.load();
      if (completed > after && s_->left.load() > 0 && s_->failed_after.compare_exchange_strong(after, completed)) {
        int k = s_->left.fetch_sub(1);
        throw std::runtime_error("injected task failure (" + std::to_string(k - 1) + " left) after checkpoint " +
                                 std::to_string(completed));
      }
      inner_->write(std::move(v), ts);
    }
    void flush() override { inner_->flush(); }
    void end_input() override { inner_->end_input(); }
    void on_wakeup() override { inner_->on_wakeup(); }
    void close() override { inner_->close(); }
    std::string snapshot_state(int64_t id) override { return inner_->snapshot_state(id); }
    void restore_state(const std::vector<std::string>& states, int subtask, int parallelism) override {
      inner_->restore_state(states, subtask, parallelism);
    }
    void notify_checkpoint_complete(int64_t id) override {
      inner_->notify_checkpoint_complete(id);
      for (auto seen = s_->completed.load(); seen < id && !s_->completed.compare_exchange_weak(seen, id);) {
      }
    }

   private:
    std::unique_ptr<SinkWriter<T>> inner_;
    std::shared_ptr<State> s_;
  };
  std::shared_ptr<const Sink<T>> inner_;
  std::shared_ptr<State> state_;
};

}  // namespace sluice::nexmark
