// operators/include/sluice/full_partition.hpp — the whole of each subtask's input as one window (Flink's FLIP-380 fullWindowPartition): map_partition, sort_partition, reduce, aggregate.
#pragma once

#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/stream.hpp"

namespace sluice {

/// The order of sort_partition.
enum class SortOrder { ascending, descending };

namespace detail {

/// Order-preserving bytes of a sort key: comparing two encodings as unsigned bytes orders
/// the keys as `<` does, and no encoding is a prefix of another (so tuples concatenate and a
/// descending order inverts every byte). Integers and floating point as 8 big-endian bytes
/// (the sign flipped), strings with 0x00 escaped and a 0x00 0x00 end, pairs and tuples field
/// by field.
template <class K, class = void>
struct SortKey {
  static_assert(sizeof(K) == 0, "sort_partition: the key must be arithmetic, a string, a pair or a tuple of them");
};
inline void put_big_endian(uint64_t v, ByteWriter& w) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = uint8_t(v >> (56 - 8 * i));
  w.write(b, 8);
}
template <class K>
struct SortKey<K, std::enable_if_t<std::is_integral_v<K>>> {
  static void encode(K v, ByteWriter& w) {
    if constexpr (std::is_signed_v<K>) put_big_endian(uint64_t(int64_t(v)) ^ (uint64_t(1) << 63), w);
    else put_big_endian(uint64_t(v), w);
  }
};
template <class K>
struct SortKey<K, std::enable_if_t<std::is_floating_point_v<K>>> {
  static void encode(K v, ByteWriter& w) {
    double d = double(v);
    if (d == 0) d = 0;                                                // -0 and +0 are equal
    if (d != d) d = std::numeric_limits<double>::quiet_NaN();  // every NaN last, as one
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    put_big_endian((bits >> 63) ? ~bits : bits | (uint64_t(1) << 63), w);
  }
};
template <>
struct SortKey<std::string> {
  static void encode(const std::string& s, ByteWriter& w) {
    auto& out = w.buffer();
    for (char c : s) {
      out.push_back(uint8_t(c));
      if (c == 0) out.push_back(0xff);
    }
    out.push_back(0);
    out.push_back(0);
  }
};
template <class A, class B>
struct SortKey<std::pair<A, B>> {
  static void encode(const std::pair<A, B>& p, ByteWriter& w) {
    SortKey<A>::encode(p.first, w);
    SortKey<B>::encode(p.second, w);
  }
};
template <class... X>
struct SortKey<std::tuple<X...>> {
  static void encode(const std::tuple<X...>& t, ByteWriter& w) {
    std::apply([&](const auto&... x) { (SortKey<std::decay_t<decltype(x)>>::encode(x, w), ...); }, t);
  }
};

/// Base of the operators that emit at the end of the input: watermarks wait until then, so
/// that what they emit is not behind a watermark already passed on (late downstream); what
/// they emit carries the latest timestamp they saw (`last_`, kept by `seen`).
template <class In, class Out>
class AtEnd : public OneInput<In, Out> {
 public:
  void watermark(int64_t wm) override { this->watermark_ = wm; }

 protected:
  virtual void emit() = 0;
  void seen(int64_t ts) {
    if (ts != no_timestamp) last_ = std::max(last_, ts);
  }
  int64_t last_ = no_timestamp;

 private:
  void finish() override {
    emit();
    this->forward_watermark(this->watermark_);
  }
};

/// Emits the records of its input ordered by their encoded sort key (SortKey, inverted for a
/// descending order), then time, then arrival, at the end of the input. In BATCH the runtime
/// sorts them on the way in (under the batch memory, spilling to disk) and they pass straight
/// through; in STREAMING they are held in memory and sorted the same way when the input ends.
template <class T>
class SortPartitionOperator final : public AtEnd<T, T> {
 public:
  explicit SortPartitionOperator(KeyEncoder<T> key) : key_(std::move(key)) {}
  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    sorted_ = ctx.sorted_input();
  }
  void push(T&& v, int64_t ts) override {
    if (sorted_) return this->out_->push(std::move(v), ts);
    guarded(this->ctx_, [&] {
      Held h{{}, ts, std::move(v)};
      ByteWriter w(h.key);
      key_(h.value, w);
      held_.push_back(std::move(h));
    });
  }

 private:
  struct Held {
    std::vector<uint8_t> key;
    int64_t timestamp;
    T value;
  };
  void emit() override {
    std::stable_sort(held_.begin(), held_.end(), [](const Held& a, const Held& b) {
      return std::tie(a.key, a.timestamp) < std::tie(b.key, b.timestamp);
    });
    for (auto& h : held_) this->out_->push(std::move(h.value), h.timestamp);
    held_.clear();
  }
  KeyEncoder<T> key_;
  bool sorted_ = false;
  std::vector<Held> held_;
};

/// Folds the whole partition with `r` and emits the one result at its end, stamped with the
/// latest timestamp it saw.
template <class T, class R>
class PartitionReduceOperator final : public AtEnd<T, T> {
 public:
  explicit PartitionReduceOperator(R r) : r_(std::move(r)) {}
  void push(T&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      acc_ = acc_ ? r_(std::move(*acc_), std::move(v)) : std::move(v);
      this->seen(ts);
    });
  }

 private:
  void emit() override {
    if (acc_) this->out_->push(std::move(*acc_), this->last_);
    acc_.reset();
  }
  R r_;
  std::optional<T> acc_;
};

/// Aggregates the whole partition with an AggregateFunction and emits its result at the end.
template <class A>
class PartitionAggregateOperator final : public AtEnd<typename A::input_type, typename A::output_type> {
 public:
  explicit PartitionAggregateOperator(A agg) : agg_(std::move(agg)), acc_(agg_.create_accumulator()) {}
  void push(typename A::input_type&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      agg_.add(v, acc_);
      any_ = true;
      this->seen(ts);
    });
  }

 private:
  void emit() override {
    if (any_) guarded(this->ctx_, [&] { this->out_->push(agg_.get_result(acc_), this->last_); });
  }
  A agg_;
  typename A::accumulator_type acc_;
  bool any_ = false;
};

/// Hands the whole partition to `f(records, collector)` at the end of its input; until then
/// the records are held encoded in the runtime's SpillBuffer (memory, then spill files).
template <class T, class Out, class F>
class MapPartitionOperator final : public AtEnd<T, Out> {
 public:
  explicit MapPartitionOperator(F f) : f_(std::move(f)) {}
  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    held_ = ctx.spill_buffer();
  }
  void push(T&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      bytes_.clear();
      ByteWriter w(bytes_);
      Codec<T>::encode(v, w);
      held_->add(std::string_view(reinterpret_cast<const char*>(bytes_.data()), bytes_.size()));
      this->seen(ts);
    });
  }

 private:
  void emit() override;
  F f_;
  std::unique_ptr<SpillBuffer> held_;
  std::vector<uint8_t> bytes_;
  StampingCollector<Out> collector_;
};

}  // namespace detail

/// A subtask's whole input as map_partition's function reads it: once, in the order the
/// records arrived, each decoded as it is reached (the partition itself may lie in spill
/// files). `for (T& record : records)`, or `next(record)`.
template <class T>
class PartitionRecords {
 public:
  explicit PartitionRecords(SpillBuffer& held) : held_(&held) {}
  /// The next record into `out`; false after the last.
  bool next(T& out) {
    auto v = take();
    if (!v) return false;
    out = std::move(*v);
    return true;
  }

  /// A single-pass iterator: advancing it reads the next record.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;
    iterator() = default;
    explicit iterator(PartitionRecords* records) : records_(records) { ++*this; }
    T& operator*() { return *current_; }
    T* operator->() { return &*current_; }
    iterator& operator++() {
      if (records_ && !(current_ = records_->take())) records_ = nullptr;
      return *this;
    }
    bool operator==(const iterator& o) const { return records_ == o.records_; }
    bool operator!=(const iterator& o) const { return records_ != o.records_; }

   private:
    PartitionRecords* records_ = nullptr;
    std::optional<T> current_;  // T need not be default-constructible
  };
  /// Reads on from where the last reading stopped: the records can be read once.
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  /// The next record decoded; none after the last.
  std::optional<T> take() {
    std::string_view bytes;
    if (!held_->next(bytes)) return std::nullopt;
    return decode_from_bytes<T>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  SpillBuffer* held_;
};

template <class T, class Out, class F>
void detail::MapPartitionOperator<T, Out, F>::emit() {
  if (!held_) return;  // emitted already
  collector_.out = this->out_;
  collector_.timestamp = this->last_;
  guarded(this->ctx_, [&] {
    held_->finish();
    PartitionRecords<T> records(*held_);
    f_(records, collector_);
  });
  held_.reset();  // its spill files go now
}

/// Each subtask's whole input as one window, processed when it ends (Flink's FLIP-380
/// `fullWindowPartition`): made by DataStream::full_window_partition(). Works in both modes;
/// it emits at the end of the input, so it suits bounded input (BATCH) above all.
template <class T>
class PartitionWindowedStream {
 public:
  explicit PartitionWindowedStream(DataStream<T> in) : in_(std::move(in)) {}

  /// `f(PartitionRecords<T>& records, Collector<Out>& out)` once per subtask, at the end of
  /// its input, reading all its records once in arrival order. They are held in the batch
  /// memory and spill to disk beyond it, in both modes. Out is given explicitly:
  /// `map_partition<Out>(f)`.
  template <class Out, class F>
  DataStream<Out> map_partition(F f, std::string name = "MapPartition") {
    return in_.template add<Out>(std::move(name), [f](int, int) {
      return std::make_unique<detail::MapPartitionOperator<T, Out, F>>(f);
    });
  }
  /// The records ordered by `key(record)` (arithmetic, string, or pairs and tuples of them).
  /// In BATCH the runtime sorts them under the batch memory, spilling to disk; in STREAMING
  /// they are held in memory until the input ends.
  template <class KeyFn>
  DataStream<T> sort_partition(KeyFn key, SortOrder order = SortOrder::ascending, std::string name = "SortPartition") {
    using K = std::decay_t<decltype(key(std::declval<const T&>()))>;
    detail::KeyEncoder<T> encode = [key, order](const T& v, ByteWriter& w) {
      auto& bytes = w.buffer();
      size_t from = bytes.size();
      detail::SortKey<K>::encode(key(v), w);
      if (order == SortOrder::descending)
        for (size_t i = from; i < bytes.size(); ++i) bytes[i] = uint8_t(~bytes[i]);
    };
    auto out = in_.with_sort_key(encode).template add<T>(std::move(name), [encode](int, int) {
      return std::make_unique<detail::SortPartitionOperator<T>>(encode);
    });
    auto& n = detail::node(*in_.graph(), *out.plain_node());
    n.sorts_input = true;
    n.chainable = false;  // its input must come through an exchange, where BATCH sorts it
    return out;
  }
  /// One value per subtask: its records folded with `r(accumulated, next)`.
  template <class R>
  DataStream<T> reduce(R r, std::string name = "PartitionReduce") {
    return in_.template add<T>(std::move(name), [r](int, int) {
      return std::make_unique<detail::PartitionReduceOperator<T, R>>(r);
    });
  }
  /// One result per subtask: its records aggregated with an AggregateFunction.
  template <class A>
  DataStream<typename A::output_type> aggregate(A agg, std::string name = "PartitionAggregate") {
    return in_.template add<typename A::output_type>(std::move(name), [agg](int, int) {
      return std::make_unique<detail::PartitionAggregateOperator<A>>(agg);
    });
  }

 private:
  DataStream<T> in_;
};

template <class T>
PartitionWindowedStream<T> DataStream<T>::full_window_partition() const {
  return PartitionWindowedStream<T>(*this);
}

}  // namespace sluice
