// actors/frame.hpp — frame buffers: encoding record batches and events with Cap'n Proto, zero-copy reading, pooling.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "checkpoint/snapshot.hpp"

namespace sluice::runtime {

using checkpoint::ChannelId;
using checkpoint::ChannelRecords;

/// The bytes of one encoded frame: a single-segment Cap'n Proto message, word-aligned.
using FrameBuffer = std::vector<uint64_t>;

/// Reuses frame buffers across tasks and threads, so batch memory is not returned to the
/// allocator after every frame (glibc's trimming made that 10x slower here).
class BufferPool {
 public:
  static BufferPool& instance();
  /// A buffer of any size and contents, or an empty one: resize it, then write all of it.
  FrameBuffer acquire();
  void release(FrameBuffer&& b);

 private:
  /// Buffers kept for reuse at most, in bytes (16 MiB: 512 frames of the default size).
  static constexpr size_t max_free_bytes = size_t(16) << 20;
  std::mutex mu_;
  std::vector<FrameBuffer> free_;
  size_t free_bytes_ = 0;
};

/// A watermark between the records of a frame: it comes after the first `after` of them.
struct WatermarkMark {
  uint32_t after = 0;
  int64_t watermark = 0;
};

/// Records, and the watermarks between them, staged for one channel until the buffer is full
/// or the timeout passes.
struct RecordBatch {
  std::vector<uint8_t> data;
  std::vector<uint32_t> ends;
  std::vector<int64_t> timestamps;
  std::vector<WatermarkMark> marks;
  /// Records staged.
  size_t size() const { return ends.size(); }
  /// Nothing staged: no record and no watermark.
  bool empty() const { return ends.empty() && marks.empty(); }
  void clear() {
    data.clear();
    ends.clear();
    timestamps.clear();
    marks.clear();
  }
  /// Stages watermark `wm` after the records staged so far; one right after another replaces it.
  void mark_watermark(int64_t wm) {
    if (!marks.empty() && marks.back().after == size()) marks.back().watermark = wm;
    else marks.push_back({uint32_t(size()), wm});
  }
  /// Upper bound of the encoded frame size with `records` records of `data_bytes` in all, and
  /// `marks` watermarks.
  static size_t encoded_bound(size_t records, size_t data_bytes, size_t marks = 0) {
    return 128 + 8 * records + ((4 * records + 7) & ~size_t(7)) + ((data_bytes + 7) & ~size_t(7)) +
           (marks ? 8 + 16 * marks : 0);
  }
};

enum class FrameKind : uint8_t { records, status, end_of_data, end_of_partition, barrier };
const char* frame_kind_name(FrameKind k);

/// Encodes a batch of records as a frame into a pooled buffer.
FrameBuffer encode_records(const ChannelId& ch, uint64_t sequence, const RecordBatch& batch);
/// Encodes an event frame: `value` is 1/0 for idle/active, or the barrier's checkpoint id.
FrameBuffer encode_element(const ChannelId& ch, uint64_t sequence, FrameKind kind, int64_t value = 0);
/// Encodes an in-band barrier; `aligned_only` marks a savepoint's, aligned in every mode.
FrameBuffer encode_barrier(const ChannelId& ch, uint64_t sequence, int64_t checkpoint_id, bool aligned_only);
/// Encodes a priority barrier (unaligned): sent without credit, outside the sequence.
FrameBuffer encode_priority_barrier(const ChannelId& ch, int64_t checkpoint_id);

/// A decoded frame over its buffer; record bytes are read in place. Throws FrameError on
/// malformed bytes.
class FrameView {
 public:
  explicit FrameView(const FrameBuffer& buf);
  ~FrameView();
  FrameView(const FrameView&) = delete;
  FrameView& operator=(const FrameView&) = delete;

  ChannelId channel() const { return channel_; }
  uint64_t sequence() const { return sequence_; }
  FrameKind kind() const { return kind_; }
  int64_t value() const { return value_; }
  bool priority() const { return priority_; }
  bool aligned_only() const { return aligned_only_; }
  /// Records of a record frame.
  size_t record_count() const { return count_; }
  const uint8_t* record_data(size_t i) const { return data_ + (i ? end_at(i - 1) : 0); }
  size_t record_size(size_t i) const { return end_at(i) - (i ? end_at(i - 1) : 0); }
  int64_t timestamp(size_t i) const;
  /// Watermarks between the records of a record frame, in order.
  const std::vector<WatermarkMark>& marks() const { return marks_; }

 private:
  uint32_t end_at(size_t i) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ChannelId channel_;
  uint64_t sequence_ = 0;
  FrameKind kind_ = FrameKind::records;
  int64_t value_ = 0;
  bool priority_ = false;
  bool aligned_only_ = false;
  size_t count_ = 0;
  const uint8_t* data_ = nullptr;
  size_t data_size_ = 0;
  std::vector<WatermarkMark> marks_;
};

/// Appends the records of a record frame from record `from` on (other frames add nothing).
void append_records(const FrameView& v, size_t from, ChannelRecords& out);

/// Bytes on a channel that are not a valid frame.
class FrameError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace sluice::runtime
