// actors/cluster.cpp — Cap'n Proto encoding and checked decoding of agent/master messages.
#include "actors/cluster.hpp"

#include <cstring>

#include "actors/capnp_buffer.hpp"
#include "actors/cluster.capnp.h"
#include "sluice/error.hpp"

namespace sluice::runtime {

namespace schema = cluster_schema;

namespace {
capnp::Data::Reader bytes_of(const std::string& s) {
  return {reinterpret_cast<const capnp::byte*>(s.data()), s.size()};
}
std::string string_of(capnp::Data::Reader d) { return {reinterpret_cast<const char*>(d.begin()), d.size()}; }
capnp::Data::Reader words_of(const ControlBuffer& b) {
  return {reinterpret_cast<const capnp::byte*>(b.data()), b.size() * sizeof(uint64_t)};
}
ControlBuffer buffer_of(capnp::Data::Reader d, const char* what) {
  if (d.size() % sizeof(uint64_t) != 0)
    throw DecodeError(std::string("malformed cluster message: ") + what + " of " + std::to_string(d.size()) +
                      " bytes, not whole 8-byte words");
  ControlBuffer b(d.size() / sizeof(uint64_t));
  if (!b.empty()) std::memcpy(b.data(), d.begin(), d.size());
  return b;
}
void set_texts(capnp::List<capnp::Text>::Builder to, const std::vector<std::string>& from) {
  for (size_t i = 0; i < from.size(); ++i) to.set(unsigned(i), from[i]);
}
std::vector<std::string> texts_of(capnp::List<capnp::Text>::Reader l) {
  std::vector<std::string> out;
  for (auto t : l) out.emplace_back(t);
  return out;
}
std::string checked_hash(capnp::Text::Reader t) {
  std::string h = t;
  if (h.size() != 64 || h.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw DecodeError("malformed cluster message: '" + h.substr(0, 80) + "' is not a SHA-256 in hex");
  return h;
}
}  // namespace

ControlBuffer encode(const ClusterMessage& m) {
  capnp::MallocMessageBuilder b;
  auto c = b.initRoot<schema::ClusterMessage>();
  switch (m.kind) {
    case ClusterMessage::Kind::register_agent: {
      auto r = c.initRegister();
      r.setSlots(m.slots);
      r.setDataAddress(m.data_address);
      break;
    }
    case ClusterMessage::Kind::registered: {
      auto r = c.initRegistered();
      r.setHeartbeatIntervalMs(m.heartbeat_interval_ms);
      r.setHeartbeatTimeoutMs(m.heartbeat_timeout_ms);
      break;
    }
    case ClusterMessage::Kind::heartbeat: c.setHeartbeat(); break;
    case ClusterMessage::Kind::refused: c.setRefused(m.reason); break;
    case ClusterMessage::Kind::upload_library: c.setUploadLibrary(bytes_of(m.bytes)); break;
    case ClusterMessage::Kind::library_stored: c.setLibraryStored(m.hash); break;
    case ClusterMessage::Kind::fetch_library: c.setFetchLibrary(m.hash); break;
    case ClusterMessage::Kind::library: c.setLibrary(bytes_of(m.bytes)); break;
    case ClusterMessage::Kind::submit: {
      auto r = c.initSubmit();
      r.setHash(m.hash);
      set_texts(r.initOptions(unsigned(m.options.size())), m.options);
      r.setDetached(m.detached);
      break;
    }
    case ClusterMessage::Kind::accepted: c.setAccepted(m.text); break;
    case ClusterMessage::Kind::ended: {
      auto r = c.initEnded();
      r.setStatus(m.status);
      r.setError(m.reason);
      break;
    }
    case ClusterMessage::Kind::deploy: {
      const auto& d = m.deploy;
      auto r = c.initDeploy();
      r.setRoute(d.route);
      r.setHash(d.hash);
      set_texts(r.initOptions(unsigned(d.options.size())), d.options);
      r.setGraphIndex(d.graph_index);
      r.setCheckpointDir(d.checkpoint_dir);
      auto tasks = r.initTasks(unsigned(d.tasks.size()));
      for (size_t i = 0; i < d.tasks.size(); ++i) tasks.set(unsigned(i), words_of(d.tasks[i]));
      set_texts(r.initTopology(unsigned(d.topology.size())), d.topology);
      r.setRescaled(d.rescaled);
      r.setParallelism(d.parallelism);
      auto nodes = r.initNodeParallelism(unsigned(d.node_parallelism.size()));
      for (size_t i = 0; i < d.node_parallelism.size(); ++i) nodes.set(unsigned(i), d.node_parallelism[i]);
      r.setBatch(d.batch);
      auto agents = r.initAgents(unsigned(d.agents.size()));
      for (size_t i = 0; i < d.agents.size(); ++i) {
        agents[unsigned(i)].setName(d.agents[i].first);
        agents[unsigned(i)].setDataAddress(d.agents[i].second);
      }
      break;
    }
    case ClusterMessage::Kind::command:
    case ClusterMessage::Kind::report: {
      auto r = m.kind == ClusterMessage::Kind::command ? c.initCommand() : c.initReport();
      r.setRoute(m.route);
      r.setIndex(m.index);
      r.setBody(words_of(m.body));
      break;
    }
    case ClusterMessage::Kind::gone: {
      auto r = c.initGone();
      r.setRoute(m.route);
      r.setIndex(m.index);
      r.setReason(m.reason);
      break;
    }
    case ClusterMessage::Kind::quiet: c.setQuiet(m.route); break;
    case ClusterMessage::Kind::flowing: c.setFlowing(m.route); break;
    case ClusterMessage::Kind::release_batch: c.setReleaseBatch(m.batch); break;
    case ClusterMessage::Kind::probes: {
      auto r = c.initProbes();
      r.setRoute(m.route);
      auto list = r.initProbes(unsigned(m.probes.size()));
      for (size_t i = 0; i < m.probes.size(); ++i) list.set(unsigned(i), words_of(m.probes[i]));
      break;
    }
    case ClusterMessage::Kind::job_request: {
      auto r = c.initJobRequest();
      r.setKind(schema::JobRequest::Kind(int(m.request)));
      r.setJobId(m.text);
      r.setDrain(m.drain);
      r.setDir(m.dir);
      break;
    }
    case ClusterMessage::Kind::job_reply: {
      auto r = c.initJobReply();
      r.setText(m.text);
      r.setError(m.reason);
      break;
    }
    case ClusterMessage::Kind::output: {
      auto r = c.initOutput();
      r.setRoute(m.route);
      r.setText(m.text);
      break;
    }
    case ClusterMessage::Kind::results: {
      auto r = c.initResults();
      r.setRoute(m.route);
      r.setNode(m.index);
      r.setBatch(bytes_of(m.bytes));
      break;
    }
  }
  return capnp_io::to_buffer(b);
}

ClusterMessage decode_cluster(const ControlBuffer& b) {
  return capnp_io::read<schema::ClusterMessage>(b, "cluster message", [](schema::ClusterMessage::Reader c) {
    ClusterMessage m;
    switch (c.which()) {
      case schema::ClusterMessage::REGISTER:
        m.kind = ClusterMessage::Kind::register_agent;
        m.slots = c.getRegister().getSlots();
        m.data_address = c.getRegister().getDataAddress();
        if (m.slots < 1)
          throw DecodeError("malformed cluster message: a registration of " + std::to_string(m.slots) + " slots");
        break;
      case schema::ClusterMessage::REGISTERED:
        m.kind = ClusterMessage::Kind::registered;
        m.heartbeat_interval_ms = c.getRegistered().getHeartbeatIntervalMs();
        m.heartbeat_timeout_ms = c.getRegistered().getHeartbeatTimeoutMs();
        if (m.heartbeat_interval_ms < 1 || m.heartbeat_timeout_ms <= m.heartbeat_interval_ms)
          throw DecodeError("malformed cluster message: heartbeat interval " + std::to_string(m.heartbeat_interval_ms) +
                            " ms with timeout " + std::to_string(m.heartbeat_timeout_ms) + " ms");
        break;
      case schema::ClusterMessage::HEARTBEAT: m.kind = ClusterMessage::Kind::heartbeat; break;
      case schema::ClusterMessage::REFUSED:
        m.kind = ClusterMessage::Kind::refused;
        m.reason = c.getRefused();
        break;
      case schema::ClusterMessage::UPLOAD_LIBRARY:
        m.kind = ClusterMessage::Kind::upload_library;
        m.bytes = string_of(c.getUploadLibrary());
        break;
      case schema::ClusterMessage::LIBRARY_STORED:
        m.kind = ClusterMessage::Kind::library_stored;
        m.hash = checked_hash(c.getLibraryStored());
        break;
      case schema::ClusterMessage::FETCH_LIBRARY:
        m.kind = ClusterMessage::Kind::fetch_library;
        m.hash = checked_hash(c.getFetchLibrary());
        break;
      case schema::ClusterMessage::LIBRARY:
        m.kind = ClusterMessage::Kind::library;
        m.bytes = string_of(c.getLibrary());
        break;
      case schema::ClusterMessage::SUBMIT: {
        auto r = c.getSubmit();
        m.kind = ClusterMessage::Kind::submit;
        m.hash = checked_hash(r.getHash());
        m.options = texts_of(r.getOptions());
        m.detached = r.getDetached();
        break;
      }
      case schema::ClusterMessage::ACCEPTED:
        m.kind = ClusterMessage::Kind::accepted;
        m.text = c.getAccepted();
        break;
      case schema::ClusterMessage::ENDED:
        m.kind = ClusterMessage::Kind::ended;
        m.status = c.getEnded().getStatus();
        m.reason = c.getEnded().getError();
        if (m.status < 0 || m.status > 2)
          throw DecodeError("malformed cluster message: an exit status of " + std::to_string(m.status));
        break;
      case schema::ClusterMessage::DEPLOY: {
        auto r = c.getDeploy();
        m.kind = ClusterMessage::Kind::deploy;
        auto& d = m.deploy;
        d.route = r.getRoute();
        d.hash = checked_hash(r.getHash());
        d.options = texts_of(r.getOptions());
        d.graph_index = r.getGraphIndex();
        if (d.graph_index < 0)
          throw DecodeError("malformed cluster message: a deployment of graph " + std::to_string(d.graph_index));
        d.checkpoint_dir = r.getCheckpointDir();
        for (auto t : r.getTasks()) d.tasks.push_back(buffer_of(t, "a task deployment"));
        for (auto a : r.getAgents()) d.agents.emplace_back(a.getName(), a.getDataAddress());
        d.topology = texts_of(r.getTopology());
        d.rescaled = r.getRescaled();
        d.parallelism = r.getParallelism();
        for (auto n : r.getNodeParallelism()) {
          if (n < 0)
            throw DecodeError("malformed cluster message: a rescaled deployment gives an operator parallelism " +
                              std::to_string(n));
          d.node_parallelism.push_back(n);
        }
        d.batch = r.getBatch();
        if (d.rescaled && d.parallelism < 1)
          throw DecodeError("malformed cluster message: a rescaled deployment at parallelism " +
                            std::to_string(d.parallelism));
        break;
      }
      case schema::ClusterMessage::COMMAND:
      case schema::ClusterMessage::REPORT: {
        bool command = c.which() == schema::ClusterMessage::COMMAND;
        auto r = command ? c.getCommand() : c.getReport();
        m.kind = command ? ClusterMessage::Kind::command : ClusterMessage::Kind::report;
        m.route = r.getRoute();
        m.index = r.getIndex();
        m.body = buffer_of(r.getBody(), command ? "a command" : "a report");
        if (m.index < -1) throw DecodeError("malformed cluster message: subtask " + std::to_string(m.index));
        break;
      }
      case schema::ClusterMessage::GONE:
        m.kind = ClusterMessage::Kind::gone;
        m.route = c.getGone().getRoute();
        m.index = c.getGone().getIndex();
        m.reason = c.getGone().getReason();
        if (m.index < 0) throw DecodeError("malformed cluster message: subtask " + std::to_string(m.index));
        break;
      case schema::ClusterMessage::QUIET:
        m.kind = ClusterMessage::Kind::quiet;
        m.route = c.getQuiet();
        break;
      case schema::ClusterMessage::PROBES:
        m.kind = ClusterMessage::Kind::probes;
        m.route = c.getProbes().getRoute();
        for (auto p : c.getProbes().getProbes()) m.probes.push_back(buffer_of(p, "a probe"));
        break;
      case schema::ClusterMessage::FLOWING:
        m.kind = ClusterMessage::Kind::flowing;
        m.route = c.getFlowing();
        break;
      case schema::ClusterMessage::RELEASE_BATCH:
        m.kind = ClusterMessage::Kind::release_batch;
        m.batch = c.getReleaseBatch();
        break;
      case schema::ClusterMessage::OUTPUT:
        m.kind = ClusterMessage::Kind::output;
        m.route = c.getOutput().getRoute();
        m.text = c.getOutput().getText();
        break;
      case schema::ClusterMessage::RESULTS:
        m.kind = ClusterMessage::Kind::results;
        m.route = c.getResults().getRoute();
        m.index = c.getResults().getNode();
        m.bytes = string_of(c.getResults().getBatch());
        if (m.index < 0) throw DecodeError("malformed cluster message: results of node " + std::to_string(m.index));
        break;
      case schema::ClusterMessage::JOB_REQUEST: {
        auto r = c.getJobRequest();
        m.kind = ClusterMessage::Kind::job_request;
        auto kind = int(r.getKind());
        if (kind > int(ClusterMessage::Request::probes))
          throw DecodeError("malformed cluster message: a job request of unknown kind " + std::to_string(kind));
        m.request = ClusterMessage::Request(kind);
        m.text = r.getJobId();
        m.drain = r.getDrain();
        m.dir = r.getDir();
        break;
      }
      case schema::ClusterMessage::JOB_REPLY:
        m.kind = ClusterMessage::Kind::job_reply;
        m.text = c.getJobReply().getText();
        m.reason = c.getJobReply().getError();
        break;
      default: throw DecodeError("malformed cluster message: unknown kind");
    }
    return m;
  });
}

}  // namespace sluice::runtime
