// apps/common/child_process.hpp — a child process for multi-process tests and benchmarks: started with posix_spawn, its output in files, killed and reaped with its owner.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace sluice::cli {

class Process {
 public:
  /// Starts argv[0] with its standard output to `out` and its standard error to `err` (to
  /// `out` as well when `err` is empty).
  Process(std::vector<std::string> argv, const std::filesystem::path& out, const std::filesystem::path& err = {}) {
    std::vector<char*> raw;
    for (auto& arg : argv) raw.push_back(arg.data());
    raw.push_back(nullptr);
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err.empty())
      posix_spawn_file_actions_adddup2(&files, STDOUT_FILENO, STDERR_FILENO);
    else
      posix_spawn_file_actions_addopen(&files, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int error = posix_spawn(&pid_, raw[0], &files, nullptr, raw.data(), environ);
    posix_spawn_file_actions_destroy(&files);
    if (error != 0) {
      pid_ = -1;
      throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(error));
    }
  }
  ~Process() { kill(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  /// The wait status once the child has ended; none while it runs.
  std::optional<int> poll() {
    if (status_ || pid_ <= 0) return status_;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
    return status_;
  }
  /// Kills the child with SIGKILL (if it still runs) and reaps it.
  int kill() {
    if (status_ || pid_ <= 0) return status_.value_or(-1);
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = status;
    return status;
  }
  /// Sends `sig` to a running child.
  void signal(int sig) {
    if (!status_ && pid_ > 0) ::kill(pid_, sig);
  }
  /// Waits for the end and gives the wait status (the caller bounds the wait with a signal).
  int wait() {
    if (status_ || pid_ <= 0) return status_.value_or(-1);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = status;
    return status;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

}  // namespace sluice::cli
