// operators/include/sluice/sources.hpp — sources: the reader interface and the built-in collection, generator and text file sources.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sluice/codec.hpp"
#include "sluice/element.hpp"
#include "sluice/error.hpp"

namespace sluice {

/// Reads one subtask's share of a source.
template <class T>
class SourceReader {
 public:
  virtual ~SourceReader() = default;
  virtual void open(OperatorContext&) {}
  /// Emits at most `max_records` records to `out`, then returns. Never blocks: a reader that
  /// waits for I/O submits it to the context's IoService and returns `waiting`.
  virtual SourceStatus poll(Output<T>& out, int max_records) = 0;
  virtual void close() {}
  /// Where the reader is, as bytes a checkpoint can keep: a reader made by
  /// Source::resume_reader from them emits exactly what this one would emit next.
  /// Empty means the reader cannot resume.
  virtual std::string position() const { return {}; }
};

/// A source: splits its input among the subtasks that read it.
template <class T>
class Source {
 public:
  virtual ~Source() = default;
  virtual std::unique_ptr<SourceReader<T>> create_reader(int subtask, int parallelism) const = 0;
  /// Bounded sources end; their job finishes when all have ended.
  virtual bool bounded() const = 0;
  virtual std::string name() const = 0;
  /// A reader for `subtask` that continues from `position` (SourceReader::position()).
  virtual std::unique_ptr<SourceReader<T>> resume_reader(int subtask, int parallelism,
                                                         const std::string& position) const {
    (void)subtask, (void)parallelism, (void)position;
    throw JobError("source '" + name() + "' cannot resume from a position");
  }
};

namespace detail {
/// Positions of index-based readers: the next index, 8 bytes little-endian.
inline std::string index_position(int64_t next) {
  return std::string(reinterpret_cast<const char*>(&next), sizeof next);
}
inline int64_t index_from_position(const std::string& position, const std::string& source) {
  if (position.size() != sizeof(int64_t))
    throw JobError("source '" + source + "' got a position of " + std::to_string(position.size()) +
                   " bytes; expected 8");
  int64_t next;
  std::memcpy(&next, position.data(), sizeof next);
  return next;
}
}  // namespace detail

/// The elements of a vector; subtask i of p reads elements i, i+p, i+2p, ...
template <class T>
class CollectionSource final : public Source<T> {
 public:
  explicit CollectionSource(std::vector<T> items)
      : items_(std::make_shared<const std::vector<T>>(std::move(items))) {}
  std::unique_ptr<SourceReader<T>> create_reader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(items_, size_t(subtask), parallelism);
  }
  std::unique_ptr<SourceReader<T>> resume_reader(int, int parallelism, const std::string& position) const override {
    return std::make_unique<Reader>(items_, size_t(detail::index_from_position(position, name())), parallelism);
  }
  bool bounded() const override { return true; }
  std::string name() const override { return "Collection Source"; }

 private:
  class Reader final : public SourceReader<T> {
   public:
    Reader(std::shared_ptr<const std::vector<T>> items, size_t next, int parallelism)
        : items_(std::move(items)), next_(next), step_(size_t(parallelism)) {}
    SourceStatus poll(Output<T>& out, int max_records) override {
      for (int i = 0; i < max_records && next_ < items_->size(); ++i, next_ += step_)
        out.push_copy((*items_)[next_], no_timestamp);
      return next_ < items_->size() ? SourceStatus::more : SourceStatus::finished;
    }
    std::string position() const override { return detail::index_position(int64_t(next_)); }

   private:
    std::shared_ptr<const std::vector<T>> items_;
    size_t next_;
    size_t step_;
  };
  std::shared_ptr<const std::vector<T>> items_;
};

/// Records made by a function of their index; `count` < 0 means unbounded. Subtask i of p
/// makes indices i, i+p, i+2p, ... The function may return a value, or a
/// std::pair<value, timestamp> through GeneratorSource::timestamped.
template <class T>
class GeneratorSource final : public Source<T> {
 public:
  using Fn = std::function<T(int64_t)>;
  using TimestampFn = std::function<int64_t(int64_t)>;
  GeneratorSource(int64_t count, Fn fn, TimestampFn ts = {})
      : count_(count), fn_(std::move(fn)), ts_(std::move(ts)) {}
  std::unique_ptr<SourceReader<T>> create_reader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(*this, subtask, parallelism);
  }
  std::unique_ptr<SourceReader<T>> resume_reader(int, int parallelism, const std::string& position) const override {
    return std::make_unique<Reader>(*this, detail::index_from_position(position, name()), parallelism);
  }
  bool bounded() const override { return count_ >= 0; }
  std::string name() const override { return "Generator Source"; }

 private:
  class Reader final : public SourceReader<T> {
   public:
    Reader(const GeneratorSource& s, int64_t next, int parallelism)
        : count_(s.count_), fn_(s.fn_), ts_(s.ts_), next_(next), step_(parallelism) {}
    SourceStatus poll(Output<T>& out, int max_records) override {
      for (int i = 0; i < max_records && (count_ < 0 || next_ < count_); ++i, next_ += step_)
        out.push(fn_(next_), ts_ ? ts_(next_) : no_timestamp);
      return count_ < 0 || next_ < count_ ? SourceStatus::more : SourceStatus::finished;
    }
    std::string position() const override { return detail::index_position(next_); }

   private:
    int64_t count_;
    Fn fn_;
    TimestampFn ts_;
    int64_t next_;
    int64_t step_;
  };
  int64_t count_;
  Fn fn_;
  TimestampFn ts_;
};

/// Lines of a text file (without the line break). The file is split into byte ranges, one per
/// subtask, each starting after a line break; reads run on the I/O executor in 1 MiB chunks.
/// A reader's position is the offset of its next line (with the file's size, so that a file
/// changed since the checkpoint is refused rather than read from a wrong offset).
class TextFileSource final : public Source<std::string> {
 public:
  explicit TextFileSource(std::string path) : path_(std::move(path)) {}
  std::unique_ptr<SourceReader<std::string>> create_reader(int subtask,
                                                           int parallelism) const override;
  std::unique_ptr<SourceReader<std::string>> resume_reader(int subtask, int parallelism,
                                                           const std::string& position) const override;
  bool bounded() const override { return true; }
  std::string name() const override { return "Text File Source (" + path_ + ")"; }

 private:
  std::string path_;
};

namespace detail {
/// Runs a SourceReader as an operator of the task. Its checkpoint state is the reader's
/// position (with the parallelism it was read at, and whether the source had ended).
template <class T>
class SourceOperator final : public SourceOperatorBase {
 public:
  using Resume = std::function<std::unique_ptr<SourceReader<T>>(const std::string& position)>;
  SourceOperator(std::string name, std::unique_ptr<SourceReader<T>> reader, Resume resume)
      : name_(std::move(name)), reader_(std::move(reader)), resume_(std::move(resume)) {}
  void set_output(const std::string& port, ElementSink* out) override {
    if (port.empty()) out_ = static_cast<Output<T>*>(out);
  }
  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    reader_->open(ctx);
  }
  void close() override { reader_->close(); }
  SourceStatus poll(int max_records) override {
    if (!out_ || ended_) return SourceStatus::finished;
    try {
      return reader_->poll(*out_, max_records);
    } catch (...) {
      rethrow_in(*ctx_);
    }
  }
  /// The source ended: the chain below it ends its input.
  void finish() override {
    ended_ = true;
    if (out_) {
      out_->watermark(max_watermark);
      out_->end_input();
    }
  }
  std::string snapshot_state(int64_t) override {
    return encode_to_string(std::make_tuple(int32_t(ctx_->parallelism()), ended_, reader_->position()));
  }
  void restore_state(const std::vector<std::string>& states, int subtask, int parallelism) override {
    if (int(states.size()) != parallelism)
      throw JobError("source '" + name_ + "' was checkpointed at parallelism " +
                     std::to_string(states.size()) + " and cannot resume at " +
                     std::to_string(parallelism) + " (give it a fixed parallelism)");
    if (states[size_t(subtask)].empty()) {  // the subtask had finished: it stays ended
      ended_ = true;
      return;
    }
    auto [p, ended, position] = decode_from_string<std::tuple<int32_t, bool, std::string>>(states[size_t(subtask)]);
    (void)p;
    ended_ = ended;
    if (ended) return;
    if (position.empty())
      throw JobError("source '" + name_ + "' cannot resume from a checkpoint: its reader keeps no position");
    reader_ = resume_(position);
  }

 private:
  std::string name_;
  std::unique_ptr<SourceReader<T>> reader_;
  Resume resume_;
  Output<T>* out_ = nullptr;
  bool ended_ = false;
};
}  // namespace detail

}  // namespace sluice
