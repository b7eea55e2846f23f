// operators/include/sluice/element.hpp — the typed element path through a chain: outputs, operators, their context.
#pragma once

#include <chrono>
#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

/// A record without an event timestamp carries this value.
inline constexpr int64_t no_timestamp = INT64_MIN;
/// The watermark that ends event time: every timer fires, every window closes.
inline constexpr int64_t max_watermark = INT64_MAX;
/// The watermark before any was seen.
inline constexpr int64_t min_watermark = INT64_MIN;

/// What every element receiver handles whatever its record type: watermarks and the end of
/// its input. Inside a task, operators are chained by calling these directly.
class ElementSink {
 public:
  virtual ~ElementSink() = default;
  /// Event time has advanced to `wm`: no record with a smaller timestamp follows.
  virtual void watermark(int64_t wm) = 0;
  /// No more records will come on this input (EndOfData).
  virtual void end_input() = 0;
  /// The stream went idle (true) or active again (false): an idle stream does not hold
  /// back the watermark downstream. Most receivers pass it on.
  virtual void stream_status(bool) {}
};

/// Receives records of type T with their timestamps: the next operator in the chain, a fan-out
/// to several, or the network writer of an edge to another task.
template <class T>
class Output : public ElementSink {
 public:
  virtual void push(T&& value, int64_t timestamp) = 0;
  void push_copy(const T& value, int64_t timestamp) {
    T copy(value);
    push(std::move(copy), timestamp);
  }
};

class KeyedStateBackend;
class OperatorStateStore;

/// Blocking work (files) that must not run on an actor's worker thread. Jobs of one task run
/// one after another in submission order; the task is woken when each completes.
class IoService {
 public:
  virtual ~IoService() = default;
  /// Runs `job` on the I/O executor. An exception it throws fails the task with its message.
  virtual void submit(std::function<void()> job) = 0;
  /// Where the job's standard output goes (print sinks), called from the I/O executor; empty:
  /// this process's. A job on a cluster prints to its client.
  virtual std::function<void(const std::string&)> standard_output() { return {}; }
};

/// Bytes an operator holds until its input ends (a full-partition map): in memory up to the
/// batch memory and in spill files beyond it, read back once, in the order they were added.
/// The files go when the buffer does. One task's thread uses it.
class SpillBuffer {
 public:
  virtual ~SpillBuffer() = default;
  virtual void add(std::string_view bytes) = 0;
  /// Ends the adding: next() reads from the first.
  virtual void finish() = 0;
  /// The next bytes added (valid until the next call); false after the last.
  virtual bool next(std::string_view& out) = 0;
};

namespace detail {
/// A SpillBuffer that holds everything in memory (an operator outside a task: tests).
std::unique_ptr<SpillBuffer> memory_spill_buffer();
}  // namespace detail

/// What the runtime gives an operator instance (one subtask of one operator).
class OperatorContext {
 public:
  virtual ~OperatorContext() = default;
  virtual const std::string& job_name() const = 0;
  virtual const std::string& operator_name() const = 0;
  virtual int subtask_index() const = 0;
  virtual int parallelism() const = 0;
  virtual int max_parallelism() const = 0;
  /// Keyed state of this subtask; null for operators that are not keyed.
  virtual KeyedStateBackend* keyed_state() = 0;
  /// Non-keyed state of this subtask (lists).
  virtual OperatorStateStore& operator_state() = 0;
  virtual IoService& io() = 0;
  /// The task's current input watermark.
  virtual int64_t current_watermark() const = 0;
  /// Processing time (epoch ms) from the job's clock.
  virtual int64_t processing_time() const = 0;
  /// An operator that cannot take more records now (a throttled or blocked sink) says so;
  /// the task stops consuming its inputs until the operator is available again.
  virtual void set_available(bool available) = 0;
  /// Calls the operator's on_wakeup() after `delay` of processing time (a timer, never a sleep).
  virtual void request_wakeup(std::chrono::milliseconds delay) = 0;
  /// Whether the job checkpoints: a two-phase-commit sink commits only on completed
  /// checkpoints then, and directly at close otherwise.
  virtual bool checkpointing() const { return false; }
  /// BATCH: this keyed operator's input comes sorted by key (then timestamp): each key's
  /// records together, then end_of_key(); its watermark stays at the minimum until the
  /// final one, and processing time does not wake it up.
  virtual bool sorted_input() const { return false; }
  /// A buffer for what the operator holds until its input ends, under the batch memory
  /// (ExecutionConfig::batch_memory), spilling beyond it to files beside BATCH's partitions.
  virtual std::unique_ptr<SpillBuffer> spill_buffer() { return detail::memory_spill_buffer(); }
  /// The checkpoint this run of the job resumed from: none on a fresh start; 0 when it
  /// recovers with no usable checkpoint (a restart, or `--restore latest`, that found none),
  /// so it starts over. A two-phase-commit sink rolls its output back to exactly this
  /// checkpoint: what later checkpoints committed is not part of the resumed run.
  virtual std::optional<int64_t> restored_checkpoint() const { return std::nullopt; }
  /// Where a sink whose records belong to the job's main (Sink::receiver) sends its encoded
  /// batches when that main runs in another process (a cluster's master); empty: the main
  /// is in this process. Called on the task's thread; each batch arrives before the
  /// subtask is seen to end.
  virtual std::function<void(std::string&&)> result_channel() { return {}; }
  /// "name (subtask i/p)", for error messages.
  std::string describe() const {
    return "'" + operator_name() + "' (subtask " + std::to_string(subtask_index() + 1) + "/" +
           std::to_string(parallelism()) + ")";
  }
};

namespace detail {
/// Inside a catch block: rethrows the exception as an OperatorFailure naming the operator,
/// unless an operator further down the chain already named itself.
[[noreturn]] void rethrow_in(const OperatorContext& ctx);
}  // namespace detail

/// One operator instance. Built-in operators are templates over record types; the runtime
/// sees only this interface and wires typed outputs through ElementSink pointers.
class OperatorBase {
 public:
  virtual ~OperatorBase() = default;
  /// The receiver for input `index` (an Output<In> of this operator's input type).
  virtual ElementSink* input(int index) = 0;
  /// Connects output `port` ("" is the main output, otherwise a side-output tag id) to
  /// `out`, an Output<X> of that port's record type. Unconnected ports drop records.
  virtual void set_output(const std::string& port, ElementSink* out) = 0;
  virtual void open(OperatorContext& ctx) { ctx_ = &ctx; }
  virtual void close() {}
  /// The buffer timeout passed: hand on partly filled output (sinks with buffers).
  virtual void flush() {}
  /// A wakeup asked for with request_wakeup() is due.
  virtual void on_wakeup() {}
  /// BATCH, sorted input (OperatorContext::sorted_input): every record of the current key has
  /// come. Keyed operators fire that key's timers now, as if event and processing time had
  /// reached their ends (Flink's BATCH mode), and emit what a key's end completes; the runtime
  /// then drops the key's state.
  virtual void end_of_key() {}

  // Checkpoints (docs/checkpoints.md). Keyed state, timers and operator state are snapshotted by
  // the runtime; these hooks are for what an operator keeps besides (a source's position,
  // a sink's pending transactions).
  /// Checkpoint `id` passes this operator now: return what it must keep, as bytes.
  virtual std::string snapshot_state(int64_t checkpoint_id) {
    (void)checkpoint_id;
    return {};
  }
  /// Before open(), when the job starts from a checkpoint: what every subtask of the
  /// operator returned from snapshot_state, by old subtask index. This subtask (`subtask`
  /// of `parallelism`, which may differ from states.size() after rescaling) takes its share.
  virtual void restore_state(const std::vector<std::string>& states, int subtask, int parallelism) {
    (void)states, (void)subtask, (void)parallelism;
  }
  /// Checkpoint `id` is complete everywhere: two-phase-commit sinks commit now.
  virtual void notify_checkpoint_complete(int64_t checkpoint_id) { (void)checkpoint_id; }

  OperatorContext& context() { return *ctx_; }

 protected:
  OperatorContext* ctx_ = nullptr;
};

/// What a source reports after one poll.
enum class SourceStatus {
  more,      ///< more records are ready; poll again
  waiting,   ///< nothing now; the source resumes the task itself (I/O) or is polled later
  finished,  ///< bounded input exhausted
};

/// An operator that produces records instead of receiving them.
class SourceOperatorBase : public OperatorBase {
 public:
  ElementSink* input(int) override { return nullptr; }
  /// Emits at most `max_records` records to the outputs.
  virtual SourceStatus poll(int max_records) = 0;
  /// The source has ended: the maximum watermark and the end of input go downstream.
  virtual void finish() = 0;
};

}  // namespace sluice
