// operators/src/files.cpp — text file reading and line writing, with every blocking call on the I/O executor.
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "sluice/error.hpp"
#include "sluice/sinks.hpp"
#include "sluice/sources.hpp"

namespace sluice {

namespace {

std::string errno_text() { return std::strerror(errno); }

/// The reader's half that I/O jobs fill: touched by one job at a time, and read by the task
/// only after the job's completion (done) is seen.
struct ReadState {
  std::string path;
  int subtask = 0;
  int parallelism = 1;
  std::FILE* file = nullptr;
  uint64_t end = 0;       // one past the last byte whose line this subtask owns
  uint64_t next = 0;      // file offset of the next read
  bool skip_first = false;
  std::string chunk;      // bytes read by the last job
  bool eof = false;
  std::atomic<bool> done{false};
  ~ReadState() {
    if (file) std::fclose(file);
  }
};

constexpr size_t read_chunk = 1 << 20;

void read_job(ReadState& s) {
  if (!s.file) {
    s.file = std::fopen(s.path.c_str(), "rb");
    if (!s.file) throw std::runtime_error("cannot open text file '" + s.path + "': " + errno_text());
    std::error_code ec;
    auto size = std::filesystem::file_size(s.path, ec);
    if (ec) throw std::runtime_error("cannot read the size of text file '" + s.path + "': " + ec.message());
    uint64_t start = size * uint64_t(s.subtask) / uint64_t(s.parallelism);
    s.end = size * uint64_t(s.subtask + 1) / uint64_t(s.parallelism);
    // A line belongs to the subtask whose range holds its first byte: start one byte early
    // and skip through the first line break.
    s.skip_first = start > 0;
    s.next = start > 0 ? start - 1 : 0;
    if (std::fseek(s.file, long(s.next), SEEK_SET) != 0)
      throw std::runtime_error("cannot seek in text file '" + s.path + "': " + errno_text());
  }
  s.chunk.resize(read_chunk);
  auto n = std::fread(s.chunk.data(), 1, read_chunk, s.file);
  if (n < read_chunk && std::ferror(s.file))
    throw std::runtime_error("cannot read text file '" + s.path + "': " + errno_text());
  s.chunk.resize(n);
  s.eof = n < read_chunk;
  s.done.store(true, std::memory_order_release);
}

class TextFileReader final : public SourceReader<std::string> {
 public:
  TextFileReader(std::string path, int subtask, int parallelism) : s_(std::make_shared<ReadState>()) {
    s_->path = std::move(path);
    s_->subtask = subtask;
    s_->parallelism = parallelism;
  }
  void open(OperatorContext& ctx) override {
    io_ = &ctx.io();
    request();
  }
  SourceStatus poll(Output<std::string>& out, int max_records) override {
    if (pending_) {
      if (!s_->done.load(std::memory_order_acquire)) return SourceStatus::waiting;
      take_chunk();
    }
    for (int emitted = 0; emitted < max_records;) {
      if (skipping_) {
        auto nl = buf_.find('\n', off_);
        if (nl == std::string::npos) {
          pos_ += buf_.size() - off_;
          off_ = buf_.size();
          if (eof_) return SourceStatus::finished;
          return request();
        }
        pos_ += nl + 1 - off_;
        off_ = nl + 1;
        skipping_ = false;
      }
      if (pos_ >= s_->end && started_) return SourceStatus::finished;
      auto nl = buf_.find('\n', off_);
      if (nl == std::string::npos) {
        if (!eof_) return request();
        if (off_ < buf_.size()) {
          out.push(buf_.substr(off_), no_timestamp);
          off_ = buf_.size();
        }
        return SourceStatus::finished;
      }
      auto len = nl - off_;
      if (len > 0 && buf_[nl - 1] == '\r') --len;
      out.push(buf_.substr(off_, len), no_timestamp);
      pos_ += nl + 1 - off_;
      off_ = nl + 1;
      ++emitted;
    }
    return SourceStatus::more;
  }

 private:
  SourceStatus request() {
    if (!pending_) {
      pending_ = true;
      s_->done.store(false, std::memory_order_relaxed);
      auto s = s_;
      io_->submit([s] { read_job(*s); });
    }
    return SourceStatus::waiting;
  }
  void take_chunk() {
    pending_ = false;
    if (!started_) {
      started_ = true;
      skipping_ = s_->skip_first;
      pos_ = s_->next;
    }
    buf_.erase(0, off_);
    off_ = 0;
    buf_ += s_->chunk;
    eof_ = s_->eof;
  }

  std::shared_ptr<ReadState> s_;
  IoService* io_ = nullptr;
  bool pending_ = false;
  bool started_ = false;
  bool skipping_ = false;
  bool eof_ = false;
  std::string buf_;
  size_t off_ = 0;
  uint64_t pos_ = 0;  // file offset of buf_[off_]
};

std::mutex stdout_mu;

}  // namespace

std::unique_ptr<SourceReader<std::string>> TextFileSource::create_reader(int subtask,
                                                                         int parallelism) const {
  return std::make_unique<TextFileReader>(path_, subtask, parallelism);
}

namespace detail {

/// The file a LineWriter appends to; used only by its task's I/O jobs, one at a time.
struct LineFile {
  std::string path;
  std::FILE* file = nullptr;
  ~LineFile() {
    if (file) std::fclose(file);
  }
  void write(const std::string& data) {
    if (path.empty()) {
      std::lock_guard<std::mutex> l(stdout_mu);
      std::fwrite(data.data(), 1, data.size(), stdout);
      std::fflush(stdout);
      return;
    }
    if (!file) {
      auto parent = std::filesystem::path(path).parent_path();
      std::error_code ec;
      if (!parent.empty()) std::filesystem::create_directories(parent, ec);
      file = std::fopen(path.c_str(), "wb");
      if (!file) throw std::runtime_error("cannot open output file '" + path + "': " + errno_text());
    }
    if (!data.empty() && std::fwrite(data.data(), 1, data.size(), file) != data.size())
      throw std::runtime_error("cannot write output file '" + path + "': " + errno_text());
  }
  void close() {
    if (file && std::fclose(file) != 0) {
      file = nullptr;
      throw std::runtime_error("cannot close output file '" + path + "': " + errno_text());
    }
    file = nullptr;
  }
};

void LineWriter::open(OperatorContext& ctx) {
  io_ = &ctx.io();
  file_ = std::make_shared<LineFile>();
  file_->path = path_;
}

void LineWriter::write_out(bool close) {
  if (!io_ || (buffer_.empty() && !close)) return;
  auto file = file_;
  if (close && !path_.empty()) {
    io_->submit([file, data = std::move(buffer_)] {
      file->write(data);
      file->close();
    });
  } else if (!buffer_.empty()) {
    io_->submit([file, data = std::move(buffer_)] { file->write(data); });
  }
  buffer_.clear();
}

}  // namespace detail
}  // namespace sluice
