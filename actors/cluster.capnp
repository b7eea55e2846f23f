# actors/cluster.capnp — what agents, clients and the master say to each other once the handshake is done: registration, heartbeats, job libraries.
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
    # Master -> agent or client: refused, in one sentence.
    refused @3 :Text;
    # Client -> master: a job library to keep.
    uploadLibrary @4 :Data;
    # Master -> client: the uploaded library's SHA-256 (64 hex digits), its name from now on.
    libraryStored @5 :Text;
    # Agent -> master: send the library of this SHA-256.
    fetchLibrary @6 :Text;
    # Master -> agent: the library asked for.
    library @7 :Data;
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
