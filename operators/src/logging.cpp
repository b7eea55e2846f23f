// operators/src/logging.cpp — module loggers over spdlog, all sharing one level.
#include "sluice/logging.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>

namespace sluice::log {

namespace {
std::mutex mu;
spdlog::level::level_enum current = spdlog::level::warn;
thread_local LogRing* ring_of_thread = nullptr;

/// Hands each line to the ring of the subtask this thread works for, if any. The ring is the
/// thread's own while it is set, but the formatter is the sink's, shared by every thread that
/// logs (it caches the time it last formatted): hence the lock.
class RingSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (!ring_of_thread) return;
    spdlog::memory_buf_t text;
    formatter_->format(msg, text);
    size_t n = text.size();
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) --n;
    ring_of_thread->add(std::string(text.data(), std::min<size_t>(n, 2000)));
  }
  void flush_() override {}
};

const std::string pattern = "%Y-%m-%d %H:%M:%S.%e %^%l%$ [%n] %v";

/// Loggers let info through for the rings; stderr keeps the level asked for.
spdlog::level::level_enum logger_level(spdlog::level::level_enum l) { return std::min(l, spdlog::level::info); }
}  // namespace

std::shared_ptr<spdlog::logger> get(const std::string& module) {
  std::lock_guard<std::mutex> l(mu);
  auto name = "sluice." + module;
  if (auto existing = spdlog::get(name)) return existing;
  auto err = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  err->set_level(current);
  auto ring = std::make_shared<RingSink>();
  ring->set_level(logger_level(current));
  auto logger = std::make_shared<spdlog::logger>(name, spdlog::sinks_init_list{err, ring});
  logger->set_level(logger_level(current));
  logger->set_pattern(pattern);
  spdlog::register_logger(logger);
  return logger;
}

void set_level(const std::string& level) {
  auto l = spdlog::level::from_str(level);
  if (l == spdlog::level::off && level != "off")
    throw std::invalid_argument("unknown log level '" + level +
                                "' (use trace, debug, info, warn, error or off)");
  std::lock_guard<std::mutex> g(mu);
  current = l;
  spdlog::apply_all([l](const std::shared_ptr<spdlog::logger>& lg) {
    if (lg->name().rfind("sluice.", 0) != 0) return;
    lg->set_level(logger_level(l));
    auto& sinks = lg->sinks();
    for (auto& s : sinks) s->set_level(dynamic_cast<RingSink*>(s.get()) ? logger_level(l) : l);
  });
}

void LogRing::add(std::string line) {
  if (capacity_ == 0) return;
  if (lines_.size() == capacity_) {
    lines_.pop_front();
    ++dropped_;
  }
  lines_.push_back(std::move(line));
}

std::vector<std::string> LogRing::last(size_t n) const {
  n = std::min(n, lines_.size());
  return std::vector<std::string>(lines_.end() - long(n), lines_.end());
}

LogScope::LogScope(LogRing* ring) : previous_(ring_of_thread) { ring_of_thread = ring; }
LogScope::~LogScope() { ring_of_thread = previous_; }

}  // namespace sluice::log
