// operators/include/sluice/detail/operators.hpp — the built-in operators: map, filter, flat_map, process, keyed ones.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/codec.hpp"
#include "sluice/element.hpp"
#include "sluice/functions.hpp"
#include "sluice/hash.hpp"

namespace sluice::detail {

/// Runs `body`, turning any exception into an OperatorFailure that names this operator.
template <class F>
inline void guarded(const OperatorContext* ctx, F&& body) {
  try {
    body();
  } catch (...) {
    rethrow_in(*ctx);
  }
}

/// Drops whatever reaches it: the output of a port nobody consumes.
template <class T>
class Discard final : public Output<T> {
 public:
  void push(T&&, int64_t) override {}
  void watermark(int64_t) override {}
  void end_input() override {}
  static Discard* instance() {
    static Discard d;
    return &d;
  }
};

/// Base of operators with one output of type Out: keeps the main and side outputs and
/// forwards watermarks and end of input to all of them.
template <class Out>
class Emitting : public OperatorBase {
 public:
  void set_output(const std::string& port, ElementSink* out) override {
    if (port.empty()) out_ = static_cast<Output<Out>*>(out);
    else side_.emplace_back(port, out);
  }

 protected:
  void forward_watermark(int64_t wm) {
    out_->watermark(wm);
    for (auto& [id, s] : side_) s->watermark(wm);
  }
  void forward_end_input() {
    out_->end_input();
    for (auto& [id, s] : side_) s->end_input();
  }
  ElementSink* side(const std::string& id) {
    for (auto& [sid, s] : side_)
      if (sid == id) return s;
    return nullptr;
  }
  Output<Out>* out_ = Discard<Out>::instance();
  std::vector<std::pair<std::string, ElementSink*>> side_;
};

/// One input of type In, one output of type Out.
template <class In, class Out>
class OneInput : public Emitting<Out>, public Output<In> {
 public:
  ElementSink* input(int) override { return this; }
  void watermark(int64_t wm) override {
    watermark_ = wm;
    this->forward_watermark(wm);
  }
  void end_input() override {
    finish();
    this->forward_end_input();
  }

 protected:
  /// Emits what is still held when the input ends.
  virtual void finish() {}
  int64_t watermark_ = min_watermark;
};

template <class In, class Out, class F>
class MapOperator final : public OneInput<In, Out> {
 public:
  explicit MapOperator(F f) : f_(std::move(f)) {}
  void push(In&& v, int64_t ts) override {
    guarded(this->ctx_, [&] { this->out_->push(f_(std::move(v)), ts); });
  }

 private:
  F f_;
};

template <class T, class F>
class FilterOperator final : public OneInput<T, T> {
 public:
  explicit FilterOperator(F f) : f_(std::move(f)) {}
  void push(T&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      if (f_(static_cast<const T&>(v))) this->out_->push(std::move(v), ts);
    });
  }

 private:
  F f_;
};

/// A Collector that stamps records with the current element's timestamp.
template <class T>
class StampingCollector final : public Collector<T> {
 public:
  void collect(T v) override { out->push(std::move(v), timestamp); }
  Output<T>* out = nullptr;
  int64_t timestamp = no_timestamp;
};

template <class In, class Out, class F>
class FlatMapOperator final : public OneInput<In, Out> {
 public:
  explicit FlatMapOperator(F f) : f_(std::move(f)) {}
  void push(In&& v, int64_t ts) override {
    collector_.out = this->out_;
    collector_.timestamp = ts;
    guarded(this->ctx_, [&] { f_(std::move(v), collector_); });
  }

 private:
  F f_;
  StampingCollector<Out> collector_;
};

/// Runs a ProcessFunction (Fn derives from ProcessFunction<In, Out>).
template <class In, class Out, class Fn>
class ProcessOperator final : public OneInput<In, Out>, private ElementContext {
 public:
  explicit ProcessOperator(Fn fn) : fn_(std::move(fn)) {}
  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    RuntimeContext rc(ctx);
    guarded(this->ctx_, [&] { fn_.open(rc); });
  }
  void close() override { fn_.close(); }
  void push(In&& v, int64_t ts) override {
    collector_.out = this->out_;
    collector_.timestamp = ts;
    guarded(this->ctx_, [&] { fn_.process(v, *this, collector_); });
  }

 private:
  void finish() override {
    collector_.out = this->out_;
    collector_.timestamp = no_timestamp;
    guarded(this->ctx_, [&] { fn_.end_input(collector_); });
  }
  int64_t timestamp() const override { return collector_.timestamp; }
  int64_t current_watermark() const override { return this->watermark_; }
  ElementSink* side_output(const std::string& id) override { return this->side(id); }

  Fn fn_;
  StampingCollector<Out> collector_;
};

/// Computes the key of each record and makes it the keyed state's current key.
template <class K, class T, class KeyFn>
class KeySetter {
 public:
  explicit KeySetter(KeyFn f) : f_(std::move(f)) {}
  const K& set(const T& v, KeyedStateBackend& backend, int max_parallelism) {
    key_ = f_(v);
    bytes_.clear();
    ByteWriter w(bytes_);
    Codec<K>::encode(key_, w);
    std::string_view kb(reinterpret_cast<const char*>(bytes_.data()), bytes_.size());
    backend.set_current_key(kb, key_group_of(kb, max_parallelism));
    return key_;
  }
  const K& key() const { return key_; }

 private:
  KeyFn f_;
  K key_{};
  std::vector<uint8_t> bytes_;
};

/// Runs a KeyedProcessFunction (Fn derives from KeyedProcessFunction<K, In, Out>).
template <class K, class In, class Out, class KeyFn, class Fn>
class KeyedProcessOperator final : public OneInput<In, Out>,
                                   private KeyedProcessFunction<K, In, Out>::Context {
 public:
  KeyedProcessOperator(KeyFn key, Fn fn) : key_(std::move(key)), fn_(std::move(fn)) {}
  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    RuntimeContext rc(ctx);
    guarded(this->ctx_, [&] { fn_.open(rc); });
  }
  void close() override { fn_.close(); }
  void push(In&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      key_.set(v, *this->ctx_->keyed_state(), this->ctx_->max_parallelism());
    });
    collector_.out = this->out_;
    collector_.timestamp = ts;
    guarded(this->ctx_, [&] { fn_.process(v, *this, collector_); });
  }

 private:
  void finish() override {
    collector_.out = this->out_;
    collector_.timestamp = no_timestamp;
    guarded(this->ctx_, [&] { fn_.end_input(collector_); });
  }
  int64_t timestamp() const override { return collector_.timestamp; }
  int64_t current_watermark() const override { return this->watermark_; }
  const K& current_key() const override { return key_.key(); }
  ElementSink* side_output(const std::string& id) override { return this->side(id); }

  KeySetter<K, In, KeyFn> key_;
  Fn fn_;
  StampingCollector<Out> collector_;
};

/// Keyed rolling reduce: keeps one value per key in value state and emits every update.
template <class K, class T, class KeyFn, class R>
class ReduceOperator final : public OneInput<T, T> {
 public:
  ReduceOperator(KeyFn key, R reduce) : key_(std::move(key)), reduce_(std::move(reduce)) {}
  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    RuntimeContext rc(ctx);
    state_.emplace(rc.state(ValueStateDescriptor<T>{"reduce"}));
  }
  void push(T&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      key_.set(v, *this->ctx_->keyed_state(), this->ctx_->max_parallelism());
      if (T* acc = state_->get()) {
        *acc = reduce_(std::move(*acc), std::move(v));
        this->out_->push_copy(*acc, ts);
      } else {
        state_->update(v);
        this->out_->push(std::move(v), ts);
      }
    });
  }

 private:
  KeySetter<K, T, KeyFn> key_;
  R reduce_;
  std::optional<ValueState<T>> state_;
};

}  // namespace sluice::detail
