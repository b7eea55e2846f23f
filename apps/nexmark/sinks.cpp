// apps/nexmark/sinks.cpp — the sorted CSV sink (sort and write on the I/O executor) and the counting sink.
#include "sinks.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include <sluice/error.hpp>

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
    rows_ = 0;
    bytes_ = 0;
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

void write_csv_atomically(const std::string& path, const std::string& header,
                          const std::vector<std::string>& rows) {
  const std::string tmp = path + ".tmp";
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
  }
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  if (!file) throw file_error("open", tmp);
  std::vector<char> buffer(1 << 20);
  std::setvbuf(file, buffer.data(), _IOFBF, buffer.size());
  bool ok = std::fwrite(header.data(), 1, header.size(), file) == header.size() &&
            std::fputc('\n', file) != EOF;
  for (size_t i = 0; ok && i < rows.size(); ++i) {
    ok = std::fwrite(rows[i].data(), 1, rows[i].size(), file) == rows[i].size() &&
         std::fputc('\n', file) != EOF;
  }
  ok = ok && std::fflush(file) == 0 && ::fsync(::fileno(file)) == 0;
  if (!ok) {
    const auto error = file_error("write", tmp);
    std::fclose(file);
    std::remove(tmp.c_str());
    throw error;
  }
  if (std::fclose(file) != 0) throw file_error("close", tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw file_error("rename onto", path);
}

}  // namespace sluice::nexmark
