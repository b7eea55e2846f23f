// operators/include/sluice/detail/operators.hpp — the built-in operators: map, filter, flat_map, process, keyed ones.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/codec.hpp"
#include "sluice/element.hpp"
#include "sluice/functions.hpp"
#include "sluice/detail/timers.hpp"
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
  void forward_stream_status(bool idle) {
    out_->stream_status(idle);
    for (auto& [id, s] : side_) s->stream_status(idle);
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
  void stream_status(bool idle) override { this->forward_stream_status(idle); }

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
  std::string snapshot_state(int64_t id) override {
    guarded(this->ctx_, [&] { fn_.snapshot_state(id); });
    return {};
  }
  void notify_checkpoint_complete(int64_t id) override {
    guarded(this->ctx_, [&] { fn_.notify_checkpoint_complete(id); });
  }
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

/// The current key of a keyed operator: set from a record's key (encoded, hashed to its key
/// group, made the state backend's current key) or restored from a timer's key bytes.
template <class K>
class CurrentKey {
 public:
  const K& set(K key, KeyedStateBackend& backend, int max_parallelism) {
    key_ = std::move(key);
    bytes_.clear();
    ByteWriter w(bytes_);
    Codec<K>::encode(key_, w);
    std::string_view kb(reinterpret_cast<const char*>(bytes_.data()), bytes_.size());
    backend.set_current_key(kb, key_group_of(kb, max_parallelism));
    return key_;
  }
  const K& set(const Timer& t, KeyedStateBackend& backend) {
    backend.set_current_key(t.key, t.key_group);
    key_ = decode_from_bytes<K>(reinterpret_cast<const uint8_t*>(t.key.data()), t.key.size());
    return key_;
  }
  const K& key() const { return key_; }
  /// Tells `backend` how the console's text becomes a key of this type, and back.
  static void describe(KeyedStateBackend& backend) {
    backend.set_key_text({[](const JsonValue& v) {
                            std::vector<uint8_t> bytes;
                            ByteWriter w(bytes);
                            Codec<K>::encode(from_json<K>(v), w);
                            return std::string(bytes.begin(), bytes.end());
                          },
                          [](std::string_view bytes) {
                            std::string out;
                            write_json(out, decode_from_bytes<K>(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                                 bytes.size()));
                            return out;
                          }});
  }

 private:
  K key_{};
  std::vector<uint8_t> bytes_;
};

/// The timers of a keyed operator: registration for the current key, firing on watermarks
/// and on processing-time wakeups, and the wakeup requests that drive the latter.
class KeyedTimers {
 public:
  void open(OperatorContext& ctx) {
    ctx_ = &ctx;
    backend_ = ctx.keyed_state();
    schedule();  // restored processing-time timers
  }
  void add_event(int64_t t, std::string ns = {}) { backend_->event_timers().add(timer(t, std::move(ns))); }
  void remove_event(int64_t t, std::string ns = {}) { backend_->event_timers().remove(timer(t, std::move(ns))); }
  void add_processing(int64_t t, std::string ns = {}) {
    backend_->processing_timers().add(timer(t, std::move(ns)));
    schedule();
  }
  void remove_processing(int64_t t, std::string ns = {}) {
    backend_->processing_timers().remove(timer(t, std::move(ns)));
  }
  /// Fires event timers up to `wm` in time order; `fire(timer)` runs each.
  template <class F>
  void fire_event(int64_t wm, F&& fire) {
    while (auto t = backend_->event_timers().pop_until(wm)) fire(*t);
  }
  /// Fires processing timers up to `now`, then asks for a wakeup at the next one.
  template <class F>
  void fire_processing(int64_t now, F&& fire) {
    while (auto t = backend_->processing_timers().pop_until(now)) fire(*t);
    scheduled_ = INT64_MAX;
    schedule();
  }

 private:
  Timer timer(int64_t t, std::string ns) const {
    return Timer{t, backend_->current_key(), std::move(ns), backend_->current_key_group()};
  }
  void schedule() {
    if (ctx_->sorted_input()) return;  // BATCH: processing-time timers fire at the key's end
    auto next = backend_->processing_timers().earliest();
    if (!next || *next >= scheduled_) return;
    scheduled_ = *next;
    auto delay = std::max<int64_t>(0, *next - ctx_->processing_time());
    ctx_->request_wakeup(std::chrono::milliseconds(delay));
  }
  OperatorContext* ctx_ = nullptr;
  KeyedStateBackend* backend_ = nullptr;
  int64_t scheduled_ = INT64_MAX;
};

/// What every keyed operator with user functions shares: the current key, the element's
/// timestamp, timers, and the context handed to the function.
template <class K, class Out>
class KeyedScope final : public KeyedTimerContext<K>, private TimerService {
 public:
  /// `side` finds a side output by tag id.
  void open(OperatorContext& ctx, std::function<ElementSink*(const std::string&)> side) {
    ctx_ = &ctx;
    side_ = std::move(side);
    timers.open(ctx);
    if (auto* b = ctx.keyed_state()) CurrentKey<K>::describe(*b);
  }
  /// Makes `key` current for an element with timestamp `ts`, emitting to `out`.
  void enter(K key, int64_t ts, Output<Out>* out) {
    key_.set(std::move(key), *ctx_->keyed_state(), ctx_->max_parallelism());
    collector.out = out;
    collector.timestamp = ts;
  }
  /// Makes a timer's key current; records emitted carry the timer's time.
  void enter(const Timer& t, TimeDomain d, Output<Out>* out) {
    key_.set(t, *ctx_->keyed_state());
    domain_ = d;
    timer_namespace_ = t.ns;
    collector.out = out;
    collector.timestamp = t.time;
  }
  /// Fires due timers with `on_timer(time, ctx, collector)`.
  template <class F>
  void fire_event_timers(int64_t wm, Output<Out>* out, F&& on_timer) {
    watermark = wm;
    timers.fire_event(wm, [&](const Timer& t) {
      enter(t, TimeDomain::event_time, out);
      on_timer(t.time, *this, collector);
    });
  }
  template <class F>
  void fire_processing_timers(int64_t now, Output<Out>* out, F&& on_timer) {
    timers.fire_processing(now, [&](const Timer& t) {
      enter(t, TimeDomain::processing_time, out);
      on_timer(t.time, *this, collector);
    });
  }

  /// BATCH, sorted input: the current key's records are done: its event-time timers fire as
  /// if the watermark had reached its end, then its processing-time timers; the watermark
  /// is back at its minimum for the next key. A timer registered meanwhile fires too (as at
  /// end_input): a function that always registers another never ends.
  template <class F>
  void end_of_key(Output<Out>* out, F&& on_timer) {
    fire_event_timers(max_watermark, out, on_timer);
    fire_processing_timers(INT64_MAX, out, on_timer);
    watermark = min_watermark;
  }

  /// End of input: the remaining processing-time timers fire, then `end(collector)` runs.
  template <class F, class G>
  void end_input(Output<Out>* out, F&& on_timer, G&& end) {
    fire_processing_timers(INT64_MAX, out, on_timer);
    collector.out = out;
    collector.timestamp = no_timestamp;
    end(collector);
  }

  /// The namespace of the timer firing now.
  const std::string& timer_namespace() const { return timer_namespace_; }

  KeyedTimers timers;
  StampingCollector<Out> collector;
  int64_t watermark = min_watermark;

 private:
  int64_t timestamp() const override { return collector.timestamp; }
  int64_t current_watermark() const override { return watermark; }
  const K& current_key() const override { return key_.key(); }
  TimerService& timer_service() override { return *this; }
  TimeDomain time_domain() const override { return domain_; }
  ElementSink* side_output(const std::string& id) override { return side_(id); }
  int64_t current_processing_time() const override { return ctx_->processing_time(); }
  void register_event_time_timer(int64_t t) override { timers.add_event(t); }
  void register_processing_time_timer(int64_t t) override { timers.add_processing(t); }
  void delete_event_time_timer(int64_t t) override { timers.remove_event(t); }
  void delete_processing_time_timer(int64_t t) override { timers.remove_processing(t); }

  OperatorContext* ctx_ = nullptr;
  std::function<ElementSink*(const std::string&)> side_;
  CurrentKey<K> key_;
  TimeDomain domain_ = TimeDomain::event_time;
  std::string timer_namespace_;
};

/// Runs a KeyedProcessFunction (Fn derives from KeyedProcessFunction<K, In, Out>).
template <class K, class In, class Out, class KeyFn, class Fn>
class KeyedProcessOperator final : public OneInput<In, Out> {
 public:
  KeyedProcessOperator(KeyFn key, Fn fn) : key_fn_(std::move(key)), fn_(std::move(fn)) {}
  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    scope_.open(ctx, [this](const std::string& id) { return this->side(id); });
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
  void push(In&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      scope_.enter(key_fn_(v), ts, this->out_);
      fn_.process(v, scope_, scope_.collector);
    });
  }
  void watermark(int64_t wm) override {
    this->watermark_ = wm;
    guarded(this->ctx_, [&] { scope_.fire_event_timers(wm, this->out_, on_timer()); });
    this->forward_watermark(wm);
  }
  void on_wakeup() override {
    guarded(this->ctx_, [&] {
      scope_.fire_processing_timers(this->ctx_->processing_time(), this->out_, on_timer());
    });
  }
  void end_of_key() override { guarded(this->ctx_, [&] { scope_.end_of_key(this->out_, on_timer()); }); }

 private:
  auto on_timer() {
    return [this](int64_t t, KeyedTimerContext<K>& ctx, Collector<Out>& out) { fn_.on_timer(t, ctx, out); };
  }
  void finish() override {
    guarded(this->ctx_, [&] {
      scope_.end_input(this->out_, on_timer(), [&](Collector<Out>& out) { fn_.end_input(out); });
    });
  }

  KeyFn key_fn_;
  Fn fn_;
  KeyedScope<K, Out> scope_;
};

/// Keyed rolling reduce: keeps one value per key in value state and emits every update; on
/// sorted input (BATCH) only each key's final value, stamped with its last record's time, as
/// Flink's BATCH mode does.
template <class K, class T, class KeyFn, class R>
class ReduceOperator final : public OneInput<T, T> {
 public:
  ReduceOperator(KeyFn key, R reduce) : key_fn_(std::move(key)), reduce_(std::move(reduce)) {}
  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    RuntimeContext rc(ctx);
    state_ = &rc.state(ValueStateDescriptor<T>{"reduce"});
    if (auto* b = ctx.keyed_state()) CurrentKey<K>::describe(*b);
    final_only_ = ctx.sorted_input();
  }
  void push(T&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      key_.set(key_fn_(v), *this->ctx_->keyed_state(), this->ctx_->max_parallelism());
      if (final_only_) {
        last_ = ts;
        if (auto acc = state_->value()) state_->update(reduce_(std::move(*acc), std::move(v)));
        else state_->update(v);
        return;
      }
      if (auto acc = state_->value()) {
        auto next = reduce_(std::move(*acc), std::move(v));
        state_->update(next);
        this->out_->push(std::move(next), ts);
      } else {
        state_->update(v);
        this->out_->push(std::move(v), ts);
      }
    });
  }
  void end_of_key() override {
    guarded(this->ctx_, [&] {
      if (auto acc = state_->value()) this->out_->push(std::move(*acc), last_);
    });
  }

 private:
  KeyFn key_fn_;
  CurrentKey<K> key_;
  R reduce_;
  ValueState<T>* state_ = nullptr;
  bool final_only_ = false;
  int64_t last_ = no_timestamp;
};

}  // namespace sluice::detail
