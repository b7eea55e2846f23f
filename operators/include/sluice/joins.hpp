// operators/include/sluice/joins.hpp — interval join of two keyed streams.
#pragma once

#include <chrono>
#include <vector>

#include "sluice/connected.hpp"

namespace sluice {

/// Joins a pair of elements with equal keys whose timestamps are close enough.
template <class A, class B, class Out>
class ProcessJoinFunction : public RichFunction {
 public:
  class Context {
   public:
    virtual ~Context() = default;
    virtual int64_t left_timestamp() const = 0;
    virtual int64_t right_timestamp() const = 0;
    /// The joined record's timestamp: the larger of the two.
    int64_t timestamp() const { return std::max(left_timestamp(), right_timestamp()); }
  };
  virtual void process_element(const A& left, const B& right, Context& ctx, Collector<Out>& out) = 0;
};

namespace detail {

/// Buffers both sides per key by timestamp; a left element at ta joins right elements with
/// ta + lower <= tb <= ta + upper (both bounds inclusive, as Flink). Elements behind the
/// watermark are late and dropped; buffers are cleaned by event-time timers once no future
/// element can match them.
template <class K, class A, class B, class Out, class KA, class KB, class Fn>
class IntervalJoinOperator final : public KeyedTwoInput<K, A, B, Out, KA, KB>,
                                   private ProcessJoinFunction<A, B, Out>::Context {
 public:
  IntervalJoinOperator(KA ka, KB kb, int64_t lower, int64_t upper, Fn fn)
      : KeyedTwoInput<K, A, B, Out, KA, KB>(std::move(ka), std::move(kb)), lower_(lower), upper_(upper),
        fn_(std::move(fn)) {}
  void open(OperatorContext& ctx) override {
    KeyedTwoInput<K, A, B, Out, KA, KB>::open(ctx);
    RuntimeContext rc(ctx);
    left_ = &rc.state(MapStateDescriptor<int64_t, std::vector<A>>{"interval-join-left"});
    right_ = &rc.state(MapStateDescriptor<int64_t, std::vector<B>>{"interval-join-right"});
    guarded(this->ctx_, [&] { fn_.open(rc); });
  }
  void close() override { fn_.close(); }

 private:
  void element1(A&& a, int64_t ta) override {
    guarded(this->ctx_, [&] {
      if (late(ta)) return;
      this->enter1(a, ta);
      for (auto& [tb, bs] : right_->entries())
        if (tb >= ta + lower_ && tb <= ta + upper_)
          for (auto& b : bs) emit(a, b, ta, tb);
      add(*left_, ta, std::move(a));
      this->scope_.timers.add_event(ta + std::max<int64_t>(0, upper_), "L");
    });
  }
  void element2(B&& b, int64_t tb) override {
    guarded(this->ctx_, [&] {
      if (late(tb)) return;
      this->enter2(b, tb);
      for (auto& [ta, as] : left_->entries())
        if (tb >= ta + lower_ && tb <= ta + upper_)
          for (auto& a : as) emit(a, b, ta, tb);
      add(*right_, tb, std::move(b));
      this->scope_.timers.add_event(tb + std::max<int64_t>(0, -lower_), "R");
    });
  }
  void on_timer(int64_t t, KeyedTimerContext<K>&, Collector<Out>&) override {
    if (this->scope_.timer_namespace() == "L") left_->remove(t - std::max<int64_t>(0, upper_));
    else right_->remove(t - std::max<int64_t>(0, -lower_));
  }
  void on_end(Collector<Out>&) override {}

  bool late(int64_t ts) const { return ts == no_timestamp || ts < this->watermark_; }
  template <class X>
  static void add(MapState<int64_t, std::vector<X>>& buf, int64_t ts, X v) {
    auto list = buf.get(ts).value_or(std::vector<X>{});
    list.push_back(std::move(v));
    buf.put(ts, std::move(list));
  }
  void emit(const A& a, const B& b, int64_t ta, int64_t tb) {
    ta_ = ta;
    tb_ = tb;
    this->scope_.collector.timestamp = std::max(ta, tb);
    fn_.process_element(a, b, *this, this->scope_.collector);
  }
  int64_t left_timestamp() const override { return ta_; }
  int64_t right_timestamp() const override { return tb_; }

  int64_t lower_, upper_;
  Fn fn_;
  MapState<int64_t, std::vector<A>>* left_ = nullptr;
  MapState<int64_t, std::vector<B>>* right_ = nullptr;
  int64_t ta_ = 0, tb_ = 0;
};

}  // namespace detail

/// `left.interval_join(right).between(lower, upper).process(fn)`.
template <class K, class A, class B>
class IntervalJoin {
 public:
  IntervalJoin(KeyedStream<K, A> left, KeyedStream<K, B> right)
      : left_(std::move(left)), right_(std::move(right)) {}
  /// Right elements with left.ts + lower <= right.ts <= left.ts + upper join.
  IntervalJoin& between(std::chrono::milliseconds lower, std::chrono::milliseconds upper) {
    if (lower > upper) throw JobError("interval join: lower bound above upper bound");
    lower_ = lower.count();
    upper_ = upper.count();
    return *this;
  }
  template <class Fn>
  auto process(Fn fn, std::string name = "IntervalJoin") {
    using Out = decltype(out_of(std::declval<Fn*>()));
    using KA = typename KeyedStream<K, A>::KeyFn;
    using KB = typename KeyedStream<K, B>::KeyFn;
    KA ka = left_.key_fn();
    KB kb = right_.key_fn();
    auto lo = lower_, hi = upper_;
    return ConnectedStreams<A, B>(left_, right_).template add<Out>(std::move(name), [=](int, int) {
      return std::make_unique<detail::IntervalJoinOperator<K, A, B, Out, KA, KB, Fn>>(ka, kb, lo, hi, fn);
    }, true);
  }

 private:
  template <class X>
  static X out_of(const ProcessJoinFunction<A, B, X>*);
  KeyedStream<K, A> left_;
  KeyedStream<K, B> right_;
  int64_t lower_ = 0, upper_ = 0;
};

template <class K, class T>
template <class B>
auto KeyedStream<K, T>::interval_join(const KeyedStream<K, B>& other) const {
  return IntervalJoin<K, T, B>(*this, other);
}

}  // namespace sluice
