// actors/partition_file.cpp — the blocking partition file: regions of frames sorted by channel, the index and footer, sealing by rename, and reading one channel back.
#include "actors/partition_file.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "checkpoint/storage.hpp"
#include "sluice/error.hpp"

namespace sluice::runtime {

namespace {

constexpr uint64_t magic = 0x3154524150434c53ull;  // "SLCPART1", little-endian
constexpr size_t footer_bytes = 5 * 8;             // magic, regions, channels, index offset, index checksum
constexpr size_t range_bytes = 3 * 8;              // offset, frames, bytes
constexpr size_t io_buffer = 256 << 10;

[[noreturn]] void io_error(const std::string& what, const std::filesystem::path& p, int err) {
  throw JobError("blocking partition could not " + what + " '" + p.string() + "': " + std::strerror(err));
}

}  // namespace

PartitionFileWriter::PartitionFileWriter(std::filesystem::path path, int channels, size_t pool_bytes)
    : path_(std::move(path)), channels_(channels), pool_bytes_(pool_bytes), buffer_(io_buffer), pool_(size_t(channels)) {
  // Unique per writer: a rerun of a failed producer never shares its predecessor's part file.
  static std::atomic<uint64_t> writers{0};
  part_ = path_;
  part_ += ".part-" + std::to_string(::getpid()) + "-" + std::to_string(writers++);
  std::error_code ec;
  std::filesystem::create_directories(path_.parent_path(), ec);
  file_ = std::fopen(part_.c_str(), "wb");
  if (!file_) io_error("create", part_, errno);
  std::setvbuf(file_, buffer_.data(), _IOFBF, buffer_.size());
}

PartitionFileWriter::~PartitionFileWriter() {
  if (file_) std::fclose(file_);
  if (!sealed_) {
    std::error_code ec;
    std::filesystem::remove(part_, ec);
  }
}

void PartitionFileWriter::write(const void* data, size_t bytes) {
  if (std::fwrite(data, 1, bytes, file_) != bytes) io_error("write", part_, errno);
  offset_ += bytes;
}

void PartitionFileWriter::add(int channel, FrameBuffer frame) {
  if (sealed_) throw JobError("blocking partition '" + path_.string() + "' was given a frame after it was sealed");
  size_t bytes = frame.size() * sizeof(uint64_t) + sizeof(uint64_t);
  if (pooled_ > 0 && pooled_ + bytes > pool_bytes_) write_region();
  pool_.at(size_t(channel)).push_back(std::move(frame));
  pooled_ += bytes;
  peak_ = std::max(peak_, pooled_);
}

void PartitionFileWriter::write_region() {
  std::vector<Range> region(pool_.size());
  for (size_t ch = 0; ch < pool_.size(); ++ch) {
    auto& r = region[ch];
    r.offset = offset_;
    for (auto& f : pool_[ch]) {
      uint64_t words = f.size();
      write(&words, sizeof words);
      write(f.data(), f.size() * sizeof(uint64_t));
      ++r.frames;
    }
    r.bytes = offset_ - r.offset;
    pool_[ch].clear();
  }
  regions_.push_back(std::move(region));
  pooled_ = 0;
}

void PartitionFileWriter::finish() {
  if (sealed_) return;
  if (pooled_ > 0 || regions_.empty()) write_region();
  std::vector<uint64_t> index;
  for (const auto& region : regions_)
    for (const auto& r : region) index.insert(index.end(), {r.offset, r.frames, r.bytes});
  uint64_t index_offset = offset_;
  write(index.data(), index.size() * sizeof(uint64_t));
  uint64_t footer[5] = {magic, regions_.size(), uint64_t(channels_), index_offset,
                        checkpoint::fnv1a64(index.data(), index.size() * sizeof(uint64_t))};
  write(footer, sizeof footer);
  auto* f = file_;
  file_ = nullptr;
  if (std::fclose(f) != 0) io_error("write", part_, errno);
  std::error_code ec;
  std::filesystem::rename(part_, path_, ec);
  if (ec) throw JobError("blocking partition could not seal '" + path_.string() + "': " + ec.message());
  sealed_ = true;
}

PartitionFileReader::PartitionFileReader(std::filesystem::path path, int channel)
    : path_(std::move(path)), buffer_(io_buffer) {
  file_ = std::fopen(path_.c_str(), "rb");
  if (!file_) {
    if (errno == ENOENT)
      throw JobError("blocking partition '" + path_.string() + "' is not complete: its producer has not finished");
    io_error("open", path_, errno);
  }
  std::setvbuf(file_, buffer_.data(), _IOFBF, buffer_.size());
  std::error_code ec;
  auto size = std::filesystem::file_size(path_, ec);
  if (ec || size < footer_bytes) corrupt("shorter than its footer");
  uint64_t footer[5];
  if (fseeko(file_, off_t(size - footer_bytes), SEEK_SET) != 0 || std::fread(footer, 1, footer_bytes, file_) != footer_bytes)
    corrupt("its footer cannot be read");
  if (footer[0] != magic) corrupt("it is not a partition file");
  uint64_t regions = footer[1], channels = footer[2], index_offset = footer[3];
  if (channels == 0 || channels > (uint64_t(1) << 20) || regions > size / range_bytes ||
      index_offset + regions * channels * range_bytes + footer_bytes != size)
    corrupt("its index does not fit the file");
  if (channel < 0 || uint64_t(channel) >= channels)
    throw JobError("blocking partition '" + path_.string() + "' has " + std::to_string(channels) +
                   " channels, not channel " + std::to_string(channel));
  std::vector<uint64_t> index(regions * channels * 3);
  if (fseeko(file_, off_t(index_offset), SEEK_SET) != 0 ||
      std::fread(index.data(), sizeof(uint64_t), index.size(), file_) != index.size())
    corrupt("its index cannot be read");
  if (checkpoint::fnv1a64(index.data(), index.size() * sizeof(uint64_t)) != footer[4])
    corrupt("its index checksum does not match");
  for (uint64_t r = 0; r < regions; ++r) {
    const auto* e = &index[(r * channels + uint64_t(channel)) * 3];
    if (e[0] + e[2] > index_offset) corrupt("a region lies past its data");
    ranges_.push_back({e[0], e[1], e[2]});
    frames_ += e[1];
  }
  if (!ranges_.empty() && fseeko(file_, off_t(ranges_[0].offset), SEEK_SET) != 0) corrupt("a region cannot be read");
}

PartitionFileReader::~PartitionFileReader() {
  if (file_) std::fclose(file_);
}

void PartitionFileReader::corrupt(const std::string& why) const {
  throw JobError("blocking partition '" + path_.string() + "' is corrupt: " + why);
}

bool PartitionFileReader::next(FrameBuffer& out) {
  while (region_ < ranges_.size()) {
    const auto& r = ranges_[region_];
    if (read_in_region_ < r.frames) {
      uint64_t words = 0;
      if (std::fread(&words, sizeof words, 1, file_) != 1) corrupt("a frame's length cannot be read");
      bytes_in_region_ += sizeof words;
      if (words == 0 || words > (r.bytes - bytes_in_region_) / sizeof(uint64_t)) corrupt("a frame is longer than its region");
      out.resize(words);
      if (std::fread(out.data(), sizeof(uint64_t), words, file_) != words) corrupt("a frame cannot be read");
      bytes_in_region_ += words * sizeof(uint64_t);
      ++read_in_region_;
      return true;
    }
    if (bytes_in_region_ != r.bytes) corrupt("a region's frames do not add up to its length");
    ++region_;
    read_in_region_ = bytes_in_region_ = 0;
    if (region_ < ranges_.size() && fseeko(file_, off_t(ranges_[region_].offset), SEEK_SET) != 0)
      corrupt("a region cannot be read");
  }
  return false;
}

}  // namespace sluice::runtime
