// actors/lazy_queue.hpp — a FIFO that allocates nothing until it first holds an element: every channel has one, and an all-to-all exchange has p² channels.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace sluice::runtime {

/// A vector with a moving head. std::deque allocates about 600 bytes when constructed, which
/// at parallelism 1024 is over a gigabyte of empty queues; this allocates on the first push.
/// Popped entries are reclaimed once they are half of it; the capacity a burst grew stays (a
/// channel holds at most its credits' worth of frames).
template <class T>
class LazyQueue {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  void push_back(T&& v) { items_.push_back(std::move(v)); }
  T& front() { return items_[head_]; }
  T& back() { return items_.back(); }
  const T& back() const { return items_.back(); }
  T& operator[](size_t i) { return items_[head_ + i]; }
  const T& operator[](size_t i) const { return items_[head_ + i]; }
  void pop_front() {
    items_[head_] = T();
    if (++head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    } else if (head_ >= 16 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + std::ptrdiff_t(head_));
      head_ = 0;
    }
  }
  auto begin() const { return items_.begin() + std::ptrdiff_t(head_); }
  auto end() const { return items_.end(); }
  auto begin() { return items_.begin() + std::ptrdiff_t(head_); }
  auto end() { return items_.end(); }

 private:
  std::vector<T> items_;
  size_t head_ = 0;
};

}  // namespace sluice::runtime
