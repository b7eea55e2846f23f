// operators/include/sluice/functions.hpp — the user function base classes: ProcessFunction and its keyed form.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "sluice/detail/state_impl.hpp"
#include "sluice/element.hpp"
#include "sluice/state.hpp"

namespace sluice {

/// Names a side output of record type T. Streams with equal ids are the same side output.
template <class T>
class OutputTag {
 public:
  explicit OutputTag(std::string id) : id_(std::move(id)) {}
  const std::string& id() const { return id_; }

 private:
  std::string id_;
};

/// Where a function emits records. The record keeps the timestamp of the input element.
template <class T>
class Collector {
 public:
  virtual ~Collector() = default;
  virtual void collect(T value) = 0;
};

/// What a function sees of its runtime in open(): its name, subtask and keyed state.
class RuntimeContext {
 public:
  explicit RuntimeContext(OperatorContext& ctx) : ctx_(&ctx) {}
  const std::string& operator_name() const { return ctx_->operator_name(); }
  int subtask_index() const { return ctx_->subtask_index(); }
  int parallelism() const { return ctx_->parallelism(); }
  /// Keyed state of any kind, by its descriptor (only on keyed streams; throws JobError
  /// otherwise). The handle stays valid for the function's lifetime.
  template <class D>
  auto& state(const D& desc) {
    return detail::open_state(keyed_backend(desc.name), desc);
  }
  int64_t processing_time() const { return ctx_->processing_time(); }
  /// Operator (non-keyed) list state of this subtask.
  template <class T>
  ListState<T>& operator_list_state(const ListStateDescriptor<T>& desc) {
    return ctx_->operator_state().list_state(desc);
  }

 private:
  KeyedStateBackend& keyed_backend(const std::string& name) {
    auto* backend = ctx_->keyed_state();
    if (!backend)
      throw JobError("operator " + ctx_->describe() + " asked for keyed state '" + name +
                     "' but its input is not keyed (use key_by first)");
    return *backend;
  }
  OperatorContext* ctx_;
};

/// Timers of the current key: event-time timers fire when the watermark passes them,
/// processing-time timers when the clock does. One timer per key and time; registering it
/// again has no effect.
class TimerService {
 public:
  virtual ~TimerService() = default;
  virtual int64_t current_processing_time() const = 0;
  virtual int64_t current_watermark() const = 0;
  virtual void register_event_time_timer(int64_t time) = 0;
  virtual void register_processing_time_timer(int64_t time) = 0;
  virtual void delete_event_time_timer(int64_t time) = 0;
  virtual void delete_processing_time_timer(int64_t time) = 0;
};

enum class TimeDomain { event_time, processing_time };

/// Base of every function with a life cycle.
class RichFunction {
 public:
  virtual ~RichFunction() = default;
  /// Called once per subtask before the first element.
  virtual void open(RuntimeContext&) {}
  /// Called once per subtask after the last element (or on cancellation).
  virtual void close() {}
  /// Checkpoint `id` is about to snapshot this subtask: bring operator state up to date.
  virtual void snapshot_state(int64_t checkpoint_id) { (void)checkpoint_id; }
  /// Checkpoint `id` is complete everywhere.
  virtual void notify_checkpoint_complete(int64_t checkpoint_id) { (void)checkpoint_id; }
};

/// Context of one element: its timestamp, the watermark, and side outputs.
class ElementContext {
 public:
  virtual ~ElementContext() = default;
  /// The element's event timestamp, or no_timestamp.
  virtual int64_t timestamp() const = 0;
  virtual int64_t current_watermark() const = 0;
  /// Emits `value` to the side output `tag` with the element's timestamp.
  template <class X>
  void output(const OutputTag<X>& tag, X value) {
    if (auto* sink = side_output(tag.id()))
      static_cast<Output<X>*>(sink)->push(std::move(value), timestamp());
  }

 protected:
  virtual ElementSink* side_output(const std::string& id) = 0;
};

/// Processes each element of a stream, emitting any number of records.
template <class In, class Out>
class ProcessFunction : public RichFunction {
 public:
  using Context = ElementContext;
  virtual void process(const In& value, Context& ctx, Collector<Out>& out) = 0;
  /// The input has ended (bounded input): emit what is still held.
  virtual void end_input(Collector<Out>&) {}
};

/// The context of an element of a keyed stream: its key and the key's timers.
template <class K>
class KeyedContext : public ElementContext {
 public:
  virtual const K& current_key() const = 0;
  virtual TimerService& timer_service() = 0;
};

/// The context of a firing timer: its key, and whether event or processing time fired it.
template <class K>
class KeyedTimerContext : public KeyedContext<K> {
 public:
  virtual TimeDomain time_domain() const = 0;
};

/// Processes each element of a keyed stream; keyed state handles and timers see the
/// element's key.
template <class K, class In, class Out>
class KeyedProcessFunction : public RichFunction {
 public:
  using Context = KeyedContext<K>;
  using OnTimerContext = KeyedTimerContext<K>;
  virtual void process(const In& value, Context& ctx, Collector<Out>& out) = 0;
  /// A timer of the current key fired; records emitted carry the timer's time.
  virtual void on_timer(int64_t, OnTimerContext&, Collector<Out>&) {}
  /// The input has ended. Event-time timers have all fired by then (the maximum watermark
  /// came first), and processing-time timers fire right after: nothing is left pending.
  virtual void end_input(Collector<Out>&) {}
};

}  // namespace sluice

