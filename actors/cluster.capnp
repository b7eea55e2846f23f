# actors/cluster.capnp — what a node agent and the master say to each other once the handshake is done: registration and heartbeats.
@0xa4f0409effcf993f;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("sluice::runtime::cluster_schema");

struct ClusterMessage {
  union {
    # Agent -> master: the slots it offers and where its data plane listens.
    register @0 :Register;
    # Master -> agent: registered; how often to beat, and when the master gives up on it.
    registered @1 :Registered;
    # Both ways, every heartbeat interval.
    heartbeat @2 :Void;
    # Master -> agent: not registered, in one sentence.
    refused @3 :Text;
  }
}

struct Register {
  slots @0 :Int32;
  dataAddress @1 :Text;
}

struct Registered {
  heartbeatIntervalMs @0 :Int64;
  heartbeatTimeoutMs @1 :Int64;
}
