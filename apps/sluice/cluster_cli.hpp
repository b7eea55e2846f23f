// apps/sluice/cluster_cli.hpp — `sluice master`, `sluice agent` and the cluster client of `sluice run`: their options and how each runs.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <iosfwd>
#include <string>
#include <vector>

namespace sluice::cli {

struct MasterCommand {
  std::string host = "127.0.0.1";
  int port = 6123;
  std::string checkpoint_dir, work_dir, secret_file;
  std::chrono::milliseconds heartbeat_interval{1000}, heartbeat_timeout{5000}, slot_timeout{30'000};
  bool insecure = false;
};

struct AgentCommand {
  std::string master;
  int slots = 1;
  std::string host = "127.0.0.1";
  int data_port = 0;
  std::string work_dir, secret_file, name;
};

/// `sluice run --master`: where the job goes instead of this process.
struct ClusterClient {
  std::string master;  ///< empty: embedded
  std::string secret_file;
  bool detached = false;
};

/// `sluice jobs`, `sluice cancel ID`, `sluice savepoint ID`, `sluice stop ID [--drain]`.
struct JobCommand {
  ClusterClient client;
  std::string job_id;
  bool drain = false;
};

CLI::App* add_master_command(CLI::App& app, MasterCommand& c);
/// Adds the four job commands; returns them in the order above.
std::vector<CLI::App*> add_job_commands(CLI::App& app, JobCommand& c);
/// Runs job command `name` against the master: 0 done (the list or the savepoint's path on
/// `out`), 1 the master could not (the sentence on `err`), 2 a usage error or a refused client.
int run_job_command(const std::string& name, const JobCommand& c, std::ostream& out, std::ostream& err);
/// Adds `--master`, `--secret-file` and `--detached` to `sluice run`.
void add_cluster_client_options(CLI::App& run, ClusterClient& c);
/// `args` without the options add_cluster_client_options adds (and their values): what the
/// master and agents parse.
std::vector<std::string> without_client_options(std::vector<std::string> args);
/// Uploads the library at `job_path`, submits it with `options` and, unless detached, stays
/// until its main returns: the same exit statuses as embedded (detached: 0 once accepted,
/// with the job id on `out`).
int submit_to_cluster(const ClusterClient& c, const std::string& job_path, const std::vector<std::string>& options,
                      std::ostream& out, std::ostream& err);
CLI::App* add_agent_command(CLI::App& app, AgentCommand& c);

/// Runs until SIGINT or SIGTERM. The first line on `out` is `sluice master listening on
/// HOST:PORT`; agents registered and lost follow, a line each. 2 on a usage error.
int run_master(const MasterCommand& c, std::ostream& out, std::ostream& err);
/// Runs until SIGINT or SIGTERM, or until the master refuses the agent for good (exit 2).
int run_agent(const AgentCommand& c, std::ostream& out, std::ostream& err);

}  // namespace sluice::cli
