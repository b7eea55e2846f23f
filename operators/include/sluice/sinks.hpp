// operators/include/sluice/sinks.hpp — sinks: the writer interface and the built-in print, file, committing file, collect and discard sinks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/codec.hpp"
#include "sluice/element.hpp"
#include "sluice/format.hpp"

namespace sluice {

/// Writes one subtask's share of a stream.
template <class T>
class SinkWriter {
 public:
  virtual ~SinkWriter() = default;
  virtual void open(OperatorContext&) {}
  virtual void write(T&& value, int64_t timestamp) = 0;
  /// The buffer timeout passed: hand on partly filled buffers.
  virtual void flush() {}
  /// The input ended: write out everything held.
  virtual void end_input() {}
  virtual void on_wakeup() {}
  virtual void close() {}
  /// Checkpoints: as OperatorBase's hooks of the same names (a two-phase-commit sink
  /// pre-commits in snapshot_state and commits in notify_checkpoint_complete).
  virtual std::string snapshot_state(int64_t checkpoint_id) {
    (void)checkpoint_id;
    return {};
  }
  virtual void restore_state(const std::vector<std::string>& states, int subtask, int parallelism) {
    (void)states, (void)subtask, (void)parallelism;
  }
  virtual void notify_checkpoint_complete(int64_t checkpoint_id) { (void)checkpoint_id; }
};

/// A sink: makes one writer per subtask.
template <class T>
class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::unique_ptr<SinkWriter<T>> create_writer(int subtask, int parallelism) const = 0;
  virtual std::string name() const = 0;
  /// A sink whose records belong to the job's main (CollectSink): keeps one batch that its
  /// writers sent from another process (OperatorContext::result_channel). Empty for the others.
  virtual std::function<void(std::string_view batch)> receiver() const { return {}; }
};

namespace detail {
struct LineFile;

/// Appends text lines and hands them to the I/O executor in large writes, in order.
/// `path` empty means standard output.
class LineWriter {
 public:
  LineWriter(std::string path, std::string prefix) : path_(std::move(path)), prefix_(std::move(prefix)) {}
  void open(OperatorContext& ctx);
  std::string& line_buffer() { return buffer_; }
  /// Ends the line just appended; writes out when the buffer is large.
  void end_line() {
    buffer_ += '\n';
    if (buffer_.size() >= 256 * 1024) write_out(false);
  }
  void write_out(bool close);
  const std::string& prefix() const { return prefix_; }

 private:
  std::string path_;
  std::string prefix_;
  std::string buffer_;
  IoService* io_ = nullptr;
  std::shared_ptr<LineFile> file_;
};

template <class T>
class LineSinkWriter final : public SinkWriter<T> {
 public:
  LineSinkWriter(std::string path, std::string prefix) : out_(std::move(path), std::move(prefix)) {}
  void open(OperatorContext& ctx) override { out_.open(ctx); }
  void write(T&& v, int64_t) override {
    auto& b = out_.line_buffer();
    b += out_.prefix();
    format_to(b, v);
    out_.end_line();
  }
  void flush() override { out_.write_out(false); }
  void end_input() override { out_.write_out(false); }
  void close() override { out_.write_out(true); }

 private:
  LineWriter out_;
};
}  // namespace detail

/// Prints each record as a line on standard output, prefixed with `subtask> ` when the
/// sink runs in parallel (as Flink's print()).
template <class T>
class PrintSink final : public Sink<T> {
 public:
  std::unique_ptr<SinkWriter<T>> create_writer(int subtask, int parallelism) const override {
    return std::make_unique<detail::LineSinkWriter<T>>(
        "", parallelism > 1 ? std::to_string(subtask + 1) + "> " : "");
  }
  std::string name() const override { return "Print Sink"; }
};

/// Writes each record as a line to `path`; with parallelism p > 1, `path` is a directory
/// holding `part-<subtask>` files.
template <class T>
class FileSink final : public Sink<T> {
 public:
  explicit FileSink(std::string path) : path_(std::move(path)) {}
  std::unique_ptr<SinkWriter<T>> create_writer(int subtask, int parallelism) const override {
    return std::make_unique<detail::LineSinkWriter<T>>(
        parallelism > 1 ? path_ + "/part-" + std::to_string(subtask) : path_, "");
  }
  std::string name() const override { return "File Sink (" + path_ + ")"; }

 private:
  std::string path_;
};

namespace detail {
/// One CommittingFileSink subtask's transactions (two-phase commit, docs/checkpoints.md). Lines go to
/// the current transaction's in-progress file; pre_commit (at a checkpoint) writes it out,
/// syncs and closes it and keeps it as pending; commit (the checkpoint completed) renames
/// every pending file whose checkpoint is complete to its final name. Every blocking call
/// runs on the task's I/O executor, in submission order.
class CommittingFiles {
 public:
  /// The checkpoints whose committed parts make up the output's history, as ranges
  /// [first, last] (the run's own range is open: last INT64_MAX). It travels in the sink's
  /// state, so a restore knows which parts belong: a restore of an older checkpoint sets later
  /// parts aside, and a later restore of a checkpoint of that first history brings them back.
  using Lineage = std::vector<std::pair<int64_t, int64_t>>;
  /// A pending (pre-committed, not yet committed) transaction.
  struct Pending {
    int64_t checkpoint_id = 0;
    std::string in_progress;  ///< `dir/.in-progress/part-<subtask>-<txn>`
    std::string final_path;   ///< `dir/part-<subtask>-<checkpoint id>`
  };

  /// Picks this writer's transaction prefix from std::random_device, so that names never
  /// repeat across restarts.
  CommittingFiles(std::string dir, int subtask, bool owns_dir = false);
  ~CommittingFiles();
  CommittingFiles(const CommittingFiles&) = delete;
  CommittingFiles& operator=(const CommittingFiles&) = delete;

  /// Before open(): takes the pending transactions of the old subtasks i with
  /// i % parallelism == subtask, to be committed in open().
  void restore(const std::vector<std::string>& states, int subtask, int parallelism);
  /// On a resumed run (ctx.restored_checkpoint()), makes the output hold exactly the parts of
  /// the restored checkpoint's history (others move into `dir/.rolled-back/`, parts of it set
  /// aside earlier move back), commits what restore() took and deletes leftover in-progress
  /// files, each for the old subtasks i with i % parallelism == subtask. On a fresh start in a
  /// directory the sink owns, deletes the parts and in-progress files of those old subtasks.
  void open(OperatorContext& ctx);
  std::string& line_buffer() { return buffer_; }
  /// Ends the line just appended; writes out when the buffer is large.
  void end_line() {
    buffer_ += '\n';
    if (buffer_.size() >= 256 * 1024) write_out();
  }
  /// Hands the buffered lines to the current transaction (beginning one if none is open).
  void write_out();
  /// Checkpoint `checkpoint_id` passes: pre-commits the current transaction (if it holds
  /// data) and returns all pending transactions, encoded.
  std::string pre_commit(int64_t checkpoint_id);
  /// Commits every pending transaction of a checkpoint <= `checkpoint_id`.
  void commit(int64_t checkpoint_id);
  /// Without checkpoints, commits what was written; with checkpoints, drops what was not
  /// pre-committed (its in-progress file stays until a restore deletes it).
  void close();

 private:
  std::string dir_;
  int subtask_;
  std::string txn_prefix_;  // random, per writer
  uint64_t next_txn_ = 0;
  std::shared_ptr<LineFile> file_;  // the current transaction's file; null while none is open
  std::string file_path_;
  std::string buffer_;
  IoService* io_ = nullptr;
  bool checkpointing_ = false;
  std::vector<Pending> pending_;
  bool owns_dir_ = false;
  bool restored_ = false;  // restore() was called
  std::optional<Lineage> restored_lineage_;  // from the restored state (none in older states)
  Lineage lineage_;
  std::vector<Pending> to_recommit_;
  std::vector<std::string> keep_;  // file names of every restored pending in-progress file
};
}  // namespace detail

/// Writes each record as a line into part files in directory `dir`, exactly once
/// (two-phase commit, as Flink's FileSink): a subtask writes into an in-progress file
/// `dir/.in-progress/part-<subtask>-<txn>`, pre-commits it when a checkpoint n passes, and
/// renames it to `dir/part-<subtask>-<n>` when checkpoint n completes. A restore commits
/// the pending files of the restored checkpoint, moves parts committed by later checkpoints
/// aside into `dir/.rolled-back/` (so the output is exactly what the restored checkpoint
/// committed; a recovery that found no usable checkpoint moves every part aside) and deletes
/// in-progress files written after it. With `owns_dir`, the directory is the sink's alone and
/// a fresh start deletes what earlier runs left there. Without checkpoints, a subtask's output appears as `dir/part-<subtask>-0` at
/// close. Readers should list only `part-*` files (see read_committed_lines). Checkpoint
/// ids must keep increasing across restores: committing onto an existing final name fails.
template <class T>
class CommittingFileSink final : public Sink<T> {
 public:
  explicit CommittingFileSink(std::string dir, bool owns_dir = false) : dir_(std::move(dir)), owns_dir_(owns_dir) {}
  std::unique_ptr<SinkWriter<T>> create_writer(int subtask, int) const override {
    return std::make_unique<Writer>(dir_, subtask, owns_dir_);
  }
  std::string name() const override { return "Committing File Sink (" + dir_ + ")"; }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    Writer(const std::string& dir, int subtask, bool owns_dir) : files_(dir, subtask, owns_dir) {}
    void open(OperatorContext& ctx) override { files_.open(ctx); }
    void write(T&& v, int64_t) override {
      format_to(files_.line_buffer(), v);
      files_.end_line();
    }
    void flush() override { files_.write_out(); }
    void end_input() override { files_.write_out(); }
    void close() override { files_.close(); }
    std::string snapshot_state(int64_t id) override { return files_.pre_commit(id); }
    void restore_state(const std::vector<std::string>& states, int subtask, int parallelism) override {
      files_.restore(states, subtask, parallelism);
    }
    void notify_checkpoint_complete(int64_t id) override { files_.commit(id); }

   private:
    detail::CommittingFiles files_;
  };
  std::string dir_;
  bool owns_dir_ = false;
};

/// The lines of every committed part file (`part-*`) directly in `dir`, files in natural
/// name order (subtask, then checkpoint); in-progress files are left out. A missing `dir`
/// holds no lines. Blocking: for tests and tools, never on a task's thread. Throws
/// std::runtime_error naming the file when one cannot be read.
std::vector<std::string> read_committed_lines(const std::string& dir);

/// What a CollectSink gathered from all its subtasks (in-process jobs and tests).
template <class T>
class Collected {
 public:
  std::vector<T> values() const {
    std::lock_guard<std::mutex> l(mu_);
    return values_;
  }
  size_t size() const {
    std::lock_guard<std::mutex> l(mu_);
    return values_.size();
  }
  void append(std::vector<T>& batch) {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& v : batch) values_.push_back(std::move(v));
    batch.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<T> values_;
};

/// Collects records into memory where the job's main runs; each writer hands its batch over
/// at every flush and at end. On a cluster the main runs in the master and the writers on
/// agents: each batch travels to the master encoded. Like Flink's collect(), it is not
/// exactly-once: after a restart, records since the last checkpoint come again.
template <class T>
class CollectSink final : public Sink<T> {
 public:
  CollectSink() : out_(std::make_shared<Collected<T>>()) {}
  std::shared_ptr<Collected<T>> collected() const { return out_; }
  std::unique_ptr<SinkWriter<T>> create_writer(int, int) const override {
    return std::make_unique<Writer>(out_);
  }
  std::string name() const override { return "Collect Sink"; }
  std::function<void(std::string_view)> receiver() const override {
    return [out = out_](std::string_view batch) {
      auto values = decode_from_string<std::vector<T>>(batch);
      out->append(values);
    };
  }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    explicit Writer(std::shared_ptr<Collected<T>> out) : out_(std::move(out)) {}
    void open(OperatorContext& ctx) override { channel_ = ctx.result_channel(); }
    void write(T&& v, int64_t) override {
      batch_.push_back(std::move(v));
      if (batch_.size() >= 4096) hand_over();
    }
    void flush() override { hand_over(); }
    void end_input() override { hand_over(); }

   private:
    void hand_over() {
      if (!channel_) return out_->append(batch_);
      if (batch_.empty()) return;
      channel_(encode_to_string(batch_));
      batch_.clear();
    }
    std::shared_ptr<Collected<T>> out_;
    std::function<void(std::string&&)> channel_;  // empty: the main is in this process
    std::vector<T> batch_;
  };
  std::shared_ptr<Collected<T>> out_;
};

/// Drops every record (benchmarks).
template <class T>
class DiscardSink final : public Sink<T> {
 public:
  std::unique_ptr<SinkWriter<T>> create_writer(int, int) const override {
    return std::make_unique<Writer>();
  }
  std::string name() const override { return "Discard Sink"; }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    void write(T&&, int64_t) override {}
  };
};

namespace detail {
/// Runs a SinkWriter as the last operator of a chain.
template <class T>
class SinkOperator final : public OperatorBase, public Output<T> {
 public:
  explicit SinkOperator(std::unique_ptr<SinkWriter<T>> w) : writer_(std::move(w)) {}
  ElementSink* input(int) override { return this; }
  void set_output(const std::string&, ElementSink*) override {}
  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    writer_->open(ctx);
  }
  void close() override { writer_->close(); }
  void flush() override { writer_->flush(); }
  void on_wakeup() override { writer_->on_wakeup(); }
  std::string snapshot_state(int64_t id) override { return writer_->snapshot_state(id); }
  void restore_state(const std::vector<std::string>& states, int subtask, int parallelism) override {
    writer_->restore_state(states, subtask, parallelism);
  }
  void notify_checkpoint_complete(int64_t id) override { writer_->notify_checkpoint_complete(id); }
  void push(T&& v, int64_t ts) override {
    try {
      writer_->write(std::move(v), ts);
    } catch (...) {
      rethrow_in(*ctx_);
    }
  }
  void watermark(int64_t) override {}
  void end_input() override {
    try {
      writer_->end_input();
    } catch (...) {
      rethrow_in(*ctx_);
    }
  }

 private:
  std::unique_ptr<SinkWriter<T>> writer_;
};
}  // namespace detail

}  // namespace sluice
