// operators/include/sluice/watermarks.hpp — timestamps and watermarks: strategies, generators, and the operator that applies them.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <utility>

#include "sluice/detail/operators.hpp"

namespace sluice {

/// Where a watermark generator emits.
class WatermarkOutput {
 public:
  virtual ~WatermarkOutput() = default;
  /// Event time has reached `wm`; lower values than before are ignored.
  virtual void emit_watermark(int64_t wm) = 0;
  /// No events for a while: downstream must not wait for this stream's watermark.
  virtual void mark_idle() = 0;
};

/// Decides watermarks from the events it sees (on_event) and on a period (on_periodic_emit,
/// every ExecutionConfig::auto_watermark_interval of processing time).
template <class T>
class WatermarkGenerator {
 public:
  virtual ~WatermarkGenerator() = default;
  virtual void on_event(const T& event, int64_t timestamp, WatermarkOutput& out) = 0;
  virtual void on_periodic_emit(WatermarkOutput& out) = 0;
};

/// Watermark = largest timestamp seen - bound - 1: events up to `bound` late are on time.
template <class T>
class BoundedOutOfOrderness final : public WatermarkGenerator<T> {
 public:
  explicit BoundedOutOfOrderness(std::chrono::milliseconds bound)
      : bound_(bound.count()), max_(INT64_MIN + bound.count() + 1) {}
  void on_event(const T&, int64_t ts, WatermarkOutput&) override { max_ = std::max(max_, ts); }
  void on_periodic_emit(WatermarkOutput& out) override { out.emit_watermark(max_ - bound_ - 1); }

 private:
  int64_t bound_;
  int64_t max_;
};

/// How a stream gets its timestamps and watermarks (Flink's WatermarkStrategy).
template <class T>
class WatermarkStrategy {
 public:
  using GeneratorFactory = std::function<std::unique_ptr<WatermarkGenerator<T>>()>;
  using TimestampAssigner = std::function<int64_t(const T&, int64_t previous)>;

  /// Timestamps never decrease: the watermark follows the largest timestamp.
  static WatermarkStrategy for_monotonous_timestamps() {
    return for_bounded_out_of_orderness(std::chrono::milliseconds(0));
  }
  static WatermarkStrategy for_bounded_out_of_orderness(std::chrono::milliseconds bound) {
    return WatermarkStrategy([bound] { return std::make_unique<BoundedOutOfOrderness<T>>(bound); });
  }
  /// A custom generator, made once per subtask.
  static WatermarkStrategy for_generator(GeneratorFactory f) { return WatermarkStrategy(std::move(f)); }

  /// Takes each event's timestamp from the event (default: keep the record's timestamp).
  WatermarkStrategy with_timestamp_assigner(TimestampAssigner a) const {
    auto s = *this;
    s.assigner_ = std::move(a);
    return s;
  }
  /// Marks the stream idle after `timeout` of processing time without events.
  WatermarkStrategy with_idleness(std::chrono::milliseconds timeout) const {
    auto s = *this;
    s.idleness_ = timeout;
    return s;
  }

  const GeneratorFactory& generator() const { return generator_; }
  const TimestampAssigner& assigner() const { return assigner_; }
  std::chrono::milliseconds idleness() const { return idleness_; }

 private:
  explicit WatermarkStrategy(GeneratorFactory g) : generator_(std::move(g)) {}
  GeneratorFactory generator_;
  TimestampAssigner assigner_;
  std::chrono::milliseconds idleness_{0};
};

namespace detail {

/// Assigns timestamps and generates watermarks. Upstream watermarks are replaced by this
/// operator's, except the final maximum watermark, which ends event time as always.
template <class T>
class TimestampsAndWatermarksOperator final : public OneInput<T, T>, private WatermarkOutput {
 public:
  TimestampsAndWatermarksOperator(WatermarkStrategy<T> s, std::chrono::milliseconds interval)
      : strategy_(std::move(s)), interval_(interval) {}
  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    generator_ = strategy_.generator()();
    last_event_ = ctx.processing_time();
    ctx.request_wakeup(interval_);
  }
  void push(T&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      if (strategy_.assigner()) ts = strategy_.assigner()(v, ts);
      last_event_ = this->ctx_->processing_time();
      if (idle_) {
        idle_ = false;
        this->out_->stream_status(false);
      }
      generator_->on_event(v, ts, *this);
      this->out_->push(std::move(v), ts);
    });
  }
  void watermark(int64_t wm) override {
    if (wm == max_watermark) emit_watermark(wm);
  }
  void stream_status(bool) override {}
  void on_wakeup() override {
    guarded(this->ctx_, [&] {
      if (ended_) return;
      auto idleness = strategy_.idleness().count();
      if (idleness > 0 && !idle_ && this->ctx_->processing_time() - last_event_ >= idleness) mark_idle();
      if (!idle_) generator_->on_periodic_emit(*this);
      this->ctx_->request_wakeup(interval_);
    });
  }

 private:
  void finish() override { ended_ = true; }
  void emit_watermark(int64_t wm) override {
    if (wm <= current_) return;
    current_ = wm;
    this->forward_watermark(wm);
  }
  void mark_idle() override {
    if (idle_) return;
    idle_ = true;
    this->out_->stream_status(true);
  }

  WatermarkStrategy<T> strategy_;
  std::chrono::milliseconds interval_;
  std::unique_ptr<WatermarkGenerator<T>> generator_;
  int64_t current_ = min_watermark;
  int64_t last_event_ = 0;
  bool idle_ = false;
  bool ended_ = false;
};

}  // namespace detail
}  // namespace sluice
