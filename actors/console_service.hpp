// actors/console_service.hpp — the introspection service: the console's REST API, Prometheus metrics, served over HTTP by the master and by embedded runs with --console-port.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "actors/introspection.hpp"

namespace sluice::runtime {

struct ConsoleOptions {
  /// Address to listen on (default 127.0.0.1); the command line refuses a non-loopback one
  /// without a secret.
  std::string host = "127.0.0.1";
  /// 0 picks a free port.
  int port = 0;
  /// When set, every request must carry `Authorization: Bearer <secret>`; without one, the
  /// service only answers on loopback.
  std::string secret;
  /// Allows a non-loopback host without a secret (`sluice master --insecure`).
  bool insecure = false;
  /// How often the subtasks' probes are sampled for rates (default 1s).
  std::chrono::milliseconds sample_interval{1000};
  /// The window of the rates in jobs, actors, back-pressure and metrics (default 5s; `top`
  /// takes its own).
  std::chrono::milliseconds window{5000};
};

/// Serves docs/rest.md until stopped. Reads only what tasks published (probes, the checkpoint
/// log); a request never waits on a task.
class ConsoleService {
 public:
  /// Binds and starts serving. Throws UsageError with one sentence when it cannot bind.
  ConsoleService(IntrospectionSource source, ConsoleOptions options);
  ~ConsoleService();
  ConsoleService(const ConsoleService&) = delete;
  ConsoleService& operator=(const ConsoleService&) = delete;

  /// The bound port, and `host:port`.
  int port() const;
  std::string endpoint() const;
  /// Stops serving and sampling (idempotent).
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::runtime
