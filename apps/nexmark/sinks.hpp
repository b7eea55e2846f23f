// apps/nexmark/sinks.hpp — where query rows go: a sorted CSV file written atomically at end, or a counter for benchmarks.
#pragma once

#include <sluice/sinks.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace sluice::nexmark {

/// Collects CSV rows and, when the input ends, writes `header`, a line break and the rows
/// sorted bytewise, one per line, to `path` + ".tmp" on the I/O executor, then renames it onto
/// `path`: a reader sees no file, the previous one, or the whole new one. A job that fails or
/// is cancelled writes nothing. Runs at parallelism 1 only (one file, one sort): a writer
/// opened in a parallel subtask fails the job; `DataStream::sink_to(...).set_parallelism(1)`.
class SortedCsvSink final : public Sink<std::string> {
 public:
  SortedCsvSink(std::string path, std::string header)
      : path_(std::move(path)), header_(std::move(header)) {}

  std::unique_ptr<SinkWriter<std::string>> create_writer(int subtask,
                                                          int parallelism) const override;
  std::string name() const override { return "Sorted CSV Sink (" + path_ + ")"; }

 private:
  std::string path_;
  std::string header_;
};

/// Rows and bytes (without line breaks) a CountingSink saw, over all its subtasks; complete
/// once the job has ended.
struct RowCount {
  std::atomic<uint64_t> rows{0};
  std::atomic<uint64_t> bytes{0};
};

/// Counts rows and their bytes and drops them: the benchmark's sink, doing the same work as
/// the COST loop's consumer so that engine and baseline are timed alike.
class CountingSink final : public Sink<std::string> {
 public:
  CountingSink() : count_(std::make_shared<RowCount>()) {}

  std::shared_ptr<RowCount> count() const { return count_; }
  std::unique_ptr<SinkWriter<std::string>> create_writer(int subtask,
                                                          int parallelism) const override;
  std::string name() const override { return "Counting Sink"; }

 private:
  std::shared_ptr<RowCount> count_;
};

/// Writes `header` and `rows` (sorted by the caller or not) to `path` + ".tmp", one per line,
/// and renames it onto `path`. Blocking; throws std::runtime_error naming the file on failure.
void write_csv_atomically(const std::string& path, const std::string& header,
                          const std::vector<std::string>& rows);

}  // namespace sluice::nexmark
