// operators/include/sluice/sinks.hpp — sinks: the writer interface and the built-in print, file, collect and discard sinks.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

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
};

/// A sink: makes one writer per subtask.
template <class T>
class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::unique_ptr<SinkWriter<T>> create_writer(int subtask, int parallelism) const = 0;
  virtual std::string name() const = 0;
};

namespace detail {
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
  std::shared_ptr<struct LineFile> file_;
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

/// Collects records into memory; each writer hands its batch over at every flush and at end.
template <class T>
class CollectSink final : public Sink<T> {
 public:
  CollectSink() : out_(std::make_shared<Collected<T>>()) {}
  std::shared_ptr<Collected<T>> collected() const { return out_; }
  std::unique_ptr<SinkWriter<T>> create_writer(int, int) const override {
    return std::make_unique<Writer>(out_);
  }
  std::string name() const override { return "Collect Sink"; }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    explicit Writer(std::shared_ptr<Collected<T>> out) : out_(std::move(out)) {}
    void write(T&& v, int64_t) override {
      batch_.push_back(std::move(v));
      if (batch_.size() >= 4096) out_->append(batch_);
    }
    void flush() override { out_->append(batch_); }
    void end_input() override { out_->append(batch_); }

   private:
    std::shared_ptr<Collected<T>> out_;
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
