// operators/src/config.cpp — execution settings: defaults resolved, durations and sizes parsed.
#include "sluice/config.hpp"

#include <cctype>
#include <stdexcept>
#include <thread>

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
  if (unit.empty() || unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "s") return std::chrono::seconds(n);
  if (unit == "m" || unit == "min") return std::chrono::minutes(n);
  if (unit == "h") return std::chrono::hours(n);
  throw std::invalid_argument("'" + text + "' has an unknown duration unit '" + unit +
                              "' (use ms, s, m or h)");
}

uint64_t parse_size(const std::string& text) {
  auto [n, unit] = split_number(text, "size (write e.g. 64kb, 32mb)");
  if (unit.empty() || unit == "b") return n;
  if (unit == "kb" || unit == "k") return n << 10;
  if (unit == "mb" || unit == "m") return n << 20;
  if (unit == "gb" || unit == "g") return n << 30;
  throw std::invalid_argument("'" + text + "' has an unknown size unit '" + unit +
                              "' (use b, kb, mb or gb)");
}

}  // namespace sluice
