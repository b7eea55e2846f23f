// actors/messages.hpp — the CAF atoms of the messages between tasks, the master and job clients; control payloads are the wire form of actors/control.hpp.
#pragma once

#include <caf/all.hpp>

namespace sluice::runtime {

// master -> task: (wire_atom, std::vector<caf::actor>) every subtask of the attempt by flat index,
// one message shared by all; then (command_atom, ControlBuffer) with a TaskCommand. A task
// actor is spawned from its encoded TaskDeployment.
using wire_atom = caf::atom_constant<caf::atom("wire")>;
using command_atom = caf::atom_constant<caf::atom("command")>;
// task -> master: (report_atom, ControlBuffer) with a TaskReport.
using report_atom = caf::atom_constant<caf::atom("report")>;
// job client -> master: (client_atom, ControlBuffer) with a ClientRequest, answered with a
// ControlBuffer holding a ClientReply.
using client_atom = caf::atom_constant<caf::atom("client")>;

// task <- task: (frame_atom, backlog, FrameBuffer) and (credit_atom, edge, producer, consumer, n)
using frame_atom = caf::atom_constant<caf::atom("frame")>;
using credit_atom = caf::atom_constant<caf::atom("credit")>;
// task <- itself
using resume_atom = caf::atom_constant<caf::atom("resume")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using wakeup_atom = caf::atom_constant<caf::atom("wakeup")>;
using io_done_atom = caf::atom_constant<caf::atom("io_done")>;

// master <- itself and its I/O strand: the tick, (committed_atom, id, error),
// (restart_atom, attempt) when a restart is due, (point_atom, attempt, error) when the
// checkpoint to restart from was read
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using committed_atom = caf::atom_constant<caf::atom("committed")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using point_atom = caf::atom_constant<caf::atom("point")>;
// master <- a task actor's I/O strand: (quiet_atom, attempt) once the actor is gone and all its
// I/O jobs have run
using quiet_atom = caf::atom_constant<caf::atom("quiet")>;
// master <- whoever hosts its subtasks: (gone_atom, attempt, index, error) a subtask in another
// process is gone (error empty: it quit normally); (host_atom, attempt) the host's own retry
using gone_atom = caf::atom_constant<caf::atom("gone")>;
using host_atom = caf::atom_constant<caf::atom("host")>;
// master <- the cluster: (lost_atom, agent, slots) an agent is gone, with the BATCH partition
// files it held; `slots` are left
using lost_atom = caf::atom_constant<caf::atom("lost")>;
// master <- the cluster: (slots_atom, slots) the agents offer this many slots now
using slots_atom = caf::atom_constant<caf::atom("slots")>;
// an agent's relay <- the agent: (watch_atom, actor, index) a subtask of its route to monitor
using watch_atom = caf::atom_constant<caf::atom("watch")>;

}  // namespace sluice::runtime
