// apps/sluice/cluster_cli.cpp — `sluice master`, `sluice agent` and `sluice run --master`: options, the shared secret, the loopback rule, running until a signal, submitting a job library.
#include "cluster_cli.hpp"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <mutex>
#include <ostream>
#include <sstream>
#include <thread>

#include "actors/agent_tasks.hpp"
#include "actors/cluster.hpp"
#include "actors/cluster_agent.hpp"
#include "actors/cluster_master.hpp"
#include "actors/connection.hpp"
#include "actors/console_service.hpp"
#include "sluice/error.hpp"
#include "sluice/logging.hpp"
#include "cli.hpp"
#include "cli_options.hpp"
#include "sluice/config.hpp"

namespace sluice::cli {

namespace {

/// Blocks SIGINT and SIGTERM in this thread and those it starts after, so that wait_for_signal
/// takes them.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

/// A line-at-a-time writer that several threads share.
struct Lines {
  std::ostream& out;
  std::mutex mu;
  void operator()(const std::string& line) {
    std::lock_guard lock(mu);
    out << line << std::endl;
  }
};

}  // namespace

CLI::App* add_master_command(CLI::App& app, MasterCommand& c) {
  auto* m =
      app.add_subcommand("master", "run the cluster's master: agents register with it, clients submit jobs to it");
  m->add_option("--host", c.host, "address to listen on (default 127.0.0.1)");
  m->add_option("--port", c.port, "port to listen on; 0 picks a free one (default 6123)")
      ->check(whole_number(0, 65535));
  m->add_option("--console-port", c.console_port,
                "port of the console service (REST, /metrics) on --host; 0 picks a free one (default 8081)")
      ->check(whole_number(0, 65535));
  m->add_option("--checkpoint-dir", c.checkpoint_dir, "where jobs' checkpoints go, shared by every host");
  m->add_option("--work-dir", c.work_dir, "where the master keeps job libraries");
  m->add_option("--secret-file", c.secret_file, "file holding the secret every agent and client must prove");
  add_parsed_option(
      *m, "--heartbeat-interval", [&c](const std::string& t) { c.heartbeat_interval = parse_duration(t); },
      "how often agents and master beat (default 1s)");
  add_parsed_option(
      *m, "--heartbeat-timeout", [&c](const std::string& t) { c.heartbeat_timeout = parse_duration(t); },
      "an agent silent this long is lost (default 5s)");
  add_parsed_option(
      *m, "--slot-timeout", [&c](const std::string& t) { c.slot_timeout = parse_duration(t); },
      "how long a job waits for free slots before its attempt fails (default 30s)");
  m->add_flag("--insecure", c.insecure, "allow a non-loopback address without --secret-file");
  m->add_option("--log-level", c.log_level, "trace, debug, info, warn, error or off (default warn)");
  return m;
}

CLI::App* add_agent_command(CLI::App& app, AgentCommand& c) {
  auto* a =
      app.add_subcommand("agent", "run a node agent: it offers slots to the master and runs the subtasks it is given");
  a->add_option("--master", c.master, "the master's HOST:PORT")->required();
  a->add_option("--slots", c.slots, "subtask slots this agent offers")->required()->check(whole_number(1, 4096));
  a->add_option("--host", c.host, "address of this host that other agents reach (default 127.0.0.1)");
  a->add_option("--data-port", c.data_port, "port of the data plane; 0 picks a free one (default 0)")
      ->check(whole_number(0, 65535));
  a->add_option("--work-dir", c.work_dir, "where the agent keeps job libraries");
  a->add_option("--secret-file", c.secret_file, "file holding the master's secret");
  a->add_option("--name", c.name, "the agent's name (default HOSTNAME-PID)");
  a->add_option("--log-level", c.log_level, "trace, debug, info, warn, error or off (default warn)");
  return a;
}

std::vector<CLI::App*> add_job_commands(CLI::App& app, JobCommand& c) {
  auto* jobs = app.add_subcommand("jobs", "list the jobs of a cluster: id, state, name");
  auto* cancel = app.add_subcommand("cancel", "cancel a job on a cluster");
  auto* savepoint = app.add_subcommand("savepoint", "take a savepoint of a job on a cluster and print its path");
  auto* stop = app.add_subcommand("stop", "stop a job on a cluster with a savepoint and print its path");
  auto* probes = app.add_subcommand("probes", "print the latest probes of a job's subtasks on a cluster, a line each");
  for (auto* command : {jobs, cancel, savepoint, stop, probes}) {
    command->add_option("--master", c.client.master, "the master's HOST:PORT")->required();
    command->add_option("--secret-file", c.client.secret_file, "file holding the master's secret");
    if (command != jobs) command->add_option("id", c.job_id, "the job's id (see sluice jobs)")->required();
  }
  stop->add_flag("--drain", c.drain, "end the sources first: windows fire and timers run before the savepoint");
  for (auto* command : {savepoint, stop})
    command->add_option("--dir", c.dir,
                        "copy the savepoint to DIR/savepoint-N with the shared files it needs (default: it stays in "
                        "the job's checkpoint directory)");
  return {jobs, cancel, savepoint, stop, probes};
}

int run_job_command(const std::string& name, const JobCommand& c, std::ostream& out, std::ostream& err) {
  using runtime::ClusterMessage;
  std::string secret;
  try {
    secret = read_secret(c.client.secret_file);
    check_host_port(c.client.master, "--master");
  } catch (const std::invalid_argument& e) {
    err << "sluice " << name << ": " << e.what() << "\n";
    return 2;
  }
  auto request = name == "jobs"        ? ClusterMessage::Request::list
                 : name == "cancel"    ? ClusterMessage::Request::cancel
                 : name == "savepoint" ? ClusterMessage::Request::savepoint
                 : name == "probes"    ? ClusterMessage::Request::probes
                                       : ClusterMessage::Request::stop;
  try {
    constexpr std::chrono::milliseconds timeout{10'000};
    auto connection = connect_client(c.client, secret, timeout);
    connection->send(encode(ClusterMessage::job_request_of(request, c.job_id, c.drain, c.dir)), timeout);
    // A savepoint takes what it takes; the master answers once it completed or failed.
    for (;;) {
      auto b = connection->receive(std::chrono::milliseconds(1000));
      if (!b) {
        if (connection->closed()) throw runtime::NetworkError("the master " + c.client.master + " closed the connection");
        continue;
      }
      auto m = runtime::decode_cluster(*b);
      if (m.kind != ClusterMessage::Kind::job_reply) continue;
      if (!m.reason.empty()) {
        err << "sluice " << name << ": " << m.reason << "\n";
        return 1;
      }
      if (request == ClusterMessage::Request::list || request == ClusterMessage::Request::probes) out << m.text;
      else if (request == ClusterMessage::Request::cancel) out << "job " << c.job_id << " canceled\n";
      else out << "savepoint stored in " << m.text << "\n";
      return 0;
    }
  } catch (const runtime::AuthenticationError& e) {
    err << "sluice " << name << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    err << "sluice " << name << ": " << e.what() << "\n";
    return 1;
  }
}

int run_master(const MasterCommand& c, std::ostream& out, std::ostream& err) {
  runtime::MasterOptions o;
  try {
    o.secret = read_secret(c.secret_file);
    if (o.secret.empty() && !runtime::loopback(c.host) && !c.insecure)
      throw std::invalid_argument(
          "--host " + c.host + " is reachable from other hosts: give --secret-file, or --insecure to run without one");
    if (c.heartbeat_interval >= c.heartbeat_timeout)
      throw std::invalid_argument("--heartbeat-interval " + format_duration(c.heartbeat_interval) +
                                  " must be shorter than --heartbeat-timeout " + format_duration(c.heartbeat_timeout));
    sluice::log::set_level(c.log_level);
  } catch (const std::invalid_argument& e) {
    err << "sluice master: " << e.what() << "\n";
    return 2;
  }
  o.host = c.host;
  o.port = c.port;
  o.work_dir = c.work_dir;
  o.heartbeat_interval = c.heartbeat_interval;
  o.heartbeat_timeout = c.heartbeat_timeout;
  o.jobs.checkpoint_dir = c.checkpoint_dir;
  o.jobs.slot_timeout = c.slot_timeout;
  o.jobs.parse_options = parse_run_options;
  auto signals = block_stop_signals();
  Lines lines{out, {}};
  try {
    runtime::MasterServer server(o, [&lines](const std::string& l) { lines(l); });
    lines("sluice master listening on " + c.host + ":" + std::to_string(server.port()));
    runtime::ConsoleOptions console_options;
    console_options.host = c.host;
    console_options.port = c.console_port;
    console_options.secret = o.secret;
    console_options.insecure = c.insecure;
    runtime::ConsoleService console(server.introspection(), console_options);
    err << "sluice console endpoint on " << console.endpoint() << std::endl;
    int sig = 0;
    sigwait(&signals, &sig);
    console.stop();
    server.stop();
  } catch (const runtime::NetworkError& e) {
    err << "sluice master: " << e.what() << "\n";
    return 2;
  } catch (const UsageError& e) {
    err << "sluice master: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

int run_agent(const AgentCommand& c, std::ostream& out, std::ostream& err) {
  runtime::AgentOptions o;
  try {
    o.secret = read_secret(c.secret_file);
    check_host_port(c.master, "--master");
    sluice::log::set_level(c.log_level);
  } catch (const std::invalid_argument& e) {
    err << "sluice agent: " << e.what() << "\n";
    return 2;
  }
  o.master = c.master;
  o.slots = c.slots;
  if (c.name.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    o.name = std::string(host) + "-" + std::to_string(getpid());
  } else {
    o.name = c.name;
  }
  auto signals = block_stop_signals();
  Lines lines{out, {}};
  Lines log{err, {}};
  runtime::AgentTasksOptions t;
  t.name = o.name;
  t.master = o.master;
  t.secret = o.secret;
  t.work_dir = c.work_dir;
  t.data_host = c.host;
  t.data_port = c.data_port;
  t.worker_threads = c.slots;
  t.parse_options = parse_run_options;
  std::unique_ptr<runtime::AgentTasks> tasks;
  try {
    tasks = std::make_unique<runtime::AgentTasks>(t, [&log](const std::string& l) { log(l); });
  } catch (const runtime::NetworkError& e) {
    err << "sluice agent: " << e.what() << "\n";
    return 2;
  }
  o.data_address = tasks->data_address();
  runtime::AgentLink link(
      o, [&lines](const std::string& l) { lines(l); }, [&log](const std::string& l) { log(l); });
  link.attach(*tasks);
  // A signal stops the link; a link that ends by itself sends the signal the waiter takes.
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    link.stop();
  });
  int status = link.run();
  if (status != 0) kill(getpid(), SIGTERM);
  waiter.join();
  tasks->stop();
  return status;
}

}  // namespace sluice::cli
