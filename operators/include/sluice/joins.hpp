// operators/include/sluice/joins.hpp — interval join of two keyed streams.
#pragma once

#include <chrono>
#include <vector>

#include <variant>

#include "sluice/connected.hpp"
#include "sluice/windows.hpp"

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
  std::string snapshot_state(int64_t id) override {
    guarded(this->ctx_, [&] { fn_.snapshot_state(id); });
    return {};
  }
  void notify_checkpoint_complete(int64_t id) override {
    guarded(this->ctx_, [&] { fn_.notify_checkpoint_complete(id); });
  }

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

namespace detail {
/// Splits a window's tagged elements by side and joins every pair.
template <class A, class B, class Out, class K, class W, class F>
class JoinWindowFunction final : public ProcessWindowFunction<std::variant<A, B>, Out, K, W> {
 public:
  explicit JoinWindowFunction(F f) : f_(std::move(f)) {}
  void process(const K&, typename ProcessWindowFunction<std::variant<A, B>, Out, K, W>::Context&,
               const std::vector<std::variant<A, B>>& elements, Collector<Out>& out) override {
    std::vector<const A*> as;
    std::vector<const B*> bs;
    for (const auto& e : elements) {
      if (e.index() == 0) as.push_back(&std::get<0>(e));
      else bs.push_back(&std::get<1>(e));
    }
    for (const auto* a : as)
      for (const auto* b : bs) out.collect(f_(*a, *b));
  }

 private:
  F f_;
};
}  // namespace detail

/// `a.join(b).where(ka).equal_to(kb).window(assigner).apply(f)`: every pair of elements with
/// equal keys in the same window, joined by `f(a, b)` (Flink's window join, an inner join
/// evaluated when the window fires). Results carry the window's max timestamp.
template <class A, class B>
class JoinedStreams {
 public:
  JoinedStreams(DataStream<A> a, DataStream<B> b) : a_(std::move(a)), b_(std::move(b)) {}

  template <class KA>
  auto where(KA ka) {
    return Where<KA>(a_, b_, std::move(ka));
  }

  template <class KA>
  class Where {
   public:
    Where(DataStream<A> a, DataStream<B> b, KA ka) : a_(std::move(a)), b_(std::move(b)), ka_(std::move(ka)) {}
    template <class KB>
    auto equal_to(KB kb) {
      return EqualTo<KB>(a_, b_, ka_, std::move(kb));
    }

    template <class KB>
    class EqualTo {
     public:
      using K = std::decay_t<std::invoke_result_t<KA&, const A&>>;
      EqualTo(DataStream<A> a, DataStream<B> b, KA ka, KB kb)
          : a_(std::move(a)), b_(std::move(b)), ka_(std::move(ka)), kb_(std::move(kb)) {}
      template <class Assigner>
      auto window(Assigner assigner) {
        return Windowed<Assigner>(a_, b_, ka_, kb_, std::move(assigner));
      }

      template <class Assigner>
      class Windowed {
       public:
        Windowed(DataStream<A> a, DataStream<B> b, KA ka, KB kb, Assigner assigner)
            : a_(std::move(a)), b_(std::move(b)), ka_(std::move(ka)), kb_(std::move(kb)),
              assigner_(std::move(assigner)) {}
        template <class F>
        auto apply(F f, std::string name = "WindowJoin") {
          using Out = std::decay_t<std::invoke_result_t<F&, const A&, const B&>>;
          using Tagged = std::variant<A, B>;
          auto ka = ka_;
          auto kb = kb_;
          auto left = a_.map([](A x) { return Tagged(std::in_place_index<0>, std::move(x)); }, name + " (left)");
          auto right = b_.map([](B x) { return Tagged(std::in_place_index<1>, std::move(x)); }, name + " (right)");
          auto keyed = left.union_with(right).key_by([ka, kb](const Tagged& t) -> K {
            return t.index() == 0 ? ka(std::get<0>(t)) : kb(std::get<1>(t));
          });
          using W = typename Assigner::window_type;
          return keyed.window(assigner_).process(detail::JoinWindowFunction<A, B, Out, K, W, F>(std::move(f)),
                                                  std::move(name));
        }

       private:
        DataStream<A> a_;
        DataStream<B> b_;
        KA ka_;
        KB kb_;
        Assigner assigner_;
      };

     private:
      DataStream<A> a_;
      DataStream<B> b_;
      KA ka_;
      KB kb_;
    };

   private:
    DataStream<A> a_;
    DataStream<B> b_;
    KA ka_;
  };

 private:
  DataStream<A> a_;
  DataStream<B> b_;
};

template <class T>
template <class B>
JoinedStreams<T, B> DataStream<T>::join(const DataStream<B>& other) const {
  return JoinedStreams<T, B>(*this, other);
}

template <class K, class T>
template <class B>
auto KeyedStream<K, T>::interval_join(const KeyedStream<K, B>& other) const {
  return IntervalJoin<K, T, B>(*this, other);
}

}  // namespace sluice
