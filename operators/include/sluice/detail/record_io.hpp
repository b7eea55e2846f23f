// operators/include/sluice/detail/record_io.hpp — where typed records meet the runtime's untyped byte channels.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "sluice/codec.hpp"
#include "sluice/element.hpp"
#include "sluice/hash.hpp"
#include "sluice/json.hpp"

namespace sluice::detail {

/// The runtime's side of one outgoing edge of a subtask: one byte channel per consumer.
class RecordPartition {
 public:
  virtual ~RecordPartition() = default;
  virtual int channel_count() const = 0;
  /// The buffer to encode the next record into; `channel` -1 means every channel.
  virtual std::vector<uint8_t>& begin_record(int channel) = 0;
  /// Commits the record encoded since begin_record with its timestamp.
  virtual void end_record(int channel, int64_t timestamp) = 0;
  virtual void watermark(int64_t wm) = 0;
  /// Sends end of data on every channel: end of input reached this partition.
  virtual void end_of_data() = 0;
  virtual void stream_status(bool idle) = 0;
};

/// Decodes one record's bytes and hands the value to an operator input.
class RecordDecoder {
 public:
  virtual ~RecordDecoder() = default;
  virtual void decode(const uint8_t* bytes, size_t size, int64_t timestamp) = 0;
};

/// How records choose a channel.
enum class Partitioning {
  unset,      ///< forward when parallelism matches, rebalance otherwise
  forward,    ///< subtask i to subtask i
  rebalance,  ///< round robin
  hash,       ///< by key group of the key's bytes
  broadcast,  ///< every record to every channel
};

/// Encodes a record's key, for hash partitioning.
template <class T>
using KeyEncoder = std::function<void(const T&, ByteWriter&)>;

/// Counts the records passing from one chained operator to the next (the operators' probes),
/// as Flink's CountingOutput does.
template <class T>
class Counting final : public Output<T> {
 public:
  Counting(ElementSink* next, uint64_t* count) : next_(static_cast<Output<T>*>(next)), count_(count) {}
  void push(T&& v, int64_t ts) override {
    ++*count_;
    next_->push(std::move(v), ts);
  }
  void watermark(int64_t wm) override { next_->watermark(wm); }
  void end_input() override { next_->end_input(); }
  void stream_status(bool idle) override { next_->stream_status(idle); }

 private:
  Output<T>* next_;
  uint64_t* count_;
};

/// Passes each element to several receivers (an operator output feeding several edges).
template <class T>
class FanOut final : public Output<T> {
 public:
  explicit FanOut(std::vector<ElementSink*> outs) : outs_(std::move(outs)) {}
  void push(T&& v, int64_t ts) override {
    for (size_t i = 0; i + 1 < outs_.size(); ++i) static_cast<Output<T>*>(outs_[i])->push_copy(v, ts);
    static_cast<Output<T>*>(outs_.back())->push(std::move(v), ts);
  }
  void watermark(int64_t wm) override {
    for (auto* o : outs_) o->watermark(wm);
  }
  void end_input() override {
    for (auto* o : outs_) o->end_input();
  }
  void stream_status(bool idle) override {
    for (auto* o : outs_) o->stream_status(idle);
  }

 private:
  std::vector<ElementSink*> outs_;
};

/// Encodes records of an edge into its partition, choosing channels by partitioning.
template <class T>
class NetworkWriter final : public Output<T> {
 public:
  NetworkWriter(RecordPartition& part, Partitioning kind, KeyEncoder<T> key, int producer_subtask,
                int max_parallelism)
      : part_(&part), kind_(kind), key_(std::move(key)), max_parallelism_(max_parallelism),
        channels_(part.channel_count()) {
    next_ = channels_ > 0 ? producer_subtask % channels_ : 0;
  }

  void push(T&& v, int64_t ts) override {
    int ch = channel_for(v);
    ByteWriter w(part_->begin_record(ch));
    Codec<T>::encode(v, w);
    part_->end_record(ch, ts);
  }
  void watermark(int64_t wm) override { part_->watermark(wm); }
  void end_input() override { part_->end_of_data(); }
  void stream_status(bool idle) override { part_->stream_status(idle); }

 private:
  int channel_for(const T& v) {
    switch (kind_) {
      case Partitioning::rebalance:
        next_ = next_ + 1 == channels_ ? 0 : next_ + 1;
        return next_;
      case Partitioning::hash: {
        key_bytes_.clear();
        ByteWriter kw(key_bytes_);
        key_(v, kw);
        auto kg = key_group_of(
            std::string_view(reinterpret_cast<const char*>(key_bytes_.data()), key_bytes_.size()),
            max_parallelism_);
        return subtask_for_key_group(kg, max_parallelism_, channels_);
      }
      case Partitioning::broadcast:
        return -1;
      default:
        return 0;
    }
  }
  RecordPartition* part_;
  Partitioning kind_;
  KeyEncoder<T> key_;
  int max_parallelism_;
  int channels_;
  int next_ = 0;
  std::vector<uint8_t> key_bytes_;
};

/// Decodes records of type T into an operator input.
template <class T>
class NetworkReader final : public RecordDecoder {
 public:
  explicit NetworkReader(ElementSink* target) : target_(static_cast<Output<T>*>(target)) {}
  void decode(const uint8_t* bytes, size_t size, int64_t ts) override {
    target_->push(decode_from_bytes<T>(bytes, size), ts);
  }

 private:
  Output<T>* target_;
};

/// The typed operations of one edge, kept in the job graph so the runtime can build writers,
/// readers and fan-outs without knowing T.
class EdgeType {
 public:
  virtual ~EdgeType() = default;
  virtual std::unique_ptr<ElementSink> writer(RecordPartition& part, Partitioning kind,
                                              int producer_subtask, int max_parallelism) const = 0;
  virtual std::unique_ptr<RecordDecoder> reader(ElementSink* target) const = 0;
  virtual std::unique_ptr<ElementSink> fan_out(std::vector<ElementSink*> outs) const = 0;
  /// Passes elements on to `next`, counting the records in `*count`.
  virtual std::unique_ptr<ElementSink> counting(ElementSink* next, uint64_t* count) const = 0;
  /// One record's bytes as JSON (the console's trace); throws DecodeError as decoding does.
  virtual std::string render(const uint8_t* bytes, size_t size) const = 0;
  /// BATCH: the key one record's bytes sort by (the edge's sort key, else its partitioning
  /// key), appended to `key`; throws DecodeError as decoding does.
  virtual void sort_key(const uint8_t* bytes, size_t size, std::vector<uint8_t>& key) const = 0;
};

template <class T>
class EdgeTypeOf final : public EdgeType {
 public:
  explicit EdgeTypeOf(KeyEncoder<T> key = {}, KeyEncoder<T> sort = {}) : key_(std::move(key)), sort_(std::move(sort)) {}
  std::unique_ptr<ElementSink> writer(RecordPartition& part, Partitioning kind, int producer_subtask,
                                      int max_parallelism) const override {
    return std::make_unique<NetworkWriter<T>>(part, kind, key_, producer_subtask, max_parallelism);
  }
  std::unique_ptr<RecordDecoder> reader(ElementSink* target) const override {
    return std::make_unique<NetworkReader<T>>(target);
  }
  std::unique_ptr<ElementSink> fan_out(std::vector<ElementSink*> outs) const override {
    return std::make_unique<FanOut<T>>(std::move(outs));
  }
  std::unique_ptr<ElementSink> counting(ElementSink* next, uint64_t* count) const override {
    return std::make_unique<Counting<T>>(next, count);
  }
  std::string render(const uint8_t* bytes, size_t size) const override {
    std::string out;
    write_json(out, decode_from_bytes<T>(bytes, size));
    return out;
  }
  void sort_key(const uint8_t* bytes, size_t size, std::vector<uint8_t>& key) const override {
    const auto& by = sort_ ? sort_ : key_;
    if (!by) throw DecodeError("this edge has no key to sort by");
    ByteWriter w(key);
    by(decode_from_bytes<T>(bytes, size), w);
  }

 private:
  KeyEncoder<T> key_;
  KeyEncoder<T> sort_;
};

}  // namespace sluice::detail
