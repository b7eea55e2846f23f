// operators/include/sluice/logging.hpp — one named spdlog logger per module; quiet (warn) on stderr unless --log-level says otherwise, and each subtask's recent lines kept for the console.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace sluice::log {

/// The logger of a module ("runtime", "scheduler", "checkpoint", "operators", "cli"),
/// writing to stderr. Include <spdlog/spdlog.h> where you log.
std::shared_ptr<spdlog::logger> get(const std::string& module);
inline std::shared_ptr<spdlog::logger> runtime() { return get("runtime"); }
inline std::shared_ptr<spdlog::logger> cli() { return get("cli"); }

/// Sets every module's level: trace, debug, info, warn, error, off. Throws
/// std::invalid_argument naming the text for anything else.
void set_level(const std::string& level);

/// The last lines logged for one subtask (the console's log command). Lines at info and
/// above are kept whatever the level of stderr (below info only when the level lets them
/// through). Touched only by the thread running the subtask: no lock.
class LogRing {
 public:
  explicit LogRing(size_t capacity = 256) : capacity_(capacity) {}
  void add(std::string line);
  /// The last `n` lines, oldest first.
  std::vector<std::string> last(size_t n) const;
  /// Lines that no longer fit and were dropped.
  uint64_t dropped() const { return dropped_; }
  size_t capacity() const { return capacity_; }

 private:
  std::deque<std::string> lines_;
  size_t capacity_;
  uint64_t dropped_ = 0;
};

/// While alive, lines logged on this thread (by any module, user code included) are also kept
/// in `ring`; scopes nest.
class LogScope {
 public:
  explicit LogScope(LogRing* ring);
  ~LogScope();
  LogScope(const LogScope&) = delete;
  LogScope& operator=(const LogScope&) = delete;

 private:
  LogRing* previous_;
};

}  // namespace sluice::log
