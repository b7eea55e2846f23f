// apps/nexmark/source.hpp — the Nexmark stream as a Sluice source of splits, with watermarks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <sluice/sources.hpp>
#include <string>
#include <vector>

#include "generator.hpp"
#include "model.hpp"
#include "stepped_clock.hpp"

namespace sluice::nexmark {

/// Where one logical split stands: its index in `stream_splits(whole)` and the number of
/// events it has emitted (`SplitReader::position`).
struct SplitPosition {
  int32_t split = 0;
  int64_t position = 0;

  friend bool operator==(const SplitPosition&, const SplitPosition&) = default;
};

/// The whole state of one source reader: the splits it owns and how far each has been read.
/// It is what a checkpoint stores and what a rescale redistributes; a reader built from it
/// continues exactly where the one it was taken from stood.
struct SourceReaderState {
  std::vector<SplitPosition> splits;

  friend bool operator==(const SourceReaderState&, const SourceReaderState&) = default;
};

/// The splits subtask `subtask` of `parallelism` starts with: split i goes to subtask
/// i % parallelism, every one at position 0. A subtask may get none.
SourceReaderState initial_reader_state(int32_t num_splits, int subtask, int parallelism);

/// Default bounded out-of-orderness of the source's watermarks: 4 s, as the Flink Nexmark DDL.
inline constexpr int64_t default_out_of_orderness_ms = 4000;

/// Merges the splits of one reader into a single stream in timestamp order, round-robin by
/// event number: every unfinished split at the lowest position emits one event, in split
/// order, before any emits its next. All splits of a stream share their timestamps, so the
/// merged timestamps never decrease. No engine types: the source reader and `nexmark
/// generate` both drive it.
class SplitInterleaver {
 public:
  /// `splits` is `stream_splits(whole)`; `state` names the splits read here and their
  /// positions (indices into `splits`).
  SplitInterleaver(const std::vector<GeneratorConfig>& splits, const SourceReaderState& state,
                   int64_t out_of_orderness_ms = default_out_of_orderness_ms);

  bool has_next() const { return unfinished_ > 0; }
  /// The next event of the merged stream. Requires `has_next()`.
  NextEvent next();
  /// Event time of the event `next()` returns. Requires `has_next()`.
  int64_t next_timestamp() const;
  /// Minimum over unfinished splits of (last emitted timestamp - out-of-orderness): no later
  /// event has a smaller timestamp. A split's "last timestamp" is Beam's per-split watermark
  /// of its last event (the one before its position, also when this interleaver was built
  /// from a later state), which is its timestamp unless `out_of_order_group_size` > 1.
  /// INT64_MIN while an unfinished split has emitted nothing; INT64_MAX once every split has
  /// ended. An interleaver built from `state()` therefore reports the same watermarks.
  int64_t watermark() const;
  /// The positions now: a snapshot to build an equal interleaver from.
  SourceReaderState state() const;

 private:
  struct Lane {
    int32_t split;
    SplitReader reader;
    Timeline timeline;
    int64_t last_timestamp;
  };
  /// Moves the cursor onto the lane that emits next.
  void settle();

  std::vector<Lane> lanes_;
  int64_t out_of_orderness_ms_;
  size_t unfinished_ = 0;
  size_t cursor_ = 0;
  int64_t round_ = 0;
};

/// Paces emission to the wall clock: the first event is due when it is first asked about,
/// every later one `timestamp - first timestamp` after it.
class Pacer {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit Pacer(Clock clock) : clock_(std::move(clock)) {}

  /// How long until an event with `event_timestamp` is due; zero or negative when it is.
  std::chrono::nanoseconds wait_for(int64_t event_timestamp);

 private:
  Clock clock_;
  std::optional<std::chrono::steady_clock::time_point> start_;
  int64_t first_timestamp_ = 0;
};

/// How the Nexmark source reads the stream. Fixed once the job starts.
struct SourceOptions {
  /// The whole stream, before splitting (Beam defaults; `max_events` is the event count).
  GeneratorConfig stream;
  /// Pace emission to the wall clock at the stream's rate (default off: as fast as possible).
  bool realtime = false;
  /// Bounded out-of-orderness of the watermarks (default 4000 ms).
  int64_t out_of_orderness_ms = default_out_of_orderness_ms;
  /// Records between watermark checks; a watermark goes out only when it advanced
  /// (default 256).
  int watermark_interval = 256;
  /// The clock `realtime` paces by (default the steady clock).
  Pacer::Clock clock = [] { return std::chrono::steady_clock::now(); };
  /// The processing-time clock the readers step as they emit (default none). Set per job run
  /// by `add_nexmark_job` for q12; the same object must be the job's ExecutionConfig::clock.
  std::shared_ptr<SteppedClock> stepped_clock;
};

/// Everything a reader needs to continue where another stood: its splits' positions and its
/// watermark bookkeeping, so that it emits the same events and the same watermarks.
struct ReaderPosition {
  SourceReaderState state;
  /// The last watermark emitted (min_watermark: none yet).
  int64_t emitted_watermark = min_watermark;
  /// Records pushed since the last watermark check.
  int32_t since_watermark = 0;
};

/// A reader position as checkpoint bytes: a format version, the stream the position belongs
/// to (its event count, splits and rates) and the position itself.
std::string encode_position(const ReaderPosition& position, const GeneratorConfig& stream);
/// Reads `encode_position`'s bytes. Throws JobError with one sentence when they are malformed
/// or were taken over a stream other than `stream` (another event count, split count or rate).
ReaderPosition decode_position(const std::string& bytes, const GeneratorConfig& stream);

/// One subtask's reader: an interleaver over its splits, pushing each event with its dateTime
/// as timestamp. With `realtime`, an event not yet due makes `poll` return `waiting` (it never
/// sleeps); so does, with a `stepped_clock`, an event the clock does not admit yet.
class NexmarkReader final : public SourceReader<Event> {
 public:
  /// `splits` is `stream_splits(options.stream)`; `state` names the splits this reader owns.
  /// The reader is subtask `subtask` of `parallelism` (what a `stepped_clock` needs to know).
  NexmarkReader(const std::vector<GeneratorConfig>& splits, const SourceReaderState& state,
                const SourceOptions& options, int subtask = 0, int parallelism = 1);
  /// A reader continuing from `position` (another reader's `reader_position()`).
  NexmarkReader(const std::vector<GeneratorConfig>& splits, const ReaderPosition& position,
                const SourceOptions& options, int subtask = 0, int parallelism = 1);

  SourceStatus poll(Output<Event>& out, int max_records) override;
  /// `encode_position(reader_position(), options.stream)`: what a checkpoint keeps.
  std::string position() const override;
  /// The split positions of every event pushed so far.
  SourceReaderState state() const { return interleaver_.state(); }
  /// `state()` with the watermark bookkeeping: a reader built from it continues identically,
  /// watermarks included.
  ReaderPosition reader_position() const;

 private:
  void emit_watermark(Output<Event>& out);
  /// The reader has emitted its last event.
  SourceStatus finish();

  SplitInterleaver interleaver_;
  GeneratorConfig stream_;
  std::optional<Pacer> pacer_;
  std::shared_ptr<SteppedClock> stepped_clock_;
  int subtask_;
  int watermark_interval_;
  int since_watermark_ = 0;
  int64_t emitted_watermark_ = min_watermark;
};

/// The Nexmark stream: `stream_splits(options.stream)`, split i read by subtask i % p, so the
/// events do not depend on the parallelism. Its readers keep a position, so a job reading it
/// checkpoints and resumes (at the parallelism it was checkpointed at, which the runtime
/// enforces).
class NexmarkSource final : public Source<Event> {
 public:
  explicit NexmarkSource(SourceOptions options);

  std::unique_ptr<SourceReader<Event>> create_reader(int subtask, int parallelism) const override;
  /// A reader continuing from `position` (NexmarkReader::position()). Throws JobError when the
  /// position is malformed or belongs to another stream.
  std::unique_ptr<SourceReader<Event>> resume_reader(int subtask, int parallelism,
                                                     const std::string& position) const override;
  bool bounded() const override { return true; }
  std::string name() const override { return "Nexmark Source"; }

 private:
  SourceOptions options_;
  std::vector<GeneratorConfig> splits_;
};

}  // namespace sluice::nexmark
