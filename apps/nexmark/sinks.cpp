// apps/nexmark/sinks.cpp — the sorted CSV sink, the atomic file writer, the counting sink, CSV from committed parts.
#include "sinks.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sluice/codec.hpp>
#include <sluice/error.hpp>
#include <stdexcept>
#include <vector>

namespace sluice::nexmark {
namespace {

std::runtime_error file_error(const std::string& what, const std::string& path) {
  return std::runtime_error("cannot " + what + " output file '" + path +
                            "': " + std::strerror(errno));
}

class SortedCsvWriter final : public SinkWriter<std::string> {
 public:
  SortedCsvWriter(std::string path, std::string header)
      : path_(std::move(path)), header_(std::move(header)) {}

  void open(OperatorContext& ctx) override {
    if (ctx.parallelism() != 1) {
      throw JobError("the sorted CSV sink for '" + path_ + "' runs at parallelism 1, not " +
                     std::to_string(ctx.parallelism()));
    }
    io_ = &ctx.io();
  }
  void write(std::string&& row, int64_t) override { rows_->push_back(std::move(row)); }
  void end_input() override {
    io_->submit([rows = std::move(rows_), path = path_, header = header_] {
      std::sort(rows->begin(), rows->end());
      write_csv_atomically(path, header, *rows);
    });
  }

 private:
  std::string path_;
  std::string header_;
  IoService* io_ = nullptr;
  std::shared_ptr<std::vector<std::string>> rows_ = std::make_shared<std::vector<std::string>>();
};

class CountingWriter final : public SinkWriter<std::string> {
 public:
  explicit CountingWriter(std::shared_ptr<RowCount> count) : count_(std::move(count)) {}

  void write(std::string&& row, int64_t) override {
    ++rows_;
    bytes_ += row.size();
  }
  void end_input() override {
    count_->rows += rows_;
    count_->bytes += bytes_;
  }
  // The counts so far go into checkpoints, so that a restored job counts every row once.
  std::string snapshot_state(int64_t) override {
    return encode_to_string(std::pair(rows_, bytes_));
  }
  void restore_state(const std::vector<std::string>& states, int subtask,
                     int parallelism) override {
    for (size_t i = static_cast<size_t>(subtask); i < states.size();
         i += static_cast<size_t>(parallelism)) {
      if (states[i].empty()) continue;
      const auto [rows, bytes] = decode_from_string<std::pair<uint64_t, uint64_t>>(states[i]);
      rows_ += rows;
      bytes_ += bytes;
    }
  }

 private:
  std::shared_ptr<RowCount> count_;
  uint64_t rows_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace

std::unique_ptr<SinkWriter<std::string>> SortedCsvSink::create_writer(int, int) const {
  return std::make_unique<SortedCsvWriter>(path_, header_);
}

std::unique_ptr<SinkWriter<std::string>> CountingSink::create_writer(int, int) const {
  return std::make_unique<CountingWriter>(count_);
}

AtomicFileWriter::AtomicFileWriter(std::string path)
    : path_(std::move(path)), tmp_path_(path_ + ".tmp"), buffer_(1 << 20) {
  const auto parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) {
    std::error_code ignored;
    std::filesystem::create_directories(parent, ignored);
  }
  file_ = std::fopen(tmp_path_.c_str(), "wb");
  if (!file_) throw file_error("open", tmp_path_);
  std::setvbuf(file_, buffer_.data(), _IOFBF, buffer_.size());
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_) {
    std::fclose(file_);
    std::remove(tmp_path_.c_str());
  }
}

void AtomicFileWriter::write_line(std::string_view text) {
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() ||
      std::fputc('\n', file_) == EOF) {
    throw file_error("write", tmp_path_);
  }
}

void AtomicFileWriter::commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
    throw file_error("write", tmp_path_);
  std::FILE* file = file_;
  file_ = nullptr;
  if (std::fclose(file) != 0) {
    const auto error = file_error("close", tmp_path_);
    std::remove(tmp_path_.c_str());
    throw error;
  }
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    const auto error = file_error("rename '" + tmp_path_ + "' onto", path_);
    std::remove(tmp_path_.c_str());
    throw error;
  }
}

void write_csv_atomically(const std::string& path, const std::string& header,
                          const std::vector<std::string>& rows) {
  AtomicFileWriter file(path);
  file.write_line(header);
  for (const std::string& row : rows) file.write_line(row);
  file.commit();
}

std::string parts_dir(const std::string& path) {
  return std::filesystem::absolute(path + ".parts").lexically_normal().string();
}

uint64_t assemble_csv(const std::string& parts, const std::string& path,
                      const std::string& header) {
  std::vector<std::string> rows = read_committed_lines(parts);
  std::sort(rows.begin(), rows.end());
  write_csv_atomically(path, header, rows);
  return rows.size();
}

}  // namespace sluice::nexmark
