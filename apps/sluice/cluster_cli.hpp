// apps/sluice/cluster_cli.hpp — `sluice master`, `sluice agent` and the cluster client of `sluice run`: their options and how each runs.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <iosfwd>
#include <string>
#include <vector>

#include "cluster_client.hpp"

namespace sluice::cli {

struct MasterCommand {
  std::string host = "127.0.0.1";
  int port = 6123;
  int console_port = 8081;
  std::string checkpoint_dir, work_dir, secret_file;
  std::chrono::milliseconds heartbeat_interval{1000}, heartbeat_timeout{5000}, slot_timeout{30'000};
  bool insecure = false;
  std::string log_level = "warn";  ///< the runtime's log (jobs' stages, restarts) on standard error
};

struct AgentCommand {
  std::string master;
  int slots = 1;
  std::string host = "127.0.0.1";
  int data_port = 0;
  std::string work_dir, secret_file, name;
  std::string log_level = "warn";
};

/// `sluice jobs`, `sluice cancel ID`, `sluice savepoint ID`, `sluice stop ID [--drain]`, `sluice probes ID`.
struct JobCommand {
  ClusterClient client;
  std::string job_id;
  bool drain = false;
  std::string dir;  ///< savepoint, stop: where the savepoint is copied to
};

CLI::App* add_master_command(CLI::App& app, MasterCommand& c);
/// Adds the job commands (and `sluice probes ID`); returns them in the order above.
std::vector<CLI::App*> add_job_commands(CLI::App& app, JobCommand& c);
/// Runs job command `name` against the master: 0 done (the list or the savepoint's path on
/// `out`), 1 the master could not (the sentence on `err`), 2 a usage error or a refused client.
int run_job_command(const std::string& name, const JobCommand& c, std::ostream& out, std::ostream& err);
CLI::App* add_agent_command(CLI::App& app, AgentCommand& c);

/// Runs until SIGINT or SIGTERM. The first line on `out` is `sluice master listening on
/// HOST:PORT`; agents registered and lost follow, a line each. 2 on a usage error.
int run_master(const MasterCommand& c, std::ostream& out, std::ostream& err);
/// Runs until SIGINT or SIGTERM, or until the master refuses the agent for good (exit 2).
int run_agent(const AgentCommand& c, std::ostream& out, std::ostream& err);

}  // namespace sluice::cli
