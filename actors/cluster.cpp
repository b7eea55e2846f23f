// actors/cluster.cpp — Cap'n Proto encoding and checked decoding of agent/master messages.
#include "actors/cluster.hpp"

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
      default: throw DecodeError("malformed cluster message: unknown kind");
    }
    return m;
  });
}

}  // namespace sluice::runtime
