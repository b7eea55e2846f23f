// actors/blocking_exchange.hpp — both ends of a blocking exchange (BATCH): a result partition's frames written to its partition file, and an input channel fed from its producer's file as credits allow.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "actors/partition.hpp"
#include "actors/partition_file.hpp"

namespace sluice::runtime {

/// Where producer subtask `producer` of edge `edge` writes its blocking partition, under the
/// job's BATCH directory.
std::filesystem::path partition_file_path(const std::filesystem::path& dir, uint32_t edge, int producer);

/// The producer's end: the SendFn of its ResultPartition writes every frame to the partition
/// file, whose channels are the partition's; `open` gives the partition credit for every
/// frame it will ever send (no consumer is there to grant any: a blocking exchange never
/// backpressures). The file is sealed once every channel's EndOfPartition is written, the
/// partition's last frame (ResultPartition::end_partition).
class BlockingOutput {
 public:
  BlockingOutput(std::filesystem::path path, int channels, size_t pool_bytes);

  ResultPartition::SendFn send_fn();
  void open(ResultPartition& partition);
  bool sealed() const { return closed_ == channels_; }
  const ResultPartition* partition() const { return partition_; }
  const PartitionFileWriter& file() const { return writer_; }

 private:
  void write(const ChannelId& ch, FrameBuffer&& frame);

  PartitionFileWriter writer_;
  int channels_;
  int closed_ = 0;
  ResultPartition* partition_ = nullptr;
};

/// The consumer's end of one input channel: frames read from the producer's sealed partition
/// file, at most as many as the input gate granted credits for (its buffers), so a blocking
/// input keeps the gate's bounds.
class BlockingInput {
 public:
  BlockingInput(const std::filesystem::path& path, int channel) : reader_(path, channel) {}
  /// The gate granted `credits` more buffers: the frames to deliver now, in order.
  std::vector<FrameBuffer> take(uint32_t credits);
  /// Every frame of the channel was taken.
  bool exhausted() const { return exhausted_; }
  /// Frames not taken yet (the backlog the gate is told of).
  uint32_t remaining() const { return uint32_t(std::min<uint64_t>(reader_.frames() - taken_, UINT32_MAX)); }

 private:
  PartitionFileReader reader_;
  uint64_t taken_ = 0;
  bool exhausted_ = false;
};

}  // namespace sluice::runtime
