// operators/include/sluice/detail/two_input.hpp — operators with two inputs: watermark as the minimum of both, end when both end.
#pragma once

#include <algorithm>

#include "sluice/detail/operators.hpp"

namespace sluice::detail {

/// Base of operators reading two streams (connect, joins, broadcast). Input i's elements
/// reach element1/element2; the operator's watermark is the minimum of its inputs'.
template <class A, class B, class Out>
class TwoInput : public Emitting<Out> {
 public:
  ElementSink* input(int index) override { return index == 0 ? static_cast<ElementSink*>(&in1_) : &in2_; }

 protected:
  virtual void element1(A&& v, int64_t ts) = 0;
  virtual void element2(B&& v, int64_t ts) = 0;
  /// The combined watermark advanced: fire timers, then it is forwarded.
  virtual void on_watermark(int64_t) {}
  /// Both inputs ended.
  virtual void finish() {}
  int64_t watermark_ = min_watermark;

 private:
  template <class X, int N>
  struct Port final : Output<X> {
    explicit Port(TwoInput* o) : op(o) {}
    TwoInput* op;
    void push(X&& v, int64_t ts) override {
      if constexpr (N == 0) op->element1(std::move(v), ts);
      else op->element2(std::move(v), ts);
    }
    void watermark(int64_t wm) override { op->input_watermark(N, wm); }
    void end_input() override { op->input_ended(N); }
    void stream_status(bool idle) override { op->input_status(N, idle); }
  };
  void input_watermark(int n, int64_t wm) {
    wm_[n] = std::max(wm_[n], wm);
    advance();
  }
  void input_status(int n, bool idle) {
    idle_[n] = idle;
    advance();
  }
  void input_ended(int n) {
    ended_[n] = true;
    if (ended_[0] && ended_[1]) {
      finish();
      this->forward_end_input();
    }
  }
  void advance() {
    int64_t m = max_watermark;
    bool any = false;
    for (int i = 0; i < 2; ++i)
      if (!idle_[i]) {
        any = true;
        m = std::min(m, wm_[i]);
      }
    if (!any || m <= watermark_) return;
    watermark_ = m;
    on_watermark(m);
    this->forward_watermark(m);
  }

  Port<A, 0> in1_{this};
  Port<B, 1> in2_{this};
  int64_t wm_[2] = {min_watermark, min_watermark};
  bool idle_[2] = {false, false};
  bool ended_[2] = {false, false};
};

}  // namespace sluice::detail
