// operators/include/sluice/connected.hpp — two streams into one operator: connect, co-process functions, broadcast state.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "sluice/detail/two_input.hpp"
#include "sluice/stream.hpp"

namespace sluice {

/// Processes the elements of two streams, each with its own method.
template <class A, class B, class Out>
class CoProcessFunction : public RichFunction {
 public:
  using Context = ElementContext;
  virtual void process_element1(const A& value, Context& ctx, Collector<Out>& out) = 0;
  virtual void process_element2(const B& value, Context& ctx, Collector<Out>& out) = 0;
  /// Both inputs have ended.
  virtual void end_input(Collector<Out>&) {}
};

/// Processes two streams keyed the same way: elements of both sides with equal keys meet in
/// one subtask and share keyed state and timers.
template <class K, class A, class B, class Out>
class KeyedCoProcessFunction : public RichFunction {
 public:
  using Context = KeyedContext<K>;
  using OnTimerContext = KeyedTimerContext<K>;
  virtual void process_element1(const A& value, Context& ctx, Collector<Out>& out) = 0;
  virtual void process_element2(const B& value, Context& ctx, Collector<Out>& out) = 0;
  virtual void on_timer(int64_t, OnTimerContext&, Collector<Out>&) {}
  virtual void end_input(Collector<Out>&) {}
};

/// Per-subtask state that every subtask holds the same copy of, written only from the
/// broadcast side (a std::map: entries in key order).
template <class K, class V>
class BroadcastState {
 public:
  std::optional<V> get(const K& k) const {
    auto it = map_.find(k);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  bool contains(const K& k) const { return map_.count(k) > 0; }
  void put(const K& k, V v) { map_.insert_or_assign(k, std::move(v)); }
  void remove(const K& k) { map_.erase(k); }
  const std::map<K, V>& entries() const { return map_; }

 private:
  std::map<K, V> map_;
};

/// A keyed stream connected with a broadcast stream: every subtask sees every broadcast
/// element and keeps the same broadcast state; keyed elements may only read it (Flink's
/// KeyedBroadcastProcessFunction, with the state handed in rather than looked up).
template <class K, class In, class Bcast, class BK, class BV, class Out>
class KeyedBroadcastProcessFunction : public RichFunction {
 public:
  using State = BroadcastState<BK, BV>;
  virtual void process_element(const In& value, const State& state, KeyedContext<K>& ctx,
                               Collector<Out>& out) = 0;
  virtual void process_broadcast_element(const Bcast& value, State& state, ElementContext& ctx,
                                         Collector<Out>& out) = 0;
  virtual void on_timer(int64_t, const State&, KeyedTimerContext<K>&, Collector<Out>&) {}
  virtual void end_input(Collector<Out>&) {}
};

namespace detail {

template <class A, class B, class Out, class Fn>
class CoProcessOperator final : public TwoInput<A, B, Out>, private ElementContext {
 public:
  explicit CoProcessOperator(Fn fn) : fn_(std::move(fn)) {}
  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    RuntimeContext rc(ctx);
    guarded(this->ctx_, [&] { fn_.open(rc); });
  }
  void close() override { fn_.close(); }
  std::string snapshot_state(int64_t id) override {
    guarded(this->ctx_, [&] { fn_.snapshot_state(id); });
    return {};
  }
  void notify_checkpoint_complete(int64_t id) override {
    guarded(this->ctx_, [&] { fn_.notify_checkpoint_complete(id); });
  }

 private:
  void element1(A&& v, int64_t ts) override {
    enter(ts);
    guarded(this->ctx_, [&] { fn_.process_element1(v, *this, collector_); });
  }
  void element2(B&& v, int64_t ts) override {
    enter(ts);
    guarded(this->ctx_, [&] { fn_.process_element2(v, *this, collector_); });
  }
  void finish() override {
    enter(no_timestamp);
    guarded(this->ctx_, [&] { fn_.end_input(collector_); });
  }
  void enter(int64_t ts) {
    collector_.out = this->out_;
    collector_.timestamp = ts;
  }
  int64_t timestamp() const override { return collector_.timestamp; }
  int64_t current_watermark() const override { return this->watermark_; }
  ElementSink* side_output(const std::string& id) override { return this->side(id); }

  Fn fn_;
  StampingCollector<Out> collector_;
};

/// Two inputs keyed alike, sharing the key's state and timers; `Derived` supplies
/// element1/element2 and the user function's on_timer and end_input.
template <class K, class A, class B, class Out, class KA, class KB>
class KeyedTwoInput : public TwoInput<A, B, Out> {
 public:
  KeyedTwoInput(KA ka, KB kb) : ka_(std::move(ka)), kb_(std::move(kb)) {}
  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    scope_.open(ctx, [this](const std::string& id) { return this->side(id); });
  }
  void on_wakeup() override {
    guarded(this->ctx_, [&] {
      scope_.fire_processing_timers(this->ctx_->processing_time(), this->out_, timer_callback());
    });
  }
  void end_of_key() override { guarded(this->ctx_, [&] { scope_.end_of_key(this->out_, timer_callback()); }); }

 protected:
  virtual void on_timer(int64_t t, KeyedTimerContext<K>& ctx, Collector<Out>& out) = 0;
  virtual void on_end(Collector<Out>& out) = 0;
  void enter1(const A& v, int64_t ts) { scope_.enter(ka_(v), ts, this->out_); }
  void enter2(const B& v, int64_t ts) { scope_.enter(kb_(v), ts, this->out_); }
  void on_watermark(int64_t wm) override {
    guarded(this->ctx_, [&] { scope_.fire_event_timers(wm, this->out_, timer_callback()); });
  }
  void finish() override {
    guarded(this->ctx_, [&] {
      scope_.end_input(this->out_, timer_callback(), [&](Collector<Out>& out) { on_end(out); });
    });
  }
  KeyedScope<K, Out> scope_;

 private:
  auto timer_callback() {
    return [this](int64_t t, KeyedTimerContext<K>& ctx, Collector<Out>& out) { on_timer(t, ctx, out); };
  }
  KA ka_;
  KB kb_;
};

template <class K, class A, class B, class Out, class KA, class KB, class Fn>
class KeyedCoProcessOperator final : public KeyedTwoInput<K, A, B, Out, KA, KB> {
 public:
  KeyedCoProcessOperator(KA ka, KB kb, Fn fn)
      : KeyedTwoInput<K, A, B, Out, KA, KB>(std::move(ka), std::move(kb)), fn_(std::move(fn)) {}
  void open(OperatorContext& ctx) override {
    KeyedTwoInput<K, A, B, Out, KA, KB>::open(ctx);
    RuntimeContext rc(ctx);
    guarded(this->ctx_, [&] { fn_.open(rc); });
  }
  void close() override { fn_.close(); }
  std::string snapshot_state(int64_t id) override {
    guarded(this->ctx_, [&] { fn_.snapshot_state(id); });
    return {};
  }
  void notify_checkpoint_complete(int64_t id) override {
    guarded(this->ctx_, [&] { fn_.notify_checkpoint_complete(id); });
  }

 private:
  void element1(A&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      this->enter1(v, ts);
      fn_.process_element1(v, this->scope_, this->scope_.collector);
    });
  }
  void element2(B&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      this->enter2(v, ts);
      fn_.process_element2(v, this->scope_, this->scope_.collector);
    });
  }
  void on_timer(int64_t t, KeyedTimerContext<K>& ctx, Collector<Out>& out) override {
    fn_.on_timer(t, ctx, out);
  }
  void on_end(Collector<Out>& out) override { fn_.end_input(out); }
  Fn fn_;
};

/// Keyed elements on input 0, broadcast elements (not keyed) on input 1.
template <class K, class In, class Bcast, class BK, class BV, class Out, class KeyFn, class Fn>
class KeyedBroadcastOperator final : public TwoInput<In, Bcast, Out>, private ElementContext {
 public:
  KeyedBroadcastOperator(KeyFn key, Fn fn) : key_fn_(std::move(key)), fn_(std::move(fn)) {}
  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    scope_.open(ctx, [this](const std::string& id) { return this->side(id); });
    RuntimeContext rc(ctx);
    guarded(this->ctx_, [&] { fn_.open(rc); });
  }
  void close() override { fn_.close(); }
  std::string snapshot_state(int64_t id) override {
    guarded(this->ctx_, [&] { fn_.snapshot_state(id); });
    return snapshot_state_copy();
  }
  void notify_checkpoint_complete(int64_t id) override {
    guarded(this->ctx_, [&] { fn_.notify_checkpoint_complete(id); });
  }
  /// Broadcast state is the same on every subtask: each snapshots its copy, and a restored
  /// subtask takes the first (Flink's broadcast redistribution).
  std::string snapshot_state_copy() const { return encode_to_string(state_.entries()); }
  void restore_state(const std::vector<std::string>& states, int, int) override {
    if (states.empty() || states.front().empty()) return;
    for (auto& [k, v] : decode_from_string<std::map<BK, BV>>(states.front())) state_.put(k, std::move(v));
  }
  void on_wakeup() override {
    guarded(this->ctx_, [&] {
      scope_.fire_processing_timers(this->ctx_->processing_time(), this->out_, on_timer());
    });
  }
  void end_of_key() override { guarded(this->ctx_, [&] { scope_.end_of_key(this->out_, on_timer()); }); }

 private:
  void element1(In&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      scope_.enter(key_fn_(v), ts, this->out_);
      fn_.process_element(v, state_, scope_, scope_.collector);
    });
  }
  void element2(Bcast&& v, int64_t ts) override {
    bcast_.out = this->out_;
    bcast_.timestamp = ts;
    guarded(this->ctx_, [&] { fn_.process_broadcast_element(v, state_, *this, bcast_); });
  }
  void on_watermark(int64_t wm) override {
    guarded(this->ctx_, [&] { scope_.fire_event_timers(wm, this->out_, on_timer()); });
  }
  void finish() override {
    guarded(this->ctx_, [&] {
      scope_.end_input(this->out_, on_timer(), [&](Collector<Out>& out) { fn_.end_input(out); });
    });
  }
  auto on_timer() {
    return [this](int64_t t, KeyedTimerContext<K>& ctx, Collector<Out>& out) { fn_.on_timer(t, state_, ctx, out); };
  }
  int64_t timestamp() const override { return bcast_.timestamp; }
  int64_t current_watermark() const override { return this->watermark_; }
  ElementSink* side_output(const std::string& id) override { return this->side(id); }

  KeyFn key_fn_;
  Fn fn_;
  KeyedScope<K, Out> scope_;
  StampingCollector<Out> bcast_;
  BroadcastState<BK, BV> state_;
};

}  // namespace detail

/// A stream whose every element goes to every subtask of the operator it is connected to.
template <class T>
class BroadcastStream {
 public:
  explicit BroadcastStream(DataStream<T> s) : stream_(s.broadcast()) {}
  const DataStream<T>& stream() const { return stream_; }

 private:
  DataStream<T> stream_;
};

/// `keyed.connect(broadcast_stream).process(KeyedBroadcastProcessFunction)`.
template <class K, class In, class Bcast>
class BroadcastConnected {
 public:
  BroadcastConnected(KeyedStream<K, In> keyed, BroadcastStream<Bcast> b)
      : keyed_(std::move(keyed)), b_(std::move(b)) {}
  template <class Fn>
  auto process(Fn fn, std::string name = "KeyedBroadcastProcess") {
    return deduce(fn, &fn, std::move(name));
  }

 private:
  template <class Fn, class BK, class BV, class Out>
  auto deduce(const Fn& fn, const KeyedBroadcastProcessFunction<K, In, Bcast, BK, BV, Out>*, std::string name) {
    using KeyFn = typename KeyedStream<K, In>::KeyFn;
    KeyFn key = keyed_.key_fn();
    return ConnectedStreams<In, Bcast>(keyed_, b_.stream()).template add<Out>(std::move(name), [key, fn](int, int) {
      return std::make_unique<detail::KeyedBroadcastOperator<K, In, Bcast, BK, BV, Out, KeyFn, Fn>>(key, fn);
    }, true);
  }
  KeyedStream<K, In> keyed_;
  BroadcastStream<Bcast> b_;
};

template <class K, class T>
template <class B>
BroadcastConnected<K, T, B> KeyedStream<K, T>::connect(const BroadcastStream<B>& b) const {
  return BroadcastConnected<K, T, B>(*this, b);
}

/// Two streams connected into one operator (connect()).
template <class A, class B>
class ConnectedStreams {
 public:
  ConnectedStreams(DataStream<A> a, DataStream<B> b) : a_(std::move(a)), b_(std::move(b)) {}

  /// Runs a CoProcessFunction<A, B, Out> (copied per subtask).
  template <class Fn>
  auto process(Fn fn, std::string name = "CoProcess") {
    using Out = decltype(process_out(std::declval<Fn*>()));
    return add<Out>(std::move(name), [fn](int, int) {
      return std::make_unique<detail::CoProcessOperator<A, B, Out, Fn>>(fn);
    }, false);
  }
  /// Keys both sides; elements with equal keys meet (use with a KeyedCoProcessFunction).
  template <class KA, class KB>
  auto key_by(KA ka, KB kb) {
    using K = std::decay_t<std::invoke_result_t<KA&, const A&>>;
    static_assert(std::is_same_v<K, std::decay_t<std::invoke_result_t<KB&, const B&>>>,
                  "both sides must be keyed by the same key type");
    return KeyedConnected<K, KA, KB>(a_.key_by(ka), b_.key_by(kb), ka, kb);
  }

  template <class K, class KA, class KB>
  class KeyedConnected {
   public:
    KeyedConnected(DataStream<A> a, DataStream<B> b, KA ka, KB kb)
        : a_(std::move(a)), b_(std::move(b)), ka_(std::move(ka)), kb_(std::move(kb)) {}
    /// Runs a KeyedCoProcessFunction<K, A, B, Out>.
    template <class Fn>
    auto process(Fn fn, std::string name = "KeyedCoProcess") {
      using Out = decltype(keyed_out(std::declval<Fn*>()));
      auto ka = ka_;
      auto kb = kb_;
      return ConnectedStreams(a_, b_).template add<Out>(std::move(name), [ka, kb, fn](int, int) {
        return std::make_unique<detail::KeyedCoProcessOperator<K, A, B, Out, KA, KB, Fn>>(ka, kb, fn);
      }, true);
    }

   private:
    template <class X>
    static X keyed_out(const KeyedCoProcessFunction<K, A, B, X>*);
    DataStream<A> a_;
    DataStream<B> b_;
    KA ka_;
    KB kb_;
  };

  /// Adds a two-input operator reading a_ as input 0 and b_ as input 1.
  template <class Out>
  DataStream<Out> add(std::string name, std::function<std::unique_ptr<OperatorBase>(int, int)> factory,
                      bool keyed) {
    auto g = a_.graph();
    if (g != b_.graph()) throw JobError("connect() needs two streams of the same environment");
    int id = detail::add_node(*g, std::move(name), std::move(factory), keyed);
    a_.connect_to(id, 0);
    b_.connect_to(id, 1);
    return DataStream<Out>(g, id);
  }

 private:
  template <class X>
  static X process_out(const CoProcessFunction<A, B, X>*);
  DataStream<A> a_;
  DataStream<B> b_;
};

/// Connects two streams: `a.connect(b)` is `connect(a, b)`.
template <class A, class B>
ConnectedStreams<A, B> connect(const DataStream<A>& a, const DataStream<B>& b) {
  return ConnectedStreams<A, B>(a, b);
}

}  // namespace sluice
