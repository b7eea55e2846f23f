// apps/sluice/cluster_cli.cpp — `sluice master` and `sluice agent`: options, the shared secret, the loopback rule, running until a signal.
#include "cluster_cli.hpp"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <ostream>
#include <sstream>
#include <thread>

#include "actors/cluster_agent.hpp"
#include "actors/cluster_master.hpp"
#include "cli_options.hpp"
#include "sluice/config.hpp"

namespace sluice::cli {

namespace {

/// The secret in `path` without trailing white space; throws std::invalid_argument.
std::string read_secret(const std::string& path) {
  if (path.empty()) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("--secret-file: cannot read '" + path + "'");
  std::stringstream s;
  s << in.rdbuf();
  std::string secret = s.str();
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
  if (secret.empty()) throw std::invalid_argument("--secret-file: '" + path + "' is empty");
  return secret;
}

bool loopback(const std::string& host) { return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0; }

/// host:port with a port in 1..65535; throws std::invalid_argument.
void check_host_port(const std::string& text, const std::string& option) {
  auto colon = text.rfind(':');
  bool ok = colon != std::string::npos && colon > 0 && colon + 1 < text.size();
  int port = 0;
  if (ok) {
    auto digits = text.substr(colon + 1);
    ok = digits.find_first_not_of("0123456789") == std::string::npos && digits.size() <= 5;
    if (ok) port = std::stoi(digits);
  }
  if (!ok || port < 1 || port > 65535)
    throw std::invalid_argument(option + ": '" + text + "' is not HOST:PORT with a port from 1 to 65535");
}

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
  m->add_option("--checkpoint-dir", c.checkpoint_dir, "where jobs' checkpoints go, shared by every host");
  m->add_option("--work-dir", c.work_dir, "where the master keeps job libraries");
  m->add_option("--secret-file", c.secret_file, "file holding the secret every agent and client must prove");
  add_parsed_option(
      *m, "--heartbeat-interval", [&c](const std::string& t) { c.heartbeat_interval = parse_duration(t); },
      "how often agents and master beat (default 1s)");
  add_parsed_option(
      *m, "--heartbeat-timeout", [&c](const std::string& t) { c.heartbeat_timeout = parse_duration(t); },
      "an agent silent this long is lost (default 5s)");
  m->add_flag("--insecure", c.insecure, "allow a non-loopback address without --secret-file");
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
  return a;
}

int run_master(const MasterCommand& c, std::ostream& out, std::ostream& err) {
  runtime::MasterOptions o;
  try {
    o.secret = read_secret(c.secret_file);
    if (o.secret.empty() && !loopback(c.host) && !c.insecure)
      throw std::invalid_argument(
          "--host " + c.host + " is reachable from other hosts: give --secret-file, or --insecure to run without one");
    if (c.heartbeat_interval >= c.heartbeat_timeout)
      throw std::invalid_argument("--heartbeat-interval " + format_duration(c.heartbeat_interval) +
                                  " must be shorter than --heartbeat-timeout " + format_duration(c.heartbeat_timeout));
  } catch (const std::invalid_argument& e) {
    err << "sluice master: " << e.what() << "\n";
    return 2;
  }
  o.host = c.host;
  o.port = c.port;
  o.work_dir = c.work_dir;
  o.heartbeat_interval = c.heartbeat_interval;
  o.heartbeat_timeout = c.heartbeat_timeout;
  auto signals = block_stop_signals();
  Lines lines{out, {}};
  try {
    runtime::MasterServer server(o, [&lines](const std::string& l) { lines(l); });
    lines("sluice master listening on " + c.host + ":" + std::to_string(server.port()));
    int sig = 0;
    sigwait(&signals, &sig);
    server.stop();
  } catch (const runtime::NetworkError& e) {
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
  } catch (const std::invalid_argument& e) {
    err << "sluice agent: " << e.what() << "\n";
    return 2;
  }
  o.master = c.master;
  o.slots = c.slots;
  o.data_address = c.host + ":" + std::to_string(c.data_port);
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
  runtime::AgentLink link(
      o, [&lines](const std::string& l) { lines(l); }, [&log](const std::string& l) { log(l); });
  // A signal stops the link; a link that ends by itself sends the signal the waiter takes.
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    link.stop();
  });
  int status = link.run();
  if (status != 0) kill(getpid(), SIGTERM);
  waiter.join();
  return status;
}

}  // namespace sluice::cli
