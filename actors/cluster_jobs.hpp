// actors/cluster_jobs.hpp — the master's jobs: a submitted library's main runs in the master (application mode), and each job it submits gets a job master actor whose subtasks are deployed on agents.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "actors/agent_registry.hpp"
#include "actors/cluster.hpp"
#include "actors/job_library.hpp"
#include "actors/route_table.hpp"
#include "sluice/job.hpp"

namespace sluice::runtime {

struct ClusterJobsOptions {
  /// Where jobs that name no checkpoint directory keep theirs: `<dir>/<job name>`.
  std::string checkpoint_dir;
  /// How long a deployment waits for free slots before the attempt fails.
  std::chrono::milliseconds slot_timeout{30'000};
  /// `sluice run` options and job arguments to a JobContext; throws with one sentence.
  std::function<JobContext(const std::vector<std::string>&)> parse_options;
};

/// How the jobs reach the rest of the master: the agents registered now, and a message to
/// one of them (false when it is not connected).
struct AgentDirectory {
  std::function<std::vector<AgentInfo>()> agents;
  std::function<bool(const std::string& agent, const ClusterMessage& m)> send;
};

class ClusterJobs {
 public:
  ClusterJobs(ClusterJobsOptions options, LibraryStore& libraries, AgentDirectory agents,
              std::function<void(const std::string&)> say);
  ~ClusterJobs();
  ClusterJobs(const ClusterJobs&) = delete;
  ClusterJobs& operator=(const ClusterJobs&) = delete;

  /// A client's submission: the library's main starts on a thread of its own. `reply` reaches
  /// the client from any thread (accepted, output, ended) and says false once it is gone.
  void submit(const ClusterMessage& m, const std::string& client, std::function<bool(const ClusterMessage&)> reply);
  /// Cancels every job and waits for the mains to return (at most 10 s; the rest are left to
  /// the process's end). Submissions after it are refused. True when every main returned.
  bool stop();
  /// A client's job request: the list of jobs, or a cancel, savepoint or stop of one (waits for
  /// the savepoint).
  ClusterMessage answer(const ClusterMessage& request);
  /// An agent's report, gone or quiet.
  void on_agent_message(const std::string& agent, const ClusterMessage& m);
  /// Every job the mains submitted (ended ones: the last 100), oldest first.
  std::vector<std::shared_ptr<JobHandle>> jobs() const;
  /// Slots of `agent` that deployed subtasks hold.
  int slots_used(const std::string& agent) const;
  /// An agent is lost: its subtasks are gone, and their jobs fail over.
  void on_agent_lost(const std::string& agent, const std::string& why);
  /// An agent registered: BATCH jobs may run wider waves again (up to their slots at start).
  void on_slots_changed();

  struct Shared;
  /// A copy of `shared`'s jobs, taken under its lock and used without it: a job's own lock
  /// comes before the shared one, never after.
  static std::vector<std::shared_ptr<JobHandle>> jobs_of(Shared& shared);

 private:
  std::shared_ptr<Shared> shared_;
  int detached_ = 0;  // mains stop() left running
};

}  // namespace sluice::runtime
