// apps/common/cluster_client.hpp — the client's side of a cluster, shared by `sluice` and `nexmark`: the secret file, HOST:PORT checks, an authenticated connection, submitting a job library.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "actors/connection.hpp"

namespace sluice::runtime {
class ConsoleService;
}

namespace sluice::cli {

/// `sluice run --master`: where the job goes instead of this process.
struct ClusterClient {
  std::string master;  ///< empty: embedded
  std::string secret_file;
  bool detached = false;
};

/// The secret in `path` without trailing white space (empty path: no secret); throws
/// std::invalid_argument.
std::string read_secret(const std::string& path);
/// host:port with a port in 1..65535; throws std::invalid_argument naming `option`.
void check_host_port(const std::string& text, const std::string& option);
/// An authenticated client connection to `c.master`; throws NetworkError or AuthenticationError.
std::unique_ptr<runtime::Connection> connect_client(const ClusterClient& c, const std::string& secret,
                                                    std::chrono::milliseconds timeout);

/// The console service of an embedded run: `--console-port` (none: no service) and
/// `--console-host`; its secret is the run's `--secret-file`.
struct ConsoleServiceFlags {
  int port = -1;
  std::string host = "127.0.0.1";
};
/// Adds `--console-port` and `--console-host` to a run command.
void add_console_service_options(CLI::App& run, ConsoleServiceFlags& c);
/// Starts the console service over this process's jobs when `--console-port` was given (else
/// returns null), and writes `sluice console endpoint on HOST:PORT` to `err`. Throws
/// UsageError with one sentence when the secret cannot be read or the port is taken.
std::shared_ptr<runtime::ConsoleService> start_console_service(const ConsoleServiceFlags& c,
                                                               const std::string& secret_file, std::ostream& err);

/// Adds `--master`, `--secret-file` and `--detached` to a run command.
void add_cluster_client_options(CLI::App& run, ClusterClient& c);
/// `args` without the options add_cluster_client_options and add_console_service_options add
/// (and their values): what the master and agents parse.
std::vector<std::string> without_client_options(std::vector<std::string> args);
/// Uploads the library at `job_path`, submits it with `options` and, unless detached, stays
/// until its main returns: the same exit statuses as embedded (detached: 0 once accepted,
/// with the job id on `out`). Errors go to `err` prefixed with `who` ("sluice run").
int submit_to_cluster(const ClusterClient& c, const std::string& job_path, const std::vector<std::string>& options,
                      std::ostream& out, std::ostream& err, const std::string& who = "sluice run");

}  // namespace sluice::cli
