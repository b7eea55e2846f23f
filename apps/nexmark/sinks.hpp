// apps/nexmark/sinks.hpp — query rows to a sorted CSV file (atomic, or assembled from committed parts) or to a counter.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <sluice/sinks.hpp>
#include <string>
#include <string_view>
#include <vector>

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
/// the COST loop's consumer so that engine and baseline are timed alike. Its counts go into
/// checkpoints: a job restored from one counts every row once.
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

/// A file that appears whole or not at all: written as `path` + ".tmp" and renamed onto
/// `path` by `commit()`; the temporary file is removed if the writer dies uncommitted.
/// Blocking: call it on the I/O executor inside a job. Errors throw std::runtime_error naming
/// the file.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  /// Appends `text` followed by a line break.
  void write_line(std::string_view text);
  /// Flushes, syncs, closes and renames the file onto its path.
  void commit();

 private:
  std::string path_;
  std::string tmp_path_;
  std::FILE* file_ = nullptr;
  std::vector<char> buffer_;
};

/// Writes `header` and `rows` (in the order given) as lines to `path` through an
/// AtomicFileWriter.
void write_csv_atomically(const std::string& path, const std::string& header,
                          const std::vector<std::string>& rows);

/// Where `nexmark run --output path` commits its rows while the job checkpoints:
/// `path` + ".parts", made absolute (the sink's checkpoint state names its files, so a restore
/// from another working directory finds them).
std::string parts_dir(const std::string& path);

/// Writes `header` and every committed line in `parts`, sorted bytewise, to `path` through
/// an AtomicFileWriter: the file SortedCsvSink writes for the same rows. Returns the rows.
uint64_t assemble_csv(const std::string& parts, const std::string& path, const std::string& header);

}  // namespace sluice::nexmark
