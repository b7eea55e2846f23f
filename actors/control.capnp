# actors/control.capnp — the control protocol between the job master, its tasks and job clients: deployments, commands, reports, requests, probes.
@0xe2b7c41d9a6f3085;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("sluice::runtime::capnp_schema");
using Meta = import "/checkpoint/metadata.capnp";

# What a subtask runs, and where it starts from (master -> agent/task).
struct TaskDeployment {
  jobName @0 :Text;
  attempt @1 :Int32;
  task @2 :Int32;
  subtask @3 :Int32;
  parallelism @4 :Int32;
  # The subtask's key groups, [keyGroupStart, keyGroupEnd) of maxParallelism.
  maxParallelism @5 :Int32;
  keyGroupStart @6 :Int32;
  keyGroupEnd @7 :Int32;
  restore @8 :RestoreHandle;
  # Where every subtask of the attempt is, by flat index (tasks in plan order, subtasks within);
  # empty: every one in this process.
  peers @9 :List(Peer);
  jobId @10 :Text;
}

struct RestoreHandle {
  union {
    # A fresh start: nothing to restore.
    none @0 :Void;
    # A recovery with no usable checkpoint: nothing restored, sinks roll back everything.
    fromScratch @1 :Void;
    # The checkpoint (its `_metadata` directory) to restore from.
    checkpoint @2 :CheckpointHandle;
  }
}

struct CheckpointHandle {
  id @0 :UInt64;
  path @1 :Text;
}

struct Peer {
  # The agent the subtask runs on; empty: this process.
  agent @0 :Text;
}

# Master -> task.
struct TaskCommand {
  union {
    start @0 :Void;
    cancel @1 :Void;
    trigger @2 :Trigger;
    complete @3 :Int64;
    abort @4 :Int64;
    drain @5 :Void;
    query @6 :TaskQuery;
  }
}

struct TaskQuery {
  id @0 :UInt64;
  operator @1 :Text;
  key @2 :Text;
  state @3 :Text;
  kind @4 :Kind;
  task @5 :Int32 = -1;
  subtask @6 :Int32 = -1;
  limit @7 :UInt32;
  enum Kind {
    state @0;
    keys @1;
    trace @2;
    log @3;
  }
}

struct StateAnswer {
  query @0 :UInt64;
  owner @1 :Bool;
  text @2 :Text;
  error @3 :Text;
}

struct Trigger {
  checkpointId @0 :Int64;
  savepoint @1 :Bool;
}

# Task -> master. Reports of another attempt than the master's current one are ignored.
struct TaskReport {
  attempt @0 :Int32;
  task @1 :Int32;
  subtask @2 :Int32;
  union {
    # The subtask finished (after its final checkpoint).
    finished @3 :Void;
    failed @4 :Failure;
    ack @5 :Ack;
    decline @6 :Decline;
    # All input ended after the subtask snapshotted this checkpoint (FLIP-147).
    inputEnded @7 :Int64;
    answer @8 :StateAnswer;
  }
}

struct Failure {
  error @0 :Text;
  # A restart cannot help: the restore itself failed.
  permanent @1 :Bool;
}

struct Ack {
  checkpointId @0 :Int64;
  file @1 :Meta.FileRef;
  shared @2 :List(SharedFile);
  states @3 :List(OperatorStateName);
  bytes @4 :UInt64;
  unaligned @5 :Bool;
  alignmentMs @6 :Float64;
  syncMs @7 :Float64;
  asyncMs @8 :Float64;
  inflightBytes @9 :UInt64;
}

struct SharedFile {
  operatorId @0 :Text;
  file @1 :Meta.FileRef;
}

struct OperatorStateName {
  operatorId @0 :Text;
  state @1 :Meta.StateFingerprint;
}

struct Decline {
  checkpointId @0 :Int64;
  reason @1 :Text;
}

# Job client -> master, answered with a ClientReply.
struct ClientRequest {
  union {
    checkpoint @0 :Void;
    savepoint @1 :Void;
    stop @2 :Bool;  # with drain
    cancel @3 :Void;
    query @4 :TaskQuery;
  }
}

struct ClientReply {
  # The completed checkpoint's id; 0 with `error` when it did not complete.
  checkpointId @0 :Int64;
  error @1 :Text;
  text @2 :Text;
}

# A subtask's probes (task -> master, for introspection); fields as in sluice/probe.hpp.
struct TaskProbe {
  jobId @0 :Text;
  taskId @1 :Int32;
  task @2 :Text;
  subtask @3 :Int32;
  parallelism @4 :Int32;
  status @5 :Text;
  recordsIn @6 :UInt64;
  recordsOut @7 :UInt64;
  bytesIn @8 :UInt64;
  bytesOut @9 :UInt64;
  busyMs @10 :Float64;
  backpressuredMs @11 :Float64;
  idleMs @12 :Float64;
  queuedBuffersIn @13 :UInt64;
  queuedBytesIn @14 :UInt64;
  queuedBuffersOut @15 :UInt64;
  queuedBytesOut @16 :UInt64;
  maxQueuedBytesIn @17 :UInt64;
  maxQueuedBytesOut @18 :UInt64;
  creditsAvailable @19 :UInt64;
  creditsGranted @20 :UInt64;
  inputBufferCapacity @21 :UInt64;
  mailboxDepth @22 :UInt64;
  watermark @23 :Int64;
  checkpointId @24 :Int64;
  checkpointUnaligned @25 :Bool;
  checkpointAlignmentMs @26 :Float64;
  checkpointSyncMs @27 :Float64;
  checkpointAsyncMs @28 :Float64;
  checkpointBytes @29 :UInt64;
  checkpointInflightBytes @30 :UInt64;
  operators @31 :List(OperatorProbe);
  waitingFor @32 :Text;
  waitingMs @33 :Float64;
  channels @34 :List(ChannelProbe);
}

struct ChannelProbe {
  input @0 :Bool;
  edge @1 :Int32;
  peerTask @2 :Int32;
  peerSubtask @3 :Int32;
  credits @4 :UInt32;
  backlog @5 :UInt32;
  queuedBuffers @6 :UInt32;
  queuedBytes @7 :UInt64;
  sequence @8 :UInt64;
  blocked @9 :Bool;
  closed @10 :Bool;
}

struct OperatorProbe {
  operatorId @0 :Text;
  name @1 :Text;
  recordsIn @2 :UInt64;
  recordsOut @3 :UInt64;
  keyed @4 :Bool;
  stateEntries @5 :UInt64;
  stateBytes @6 :UInt64;
}
