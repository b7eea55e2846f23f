// checkpoint/work_directory.cpp — per-process working directories, and sweeping those of dead processes.
#include "checkpoint/work_directory.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <set>
#include <system_error>

#include "sluice/error.hpp"

namespace sluice::checkpoint {

namespace {

/// Removes `<base>/<prefix><pid>-*` of every pid that no longer runs; once per base and
/// prefix in this process.
void remove_stale(const std::filesystem::path& base, const std::string& prefix) {
  static std::mutex mu;
  static std::set<std::string> swept;
  std::lock_guard<std::mutex> l(mu);
  if (!swept.insert((base / prefix).string()).second) return;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
    auto name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    auto dash = name.find('-', prefix.size());
    if (dash == std::string::npos || dash == prefix.size()) continue;
    pid_t pid = 0;
    try {
      pid = pid_t(std::stol(name.substr(prefix.size(), dash - prefix.size())));
    } catch (const std::exception&) {
      continue;
    }
    if (pid <= 0 || pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    std::filesystem::remove_all(entry.path(), rm);
  }
}

}  // namespace

std::filesystem::path new_work_directory(const std::filesystem::path& base, const std::string& prefix,
                                         const std::string& what) {
  static std::atomic<uint64_t> next{0};
  std::error_code ec;
  std::filesystem::create_directories(base, ec);
  if (ec) throw JobError(what + " could not create its base directory '" + base.string() + "': " + ec.message());
  remove_stale(base, prefix);
  for (;;) {
    auto dir = base / (prefix + std::to_string(::getpid()) + "-" + std::to_string(next++));
    if (std::filesystem::create_directory(dir, ec)) return dir;
    if (ec) throw JobError(what + " could not create its working directory '" + dir.string() + "': " + ec.message());
  }
}

}  // namespace sluice::checkpoint
