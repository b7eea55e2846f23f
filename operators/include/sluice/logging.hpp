// operators/include/sluice/logging.hpp — one named spdlog logger per module; quiet (warn) unless --log-level says otherwise.
#pragma once

#include <memory>
#include <string>

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

}  // namespace sluice::log
