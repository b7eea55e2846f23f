// apps/common/cli_options.hpp — options the `sluice` and `nexmark` command lines share: parsed values, whole numbers, checkpoints.
#pragma once

#include <CLI/CLI.hpp>
#include <charconv>
#include <chrono>
#include <functional>
#include <string>

#include "sluice/config.hpp"

namespace sluice::cli {

/// Adds option `name` with one value that `apply` parses and stores. A std::invalid_argument
/// from `apply` becomes a usage error (CLI::ValidationError) reading `NAME: <its sentence>`.
CLI::Option* add_parsed_option(CLI::App& command, const std::string& name,
                               std::function<void(const std::string&)> apply,
                               const std::string& help);

/// A whole number in [low, high]. CLI11's Range alone would call "abc" out of range.
template <class T>
CLI::Validator whole_number(T low, T high) {
  const std::string range = std::to_string(low) + " to " + std::to_string(high);
  return CLI::Validator(
      [low, high, range](std::string& text) -> std::string {
        T value{};
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, value);
        if (error == std::errc::result_out_of_range ||
            (error == std::errc() && stop == end && (value < low || value > high))) {
          return text + " is out of range (" + range + ")";
        }
        if (error != std::errc() || stop != end) return "'" + text + "' is not a whole number";
        return {};
      },
      "INT in " + range);
}

/// parse_size, refusing a size outside [`min`, `max`] with a sentence naming `range` ("1kb to 1gb").
uint64_t parse_size_within(const std::string& text, uint64_t min, uint64_t max, const char* range);

/// Adds `--rocksdb-memory SIZE` (16mb to 1tb) storing into `bytes`: ExecutionConfig::rocksdb_memory.
void add_rocksdb_memory_option(CLI::App& command, uint64_t& bytes);

/// Adds `--execution-mode streaming|batch|automatic` storing into `mode`: ExecutionConfig::execution_mode.
void add_execution_mode_option(CLI::App& command, ExecutionMode& mode);

/// Adds `--slots N` storing into `slots`: ExecutionConfig::slots.
void add_slots_option(CLI::App& command, int& slots);

/// Adds `--rocksdb-record-cache SIZE` (1mb to 64gb) storing into `bytes`:
/// Adds `--batch-memory SIZE` storing into `bytes`: ExecutionConfig::batch_memory.
void add_batch_memory_option(CLI::App& command, uint64_t& bytes);
/// ExecutionConfig::rocksdb_record_cache.
void add_rocksdb_record_cache_option(CLI::App& command, uint64_t& bytes);

/// Writes a duration as the command line reads it, in its largest exact unit: `0`, `300ms`,
/// `2s`, `5m`, `1h`.
std::string format_duration(std::chrono::milliseconds d);

/// Adds the checkpoint options to `command`, in a "Checkpoints" help group, storing into
/// `config`; the values `config` holds now are the defaults help shows:
/// `--checkpoint-interval`, `--checkpoint-dir`, `--checkpoint-mode`, `--checkpoint-timeout`,
/// `--min-pause`, `--tolerable-failed-checkpoints`, `--retained-checkpoints`, `--restore`,
/// `--allow-non-restored-state`, `--restart-strategy`. A bad value is a usage error naming the
/// option and the value. Without `--checkpoint-dir`, `config.dir` stays as it is (empty: the
/// runtime resolves `checkpoints/<job name>`, the job name being known only at `execute`).
/// `config` must outlive the parse.
void add_checkpoint_options(CLI::App& command, CheckpointConfig& config);

}  // namespace sluice::cli
