// apps/common/cli_options.cpp — shared options: a parse error as a usage error; checkpoint settings into a CheckpointConfig.
#include "cli_options.hpp"

#include <filesystem>
#include <stdexcept>

namespace sluice::cli {

namespace {

/// The mode as --checkpoint-mode reads it.
std::string mode_text(const CheckpointConfig& c) {
  switch (c.mode) {
    case CheckpointingMode::aligned:
      return "aligned";
    case CheckpointingMode::unaligned:
      return "unaligned";
    case CheckpointingMode::aligned_with_timeout:
      return "timeout:" + format_duration(c.alignment_timeout);
    case CheckpointingMode::at_least_once:
      return "at-least-once";
  }
  return "?";
}

/// The strategy as --restart-strategy reads it.
std::string restart_text(const RestartStrategy& r) {
  switch (r.kind) {
    case RestartStrategy::Kind::none:
      return "none";
    case RestartStrategy::Kind::fixed_delay:
      return "fixed-delay:" + std::to_string(r.limit) + ":" + format_duration(r.delay);
    case RestartStrategy::Kind::exponential_delay:
      return "exponential-delay:" + format_duration(r.delay) + ":" + format_duration(r.max_delay);
    case RestartStrategy::Kind::failure_rate:
      return "failure-rate:" + std::to_string(r.limit) + ":" + format_duration(r.interval) +
             ":" + format_duration(r.delay);
  }
  return "?";
}

}  // namespace

CLI::Option* add_parsed_option(CLI::App& command, const std::string& name,
                               std::function<void(const std::string&)> apply,
                               const std::string& help) {
  return command.add_option_function<std::string>(
      name,
      [name, apply = std::move(apply)](const std::string& text) {
        try {
          apply(text);
        } catch (const std::invalid_argument& e) {
          throw CLI::ValidationError(name, e.what());
        }
      },
      help);
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms == 0) return "0";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1'000 == 0) return std::to_string(ms / 1'000) + "s";
  return std::to_string(ms) + "ms";
}

void add_checkpoint_options(CLI::App& command, CheckpointConfig& config) {
  const std::string group = "Checkpoints";
  const CheckpointConfig defaults = config;
  add_parsed_option(
      command, "--checkpoint-interval",
      [&config](const std::string& text) { config.interval = parse_duration(text); },
      "time between checkpoints, e.g. 1s (default " +
          (defaults.interval.count() == 0 ? std::string("0: no checkpoints")
                                          : format_duration(defaults.interval)) +
          ")")
      ->type_name("DURATION")
      ->group(group);
  command
      .add_option(
          "--checkpoint-dir", config.dir,
          "where checkpoints go, as chk-<n>/ directories (default " +
              (defaults.dir.empty() ? std::string("checkpoints/<job name>") : defaults.dir) + ")")
      ->type_name("DIR")
      ->group(group);
  add_parsed_option(
      command, "--checkpoint-mode",
      [&config](const std::string& text) { parse_checkpointing_mode(text, config); },
      "aligned, unaligned, timeout:DURATION (aligned, turning unaligned when alignment takes "
      "longer) or at-least-once (default " +
          mode_text(defaults) + ")")
      ->type_name("MODE")
      ->group(group);
  add_parsed_option(
      command, "--checkpoint-timeout",
      [&config](const std::string& text) {
        const auto timeout = parse_duration(text);
        if (timeout.count() == 0)
          throw std::invalid_argument("'" + text +
                                      "' would abort every checkpoint; give a positive duration");
        config.timeout = timeout;
      },
      "abort a checkpoint not complete after this long (default " +
          format_duration(defaults.timeout) + ")")
      ->type_name("DURATION")
      ->group(group);
  add_parsed_option(
      command, "--min-pause",
      [&config](const std::string& text) { config.min_pause = parse_duration(text); },
      "least time from the end of one checkpoint to the start of the next (default " +
          format_duration(defaults.min_pause) + ")")
      ->type_name("DURATION")
      ->group(group);
  command
      .add_option("--tolerable-failed-checkpoints", config.tolerable_failures,
                  "failed checkpoints in a row the job tolerates before it fails (default " +
                      std::to_string(defaults.tolerable_failures) + ")")
      ->check(whole_number<int>(0, 1'000'000))
      ->group(group);
  command
      .add_option("--retained-checkpoints", config.retained,
                  "complete checkpoints kept (default " + std::to_string(defaults.retained) + ")")
      ->check(whole_number<int>(1, 1'000'000))
      ->group(group);
  add_parsed_option(
      command, "--restore",
      [&config](const std::string& text) {
        std::error_code ec;
        if (text != "latest" && !std::filesystem::exists(text, ec))
          throw std::invalid_argument("checkpoint '" + text + "' does not exist");
        config.restore = text;
      },
      "start from this checkpoint or savepoint directory, or from `latest`, the newest complete "
      "checkpoint in the checkpoint dir (default: start afresh)")
      ->type_name("PATH|latest")
      ->group(group);
  command
      .add_flag("--allow-non-restored-state", config.allow_non_restored_state,
                "restore even when the checkpoint holds state that no operator of the job takes")
      ->group(group);
  add_parsed_option(
      command, "--restart-strategy",
      [&config](const std::string& text) { config.restart = parse_restart_strategy(text); },
      "after a task fails, while checkpointing is on: none, fixed-delay:RESTARTS:DELAY, "
      "exponential-delay:DELAY:MAX_DELAY or failure-rate:FAILURES:INTERVAL:DELAY (default " +
          restart_text(defaults.restart) + ")")
      ->type_name("STRATEGY")
      ->group(group);
}

uint64_t parse_size_within(const std::string& text, uint64_t min, uint64_t max, const char* range) {
  auto size = parse_size(text);
  if (size < min || size > max)
    throw std::invalid_argument("'" + text + "' is outside the allowed range, " + range);
  return size;
}

namespace {
/// A size flag (`64mb`) within [min, max]; `range` says the bounds in words.
void add_size_option(CLI::App& command, const char* name, uint64_t& bytes, uint64_t min, uint64_t max,
                     const char* range, const std::string& help) {
  add_parsed_option(
      command, name, [&bytes, min, max, range](const std::string& text) { bytes = parse_size_within(text, min, max, range); },
      help)
      ->type_name("SIZE");
}
}  // namespace

void add_rocksdb_memory_option(CLI::App& command, uint64_t& bytes) {
  add_size_option(command, "--rocksdb-memory", bytes, uint64_t(16) << 20, uint64_t(1) << 40, "16mb to 1tb",
                  "memory of RocksDB state in this process, e.g. 256mb: block cache, index and filter blocks and "
                  "memtables share it (default: a 64mb block cache and memtables per state)");
}

void add_execution_mode_option(CLI::App& command, ExecutionMode& mode) {
  add_parsed_option(
      command, "--execution-mode", [&mode](const std::string& text) { mode = parse_execution_mode(text); },
      "streaming (pipelined, checkpointed), batch (bounded input: blocking exchanges, stage by stage) or "
      "automatic (batch when every source is bounded); default streaming")
      ->type_name("MODE");
}

void add_slots_option(CLI::App& command, int& slots) {
  command
      .add_option("--slots", slots,
                  "BATCH: subtasks that run at once; a stage wider than that runs in waves (default: no limit)")
      ->check(CLI::Range(1, 1 << 20));
}

void add_batch_memory_option(CLI::App& command, uint64_t& bytes) {
  add_size_option(command, "--batch-memory", bytes, uint64_t(1) << 20, uint64_t(1) << 40, "1mb to 1tb",
                  "BATCH: memory each keyed subtask sorts its input in, e.g. 256mb; the rest spills to disk "
                  "(default 64mb); also what a map_partition holds in memory, in either mode");
}

void add_rocksdb_record_cache_option(CLI::App& command, uint64_t& bytes) {
  add_size_option(command, "--rocksdb-record-cache", bytes, uint64_t(1) << 20, uint64_t(64) << 30, "1mb to 64gb",
                  "records each keyed subtask on RocksDB caches in front of it, e.g. 64mb (default 32mb)");
}

}  // namespace sluice::cli
