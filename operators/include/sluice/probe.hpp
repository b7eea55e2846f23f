// operators/include/sluice/probe.hpp — what each running subtask reports about itself (the console's data).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

/// One operator of a subtask's chain: the records it took and emitted and, for a keyed
/// operator, the size of its keyed state.
struct OperatorProbe {
  std::string operator_id;  ///< the operator's id (stable across runs; from its uid when set)
  std::string name;         ///< for display only
  /// Records into the operator (from its chained predecessor, or from the task's input
  /// channels for the head; 0 for a source) and out of it (to chained successors and to
  /// output channels, side outputs included).
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  bool keyed = false;
  /// Keys with state, and the bytes they take (the heap backend estimates its memory, RocksDB
  /// reports its own estimate of live data).
  uint64_t state_entries = 0;
  uint64_t state_bytes = 0;
  bool operator==(const OperatorProbe&) const = default;
};

/// One channel of a subtask, as this side of it sees it.
struct ChannelProbe {
  bool input = false;    ///< from a producer (input) or to a consumer (output)
  int edge = 0;          ///< the job edge of the channel's exchange
  int peer_task = 0;     ///< the task and subtask at the other end
  int peer_subtask = 0;
  /// Output: credits the consumer granted and this side has not used. Input: credits this side
  /// granted the producer that its frames have not used yet.
  uint32_t credits = 0;
  /// Input: frames the producer announced it has queued for this channel (its backlog).
  uint32_t backlog = 0;
  /// Frames waiting on this side: received and unread (input), or waiting for credit (output).
  uint32_t queued_buffers = 0;
  uint64_t queued_bytes = 0;
  /// Output: the sequence number of the next frame sent; input: the one expected next.
  uint64_t sequence = 0;
  /// Input: held back by barrier alignment. Output: full, so the task cannot emit to it.
  bool blocked = false;
  bool closed = false;  ///< EndOfPartition sent (output) or received (input)
  bool operator==(const ChannelProbe&) const = default;
};

/// A snapshot of one subtask's probes, published by the task itself every probe interval.
/// It names the job, the task and the operators by id; the names are for display.
struct TaskProbe {
  std::string job_id;
  int task_id = 0;
  std::string task;  ///< the operators of the task's chain, joined with " -> "
  int subtask = 0;
  int parallelism = 1;
  std::string status;  ///< "created", "running", "finishing", "finished", "failed", "canceled"
  /// The agent that runs the subtask (set by the master on a cluster; empty when embedded).
  std::string agent;
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  /// Time spent handling elements, waiting for credit with work at hand, and with nothing to do.
  double busy_ms = 0;
  double backpressured_ms = 0;
  double idle_ms = 0;
  /// Buffers and bytes waiting in input channel queues (received, not yet consumed).
  uint64_t queued_buffers_in = 0;
  uint64_t queued_bytes_in = 0;
  /// Buffers and bytes waiting in output channel queues and partly filled buffers.
  uint64_t queued_buffers_out = 0;
  uint64_t queued_bytes_out = 0;
  /// The largest values ever seen of the two above (for bounded-memory checks).
  uint64_t max_queued_bytes_in = 0;
  uint64_t max_queued_bytes_out = 0;
  /// Credits granted by consumers and not yet used, summed over output channels.
  uint64_t credits_available = 0;
  /// Credits this task has granted to its producers and not yet received data for.
  uint64_t credits_granted = 0;
  /// Input buffers this task may hold at most: the bound behind queued_bytes_in.
  uint64_t input_buffer_capacity = 0;
  /// Approximate mailbox depth of the task actor.
  uint64_t mailbox_depth = 0;
  int64_t watermark = INT64_MIN;
  /// The last checkpoint this subtask snapshotted, and what it cost (docs/checkpoints.md): time from
  /// its first barrier to the snapshot (alignment), the synchronous part, the asynchronous
  /// write, the bytes written, and of them the in-flight data persisted (unaligned).
  int64_t checkpoint_id = 0;
  bool checkpoint_unaligned = false;
  double checkpoint_alignment_ms = 0;
  double checkpoint_sync_ms = 0;
  double checkpoint_async_ms = 0;
  uint64_t checkpoint_bytes = 0;
  uint64_t checkpoint_inflight_bytes = 0;
  /// The chain's operators, head first.
  std::vector<OperatorProbe> operators;
  /// What the subtask waits for right now, in words (credit on an output channel, barrier
  /// alignment, input, its source, the I/O executor, a timer, or nothing: it is busy), and
  /// for how long, in ms.
  std::string waiting_for;
  double waiting_ms = 0;
  /// Every input channel, then every output channel.
  std::vector<ChannelProbe> channels;
  bool operator==(const TaskProbe&) const = default;
};

/// One checkpoint as the coordinator saw it.
struct CheckpointInfo {
  int64_t id = 0;
  enum class Status { pending, completed, aborted } status = Status::pending;
  bool final = false;  ///< triggered because all data had ended (FLIP-147)
  bool savepoint = false;  ///< a user's savepoint (or the one of a stop), kept until deleted
  /// Some subtask snapshotted it unaligned (persisting in-flight data).
  bool unaligned = false;
  /// The longest alignment of any subtask (first barrier to snapshot), and the in-flight bytes
  /// persisted by all (unaligned), from the subtasks' acknowledgements.
  double alignment_ms = 0;
  uint64_t inflight_bytes = 0;
  int64_t triggered_ms = 0;  ///< since the job started
  int64_t ended_ms = 0;
  uint64_t bytes = 0;
  std::string reason;  ///< why it was aborted
};

/// A task of a job's execution graph: the operators chained into it, head first.
struct TaskShape {
  int id = 0;
  std::string name;  ///< the operators' names joined with " -> "
  std::vector<std::string> operator_ids;
  std::vector<std::string> operator_names;
  int parallelism = 1;
  bool source = false;
  bool operator==(const TaskShape&) const = default;
};

/// An exchange between two tasks, and how records are partitioned over it.
struct EdgeShape {
  int source_task = 0;
  int target_task = 0;
  std::string partitioning;  ///< "forward", "rebalance", "hash" or "broadcast"
  bool operator==(const EdgeShape&) const = default;
};

/// A running job's graph as it was deployed: tasks and the exchanges between them.
struct JobShape {
  std::vector<TaskShape> tasks;
  std::vector<EdgeShape> edges;
  int max_parallelism = 0;
  bool operator==(const JobShape&) const = default;
};

/// A query subtasks of a running job answer between two messages (the console's state,
/// keys, trace and log commands; docs/rest.md).
struct TaskQuery {
  enum class Kind {
    state,  ///< the value of `key` in the keyed state of operator `op` (one state, or all)
    keys,   ///< up to `limit` keys that have keyed state in operator `op`
    trace,  ///< up to `limit` records sampled as they enter (or, for a source, leave) a subtask
    log,    ///< the last `limit` lines a subtask logged
  };
  Kind kind = Kind::state;
  uint64_t id = 0;        ///< the job master's number for it; 0 from a client
  std::string op;         ///< state, keys: the operator's id or name
  std::string key;        ///< state: the key as text (plain for strings and numbers, JSON otherwise)
  std::string state;      ///< state: one state by name; empty: every state the operator opened
  int task = -1;          ///< trace, log: the task's id and the subtask (from 0)
  int subtask = -1;
  uint32_t limit = 0;     ///< keys, trace, log: how many at most (0: the default)
  bool operator==(const TaskQuery&) const = default;
};

}  // namespace sluice
