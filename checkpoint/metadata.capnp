# checkpoint/metadata.capnp — the `_metadata` file of a checkpoint or savepoint: what was written, where, with checksums.
@0xd1f3a47b2c9e8f05;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("sluice::checkpoint::capnp_schema");

struct CheckpointMetadata {
  checkpointId @0 :UInt64;
  jobName @1 :Text;
  maxParallelism @2 :UInt32;
  timestampMs @3 :Int64;
  savepoint @4 :Bool;
  operators @5 :List(OperatorState);
}

# One operator (matched across job versions by its id, from the uid when given).
struct OperatorState {
  operatorId @0 :Text;
  parallelism @1 :UInt32;
  # All subtasks finished (FLIP-147): skipped on restore.
  finished @2 :Bool;
  # Each state's name and codec fingerprint: a mismatch on restore is an error.
  states @3 :List(StateFingerprint);
  files @4 :List(FileRef);
  # Subtasks that had finished (FLIP-147): they have no file and stay finished on restore.
  finishedSubtasks @5 :List(UInt32);
  # The operator's name, for messages.
  name @6 :Text;
  # Files in the storage's shared area that this operator's subtasks reference (incremental
  # RocksDB checkpoints); paths are relative to the checkpoint directory (../shared/...).
  shared @7 :List(FileRef);
}

struct StateFingerprint {
  name @0 :Text;
  codec @1 :Text;
}

# A file of the checkpoint, relative to the checkpoint directory.
struct FileRef {
  path @0 :Text;
  size @1 :UInt64;
  # FNV-1a 64 of the file's bytes.
  checksum @2 :UInt64;
  subtask @3 :UInt32;
  keyGroupStart @4 :UInt32;
  keyGroupEnd @5 :UInt32;
}
