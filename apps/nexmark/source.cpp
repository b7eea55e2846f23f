// apps/nexmark/source.cpp — split assignment, round-robin interleaving, watermarks, pacing.
#include "source.hpp"

#include <algorithm>
#include <limits>
#include <sluice/codec.hpp>
#include <sluice/error.hpp>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace sluice::nexmark {
namespace {

/// Bumped when the bytes `encode_position` writes change meaning.
constexpr uint8_t position_format = 1;

/// What identifies the stream a position belongs to: event count, splits, rates.
using StreamKey = std::tuple<int64_t, int32_t, int32_t, int32_t>;
/// (format, stream, split positions as (split, position), emitted watermark, since watermark).
using PositionBytes =
    std::tuple<uint8_t, StreamKey, std::vector<std::pair<int32_t, int64_t>>, int64_t, int32_t>;

StreamKey stream_key(const GeneratorConfig& stream) {
  return {stream.resolved_max_events(), stream.num_event_generators, stream.first_event_rate,
          stream.next_event_rate};
}

std::string describe(const StreamKey& key) {
  const auto& [events, splits, first_rate, next_rate] = key;
  std::string text = std::to_string(events) + " events in " + std::to_string(splits) +
                     " splits at rate " + std::to_string(first_rate);
  if (next_rate != first_rate) text += "/" + std::to_string(next_rate);
  return text;
}

}  // namespace

std::string encode_position(const ReaderPosition& position, const GeneratorConfig& stream) {
  std::vector<std::pair<int32_t, int64_t>> splits;
  splits.reserve(position.state.splits.size());
  for (const SplitPosition& at : position.state.splits) splits.emplace_back(at.split, at.position);
  return encode_to_string(PositionBytes{position_format, stream_key(stream), std::move(splits),
                                        position.emitted_watermark, position.since_watermark});
}

ReaderPosition decode_position(const std::string& bytes, const GeneratorConfig& stream) {
  PositionBytes decoded;
  try {
    decoded = decode_from_string<PositionBytes>(bytes);
  } catch (const DecodeError& e) {
    throw JobError(std::string("the Nexmark source cannot resume from a malformed position (") +
                   e.what() + ")");
  }
  auto& [format, key, splits, emitted_watermark, since_watermark] = decoded;
  if (format != position_format) {
    throw JobError("the Nexmark source cannot resume from a position of format " +
                   std::to_string(format) + "; it reads format " + std::to_string(position_format));
  }
  if (key != stream_key(stream)) {
    throw JobError("the Nexmark source was checkpointed over " + describe(key) +
                   " and cannot resume over " + describe(stream_key(stream)));
  }
  ReaderPosition position;
  for (const auto& [split, at] : splits) position.state.splits.push_back(SplitPosition{split, at});
  position.emitted_watermark = emitted_watermark;
  position.since_watermark = since_watermark;
  return position;
}

SourceReaderState initial_reader_state(int32_t num_splits, int subtask, int parallelism) {
  SourceReaderState state;
  for (int32_t split = subtask; split < num_splits; split += parallelism) {
    state.splits.push_back(SplitPosition{split, 0});
  }
  return state;
}

SplitInterleaver::SplitInterleaver(const std::vector<GeneratorConfig>& splits,
                                   const SourceReaderState& state, int64_t out_of_orderness_ms)
    : out_of_orderness_ms_(out_of_orderness_ms) {
  lanes_.reserve(state.splits.size());
  for (const SplitPosition& at : state.splits) {
    if (at.split < 0 || static_cast<size_t>(at.split) >= splits.size()) {
      throw std::invalid_argument("Nexmark reader state names split " + std::to_string(at.split) +
                                  " of a stream with " + std::to_string(splits.size()));
    }
    const GeneratorConfig& config = splits[static_cast<size_t>(at.split)];
    if (at.position < 0 || at.position > config.resolved_max_events()) {
      throw std::invalid_argument("Nexmark reader state puts split " + std::to_string(at.split) +
                                  " at position " + std::to_string(at.position) + " of " +
                                  std::to_string(config.resolved_max_events()) + " events");
    }
    Timeline timeline(config);
    // The watermark of the split's last event, as if this interleaver had emitted it.
    const int64_t last_timestamp =
        at.position > 0
            ? timeline.timestamp(config.next_event_number_for_watermark(at.position - 1))
            : std::numeric_limits<int64_t>::min();
    lanes_.push_back(
        Lane{at.split, SplitReader(config, at.position), std::move(timeline), last_timestamp});
    if (lanes_.back().reader.has_next()) ++unfinished_;
  }
  std::sort(lanes_.begin(), lanes_.end(),
            [](const Lane& a, const Lane& b) { return a.split < b.split; });
  cursor_ = lanes_.size();
  settle();
}

void SplitInterleaver::settle() {
  if (unfinished_ == 0) return;
  for (;;) {
    if (cursor_ >= lanes_.size()) {
      cursor_ = 0;
      round_ = std::numeric_limits<int64_t>::max();
      for (const Lane& lane : lanes_) {
        if (lane.reader.has_next()) round_ = std::min(round_, lane.reader.position());
      }
    }
    const Lane& lane = lanes_[cursor_];
    if (lane.reader.has_next() && lane.reader.position() == round_) return;
    ++cursor_;
  }
}

NextEvent SplitInterleaver::next() {
  Lane& lane = lanes_[cursor_];
  NextEvent event = lane.reader.next();
  lane.last_timestamp = event.watermark;
  if (!lane.reader.has_next()) --unfinished_;
  ++cursor_;
  settle();
  return event;
}

int64_t SplitInterleaver::next_timestamp() const {
  const Lane& lane = lanes_[cursor_];
  const GeneratorConfig& config = lane.reader.config();
  return lane.timeline.timestamp(config.next_adjusted_event_number(lane.reader.position()));
}

int64_t SplitInterleaver::watermark() const {
  int64_t low = std::numeric_limits<int64_t>::max();
  for (const Lane& lane : lanes_) {
    if (!lane.reader.has_next()) continue;
    if (lane.last_timestamp == std::numeric_limits<int64_t>::min()) return lane.last_timestamp;
    low = std::min(low, lane.last_timestamp - out_of_orderness_ms_);
  }
  return low;
}

SourceReaderState SplitInterleaver::state() const {
  SourceReaderState state;
  state.splits.reserve(lanes_.size());
  for (const Lane& lane : lanes_) {
    state.splits.push_back(SplitPosition{lane.split, lane.reader.position()});
  }
  return state;
}

std::chrono::nanoseconds Pacer::wait_for(int64_t event_timestamp) {
  const auto now = clock_();
  if (!start_) {
    start_ = now;
    first_timestamp_ = event_timestamp;
  }
  const auto due = *start_ + std::chrono::milliseconds(event_timestamp - first_timestamp_);
  return due - now;
}

NexmarkReader::NexmarkReader(const std::vector<GeneratorConfig>& splits,
                             const SourceReaderState& state, const SourceOptions& options,
                             int subtask, int parallelism)
    : interleaver_(splits, state, options.out_of_orderness_ms),
      stream_(options.stream),
      stepped_clock_(options.stepped_clock),
      subtask_(subtask),
      watermark_interval_(std::max(1, options.watermark_interval)) {
  if (options.realtime) pacer_.emplace(options.clock);
  if (stepped_clock_) stepped_clock_->join(subtask, parallelism);
}

NexmarkReader::NexmarkReader(const std::vector<GeneratorConfig>& splits,
                             const ReaderPosition& position, const SourceOptions& options,
                             int subtask, int parallelism)
    : NexmarkReader(splits, position.state, options, subtask, parallelism) {
  emitted_watermark_ = position.emitted_watermark;
  since_watermark_ = position.since_watermark;
}

std::string NexmarkReader::position() const { return encode_position(reader_position(), stream_); }

ReaderPosition NexmarkReader::reader_position() const {
  return ReaderPosition{interleaver_.state(), emitted_watermark_, since_watermark_};
}

SourceStatus NexmarkReader::poll(Output<Event>& out, int max_records) {
  for (int i = 0; i < max_records; ++i) {
    if (!interleaver_.has_next()) return finish();
    if ((pacer_ && pacer_->wait_for(interleaver_.next_timestamp()).count() > 0) ||
        (stepped_clock_ && !stepped_clock_->admit(subtask_, interleaver_.next_timestamp()))) {
      emit_watermark(out);
      return SourceStatus::waiting;
    }
    NextEvent next = interleaver_.next();
    if (stepped_clock_) stepped_clock_->emitted(subtask_, next.event);
    out.push(std::move(next.event), next.event_timestamp);
    if (++since_watermark_ >= watermark_interval_) emit_watermark(out);
  }
  return interleaver_.has_next() ? SourceStatus::more : finish();
}

SourceStatus NexmarkReader::finish() {
  if (stepped_clock_) stepped_clock_->ended(subtask_);
  return SourceStatus::finished;
}

void NexmarkReader::emit_watermark(Output<Event>& out) {
  since_watermark_ = 0;
  const int64_t wm = interleaver_.watermark();
  if (wm > emitted_watermark_ && wm != max_watermark) {
    emitted_watermark_ = wm;
    out.watermark(wm);
  }
}

NexmarkSource::NexmarkSource(SourceOptions options)
    : options_(std::move(options)), splits_(stream_splits(options_.stream)) {}

std::unique_ptr<SourceReader<Event>> NexmarkSource::create_reader(int subtask,
                                                                  int parallelism) const {
  return std::make_unique<NexmarkReader>(
      splits_, initial_reader_state(static_cast<int32_t>(splits_.size()), subtask, parallelism),
      options_, subtask, parallelism);
}

std::unique_ptr<SourceReader<Event>> NexmarkSource::resume_reader(
    int subtask, int parallelism, const std::string& position) const {
  return std::make_unique<NexmarkReader>(splits_, decode_position(position, options_.stream),
                                         options_, subtask, parallelism);
}

}  // namespace sluice::nexmark
