// apps/common/cluster_client.cpp — the client's side of a cluster: the secret file, HOST:PORT, an authenticated connection, uploading and submitting a job library and staying attached.
#include "cluster_client.hpp"

#include <unistd.h>

#include <cctype>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>

#include "actors/cluster.hpp"
#include "cli_options.hpp"
#include "actors/console_service.hpp"
#include "sluice/error.hpp"

namespace sluice::cli {

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

/// An authenticated client connection to `c.master`; throws NetworkError or AuthenticationError.
std::unique_ptr<runtime::Connection> connect_client(const ClusterClient& c, const std::string& secret,
                                                    std::chrono::milliseconds timeout) {
  auto connection = runtime::dial(c.master, timeout);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  runtime::authenticate_to_master(*connection, secret, runtime::PeerRole::client,
                                  "sluice-client@" + std::string(host) + "-" + std::to_string(getpid()), timeout);
  return connection;
}

void add_console_service_options(CLI::App& run, ConsoleServiceFlags& c) {
  run.add_option("--console-port", c.port,
                 "serve the console, REST and /metrics on this port while the job runs; 0 picks a free one")
      ->check(whole_number(0, 65535))
      ->group("Console");
  run.add_option("--console-host", c.host,
                 "address the console service listens on (default 127.0.0.1; another needs --secret-file)")
      ->group("Console");
}

std::shared_ptr<runtime::ConsoleService> start_console_service(const ConsoleServiceFlags& c,
                                                               const std::string& secret_file, std::ostream& err) {
  if (c.port < 0) return nullptr;
  runtime::ConsoleOptions o;
  o.host = c.host;
  o.port = c.port;
  try {
    o.secret = read_secret(secret_file);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  runtime::IntrospectionSource source{{}, [] { return running_jobs(); }};
  auto service = std::make_shared<runtime::ConsoleService>(std::move(source), o);
  err << "sluice console endpoint on " << service->endpoint() << std::endl;
  return service;
}

void add_cluster_client_options(CLI::App& run, ClusterClient& c) {
  run.add_option("--master", c.master, "run on the cluster of the master at HOST:PORT")->group("Cluster");
  run.add_option("--secret-file", c.secret_file, "file holding the master's secret")->group("Cluster");
  run.add_flag("--detached", c.detached, "print the job id and return once the master accepted it")->group("Cluster");
}

std::vector<std::string> without_client_options(std::vector<std::string> args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--") {
      out.insert(out.end(), args.begin() + long(i), args.end());
      break;
    }
    if (a == "--detached") continue;
    if (a == "--master" || a == "--secret-file" || a == "--console-port" || a == "--console-host") {
      ++i;  // and its value
      continue;
    }
    if (a.rfind("--master=", 0) == 0 || a.rfind("--secret-file=", 0) == 0 || a.rfind("--console-port=", 0) == 0 ||
        a.rfind("--console-host=", 0) == 0)
      continue;
    out.push_back(a);
  }
  return out;
}

int submit_to_cluster(const ClusterClient& c, const std::string& job_path, const std::vector<std::string>& options,
                      std::ostream& out, std::ostream& err, const std::string& who) {
  using runtime::ClusterMessage;
  constexpr std::chrono::milliseconds timeout{10'000};
  std::string secret, bytes;
  try {
    secret = read_secret(c.secret_file);
    check_host_port(c.master, "--master");
    std::ifstream in(job_path, std::ios::binary);
    if (!in) throw std::invalid_argument("cannot read the job library '" + job_path + "'");
    std::stringstream buf;
    buf << in.rdbuf();
    bytes = buf.str();
  } catch (const std::invalid_argument& e) {
    err << who << ": " << e.what() << "\n";
    return 2;
  }
  try {
    auto connection = connect_client(c, secret, timeout);
    auto next = [&](std::chrono::milliseconds wait) -> std::optional<ClusterMessage> {
      auto b = connection->receive(wait);
      if (!b) {
        if (connection->closed()) throw runtime::NetworkError("the master " + c.master + " closed the connection");
        return std::nullopt;
      }
      return runtime::decode_cluster(*b);
    };
    connection->send(encode(ClusterMessage::with_library(ClusterMessage::Kind::upload_library, std::move(bytes))),
                     std::chrono::milliseconds(120'000));
    auto stored = next(std::chrono::milliseconds(120'000));
    if (!stored || stored->kind != ClusterMessage::Kind::library_stored) {
      err << who << ": the master did not store the job library"
          << (stored && stored->kind == ClusterMessage::Kind::refused ? ": " + stored->reason : std::string()) << "\n";
      return 2;
    }
    connection->send(encode(ClusterMessage::submission(stored->hash, options, c.detached)), timeout);
    for (;;) {
      auto m = next(std::chrono::milliseconds(1000));
      if (!m) continue;
      switch (m->kind) {
        case ClusterMessage::Kind::accepted:
          if (c.detached) {
            out << m->text << std::endl;
            return 0;
          }
          break;
        case ClusterMessage::Kind::output: out << m->text << std::flush; break;
        case ClusterMessage::Kind::ended:
          if (m->status != 0) err << who << ": " << m->reason << "\n";
          return m->status;
        case ClusterMessage::Kind::refused: err << who << ": the master refused: " << m->reason << "\n"; return 2;
        default: break;
      }
    }
  } catch (const runtime::AuthenticationError& e) {
    err << who << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    err << who << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace sluice::cli
