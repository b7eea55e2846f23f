// actors/frame.cpp — Cap'n Proto encoding and zero-copy decoding of frames.
#include "frame.hpp"

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <bit>
#include <cstring>

#include "actors/wire.capnp.h"

namespace sluice::runtime {

static_assert(std::endian::native == std::endian::little,
              "frames are read in place, which assumes a little-endian host as Cap'n Proto's wire format");

const char* frame_kind_name(FrameKind k) {
  switch (k) {
    case FrameKind::records: return "records";
    case FrameKind::status: return "stream status";
    case FrameKind::end_of_data: return "EndOfData";
    case FrameKind::end_of_partition: return "EndOfPartition";
    case FrameKind::barrier: return "barrier";
  }
  return "?";
}

BufferPool& BufferPool::instance() {
  static BufferPool pool;
  return pool;
}

FrameBuffer BufferPool::acquire() {
  std::lock_guard<std::mutex> l(mu_);
  if (free_.empty()) return {};
  auto b = std::move(free_.back());
  free_.pop_back();
  free_bytes_ -= b.capacity() * sizeof(b[0]);
  return b;
}

void BufferPool::release(FrameBuffer&& b) {
  // Kept at its size: a caller resizing it to a frame's length then fills only what grows
  // (clearing it here made every frame zero its 32 KiB before writing them).
  size_t bytes = b.capacity() * sizeof(b[0]);
  if (bytes == 0) return;  // nothing to reuse (a priority frame's placeholder)
  std::lock_guard<std::mutex> l(mu_);
  if (free_bytes_ + bytes > max_free_bytes) return;  // freed: the pool holds what is reused
  free_bytes_ += bytes;
  free_.push_back(std::move(b));
}

namespace {

/// A zeroed first segment per thread; MallocMessageBuilder zeroes what it used when destroyed.
kj::ArrayPtr<capnp::word> scratch_segment(size_t words) {
  thread_local std::vector<capnp::word> scratch;
  if (scratch.size() < words) scratch.assign(words, capnp::word{});
  return kj::ArrayPtr<capnp::word>(scratch.data(), scratch.size());
}

void set_header(Frame::Builder f, const ChannelId& ch, uint64_t sequence) {
  f.setEdge(ch.edge);
  f.setProducer(ch.producer);
  f.setConsumer(ch.consumer);
  f.setSequence(sequence);
}

/// Copies the built message into a pooled buffer in the flat (stream) format.
FrameBuffer finish(capnp::MallocMessageBuilder& msg) {
  auto segments = msg.getSegmentsForOutput();
  FrameBuffer out = BufferPool::instance().acquire();
  if (segments.size() == 1) {
    auto seg = segments[0];
    out.resize(1 + seg.size());
    uint32_t header[2] = {0, uint32_t(seg.size())};
    std::memcpy(out.data(), header, 8);
    std::memcpy(out.data() + 1, seg.begin(), seg.size() * sizeof(capnp::word));
  } else {
    auto flat = capnp::messageToFlatArray(segments);
    out.resize(flat.size());
    std::memcpy(out.data(), flat.begin(), flat.size() * sizeof(capnp::word));
  }
  return out;
}

}  // namespace

FrameBuffer encode_records(const ChannelId& ch, uint64_t sequence, const RecordBatch& batch) {
  auto words = RecordBatch::encoded_bound(batch.size(), batch.data.size(), batch.marks.size()) / 8 + 8;
  capnp::MallocMessageBuilder msg(scratch_segment(words));
  auto f = msg.initRoot<Frame>();
  set_header(f, ch, sequence);
  auto r = f.initRecords();
  auto n = uint32_t(batch.size());
  auto ts = r.initTimestamps(n);
  auto ends = r.initEnds(n);
  for (uint32_t i = 0; i < n; ++i) {
    ts.set(i, batch.timestamps[i]);
    ends.set(i, batch.ends[i]);
  }
  auto data = r.initData(uint32_t(batch.data.size()));
  if (!batch.data.empty()) std::memcpy(data.begin(), batch.data.data(), batch.data.size());
  if (!batch.marks.empty()) {
    auto marks = r.initMarks(uint32_t(batch.marks.size()));
    for (uint32_t i = 0; i < marks.size(); ++i) {
      marks[i].setAfter(batch.marks[i].after);
      marks[i].setWatermark(batch.marks[i].watermark);
    }
  }
  return finish(msg);
}

FrameBuffer encode_element(const ChannelId& ch, uint64_t sequence, FrameKind kind, int64_t value) {
  capnp::MallocMessageBuilder msg(scratch_segment(16));
  auto f = msg.initRoot<Frame>();
  set_header(f, ch, sequence);
  switch (kind) {
    case FrameKind::status: f.setIdle(value != 0); break;
    case FrameKind::end_of_data: f.setEndOfData(); break;
    case FrameKind::end_of_partition: f.setEndOfPartition(); break;
    case FrameKind::barrier: f.setBarrier(value); break;
    case FrameKind::records: f.initRecords(); break;
  }
  return finish(msg);
}

FrameBuffer encode_barrier(const ChannelId& ch, uint64_t sequence, int64_t checkpoint_id, bool aligned_only) {
  capnp::MallocMessageBuilder msg(scratch_segment(16));
  auto f = msg.initRoot<Frame>();
  set_header(f, ch, sequence);
  f.setBarrier(checkpoint_id);
  f.setAlignedOnly(aligned_only);
  return finish(msg);
}

FrameBuffer encode_priority_barrier(const ChannelId& ch, int64_t checkpoint_id) {
  capnp::MallocMessageBuilder msg(scratch_segment(16));
  auto f = msg.initRoot<Frame>();
  set_header(f, ch, 0);
  f.setBarrier(checkpoint_id);
  f.setPriority(true);
  return finish(msg);
}

void append_records(const FrameView& v, size_t from, ChannelRecords& out) {
  if (v.kind() != FrameKind::records) return;
  for (size_t i = from; i < v.record_count(); ++i)
    out.records.emplace_back(v.timestamp(i), std::string(reinterpret_cast<const char*>(v.record_data(i)), v.record_size(i)));
}

struct FrameView::Impl {
  explicit Impl(const FrameBuffer& buf)
      : reader(kj::ArrayPtr<const capnp::word>(reinterpret_cast<const capnp::word*>(buf.data()),
                                               buf.size()),
               options()) {}
  static capnp::ReaderOptions options() {
    capnp::ReaderOptions o;
    o.traversalLimitInWords = uint64_t(1) << 40;
    return o;
  }
  capnp::FlatArrayMessageReader reader;
  const int64_t* timestamps = nullptr;
  const uint32_t* ends = nullptr;
};

FrameView::FrameView(const FrameBuffer& buf) {
  if (buf.empty()) throw FrameError("empty frame");
  try {
    impl_ = std::make_unique<Impl>(buf);
    auto f = impl_->reader.getRoot<Frame>();
    channel_ = ChannelId{f.getEdge(), f.getProducer(), f.getConsumer()};
    sequence_ = f.getSequence();
    priority_ = f.getPriority();
    aligned_only_ = f.getAlignedOnly();
    switch (f.which()) {
      case Frame::RECORDS: {
        kind_ = FrameKind::records;
        auto r = f.getRecords();
        auto ts = r.getTimestamps();
        auto ends = r.getEnds();
        auto data = r.getData();
        count_ = ts.size();
        if (ends.size() != count_)
          throw FrameError("record frame has " + std::to_string(count_) + " timestamps but " +
                           std::to_string(ends.size()) + " record ends");
        auto ts_bytes = capnp::AnyList::Reader(ts).getRawBytes();
        auto end_bytes = capnp::AnyList::Reader(ends).getRawBytes();
        if (ts_bytes.size() != 8 * count_ || end_bytes.size() != 4 * count_)
          throw FrameError("record frame lists have the wrong element size");
        impl_->timestamps = reinterpret_cast<const int64_t*>(ts_bytes.begin());
        impl_->ends = reinterpret_cast<const uint32_t*>(end_bytes.begin());
        data_ = data.begin();
        data_size_ = data.size();
        uint32_t prev = 0;
        for (size_t i = 0; i < count_; ++i) {
          auto e = impl_->ends[i];
          if (e < prev || e > data_size_)
            throw FrameError("record " + std::to_string(i) + " of a frame ends outside its data");
          prev = e;
        }
        uint32_t after = 0;
        for (auto m : r.getMarks()) {
          if (m.getAfter() < after || m.getAfter() > count_)
            throw FrameError("watermark " + std::to_string(marks_.size()) + " of a frame of " +
                             std::to_string(count_) + " records comes after record " + std::to_string(m.getAfter()) +
                             (m.getAfter() < after ? ", before the watermark ahead of it" : ""));
          after = m.getAfter();
          marks_.push_back({after, m.getWatermark()});
        }
        break;
      }
      case Frame::IDLE:
        kind_ = FrameKind::status;
        value_ = f.getIdle() ? 1 : 0;
        break;
      case Frame::END_OF_DATA: kind_ = FrameKind::end_of_data; break;
      case Frame::END_OF_PARTITION: kind_ = FrameKind::end_of_partition; break;
      case Frame::BARRIER:
        kind_ = FrameKind::barrier;
        value_ = f.getBarrier();
        break;
      default: throw FrameError("frame of unknown kind");
    }
  } catch (const FrameError&) {
    throw;
  } catch (const kj::Exception& e) {
    throw FrameError(std::string("malformed frame: ") + e.getDescription().cStr());
  }
}

FrameView::~FrameView() = default;

int64_t FrameView::timestamp(size_t i) const { return impl_->timestamps[i]; }
uint32_t FrameView::end_at(size_t i) const { return impl_->ends[i]; }

}  // namespace sluice::runtime
