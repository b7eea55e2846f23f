// actors/blocking_exchange.cpp — a blocking exchange's producer and consumer ends over partition files.
#include "actors/blocking_exchange.hpp"

#include <limits>

#include "sluice/error.hpp"

namespace sluice::runtime {

std::filesystem::path partition_file_path(const std::filesystem::path& dir, uint32_t edge, int producer) {
  return dir / ("edge-" + std::to_string(edge)) / ("producer-" + std::to_string(producer));
}

BlockingOutput::BlockingOutput(std::filesystem::path path, int channels, size_t pool_bytes)
    : writer_(std::move(path), channels, pool_bytes), channels_(channels) {}

ResultPartition::SendFn BlockingOutput::send_fn() {
  return [this](const ChannelId& ch, uint32_t, FrameBuffer&& frame) { write(ch, std::move(frame)); };
}

void BlockingOutput::open(ResultPartition& partition) {
  partition_ = &partition;
  for (int ch = 0; ch < partition.channel_count(); ++ch)
    partition.on_credit(ch, std::numeric_limits<uint32_t>::max() / 2);
}

void BlockingOutput::write(const ChannelId& ch, FrameBuffer&& frame) {
  if (!partition_) throw JobError("a blocking partition sent a frame before it was opened");
  bool last = FrameView(frame).kind() == FrameKind::end_of_partition;
  // The file's channel is the partition's: the consumer's subtask on an all-to-all exchange,
  // the one channel on a forward one.
  int index = channels_ == 1 ? 0 : int(ch.consumer);
  if (index >= channels_ || !(partition_->channel_id(index) == ch))
    throw JobError("a blocking partition sent a frame on a channel it does not have: " + ch.describe());
  writer_.add(index, std::move(frame));
  if (last && ++closed_ == channels_) writer_.finish();
}

std::vector<FrameBuffer> BlockingInput::take(uint32_t credits) {
  std::vector<FrameBuffer> out;
  while (out.size() < credits && !exhausted_) {
    FrameBuffer f = BufferPool::instance().acquire();  // consumed frames go back to the pool
    if (reader_.next(f)) {
      out.push_back(std::move(f));
      ++taken_;
    } else {
      BufferPool::instance().release(std::move(f));
      exhausted_ = true;
    }
  }
  return out;
}

}  // namespace sluice::runtime
