// actors/cluster.hpp — the messages between a node agent and the master after the handshake
// (registration, heartbeats) as values, and their wire form (actors/cluster.capnp).
#pragma once

#include <cstdint>
#include <string>

#include "actors/control.hpp"

namespace sluice::runtime {

struct ClusterMessage {
  enum class Kind { register_agent, registered, heartbeat, refused } kind = Kind::heartbeat;
  int32_t slots = 0;                  ///< register_agent: at least 1
  std::string data_address;           ///< register_agent: host:port of its data plane
  int64_t heartbeat_interval_ms = 0;  ///< registered
  int64_t heartbeat_timeout_ms = 0;   ///< registered
  std::string reason;                 ///< refused
  bool operator==(const ClusterMessage&) const = default;
};

ControlBuffer encode(const ClusterMessage& m);
/// Throws DecodeError with one sentence when `b` is not a well-formed cluster message (a
/// registration of fewer than one slot, a heartbeat interval not below its timeout).
ClusterMessage decode_cluster(const ControlBuffer& b);

}  // namespace sluice::runtime
