# actors/cluster.capnp — what agents, clients and the master say to each other once the handshake is done: registration, heartbeats, job libraries, jobs and their subtasks.
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
    # Client -> master: run a stored job library's main with `sluice run` options.
    submit @8 :Submit;
    # Master -> client: the id of the first job the main submitted.
    accepted @9 :Text;
    # Master -> client: the main returned; its exit status and error sentence.
    ended @10 :Ended;
    # Master -> agent: run these subtasks of one job attempt.
    deploy @11 :Deploy;
    # Master -> agent: a TaskCommand (control.capnp) for a subtask of a route.
    command @12 :Routed;
    # Agent -> master: a TaskReport (control.capnp) of a subtask of a route.
    report @13 :Routed;
    # Agent -> master: a subtask's actor is gone (reason empty: it quit normally).
    gone @14 :Gone;
    # Agent -> master: every I/O job of one gone subtask actor of this route has run.
    quiet @15 :UInt32;
    # Agent -> master -> client: lines print sinks wrote (route 0 towards the client).
    output @16 :Output;
    # Client -> master: list the jobs, or cancel, savepoint or stop one.
    jobRequest @17 :JobRequest;
    # Master -> client: the answer (the list, or the savepoint's path), or why not.
    jobReply @18 :JobReply;
    # Agent -> master: the first data of this route arrived here (records flow again after a restart).
    flowing @19 :UInt32;
    # Agent -> master: the latest probes (control.capnp TaskProbe) of its subtasks of a route.
    probes @20 :Probes;
    # Agent -> master: a batch of a collecting sink, for the main that runs in the master.
    results @21 :Results;
    # Master -> agent: a BATCH run ended; its partition files (and its readers) may go.
    releaseBatch @22 :UInt32;
  }
}

struct Results {
  route @0 :UInt32;
  # The sink's node in the job graph.
  node @1 :Int32;
  # The records, encoded as the sink's codec of a list of them.
  batch @2 :Data;
}

struct Probes {
  route @0 :UInt32;
  probes @1 :List(Data);
}

struct JobRequest {
  kind @0 :Kind;
  jobId @1 :Text;
  drain @2 :Bool;
  # savepoint, stop: where to copy the savepoint to (empty: it stays in the job's checkpoint directory).
  dir @3 :Text;
  enum Kind {
    list @0;
    cancel @1;
    savepoint @2;
    stop @3;
    probes @4;
  }
}

struct JobReply {
  text @0 :Text;
  error @1 :Text;
}

struct Submit {
  hash @0 :Text;
  options @1 :List(Text);
  detached @2 :Bool;
}

struct Ended {
  status @0 :Int32;
  error @1 :Text;
}

struct AgentAddress {
  name @0 :Text;
  dataAddress @1 :Text;
}

struct Deploy {
  # The master's number for this attempt of the job: data and reports carry it.
  route @0 :UInt32;
  hash @1 :Text;
  options @2 :List(Text);
  # Which of the main's submissions the job is (0: the first).
  graphIndex @3 :Int32;
  checkpointDir @4 :Text;
  # Encoded TaskDeployments (control.capnp), every one of this agent.
  tasks @5 :List(Data);
  # Where the agents named in the deployments' peers listen for data.
  agents @6 :List(AgentAddress);
  # The master's topology lines of the graph (scheduler/topology.hpp): the agent's rebuilt
  # graph must have the same.
  topology @7 :List(Text);
  # A rescaled run: the default parallelism and each node's own (0: the default) that the
  # rebuilt graph takes instead of what the main gave it. Empty: as the main built it.
  rescaled @8 :Bool;
  parallelism @9 :Int32;
  nodeParallelism @10 :List(Int32);
  # BATCH: the run's number among the master's, naming its partition directory on every
  # agent (0: the run streams).
  batch @11 :UInt32;
}

struct Routed {
  route @0 :UInt32;
  # The subtask's flat index; -1: every subtask of the route on the agent.
  index @1 :Int32;
  body @2 :Data;
}

struct Output {
  route @0 :UInt32;
  text @1 :Text;
}

struct Gone {
  route @0 :UInt32;
  index @1 :Int32;
  reason @2 :Text;
}

struct Register {
  slots @0 :Int32;
  dataAddress @1 :Text;
}

struct Registered {
  heartbeatIntervalMs @0 :Int64;
  heartbeatTimeoutMs @1 :Int64;
}
