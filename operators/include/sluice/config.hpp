// operators/include/sluice/config.hpp — the settings of a job's execution, each with its default.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <cstdint>
#include <string>

#include "sluice/hash.hpp"

namespace sluice {

/// Processing time, in epoch milliseconds. Inject a ManualClock to make processing-time
/// behaviour (timers, TTL, processing-time windows) deterministic in tests.
class ProcessingClock {
 public:
  virtual ~ProcessingClock() = default;
  virtual int64_t now() const = 0;
};

/// The wall clock (the default).
class SystemClock final : public ProcessingClock {
 public:
  int64_t now() const override;
};

/// A clock that moves only when told to.
class ManualClock final : public ProcessingClock {
 public:
  explicit ManualClock(int64_t start = 0) : now_(start) {}
  int64_t now() const override { return now_.load(); }
  void set(int64_t t) { now_.store(t); }
  void advance(int64_t ms) { now_.fetch_add(ms); }

 private:
  std::atomic<int64_t> now_;
};

/// How a job runs over its input (Flink's execution.runtime-mode).
enum class ExecutionMode {
  streaming,  ///< pipelined exchanges, checkpoints, results as they come (the default)
  batch,      ///< bounded input only: blocking exchanges, stage by stage, no checkpoints
  automatic,  ///< batch when every source is bounded, else streaming
};

/// Where keyed state lives.
enum class StateBackendKind {
  heap,     ///< C++ objects in hash maps: fastest, bounded by memory (the default)
  rocksdb,  ///< serialised in an embedded RocksDB per keyed operator subtask
};

/// How tasks treat checkpoint barriers (docs/checkpoints.md, Flink's FLIP-76).
enum class CheckpointingMode {
  aligned,               ///< exactly once: a task waits for barrier n on every input (default)
  unaligned,             ///< exactly once: barriers overtake in-flight data, which is persisted
  aligned_with_timeout,  ///< aligned, switching to unaligned when alignment takes too long
  at_least_once,         ///< no alignment: replay may process a record twice
};
const char* checkpointing_mode_name(CheckpointingMode m);

/// What happens when a task fails while checkpointing is on (Flink's restart strategies).
struct RestartStrategy {
  enum class Kind {
    none,               ///< the job fails
    fixed_delay,        ///< up to `limit` restarts, `delay` apart
    exponential_delay,  ///< unlimited restarts; delay doubles from `delay` up to `max_delay`
    failure_rate,       ///< restart after `delay` unless more than `limit` failures fall within `interval`
  };
  Kind kind = Kind::fixed_delay;
  /// fixed_delay: restarts allowed; failure_rate: failures allowed within `interval`.
  int limit = 3;
  std::chrono::milliseconds delay{1000};
  std::chrono::milliseconds max_delay{60000};
  std::chrono::milliseconds interval{60000};
};

/// Checkpointing of a job. Off unless `interval` is set; `restore` works without it.
struct CheckpointConfig {
  /// Time between periodic checkpoints. 0 (the default) disables checkpointing.
  std::chrono::milliseconds interval{0};
  /// Where checkpoints go (`chk-<n>/` directories). Default `./checkpoints/<job name>`.
  std::string dir;
  CheckpointingMode mode = CheckpointingMode::aligned;
  /// aligned_with_timeout: how long a barrier may wait before it turns unaligned.
  std::chrono::milliseconds alignment_timeout{0};
  /// A checkpoint not complete after this long is aborted. Default 10 minutes.
  std::chrono::milliseconds timeout{10 * 60 * 1000};
  /// Least time between the end of one checkpoint and the start of the next. Default 0.
  std::chrono::milliseconds min_pause{0};
  /// Failed checkpoints in a row the job tolerates. Default 0.
  int tolerable_failures = 0;
  /// Complete checkpoints kept. Default 3.
  int retained = 3;
  /// Start from this checkpoint or savepoint directory, or `latest` (the newest complete
  /// checkpoint in `dir`; none means start from scratch). Empty (the default): no restore.
  std::string restore;
  /// Restore even when a state in the checkpoint matches no operator of the job.
  bool allow_non_restored_state = false;
  /// Applies while checkpointing is on; without checkpoints a failed task fails the job.
  RestartStrategy restart;
  bool enabled() const { return interval.count() > 0; }
};

/// How a job runs. Every field states its default; all are fixed once the job starts.
struct ExecutionConfig {
  /// Parallelism of operators that do not set their own. 0 means the machine's hardware threads.
  int parallelism = 0;
  /// STREAMING (the default), BATCH or AUTOMATIC (JobGraph::batch decides).
  ExecutionMode execution_mode = ExecutionMode::streaming;
  /// BATCH: subtasks that run at once (an embedded run's slots); a stage wider than that runs
  /// its subtasks in waves. 0 (the default): no limit.
  int slots = 0;
  /// BATCH: where blocking partitions go (a directory per job below it, removed when the job
  /// ends); in STREAMING, where a map_partition spills (a `sluice-sort-<pid>-<n>` directory, removed
  /// with it, or by the next process when this one was killed). Empty (the default):
  /// state_dir, else the system's temporary directory.
  std::string batch_dir;
  /// BATCH: bytes each keyed subtask sorts its input in (the records, their index and the
  /// merge's read buffers); what does not fit spills to disk beside the partitions. Also what
  /// a full-partition map holds in memory, in either mode. Default 64 MiB.
  uint64_t batch_memory = uint64_t(64) << 20;
  /// Number of key groups, the upper bound of a keyed operator's parallelism. Default 128.
  int max_parallelism = default_max_parallelism;
  /// Capacity of one network buffer (one frame of records) in bytes. Default 32 KiB.
  uint32_t buffer_size = 32 * 1024;
  /// Buffers each input channel owns (its initial credit). Default 2; at least 1.
  uint32_t exclusive_buffers = 2;
  /// Buffers each input gate shares among its channels by announced backlog. Default 8.
  uint32_t floating_buffers = 8;
  /// Full buffers a sender may queue per output channel before its task stops consuming. Default 2.
  uint32_t output_queue_buffers = 2;
  /// Buffers beyond those a subtask's output to one exchange may queue on any of its channels,
  /// shared among them (Flink's floating buffers of a result partition). Default 8. They absorb
  /// a burst (window results, pre-aggregated partials at a watermark) without stopping the task.
  uint32_t output_floating_buffers = 8;
  /// Longest time a partly filled buffer waits before it is sent (latency bound). Default 5 ms.
  std::chrono::milliseconds buffer_timeout{5};
  /// Chain forward-connected operators of equal parallelism into one task. Default on.
  bool chaining = true;
  /// Pre-aggregate sliced window aggregates before the shuffle (local-global aggregation: an
  /// operator chained before the key_by, see WindowedStream::aggregate). Decided when the
  /// window is built. Default on; a test that drives the window operator alone through the
  /// harness turns it off.
  bool pre_aggregation = true;
  /// CAF worker threads. 0 means the machine's hardware threads.
  int worker_threads = 0;
  /// Messages an actor handles before giving its worker back. Default 16.
  int max_throughput = 16;
  /// Records a source emits, or a task reads, in one step before yielding. Default 1024.
  int step_records = 1024;
  /// How often tasks publish their probes. Default 100 ms.
  std::chrono::milliseconds probe_interval{100};
  /// Keyed state backend of every keyed operator. Default heap.
  StateBackendKind state_backend = StateBackendKind::heap;
  /// Working directory of RocksDB state (each subtask makes its own directory below it and
  /// removes it when done). Empty (the default) means the system's temporary directory.
  std::string state_dir;
  /// Memory of RocksDB state in this process, in bytes: its block cache, index and filter
  /// blocks and memtables share it (memtables at most half), as Flink's managed memory. Each
  /// keyed subtask's record cache (rocksdb_record_cache) comes on top. 0 (the default): a
  /// 64 MiB block cache and up to two 8 MiB memtables per state and subtask.
  uint64_t rocksdb_memory = 0;
  /// Bytes of records each keyed subtask on RocksDB keeps in front of it, decoded into none
  /// but read and written without a RocksDB call (a write-back cache, as Kafka Streams'
  /// record cache). Default 32 MiB: q12's windows of bidders need more than 8 (at 8 MiB
  /// q12 ran at half the speed, its evicted records flushed and read back).
  uint64_t rocksdb_record_cache = uint64_t(32) << 20;
  /// How often watermark generators emit periodic watermarks. Default 200 ms.
  std::chrono::milliseconds auto_watermark_interval{200};
  /// Where processing time comes from. Null (the default) means the system clock.
  std::shared_ptr<const ProcessingClock> clock;
  /// Outstanding blocking I/O jobs (file writes, reads) per task before it stops consuming. Default 4.
  int io_queue_limit = 4;

  /// Checkpoints, restore and restarts. Default off.
  CheckpointConfig checkpoint;
  /// The parallelism after resolving 0 to the hardware thread count.
  int effective_parallelism() const;
  int effective_worker_threads() const;
};

/// The longest duration a setting takes: 365 days (clock arithmetic stays far from overflow).
inline constexpr std::chrono::milliseconds max_duration{365LL * 86'400'000};
/// Parses a duration as the CLI writes it: `300ms`, `2s`, `5m`, `1h`, `2d`, or a bare number
/// of milliseconds, at most max_duration. Throws std::invalid_argument with a sentence naming
/// the text (and the allowed range when it is too long).
std::chrono::milliseconds parse_duration(const std::string& text);
/// Parses `aligned`, `unaligned`, `timeout:DURATION` (aligned with that alignment timeout)
/// or `at-least-once` into `c`. Throws std::invalid_argument naming the text.
void parse_checkpointing_mode(const std::string& text, CheckpointConfig& c);
/// Parses `none`, `fixed-delay:ATTEMPTS:DELAY`, `exponential:DELAY:MAX_DELAY` or
/// `failure-rate:FAILURES:INTERVAL:DELAY`. Throws std::invalid_argument naming the text.
RestartStrategy parse_restart_strategy(const std::string& text);
/// Parses `streaming`, `batch` or `automatic`. Throws std::invalid_argument naming the text.
ExecutionMode parse_execution_mode(const std::string& text);
const char* execution_mode_name(ExecutionMode m);
/// Parses a size: `64kb`, `32mb`, `1gb`, or a bare number of bytes. Throws
/// std::invalid_argument naming the text when it is malformed or does not fit 64 bits.
uint64_t parse_size(const std::string& text);

}  // namespace sluice
