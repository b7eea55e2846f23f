// actors/probe_registry.hpp — the latest probe snapshot of every subtask, written by the tasks, read by introspection.
#pragma once

#include <mutex>
#include <vector>

#include "sluice/probe.hpp"

namespace sluice::runtime {

/// Tasks publish here on their own schedule; readers never wait behind a task's data.
class ProbeRegistry {
 public:
  /// One entry per subtask of the job, by flat index.
  explicit ProbeRegistry(size_t subtasks) : probes_(subtasks) {}
  void publish(size_t index, TaskProbe p) {
    std::lock_guard<std::mutex> l(mu_);
    probes_.at(index) = std::move(p);
  }
  std::vector<TaskProbe> snapshot() const {
    std::lock_guard<std::mutex> l(mu_);
    return probes_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<TaskProbe> probes_;
};

}  // namespace sluice::runtime
