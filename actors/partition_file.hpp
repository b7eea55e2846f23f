// actors/partition_file.hpp — a blocking result partition on disk (BATCH): one producer subtask's frames for every channel in one file, sorted by channel in regions, with an index, sealed when complete.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "actors/frame.hpp"

namespace sluice::runtime {

/// Writes one producer subtask's result partition to a file, as Flink's sort-merge blocking
/// shuffle does: frames wait in a pool of `pool_bytes`, grouped by channel; when the pool is
/// full (and at the end) they are written as one *region*, channel by channel, so that each
/// consumer later reads one contiguous range per region. `finish` writes the index (per region
/// and channel: offset, frames, bytes), then renames its part file (`<path>.part-<pid>-<n>`,
/// its own) to `path`: a consumer only ever sees a complete file. Destroyed before `finish`
/// (its task failed), it removes its part file. Failing I/O throws a JobError naming the file.
class PartitionFileWriter {
 public:
  PartitionFileWriter(std::filesystem::path path, int channels, size_t pool_bytes);
  ~PartitionFileWriter();
  PartitionFileWriter(const PartitionFileWriter&) = delete;
  PartitionFileWriter& operator=(const PartitionFileWriter&) = delete;

  /// Adds a frame for `channel`; may write a region.
  void add(int channel, FrameBuffer frame);
  /// Writes what is pooled, the index, and seals the file.
  void finish();

  uint64_t regions() const { return regions_.size(); }
  /// The most bytes of frames the pool held at once.
  size_t peak_pool_bytes() const { return peak_; }

  /// What the index says of one channel in one region.
  struct Range {
    uint64_t offset = 0;
    uint64_t frames = 0;
    uint64_t bytes = 0;
  };

 private:
  void write_region();
  void write(const void* data, size_t bytes);

  std::filesystem::path path_, part_;
  int channels_;
  size_t pool_bytes_;
  std::FILE* file_ = nullptr;
  std::vector<char> buffer_;                    // the stdio buffer
  std::vector<std::vector<FrameBuffer>> pool_;  // by channel
  size_t pooled_ = 0, peak_ = 0;
  uint64_t offset_ = 0;
  std::vector<std::vector<Range>> regions_;  // by region, then channel
  bool sealed_ = false;
};

/// Reads one channel of a sealed partition file, frame by frame in the order they were added.
/// A missing file (its producer has not finished), a file of another channel count, a
/// malformed index and frames that do not add up to it throw a JobError naming the file.
class PartitionFileReader {
 public:
  PartitionFileReader(std::filesystem::path path, int channel);
  ~PartitionFileReader();
  PartitionFileReader(const PartitionFileReader&) = delete;
  PartitionFileReader& operator=(const PartitionFileReader&) = delete;

  /// The next frame of the channel; false after the last.
  bool next(FrameBuffer& out);
  /// Frames of the channel in the file.
  uint64_t frames() const { return frames_; }

 private:
  [[noreturn]] void corrupt(const std::string& why) const;

  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  std::vector<char> buffer_;
  std::vector<PartitionFileWriter::Range> ranges_;  // this channel's, by region
  size_t region_ = 0;
  uint64_t read_in_region_ = 0, bytes_in_region_ = 0;
  uint64_t frames_ = 0;
};

}  // namespace sluice::runtime
