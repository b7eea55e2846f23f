// operators/src/config.cpp — execution settings: defaults resolved, durations and sizes parsed.
#include "sluice/config.hpp"

#include <cctype>
#include <stdexcept>
#include <thread>
#include <vector>

namespace sluice {

namespace {
int hardware_threads() {
  auto n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

/// Splits "300ms" into 300 and "ms"; throws when there is no number.
std::pair<uint64_t, std::string> split_number(const std::string& text, const char* what) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 18)
    throw std::invalid_argument(std::string("'") + text + "' is not a " + what);
  std::string unit = text.substr(i);
  for (auto& c : unit) c = char(std::tolower(static_cast<unsigned char>(c)));
  return {std::stoull(text.substr(0, i)), unit};
}
}  // namespace

int64_t SystemClock::now() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int ExecutionConfig::effective_parallelism() const {
  return parallelism > 0 ? parallelism : hardware_threads();
}
int ExecutionConfig::effective_worker_threads() const {
  return worker_threads > 0 ? worker_threads : hardware_threads();
}

std::chrono::milliseconds parse_duration(const std::string& text) {
  auto [n, unit] = split_number(text, "duration (write e.g. 300ms, 2s, 5m)");
  uint64_t ms_per = 0;
  if (unit.empty() || unit == "ms") ms_per = 1;
  else if (unit == "s") ms_per = 1000;
  else if (unit == "m" || unit == "min") ms_per = 60'000;
  else if (unit == "h") ms_per = 3'600'000;
  else if (unit == "d") ms_per = 86'400'000;
  else
    throw std::invalid_argument("'" + text + "' has an unknown duration unit '" + unit + "' (use ms, s, m, h or d)");
  if (n > uint64_t(max_duration.count()) / ms_per)
    throw std::invalid_argument("'" + text + "' is longer than the longest duration allowed, 365d (0 to 365d)");
  return std::chrono::milliseconds(int64_t(n * ms_per));
}

const char* checkpointing_mode_name(CheckpointingMode m) {
  switch (m) {
    case CheckpointingMode::aligned: return "aligned";
    case CheckpointingMode::unaligned: return "unaligned";
    case CheckpointingMode::aligned_with_timeout: return "aligned with timeout";
    case CheckpointingMode::at_least_once: return "at-least-once";
  }
  return "?";
}

namespace {
std::vector<std::string> split_colons(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    auto colon = text.find(':', start);
    parts.push_back(text.substr(start, colon - start));
    if (colon == std::string::npos) return parts;
    start = colon + 1;
  }
}
int parse_count(const std::string& text) {
  auto [n, unit] = split_number(text, "count");
  if (!unit.empty() || n > 1000000000) throw std::invalid_argument("'" + text + "' is not a count");
  return int(n);
}
}  // namespace

ExecutionMode parse_execution_mode(const std::string& text) {
  if (text == "streaming") return ExecutionMode::streaming;
  if (text == "batch") return ExecutionMode::batch;
  if (text == "automatic") return ExecutionMode::automatic;
  throw std::invalid_argument("'" + text + "' is not an execution mode: streaming, batch or automatic");
}

const char* execution_mode_name(ExecutionMode m) {
  switch (m) {
    case ExecutionMode::streaming: return "streaming";
    case ExecutionMode::batch: return "batch";
    case ExecutionMode::automatic: return "automatic";
  }
  return "?";
}

void parse_checkpointing_mode(const std::string& text, CheckpointConfig& c) {
  if (text == "aligned") {
    c.mode = CheckpointingMode::aligned;
  } else if (text == "unaligned") {
    c.mode = CheckpointingMode::unaligned;
  } else if (text == "at-least-once") {
    c.mode = CheckpointingMode::at_least_once;
  } else if (text.rfind("timeout:", 0) == 0) {
    try {
      c.alignment_timeout = parse_duration(text.substr(8));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("'" + text + "' is not a checkpointing mode: " + e.what());
    }
    c.mode = CheckpointingMode::aligned_with_timeout;
  } else {
    throw std::invalid_argument("'" + text +
                                "' is not a checkpointing mode (use aligned, unaligned, "
                                "timeout:DURATION or at-least-once)");
  }
}

RestartStrategy parse_restart_strategy(const std::string& text) {
  const auto p = split_colons(text);
  const auto is = [&p](const char* kind, size_t fields) {
    return p[0] == kind && p.size() == fields;
  };
  if (!is("none", 1) && !is("fixed-delay", 3) && !is("exponential-delay", 3) && !is("exponential", 3) && !is("failure-rate", 4)) {
    throw std::invalid_argument(
        "'" + text +
        "' is not a restart strategy (use none, fixed-delay:RESTARTS:DELAY, "
        "exponential-delay:DELAY:MAX_DELAY or failure-rate:FAILURES:INTERVAL:DELAY)");
  }
  RestartStrategy r;
  try {
    if (p[0] == "none") {
      r.kind = RestartStrategy::Kind::none;
    } else if (p[0] == "fixed-delay") {
      r.kind = RestartStrategy::Kind::fixed_delay;
      r.limit = parse_count(p[1]);
      r.delay = parse_duration(p[2]);
    } else if (p[0] == "exponential-delay" || p[0] == "exponential") {  // "exponential": the old spelling
      r.kind = RestartStrategy::Kind::exponential_delay;
      r.delay = parse_duration(p[1]);
      r.max_delay = parse_duration(p[2]);
      if (r.delay > r.max_delay)
        throw std::invalid_argument("the delay " + p[1] + " is longer than the maximum " + p[2]);
    } else {
      r.kind = RestartStrategy::Kind::failure_rate;
      r.limit = parse_count(p[1]);
      r.interval = parse_duration(p[2]);
      r.delay = parse_duration(p[3]);
    }
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("'" + text + "' is not a restart strategy: " + e.what());
  }
  return r;
}

uint64_t parse_size(const std::string& text) {
  auto [n, unit] = split_number(text, "size (write e.g. 64kb, 32mb)");
  int shift = -1;
  if (unit.empty() || unit == "b") shift = 0;
  else if (unit == "kb" || unit == "k") shift = 10;
  else if (unit == "mb" || unit == "m") shift = 20;
  else if (unit == "gb" || unit == "g") shift = 30;
  else
    throw std::invalid_argument("'" + text + "' has an unknown size unit '" + unit + "' (use b, kb, mb or gb)");
  if (n > (UINT64_MAX >> shift)) throw std::invalid_argument("'" + text + "' is too large a size");
  return n << shift;
}

}  // namespace sluice
