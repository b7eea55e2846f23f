// actors/control.hpp — the control messages between the job master, its tasks and job clients as values (deployments, commands, reports, requests, probes), and their Cap'n Proto wire form (actors/control.capnp).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/storage.hpp"
#include "sluice/hash.hpp"
#include "sluice/probe.hpp"

namespace sluice::runtime {

/// A control message on the wire: a Cap'n Proto message as words (aligned, read in place).
using ControlBuffer = std::vector<uint64_t>;

/// Where a subtask starts from.
struct RestoreHandle {
  enum class Kind { none, from_scratch, checkpoint };
  Kind kind = Kind::none;
  uint64_t checkpoint_id = 0;
  std::string path;  ///< the checkpoint's directory (with `_metadata`)
  bool operator==(const RestoreHandle&) const = default;
};

/// What one subtask runs and where it starts from (master -> agent or task).
struct TaskDeployment {
  std::string job_id;
  std::string job_name;
  int32_t attempt = 0;
  int task = 0;
  int subtask = 0;
  int parallelism = 1;
  int max_parallelism = 128;
  KeyGroupRange key_groups;
  RestoreHandle restore;
  /// The agent of every subtask of the attempt, by flat index; empty: this process.
  std::vector<std::string> peers;
  bool operator==(const TaskDeployment&) const = default;
};

/// What the master tells one subtask (master -> task).
struct TaskCommand {
  enum class Kind { start, trigger, complete, abort, cancel, drain, query };
  Kind kind = Kind::cancel;
  /// Flat index of the subtask in the plan (tasks in plan order, subtasks within); -1: every
  /// subtask of the current attempt. Not on the wire: it says whom the command goes to.
  int index = -1;
  int64_t checkpoint = 0;
  bool savepoint = false;
  TaskQuery query{};  ///< query
  bool operator==(const TaskCommand&) const = default;
};

/// A subtask's acknowledgement of a checkpoint: its file is written.
struct CheckpointAck {
  int64_t checkpoint_id = 0;
  int task = 0;
  int subtask = 0;
  checkpoint::FileRef file;
  /// Files of the storage's shared area the subtask's operators reference, by operator id.
  std::vector<std::pair<std::string, checkpoint::FileRef>> shared;
  /// Each keyed state of the subtask's operators and its codec fingerprint, by operator id.
  std::vector<std::pair<std::string, checkpoint::StateFingerprint>> states;
  /// Bytes this checkpoint wrote for the subtask: its file and the files it newly shared.
  uint64_t bytes = 0;
  bool unaligned = false;
  double alignment_ms = 0, sync_ms = 0, async_ms = 0;
  uint64_t inflight_bytes = 0;
  bool operator==(const CheckpointAck&) const = default;
};

/// What a subtask tells the master (task -> master).
struct TaskReport {
  enum class Kind { finished, failed, ack, decline, input_ended, answer };
  Kind kind = Kind::finished;
  int32_t attempt = 0;
  int task = 0;
  int subtask = 0;
  std::string error;       ///< failed: the sentence; decline: the reason
  bool permanent = false;  ///< failed: a restart cannot help (the restore itself failed)
  CheckpointAck ack;       ///< ack
  int64_t checkpoint = 0;  ///< decline: the checkpoint; input_ended: the last one snapshotted before
  /// answer: the query's id; for a state query, whether this subtask owns the key's key
  /// group; its JSON (TaskQuery's kinds: JobHandle::query); `error` when it cannot answer.
  uint64_t query = 0;
  bool owner = false;
  std::string text{};
  bool operator==(const TaskReport&) const = default;
};

/// A job client's request (client -> master), answered with a ClientReply.
struct ClientRequest {
  enum class Kind { checkpoint, savepoint, stop, cancel, query };
  Kind kind = Kind::checkpoint;
  bool drain = false;  ///< stop: sources end first, the savepoint is the final checkpoint
  TaskQuery query{};  ///< query
  bool operator==(const ClientRequest&) const = default;
};

struct ClientReply {
  int64_t checkpoint = 0;  ///< the completed checkpoint; 0 with `error` when none completed
  std::string error;
  std::string text{};  ///< query: the owner's answer
  bool operator==(const ClientReply&) const = default;
};

ControlBuffer encode(const TaskDeployment& m);
ControlBuffer encode(const TaskCommand& m);
ControlBuffer encode(const TaskReport& m);
ControlBuffer encode(const ClientRequest& m);
ControlBuffer encode(const ClientReply& m);
/// A subtask's probes, for a master or console in another process.
ControlBuffer encode(const TaskProbe& m);

/// Each throws DecodeError with one sentence naming the message kind when `b` is not a
/// well-formed message of it (truncated, garbage, out-of-range values).
TaskDeployment decode_deployment(const ControlBuffer& b);
TaskCommand decode_command(const ControlBuffer& b);
TaskReport decode_report(const ControlBuffer& b);
ClientRequest decode_request(const ControlBuffer& b);
ClientReply decode_reply(const ControlBuffer& b);
TaskProbe decode_probe(const ControlBuffer& b);

}  // namespace sluice::runtime
