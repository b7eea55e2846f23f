// actors/cluster.hpp — the messages between agents, clients and the master after the handshake (registration, heartbeats, job libraries, jobs and their subtasks) as values, and their wire form (actors/cluster.capnp).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "actors/control.hpp"

namespace sluice::runtime {

/// What an agent is told to run: its subtasks of one attempt of a job.
struct DeployOrder {
  uint32_t route = 0;  ///< the master's number for the attempt; data and reports carry it
  std::string hash;    ///< the job library
  std::vector<std::string> options;  ///< `sluice run` options and the job's arguments
  int32_t graph_index = 0;           ///< which of the main's submissions (0: the first)
  std::string checkpoint_dir;
  std::vector<ControlBuffer> tasks;  ///< encoded TaskDeployments
  std::vector<std::pair<std::string, std::string>> agents;  ///< name and data address of the peers' agents
  std::vector<std::string> topology;  ///< the master's topology lines of the graph
  /// A rescaled run: the graph's default parallelism and each node's own (0: the default),
  /// which the rebuilt graph takes instead of what the main gave it.
  bool rescaled = false;
  int32_t parallelism = 0;
  std::vector<int32_t> node_parallelism{};
  /// BATCH: the run's number among the master's, which names its partition directory on
  /// every agent and which file requests carry; 0: the run streams.
  uint32_t batch = 0;
  bool operator==(const DeployOrder&) const = default;
};

struct ClusterMessage {
  enum class Kind {
    register_agent,
    registered,
    heartbeat,
    refused,
    upload_library,
    library_stored,
    fetch_library,
    library,
    submit,
    accepted,
    ended,
    deploy,
    command,
    report,
    gone,
    quiet,
    output,
    job_request,
    job_reply,
    flowing,
    probes,
    results,
    release_batch
  } kind = Kind::heartbeat;
  enum class Request { list, cancel, savepoint, stop, probes };
  int32_t slots = 0;                  ///< register_agent: at least 1
  std::string data_address;           ///< register_agent: host:port of its data plane
  int64_t heartbeat_interval_ms = 0;  ///< registered
  int64_t heartbeat_timeout_ms = 0;   ///< registered
  std::string reason;                 ///< refused; ended, gone, job_reply: the error (empty: none)
  std::string hash;                   ///< library_stored, fetch_library, submit: SHA-256, 64 hex digits
  std::string bytes;                  ///< upload_library, library: the job library; results: the batch
  std::vector<std::string> options;   ///< submit: `sluice run` options and the job's arguments
  bool detached = false;              ///< submit
  std::string text;                   ///< accepted, job_request: the job id; output: print sink lines; job_reply: the answer
  Request request = Request::list;    ///< job_request
  bool drain = false;                 ///< job_request: stop draining
  std::string dir;                    ///< job_request: savepoint, stop: where to copy the savepoint to
  int32_t status = 0;                 ///< ended: the main's exit status (0, 1 or 2)
  DeployOrder deploy;                 ///< deploy
  uint32_t route = 0;                 ///< command, report, gone, quiet, flowing, output (0 towards a client), results
  int32_t index = -1;                 ///< command, gone: the subtask's flat index (command: -1 every one); results: the sink's node
  ControlBuffer body;                 ///< command: a TaskCommand; report: a TaskReport
  std::vector<ControlBuffer> probes;  ///< probes: encoded TaskProbes
  uint32_t batch = 0;                 ///< release_batch: the BATCH run whose partition files go
  bool operator==(const ClusterMessage&) const = default;

  static ClusterMessage submission(std::string hash, std::vector<std::string> options, bool detached) {
    ClusterMessage m;
    m.kind = Kind::submit;
    m.hash = std::move(hash);
    m.options = std::move(options);
    m.detached = detached;
    return m;
  }
  /// accepted (the job id) or output (lines).
  static ClusterMessage with_text(Kind kind, std::string text) {
    ClusterMessage m;
    m.kind = kind;
    m.text = std::move(text);
    return m;
  }
  static ClusterMessage ending(int32_t status, std::string error) {
    ClusterMessage m;
    m.kind = Kind::ended;
    m.status = status;
    m.reason = std::move(error);
    return m;
  }
  static ClusterMessage deployment(DeployOrder d) {
    ClusterMessage m;
    m.kind = Kind::deploy;
    m.deploy = std::move(d);
    return m;
  }
  /// command or report: a control message for or from subtask `index` of `route`.
  static ClusterMessage routed(Kind kind, uint32_t route, int32_t index, ControlBuffer body) {
    ClusterMessage m;
    m.kind = kind;
    m.route = route;
    m.index = index;
    m.body = std::move(body);
    return m;
  }
  static ClusterMessage job_request_of(Request r, std::string job_id, bool drain = false, std::string dir = {}) {
    ClusterMessage m;
    m.kind = Kind::job_request;
    m.request = r;
    m.text = std::move(job_id);
    m.drain = drain;
    m.dir = std::move(dir);
    return m;
  }
  static ClusterMessage job_reply_of(std::string text, std::string error) {
    ClusterMessage m;
    m.kind = Kind::job_reply;
    m.text = std::move(text);
    m.reason = std::move(error);
    return m;
  }
  /// output: lines print sinks of `route` wrote (route 0: towards the client).
  static ClusterMessage printed(uint32_t route, std::string text) {
    ClusterMessage m;
    m.kind = Kind::output;
    m.route = route;
    m.text = std::move(text);
    return m;
  }
  /// A BATCH run ended: every agent drops its partition files.
  static ClusterMessage release_of(uint32_t batch) {
    ClusterMessage m;
    m.kind = Kind::release_batch;
    m.batch = batch;
    return m;
  }
  /// Subtask `index` of `route` is gone (`error` empty: its actor quit normally).
  static ClusterMessage gone_of(uint32_t route, int32_t index, std::string error) {
    ClusterMessage m;
    m.kind = Kind::gone;
    m.route = route;
    m.index = index;
    m.reason = std::move(error);
    return m;
  }
  /// The latest probes of an agent's subtasks of `route`.
  static ClusterMessage probes_of(uint32_t route, std::vector<ControlBuffer> probes) {
    ClusterMessage m;
    m.kind = Kind::probes;
    m.route = route;
    m.probes = std::move(probes);
    return m;
  }
  /// A batch of records of the collecting sink `node` of `route`, for the main in the master.
  static ClusterMessage results_of(uint32_t route, int32_t node, std::string batch) {
    ClusterMessage m;
    m.kind = Kind::results;
    m.route = route;
    m.index = node;
    m.bytes = std::move(batch);
    return m;
  }
  /// The first data envelope of `route` reached an agent.
  static ClusterMessage flowing_of(uint32_t route) {
    ClusterMessage m;
    m.kind = Kind::flowing;
    m.route = route;
    return m;
  }
  /// One subtask actor of `route` has done all its I/O.
  static ClusterMessage quiet_of(uint32_t route) {
    ClusterMessage m;
    m.kind = Kind::quiet;
    m.route = route;
    return m;
  }

  static ClusterMessage registration(int32_t slots, std::string data_address) {
    ClusterMessage m;
    m.kind = Kind::register_agent;
    m.slots = slots;
    m.data_address = std::move(data_address);
    return m;
  }
  static ClusterMessage registered_with(int64_t interval_ms, int64_t timeout_ms) {
    ClusterMessage m;
    m.kind = Kind::registered;
    m.heartbeat_interval_ms = interval_ms;
    m.heartbeat_timeout_ms = timeout_ms;
    return m;
  }
  static ClusterMessage refusal(std::string reason) {
    ClusterMessage m;
    m.kind = Kind::refused;
    m.reason = std::move(reason);
    return m;
  }
  /// upload_library or library, with the library's bytes.
  static ClusterMessage with_library(Kind kind, std::string bytes) {
    ClusterMessage m;
    m.kind = kind;
    m.bytes = std::move(bytes);
    return m;
  }
  /// library_stored or fetch_library, with the library's hash.
  static ClusterMessage with_hash(Kind kind, std::string hash) {
    ClusterMessage m;
    m.kind = kind;
    m.hash = std::move(hash);
    return m;
  }
};

ControlBuffer encode(const ClusterMessage& m);
/// Throws DecodeError with one sentence when `b` is not a well-formed cluster message (a
/// registration of fewer than one slot, a heartbeat interval not below its timeout).
ClusterMessage decode_cluster(const ControlBuffer& b);

}  // namespace sluice::runtime
