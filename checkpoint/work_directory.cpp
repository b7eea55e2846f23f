// checkpoint/work_directory.cpp — per-process working directories, and sweeping those of dead processes.
#include "checkpoint/work_directory.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cerrno>
#include <mutex>
#include <set>
#include <string_view>
#include <system_error>

#include "sluice/error.hpp"

namespace sluice::checkpoint {

namespace {

/// The pid in a name `<prefix><pid>-<n>` (both numbers all digits); 0 for any other name.
pid_t pid_of(std::string_view name, std::string_view prefix) {
  if (name.substr(0, prefix.size()) != prefix) return 0;
  name.remove_prefix(prefix.size());
  auto dash = name.find('-');
  if (dash == std::string_view::npos) return 0;
  auto digits = [](std::string_view d) {
    return !d.empty() && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  auto pid = name.substr(0, dash), n = name.substr(dash + 1);
  if (!digits(pid) || !digits(n) || pid.size() > 9) return 0;
  pid_t out = 0;
  std::from_chars(pid.data(), pid.data() + pid.size(), out);
  return out;
}

/// Removes `<base>/<prefix><pid>-*` of every pid that no longer runs; once per base and
/// prefix in this process.
void remove_stale(const std::filesystem::path& base, const std::string& prefix) {
  static std::mutex mu;
  static std::set<std::string> swept;
  std::lock_guard<std::mutex> l(mu);
  if (swept.size() >= 1024) swept.clear();  // many per-job bases (BATCH): sweeping again is harmless
  if (!swept.insert((base / prefix).string()).second) return;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
    std::error_code is;
    if (!entry.is_directory(is)) continue;
    auto pid = pid_of(entry.path().filename().string(), prefix);
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
