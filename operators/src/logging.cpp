// operators/src/logging.cpp — module loggers over spdlog, all sharing one level.
#include "sluice/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <stdexcept>

namespace sluice::log {

namespace {
std::mutex mu;
spdlog::level::level_enum current = spdlog::level::warn;
}  // namespace

std::shared_ptr<spdlog::logger> get(const std::string& module) {
  std::lock_guard<std::mutex> l(mu);
  auto name = "sluice." + module;
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_level(current);
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%n] %v");
  return logger;
}

void set_level(const std::string& level) {
  auto l = spdlog::level::from_str(level);
  if (l == spdlog::level::off && level != "off")
    throw std::invalid_argument("unknown log level '" + level +
                                "' (use trace, debug, info, warn, error or off)");
  std::lock_guard<std::mutex> g(mu);
  current = l;
  spdlog::apply_all([l](const std::shared_ptr<spdlog::logger>& lg) { lg->set_level(l); });
}

}  // namespace sluice::log
