// operators/include/sluice/functions.hpp — the user function base classes: ProcessFunction and its keyed form.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

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
  /// Keyed value state (only on keyed streams; throws JobError otherwise).
  template <class T>
  ValueState<T> state(const ValueStateDescriptor<T>& desc);

 private:
  OperatorContext* ctx_;
};

/// Base of every function with a life cycle.
class RichFunction {
 public:
  virtual ~RichFunction() = default;
  /// Called once per subtask before the first element.
  virtual void open(RuntimeContext&) {}
  /// Called once per subtask after the last element (or on cancellation).
  virtual void close() {}
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

/// Processes each element of a keyed stream; keyed state handles see the element's key.
/// State and timers are extended here by the state issue.
template <class K, class In, class Out>
class KeyedProcessFunction : public RichFunction {
 public:
  class Context : public ElementContext {
   public:
    virtual const K& current_key() const = 0;
  };
  virtual void process(const In& value, Context& ctx, Collector<Out>& out) = 0;
  virtual void end_input(Collector<Out>&) {}
};

}  // namespace sluice

#include "sluice/error.hpp"

template <class T>
sluice::ValueState<T> sluice::RuntimeContext::state(const ValueStateDescriptor<T>& desc) {
  auto* backend = ctx_->keyed_state();
  if (!backend)
    throw JobError("operator " + ctx_->describe() + " asked for keyed state '" + desc.name +
                   "' but its input is not keyed (use key_by first)");
  return get_state(*backend, desc);
}
