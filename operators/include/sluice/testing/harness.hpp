// operators/include/sluice/testing/harness.hpp — drive one operator or sink without a cluster: elements, watermarks, processing time, checkpoints, outputs.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sluice/detail/operators.hpp"
#include "sluice/sinks.hpp"
#include "sluice/state.hpp"

namespace sluice::testing {

/// A record an operator emitted, with its timestamp.
template <class T>
struct Emitted {
  T value;
  int64_t timestamp;
  bool operator==(const Emitted&) const = default;
};

namespace detail_harness {
template <class T>
class Capture final : public Output<T> {
 public:
  void push(T&& v, int64_t ts) override { records.push_back({std::move(v), ts}); }
  void watermark(int64_t wm) override { watermarks.push_back(wm); }
  void end_input() override { ended = true; }
  std::vector<Emitted<T>> records;
  std::vector<int64_t> watermarks;
  bool ended = false;
};
}  // namespace detail_harness

/// Runs one operator instance as a task would, single-threaded and deterministic (modelled on
/// Flink's operator test harnesses): processing time is a manual clock, I/O runs inline,
/// wakeups fire when set_processing_time() passes them. Keyed operators get a heap backend
/// unless `backend` makes another.
template <class In, class Out>
class OneInputHarness final : private OperatorContext, private IoService {
 public:
  using BackendFactory = std::function<std::unique_ptr<KeyedStateBackend>(std::function<int64_t()>)>;

  OneInputHarness(std::unique_ptr<OperatorBase> op, bool keyed, BackendFactory backend = {},
                  int max_parallelism = default_max_parallelism)
      : op_(std::move(op)), max_parallelism_(max_parallelism) {
    if (keyed) {
      auto now = [this] { return now_; };
      backend_ = backend ? backend(now) : make_heap_backend(now);
    }
    op_->set_output("", &main_);
  }
  /// A harness for a KeyedProcessFunction on a stream keyed by `key`.
  template <class KeyFn, class Fn>
  static std::unique_ptr<OneInputHarness> keyed_process(KeyFn key, Fn fn, BackendFactory backend = {}) {
    using K = std::decay_t<std::invoke_result_t<KeyFn&, const In&>>;
    return std::make_unique<OneInputHarness>(
        std::make_unique<sluice::detail::KeyedProcessOperator<K, In, Out, KeyFn, Fn>>(key, fn), true,
        std::move(backend));
  }
  /// A harness for a ProcessFunction.
  template <class Fn>
  static std::unique_ptr<OneInputHarness> process(Fn fn) {
    return std::make_unique<OneInputHarness>(
        std::make_unique<sluice::detail::ProcessOperator<In, Out, Fn>>(fn), false);
  }
  /// The operator holds pointers into the harness: it never moves.
  OneInputHarness(const OneInputHarness&) = delete;
  OneInputHarness& operator=(const OneInputHarness&) = delete;

  /// Collects side output `tag` (call before the elements that emit to it).
  template <class X>
  const std::vector<Emitted<X>>& side_output(const OutputTag<X>& tag) {
    auto it = sides_.find(tag.id());
    if (it == sides_.end()) {
      auto cap = std::make_shared<detail_harness::Capture<X>>();
      op_->set_output(tag.id(), cap.get());
      it = sides_.emplace(tag.id(), cap).first;
    }
    return static_cast<detail_harness::Capture<X>*>(it->second.get())->records;
  }

  void open() {
    op_->open(*this);
    opened_ = true;
  }
  void process_element(In v, int64_t timestamp = no_timestamp) {
    ensure_open();
    input()->push(std::move(v), timestamp);
  }
  void process_watermark(int64_t wm) {
    ensure_open();
    watermark_ = wm;
    input()->watermark(wm);
  }
  /// The input turns idle (true: its watermark no longer holds the task's back) or active.
  void process_stream_status(bool idle) {
    ensure_open();
    input()->stream_status(idle);
  }
  /// Moves processing time to `t`; due wakeups (processing-time timers) fire.
  void set_processing_time(int64_t t) {
    ensure_open();
    now_ = t;
    bool due = false;
    for (auto it = wakeups_.begin(); it != wakeups_.end() && *it <= t;) {
      due = true;
      it = wakeups_.erase(it);
    }
    if (due) op_->on_wakeup();
  }
  /// Ends the input (the maximum watermark first, as an ended source sends it).
  void end_input() {
    process_watermark(max_watermark);
    input()->end_input();
  }
  void close() { op_->close(); }

  /// The keyed state and timers, backend-independent (keyed operators only).
  KeyedStateSnapshot snapshot() { return snapshot_keyed_state(*backend_, max_parallelism_); }
  /// Restores the share of `s` in `range` (all key groups by default); call before open().
  void restore(const KeyedStateSnapshot& s, std::optional<KeyGroupRange> range = std::nullopt) {
    auto r = range.value_or(KeyGroupRange{0, max_parallelism_});
    restore_keyed_state(*backend_, s, r);
  }

  const std::vector<Emitted<Out>>& output() const { return main_.records; }
  std::vector<Out> output_values() const {
    std::vector<Out> v;
    for (auto& e : main_.records) v.push_back(e.value);
    return v;
  }
  const std::vector<int64_t>& output_watermarks() const { return main_.watermarks; }
  void clear_output() { main_.records.clear(); }
  KeyedStateBackend* backend() { return backend_.get(); }
  /// Pending timers of a keyed operator (event time, processing time).
  std::pair<size_t, size_t> pending_timers() const {
    return {backend_->event_timers().size(), backend_->processing_timers().size()};
  }

 private:
  Output<In>* input() { return static_cast<Output<In>*>(op_->input(0)); }
  void ensure_open() {
    if (!opened_) open();
  }
  // OperatorContext
  const std::string& job_name() const override { return name_; }
  const std::string& operator_name() const override { return name_; }
  int subtask_index() const override { return 0; }
  int parallelism() const override { return 1; }
  int max_parallelism() const override { return max_parallelism_; }
  KeyedStateBackend* keyed_state() override { return backend_.get(); }
  OperatorStateStore& operator_state() override { return op_state_; }
  IoService& io() override { return *this; }
  int64_t current_watermark() const override { return watermark_; }
  int64_t processing_time() const override { return now_; }
  void set_available(bool) override {}
  void request_wakeup(std::chrono::milliseconds delay) override { wakeups_.insert(now_ + delay.count()); }
  // IoService: inline
  void submit(std::function<void()> job) override { job(); }

  std::unique_ptr<OperatorBase> op_;
  int max_parallelism_;
  std::unique_ptr<KeyedStateBackend> backend_;
  OperatorStateStore op_state_;
  detail_harness::Capture<Out> main_;
  std::map<std::string, std::shared_ptr<ElementSink>> sides_;
  std::multiset<int64_t> wakeups_;
  std::string name_ = "harness";
  int64_t now_ = 0;
  int64_t watermark_ = min_watermark;
  bool opened_ = false;
};

/// Runs one subtask of a sink as a sink task would, single-threaded and deterministic: I/O
/// runs inline, and checkpoints are driven by hand — snapshot() as a barrier passing,
/// notify_checkpoint_complete() as the coordinator's notification, restore() (before
/// open()) as a restart from what every old subtask's snapshot() returned. Dropping the
/// harness without close() is a crash.
/// The context of one non-keyed subtask, with I/O run inline: what sinks and source readers
/// need of the runtime in a test.
class InlineContext final : public OperatorContext, public IoService {
 public:
  InlineContext(std::string name, int subtask, int parallelism, bool checkpointing = true)
      : name_(std::move(name)), subtask_(subtask), parallelism_(parallelism), checkpointing_(checkpointing) {}
  const std::string& job_name() const override { return name_; }
  const std::string& operator_name() const override { return name_; }
  int subtask_index() const override { return subtask_; }
  int parallelism() const override { return parallelism_; }
  int max_parallelism() const override { return 128; }
  KeyedStateBackend* keyed_state() override { return nullptr; }
  OperatorStateStore& operator_state() override { return op_state_; }
  IoService& io() override { return *this; }
  int64_t current_watermark() const override { return min_watermark; }
  int64_t processing_time() const override { return 0; }
  void set_available(bool) override {}
  void request_wakeup(std::chrono::milliseconds) override {}
  bool checkpointing() const override { return checkpointing_; }
  std::optional<int64_t> restored_checkpoint() const override { return restored_; }
  /// What restored_checkpoint() answers (a restore, or a recovery from scratch with 0).
  void set_restored_checkpoint(std::optional<int64_t> id) { restored_ = id; }
  void submit(std::function<void()> job) override { job(); }

 private:
  std::string name_;
  int subtask_;
  int parallelism_;
  bool checkpointing_;
  std::optional<int64_t> restored_;
  OperatorStateStore op_state_;
};

template <class T>
class SinkHarness final {
 public:
  /// Subtask `subtask` of `parallelism`; `checkpointing` is what the context reports.
  explicit SinkHarness(const Sink<T>& sink, int subtask = 0, int parallelism = 1, bool checkpointing = true)
      : op_(sink.create_writer(subtask, parallelism)), ctx_(sink.name(), subtask, parallelism, checkpointing) {}
  SinkHarness(const SinkHarness&) = delete;
  SinkHarness& operator=(const SinkHarness&) = delete;

  /// Restores `states`, the sink's states at checkpoint `checkpoint_id` (when given, the
  /// context reports it as the checkpoint the run resumed from).
  void restore(const std::vector<std::string>& states, std::optional<int64_t> checkpoint_id = std::nullopt) {
    if (checkpoint_id) ctx_.set_restored_checkpoint(checkpoint_id);
    op_.restore_state(states, ctx_.subtask_index(), ctx_.parallelism());
  }
  /// A recovery that found no usable checkpoint: nothing to restore, the run starts over.
  void recover_from_scratch() { ctx_.set_restored_checkpoint(0); }
  void open() {
    op_.open(ctx_);
    opened_ = true;
  }
  void write(T v, int64_t timestamp = no_timestamp) {
    ensure_open();
    op_.push(std::move(v), timestamp);
  }
  /// The buffer timeout passed.
  void flush() {
    ensure_open();
    op_.flush();
  }
  void end_input() {
    ensure_open();
    op_.end_input();
  }
  std::string snapshot(int64_t checkpoint_id) {
    ensure_open();
    return op_.snapshot_state(checkpoint_id);
  }
  void notify_checkpoint_complete(int64_t checkpoint_id) {
    ensure_open();
    op_.notify_checkpoint_complete(checkpoint_id);
  }
  void close() {
    ensure_open();
    op_.close();
  }

 private:
  void ensure_open() {
    if (!opened_) open();
  }
  sluice::detail::SinkOperator<T> op_;
  InlineContext ctx_;
  bool opened_ = false;
};

}  // namespace sluice::testing
