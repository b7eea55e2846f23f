// actors/messages.hpp — the CAF atoms and message types between tasks, the master and the executor.
#pragma once

#include <caf/all.hpp>

#include <memory>
#include <vector>

namespace sluice::runtime {

/// Every task actor of a job: [task][subtask].
using ActorTable = std::vector<std::vector<caf::actor>>;

// task <- master
using wire_atom = caf::atom_constant<caf::atom("wire")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
// task <- task: (frame_atom, backlog, FrameBuffer) and (credit_atom, edge, producer, consumer, n)
using frame_atom = caf::atom_constant<caf::atom("frame")>;
using credit_atom = caf::atom_constant<caf::atom("credit")>;
// task <- itself
using resume_atom = caf::atom_constant<caf::atom("resume")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using wakeup_atom = caf::atom_constant<caf::atom("wakeup")>;
using io_done_atom = caf::atom_constant<caf::atom("io_done")>;
// master <- task: (done_atom, attempt, task, subtask) and (failed_atom, attempt, error,
// permanent) where `permanent` says a restart cannot help (the restore itself failed)
using done_atom = caf::atom_constant<caf::atom("done")>;
using failed_atom = caf::atom_constant<caf::atom("failed")>;
// checkpoints: task <- master (trigger, complete, abort) with the checkpoint id;
// master <- task: (ack_atom, attempt, task, subtask, id, ack, reason) where a null ack is a
// decline with its reason, and (ended_atom, attempt, task, subtask) when a task's input ended.
using trigger_atom = caf::atom_constant<caf::atom("trigger")>;
using complete_atom = caf::atom_constant<caf::atom("complete")>;
using abort_atom = caf::atom_constant<caf::atom("abort")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using ended_atom = caf::atom_constant<caf::atom("ended")>;
// master <- itself
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using committed_atom = caf::atom_constant<caf::atom("committed")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
// master <- a task actor's I/O strand: (drained_atom, attempt) once the actor is gone and its
// I/O jobs have run
using drained_atom = caf::atom_constant<caf::atom("drained")>;
// master <- a job client: (savepoint_atom, bool savepoint) and (stop_atom, bool drain),
// answered with (checkpoint id, error sentence)
using savepoint_atom = caf::atom_constant<caf::atom("savepoint")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
// task <- master: a source ends now (stop-with-savepoint with drain)
using drain_atom = caf::atom_constant<caf::atom("drain")>;

}  // namespace sluice::runtime

namespace sluice::runtime {
struct CheckpointAck;
struct RestoreState;
}

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const sluice::runtime::ActorTable>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const sluice::runtime::CheckpointAck>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const sluice::runtime::RestoreState>)
