// actors/control.cpp — Cap'n Proto encoding and checked decoding of the control messages.
#include "actors/control.hpp"

#include "actors/capnp_buffer.hpp"
#include "actors/control.capnp.h"
#include "checkpoint/file_ref_wire.hpp"
#include "sluice/error.hpp"

namespace sluice::runtime {

namespace schema = capnp_schema;

using capnp_io::read;
using capnp_io::to_buffer;

ControlBuffer encode(const TaskDeployment& m) {
  capnp::MallocMessageBuilder b;
  auto d = b.initRoot<schema::TaskDeployment>();
  d.setJobId(m.job_id);
  d.setJobName(m.job_name);
  d.setAttempt(m.attempt);
  d.setTask(m.task);
  d.setSubtask(m.subtask);
  d.setParallelism(m.parallelism);
  d.setMaxParallelism(m.max_parallelism);
  d.setKeyGroupStart(m.key_groups.first);
  d.setKeyGroupEnd(m.key_groups.end);
  auto r = d.initRestore();
  switch (m.restore.kind) {
    case RestoreHandle::Kind::none: r.setNone(); break;
    case RestoreHandle::Kind::from_scratch: r.setFromScratch(); break;
    case RestoreHandle::Kind::checkpoint: {
      auto c = r.initCheckpoint();
      c.setId(m.restore.checkpoint_id);
      c.setPath(m.restore.path);
      break;
    }
  }
  auto peers = d.initPeers(unsigned(m.peers.size()));
  for (unsigned i = 0; i < m.peers.size(); ++i) peers[i].setAgent(m.peers[i]);
  return to_buffer(b);
}

TaskDeployment decode_deployment(const ControlBuffer& b) {
  return read<schema::TaskDeployment>(b, "task deployment", [](schema::TaskDeployment::Reader d) {
    TaskDeployment m;
    m.job_id = d.getJobId();
    m.job_name = d.getJobName();
    m.attempt = d.getAttempt();
    m.task = d.getTask();
    m.subtask = d.getSubtask();
    m.parallelism = d.getParallelism();
    m.max_parallelism = d.getMaxParallelism();
    m.key_groups = {d.getKeyGroupStart(), d.getKeyGroupEnd()};
    if (m.task < 0 || m.subtask < 0 || m.parallelism < 1 || m.subtask >= m.parallelism || m.max_parallelism < 1 ||
        m.key_groups.first < 0 || m.key_groups.first > m.key_groups.end || m.key_groups.end > m.max_parallelism)
      throw DecodeError("malformed task deployment: subtask " + std::to_string(m.subtask) + " of " +
                        std::to_string(m.parallelism) + ", key groups [" + std::to_string(m.key_groups.first) + ", " +
                        std::to_string(m.key_groups.end) + ") of " + std::to_string(m.max_parallelism));
    auto r = d.getRestore();
    switch (r.which()) {
      case schema::RestoreHandle::NONE: m.restore.kind = RestoreHandle::Kind::none; break;
      case schema::RestoreHandle::FROM_SCRATCH: m.restore.kind = RestoreHandle::Kind::from_scratch; break;
      case schema::RestoreHandle::CHECKPOINT:
        m.restore.kind = RestoreHandle::Kind::checkpoint;
        m.restore.checkpoint_id = r.getCheckpoint().getId();
        m.restore.path = r.getCheckpoint().getPath();
        break;
      default: throw DecodeError("malformed task deployment: unknown restore kind");
    }
    for (auto p : d.getPeers()) m.peers.push_back(p.getAgent());
    return m;
  });
}

namespace {
void set_query(schema::TaskQuery::Builder q, const TaskQuery& m) {
  q.setId(m.id);
  q.setOperator(m.op);
  q.setKey(m.key);
  q.setState(m.state);
  q.setKind(static_cast<schema::TaskQuery::Kind>(m.kind));
  q.setTask(m.task);
  q.setSubtask(m.subtask);
  q.setLimit(m.limit);
}
TaskQuery get_query(schema::TaskQuery::Reader q) {
  if (uint16_t(q.getKind()) > uint16_t(TaskQuery::Kind::log)) throw DecodeError("malformed task query: unknown kind");
  TaskQuery m;
  m.kind = static_cast<TaskQuery::Kind>(q.getKind());
  m.id = q.getId();
  m.op = q.getOperator();
  m.key = q.getKey();
  m.state = q.getState();
  m.task = q.getTask();
  m.subtask = q.getSubtask();
  m.limit = q.getLimit();
  return m;
}
}  // namespace

ControlBuffer encode(const TaskCommand& m) {
  capnp::MallocMessageBuilder b;
  auto c = b.initRoot<schema::TaskCommand>();
  switch (m.kind) {
    case TaskCommand::Kind::start: c.setStart(); break;
    case TaskCommand::Kind::cancel: c.setCancel(); break;
    case TaskCommand::Kind::trigger: {
      auto t = c.initTrigger();
      t.setCheckpointId(m.checkpoint);
      t.setSavepoint(m.savepoint);
      break;
    }
    case TaskCommand::Kind::complete: c.setComplete(m.checkpoint); break;
    case TaskCommand::Kind::abort: c.setAbort(m.checkpoint); break;
    case TaskCommand::Kind::drain: c.setDrain(); break;
    case TaskCommand::Kind::query: set_query(c.initQuery(), m.query); break;
  }
  return to_buffer(b);
}

TaskCommand decode_command(const ControlBuffer& b) {
  return read<schema::TaskCommand>(b, "task command", [](schema::TaskCommand::Reader c) {
    TaskCommand m;
    switch (c.which()) {
      case schema::TaskCommand::START: m.kind = TaskCommand::Kind::start; break;
      case schema::TaskCommand::CANCEL: m.kind = TaskCommand::Kind::cancel; break;
      case schema::TaskCommand::TRIGGER:
        m.kind = TaskCommand::Kind::trigger;
        m.checkpoint = c.getTrigger().getCheckpointId();
        m.savepoint = c.getTrigger().getSavepoint();
        break;
      case schema::TaskCommand::COMPLETE:
        m.kind = TaskCommand::Kind::complete;
        m.checkpoint = c.getComplete();
        break;
      case schema::TaskCommand::ABORT:
        m.kind = TaskCommand::Kind::abort;
        m.checkpoint = c.getAbort();
        break;
      case schema::TaskCommand::DRAIN: m.kind = TaskCommand::Kind::drain; break;
      case schema::TaskCommand::QUERY:
        m.kind = TaskCommand::Kind::query;
        m.query = get_query(c.getQuery());
        break;
      default: throw DecodeError("malformed task command: unknown kind");
    }
    return m;
  });
}

ControlBuffer encode(const TaskReport& m) {
  capnp::MallocMessageBuilder b;
  auto r = b.initRoot<schema::TaskReport>();
  r.setAttempt(m.attempt);
  r.setTask(m.task);
  r.setSubtask(m.subtask);
  switch (m.kind) {
    case TaskReport::Kind::finished: r.setFinished(); break;
    case TaskReport::Kind::failed: {
      auto f = r.initFailed();
      f.setError(m.error);
      f.setPermanent(m.permanent);
      break;
    }
    case TaskReport::Kind::ack: {
      const auto& a = m.ack;
      auto x = r.initAck();
      x.setCheckpointId(a.checkpoint_id);
      checkpoint::to_wire(x.initFile(), a.file);
      auto shared = x.initShared(unsigned(a.shared.size()));
      for (unsigned i = 0; i < a.shared.size(); ++i) {
        shared[i].setOperatorId(a.shared[i].first);
        checkpoint::to_wire(shared[i].initFile(), a.shared[i].second);
      }
      auto states = x.initStates(unsigned(a.states.size()));
      for (unsigned i = 0; i < a.states.size(); ++i) {
        states[i].setOperatorId(a.states[i].first);
        auto s = states[i].initState();
        s.setName(a.states[i].second.name);
        s.setCodec(a.states[i].second.codec);
      }
      x.setBytes(a.bytes);
      x.setUnaligned(a.unaligned);
      x.setAlignmentMs(a.alignment_ms);
      x.setSyncMs(a.sync_ms);
      x.setAsyncMs(a.async_ms);
      x.setInflightBytes(a.inflight_bytes);
      break;
    }
    case TaskReport::Kind::decline: {
      auto d = r.initDecline();
      d.setCheckpointId(m.checkpoint);
      d.setReason(m.error);
      break;
    }
    case TaskReport::Kind::input_ended: r.setInputEnded(m.checkpoint); break;
    case TaskReport::Kind::answer: {
      auto a = r.initAnswer();
      a.setQuery(m.query);
      a.setOwner(m.owner);
      a.setText(m.text);
      a.setError(m.error);
      break;
    }
  }
  return to_buffer(b);
}

TaskReport decode_report(const ControlBuffer& b) {
  return read<schema::TaskReport>(b, "task report", [](schema::TaskReport::Reader r) {
    TaskReport m;
    m.attempt = r.getAttempt();
    m.task = r.getTask();
    m.subtask = r.getSubtask();
    switch (r.which()) {
      case schema::TaskReport::FINISHED: m.kind = TaskReport::Kind::finished; break;
      case schema::TaskReport::FAILED:
        m.kind = TaskReport::Kind::failed;
        m.error = r.getFailed().getError();
        m.permanent = r.getFailed().getPermanent();
        break;
      case schema::TaskReport::ACK: {
        m.kind = TaskReport::Kind::ack;
        auto x = r.getAck();
        auto& a = m.ack;
        a.checkpoint_id = x.getCheckpointId();
        a.task = m.task;
        a.subtask = m.subtask;
        a.file = checkpoint::from_wire(x.getFile());
        for (auto s : x.getShared()) a.shared.emplace_back(s.getOperatorId(), checkpoint::from_wire(s.getFile()));
        for (auto s : x.getStates())
          a.states.emplace_back(s.getOperatorId(),
                                checkpoint::StateFingerprint{s.getState().getName(), s.getState().getCodec()});
        a.bytes = x.getBytes();
        a.unaligned = x.getUnaligned();
        a.alignment_ms = x.getAlignmentMs();
        a.sync_ms = x.getSyncMs();
        a.async_ms = x.getAsyncMs();
        a.inflight_bytes = x.getInflightBytes();
        break;
      }
      case schema::TaskReport::DECLINE:
        m.kind = TaskReport::Kind::decline;
        m.checkpoint = r.getDecline().getCheckpointId();
        m.error = r.getDecline().getReason();
        break;
      case schema::TaskReport::INPUT_ENDED:
        m.kind = TaskReport::Kind::input_ended;
        m.checkpoint = r.getInputEnded();
        break;
      case schema::TaskReport::ANSWER:
        m.kind = TaskReport::Kind::answer;
        m.query = r.getAnswer().getQuery();
        m.owner = r.getAnswer().getOwner();
        m.text = r.getAnswer().getText();
        m.error = r.getAnswer().getError();
        break;
      default: throw DecodeError("malformed task report: unknown kind");
    }
    if (m.task < 0 || m.subtask < 0)
      throw DecodeError("malformed task report: task " + std::to_string(m.task) + ", subtask " +
                        std::to_string(m.subtask));
    return m;
  });
}

ControlBuffer encode(const ClientRequest& m) {
  capnp::MallocMessageBuilder b;
  auto r = b.initRoot<schema::ClientRequest>();
  switch (m.kind) {
    case ClientRequest::Kind::checkpoint: r.setCheckpoint(); break;
    case ClientRequest::Kind::savepoint: r.setSavepoint(); break;
    case ClientRequest::Kind::stop: r.setStop(m.drain); break;
    case ClientRequest::Kind::cancel: r.setCancel(); break;
    case ClientRequest::Kind::query: set_query(r.initQuery(), m.query); break;
  }
  return to_buffer(b);
}

ClientRequest decode_request(const ControlBuffer& b) {
  return read<schema::ClientRequest>(b, "client request", [](schema::ClientRequest::Reader r) {
    ClientRequest m;
    switch (r.which()) {
      case schema::ClientRequest::CHECKPOINT: m.kind = ClientRequest::Kind::checkpoint; break;
      case schema::ClientRequest::SAVEPOINT: m.kind = ClientRequest::Kind::savepoint; break;
      case schema::ClientRequest::STOP:
        m.kind = ClientRequest::Kind::stop;
        m.drain = r.getStop();
        break;
      case schema::ClientRequest::CANCEL: m.kind = ClientRequest::Kind::cancel; break;
      case schema::ClientRequest::QUERY:
        m.kind = ClientRequest::Kind::query;
        m.query = get_query(r.getQuery());
        break;
      default: throw DecodeError("malformed client request: unknown kind");
    }
    return m;
  });
}

ControlBuffer encode(const ClientReply& m) {
  capnp::MallocMessageBuilder b;
  auto r = b.initRoot<schema::ClientReply>();
  r.setCheckpointId(m.checkpoint);
  r.setError(m.error);
  r.setText(m.text);
  return to_buffer(b);
}

ClientReply decode_reply(const ControlBuffer& b) {
  return read<schema::ClientReply>(b, "client reply", [](schema::ClientReply::Reader r) {
    return ClientReply{r.getCheckpointId(), r.getError(), r.getText()};
  });
}

ControlBuffer encode(const TaskProbe& m) {
  capnp::MallocMessageBuilder b;
  auto p = b.initRoot<schema::TaskProbe>();
  p.setJobId(m.job_id);
  p.setTaskId(m.task_id);
  p.setTask(m.task);
  p.setSubtask(m.subtask);
  p.setParallelism(m.parallelism);
  p.setStatus(m.status);
  p.setRecordsIn(m.records_in);
  p.setRecordsOut(m.records_out);
  p.setBytesIn(m.bytes_in);
  p.setBytesOut(m.bytes_out);
  p.setBusyMs(m.busy_ms);
  p.setBackpressuredMs(m.backpressured_ms);
  p.setIdleMs(m.idle_ms);
  p.setQueuedBuffersIn(m.queued_buffers_in);
  p.setQueuedBytesIn(m.queued_bytes_in);
  p.setQueuedBuffersOut(m.queued_buffers_out);
  p.setQueuedBytesOut(m.queued_bytes_out);
  p.setMaxQueuedBytesIn(m.max_queued_bytes_in);
  p.setMaxQueuedBytesOut(m.max_queued_bytes_out);
  p.setCreditsAvailable(m.credits_available);
  p.setCreditsGranted(m.credits_granted);
  p.setInputBufferCapacity(m.input_buffer_capacity);
  p.setMailboxDepth(m.mailbox_depth);
  p.setWatermark(m.watermark);
  p.setCheckpointId(m.checkpoint_id);
  p.setCheckpointUnaligned(m.checkpoint_unaligned);
  p.setCheckpointAlignmentMs(m.checkpoint_alignment_ms);
  p.setCheckpointSyncMs(m.checkpoint_sync_ms);
  p.setCheckpointAsyncMs(m.checkpoint_async_ms);
  p.setCheckpointBytes(m.checkpoint_bytes);
  p.setCheckpointInflightBytes(m.checkpoint_inflight_bytes);
  auto ops = p.initOperators(unsigned(m.operators.size()));
  for (unsigned i = 0; i < m.operators.size(); ++i) {
    const auto& o = m.operators[i];
    ops[i].setOperatorId(o.operator_id);
    ops[i].setName(o.name);
    ops[i].setRecordsIn(o.records_in);
    ops[i].setRecordsOut(o.records_out);
    ops[i].setKeyed(o.keyed);
    ops[i].setStateEntries(o.state_entries);
    ops[i].setStateBytes(o.state_bytes);
  }
  p.setWaitingFor(m.waiting_for);
  p.setWaitingMs(m.waiting_ms);
  auto chs = p.initChannels(unsigned(m.channels.size()));
  for (unsigned i = 0; i < m.channels.size(); ++i) {
    const auto& c = m.channels[i];
    chs[i].setInput(c.input);
    chs[i].setEdge(c.edge);
    chs[i].setPeerTask(c.peer_task);
    chs[i].setPeerSubtask(c.peer_subtask);
    chs[i].setCredits(c.credits);
    chs[i].setBacklog(c.backlog);
    chs[i].setQueuedBuffers(c.queued_buffers);
    chs[i].setQueuedBytes(c.queued_bytes);
    chs[i].setSequence(c.sequence);
    chs[i].setBlocked(c.blocked);
    chs[i].setClosed(c.closed);
  }
  return to_buffer(b);
}

TaskProbe decode_probe(const ControlBuffer& b) {
  return read<schema::TaskProbe>(b, "task probe", [](schema::TaskProbe::Reader p) {
    TaskProbe m;
    m.job_id = p.getJobId();
    m.task_id = p.getTaskId();
    m.task = p.getTask();
    m.subtask = p.getSubtask();
    m.parallelism = p.getParallelism();
    m.status = p.getStatus();
    m.records_in = p.getRecordsIn();
    m.records_out = p.getRecordsOut();
    m.bytes_in = p.getBytesIn();
    m.bytes_out = p.getBytesOut();
    m.busy_ms = p.getBusyMs();
    m.backpressured_ms = p.getBackpressuredMs();
    m.idle_ms = p.getIdleMs();
    m.queued_buffers_in = p.getQueuedBuffersIn();
    m.queued_bytes_in = p.getQueuedBytesIn();
    m.queued_buffers_out = p.getQueuedBuffersOut();
    m.queued_bytes_out = p.getQueuedBytesOut();
    m.max_queued_bytes_in = p.getMaxQueuedBytesIn();
    m.max_queued_bytes_out = p.getMaxQueuedBytesOut();
    m.credits_available = p.getCreditsAvailable();
    m.credits_granted = p.getCreditsGranted();
    m.input_buffer_capacity = p.getInputBufferCapacity();
    m.mailbox_depth = p.getMailboxDepth();
    m.watermark = p.getWatermark();
    m.checkpoint_id = p.getCheckpointId();
    m.checkpoint_unaligned = p.getCheckpointUnaligned();
    m.checkpoint_alignment_ms = p.getCheckpointAlignmentMs();
    m.checkpoint_sync_ms = p.getCheckpointSyncMs();
    m.checkpoint_async_ms = p.getCheckpointAsyncMs();
    m.checkpoint_bytes = p.getCheckpointBytes();
    m.checkpoint_inflight_bytes = p.getCheckpointInflightBytes();
    for (auto x : p.getOperators()) {
      OperatorProbe o;
      o.operator_id = x.getOperatorId();
      o.name = x.getName();
      o.records_in = x.getRecordsIn();
      o.records_out = x.getRecordsOut();
      o.keyed = x.getKeyed();
      o.state_entries = x.getStateEntries();
      o.state_bytes = x.getStateBytes();
      m.operators.push_back(std::move(o));
    }
    m.waiting_for = p.getWaitingFor();
    m.waiting_ms = p.getWaitingMs();
    for (auto x : p.getChannels())
      m.channels.push_back({x.getInput(), x.getEdge(), x.getPeerTask(), x.getPeerSubtask(), x.getCredits(),
                            x.getBacklog(), x.getQueuedBuffers(), x.getQueuedBytes(), x.getSequence(), x.getBlocked(),
                            x.getClosed()});
    return m;
  });
}

}  // namespace sluice::runtime
