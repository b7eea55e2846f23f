// actors/cluster.cpp — Cap'n Proto encoding and checked decoding of agent/master messages.
#include "actors/cluster.hpp"

#include "actors/capnp_buffer.hpp"
#include "actors/cluster.capnp.h"
#include "sluice/error.hpp"

namespace sluice::runtime {

namespace schema = cluster_schema;

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
    case ClusterMessage::Kind::heartbeat:
      c.setHeartbeat();
      break;
    case ClusterMessage::Kind::refused:
      c.setRefused(m.reason);
      break;
  }
  return capnp_io::to_buffer(b);
}

ClusterMessage decode_cluster(const ControlBuffer& b) {
  return capnp_io::read<schema::ClusterMessage>(
      b, "cluster message", [](schema::ClusterMessage::Reader c) {
        ClusterMessage m;
        switch (c.which()) {
          case schema::ClusterMessage::REGISTER:
            m.kind = ClusterMessage::Kind::register_agent;
            m.slots = c.getRegister().getSlots();
            m.data_address = c.getRegister().getDataAddress();
            if (m.slots < 1)
              throw DecodeError("malformed cluster message: a registration of " +
                                std::to_string(m.slots) + " slots");
            break;
          case schema::ClusterMessage::REGISTERED:
            m.kind = ClusterMessage::Kind::registered;
            m.heartbeat_interval_ms = c.getRegistered().getHeartbeatIntervalMs();
            m.heartbeat_timeout_ms = c.getRegistered().getHeartbeatTimeoutMs();
            if (m.heartbeat_interval_ms < 1 || m.heartbeat_timeout_ms <= m.heartbeat_interval_ms)
              throw DecodeError("malformed cluster message: heartbeat interval " +
                                std::to_string(m.heartbeat_interval_ms) + " ms with timeout " +
                                std::to_string(m.heartbeat_timeout_ms) + " ms");
            break;
          case schema::ClusterMessage::HEARTBEAT:
            m.kind = ClusterMessage::Kind::heartbeat;
            break;
          case schema::ClusterMessage::REFUSED:
            m.kind = ClusterMessage::Kind::refused;
            m.reason = c.getRefused();
            break;
          default:
            throw DecodeError("malformed cluster message: unknown kind");
        }
        return m;
      });
}

}  // namespace sluice::runtime
