// apps/sluice/cluster_cli.hpp — `sluice master` and `sluice agent`: their options and how each runs until a signal.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <iosfwd>
#include <string>

namespace sluice::cli {

struct MasterCommand {
  std::string host = "127.0.0.1";
  int port = 6123;
  std::string checkpoint_dir, work_dir, secret_file;
  std::chrono::milliseconds heartbeat_interval{1000}, heartbeat_timeout{5000};
  bool insecure = false;
};

struct AgentCommand {
  std::string master;
  int slots = 1;
  std::string host = "127.0.0.1";
  int data_port = 0;
  std::string work_dir, secret_file, name;
};

CLI::App* add_master_command(CLI::App& app, MasterCommand& c);
CLI::App* add_agent_command(CLI::App& app, AgentCommand& c);

/// Runs until SIGINT or SIGTERM. The first line on `out` is `sluice master listening on
/// HOST:PORT`; agents registered and lost follow, a line each. 2 on a usage error.
int run_master(const MasterCommand& c, std::ostream& out, std::ostream& err);
/// Runs until SIGINT or SIGTERM, or until the master refuses the agent for good (exit 2).
int run_agent(const AgentCommand& c, std::ostream& out, std::ostream& err);

}  // namespace sluice::cli
