// actors/task_actor.cpp — the task actor: a thin shell that turns messages into TaskRuntime calls and back.
#include "task_actor.hpp"

#include <chrono>

#include "actors/data_link.hpp"
#include "actors/messages.hpp"
#include "checkpoint/restore.hpp"
#include "sluice/logging.hpp"

#include <spdlog/spdlog.h>
#include "scheduler/plan.hpp"

namespace sluice::runtime {

namespace {

struct TaskActorState : TaskTransport {
  caf::event_based_actor* self = nullptr;
  std::unique_ptr<TaskRuntime> runtime;
  TaskSpec spec;
  TaskEnv env;
  std::shared_ptr<IoExecutor::Strand> strand;
  std::vector<caf::actor> peers;                   // every subtask of the attempt, by flat index
  std::vector<size_t> base;                        // by task: flat index of its subtask 0
  std::vector<std::pair<int, int>> tasks_of_edge;  // edge -> (source task, target task)
  bool reported = false;

  void report(TaskReport r) {
    r.attempt = env.attempt;
    r.task = spec.task;
    r.subtask = spec.subtask;
    self->send(env.master, report_atom::value, encode(r));
  }

  /// The peer's link when it runs on another agent.
  const RemotePeer* remote(size_t index) const {
    return index < env.remote.size() && env.remote[index].link ? &env.remote[index] : nullptr;
  }
  /// Flat indexes of a channel's two ends.
  size_t producer_of(const ChannelId& ch) const { return base[size_t(tasks_of_edge[ch.edge].first)] + ch.producer; }
  size_t consumer_of(const ChannelId& ch) const { return base[size_t(tasks_of_edge[ch.edge].second)] + ch.consumer; }
  void send_frame(const ChannelId& ch, uint32_t backlog, FrameBuffer&& frame) override {
    auto to = consumer_of(ch);
    if (const auto* r = remote(to)) {
      DataEnvelope e;
      e.route = r->route;
      e.channel = ch;
      e.backlog = backlog;
      e.priority = FrameView(frame).priority();
      e.frame = std::move(frame);
      r->link->send(std::move(e));
      return;
    }
    self->send(peers[to], frame_atom::value, backlog, std::move(frame));
  }
  void send_credit(const ChannelId& ch, uint32_t credits) override {
    auto to = producer_of(ch);
    if (const auto* r = remote(to)) {
      DataEnvelope e;
      e.kind = DataEnvelope::Kind::credit;
      e.route = r->route;
      e.channel = ch;
      e.credits = credits;
      r->link->send(std::move(e));
      return;
    }
    self->send(peers[to], credit_atom::value, ch.edge, ch.producer, ch.consumer, credits);
  }
  bool file_elsewhere(const ChannelId& ch) const override {
    return remote(producer_of(ch)) != nullptr;
  }
  void send_file_credit(const ChannelId& ch, int file_channel, uint32_t credits) override {
    const auto* r = remote(producer_of(ch));
    if (!r) return;
    DataEnvelope e;
    e.kind = DataEnvelope::Kind::file_credit;
    e.route = r->route;
    e.channel = ch;
    e.credits = credits;
    e.batch = env.batch;
    e.file_channel = uint32_t(file_channel);
    r->link->send(std::move(e));
  }
  void request_resume() override { self->send(self, resume_atom::value); }
  void request_wakeup(int op, std::chrono::milliseconds delay) override {
    self->delayed_send(self, delay, wakeup_atom::value, int32_t(op));
  }
  void submit_io(std::function<void()> job) override {
    auto me = caf::actor_cast<caf::actor>(self);
    env.io->post(strand, std::move(job),
                 [me](const std::string& err) { caf::anon_send(me, io_done_atom::value, err); });
  }
  std::function<void(const std::string&)> standard_output() override { return env.print; }
  std::function<void(int, std::string&&)> results() override { return env.results; }
  CheckpointReporter reporter() override {
    auto master = env.master;
    auto attempt = env.attempt;
    auto task = int32_t(spec.task), subtask = int32_t(spec.subtask);
    // Called on the I/O threads: the report is built and encoded there, sent without the actor.
    return [master, attempt, task, subtask](int64_t id, std::shared_ptr<const CheckpointAck> ack,
                                            const std::string& why) {
      TaskReport r;
      r.attempt = attempt;
      r.task = task;
      r.subtask = subtask;
      if (ack) {
        r.kind = TaskReport::Kind::ack;
        r.ack = *ack;
      } else {
        r.kind = TaskReport::Kind::decline;
        r.checkpoint = id;
        r.error = why;
      }
      caf::anon_send(master, report_atom::value, encode(r));
    };
  }
  void input_ended(int64_t last_checkpoint) override {
    TaskReport r;
    r.kind = TaskReport::Kind::input_ended;
    r.checkpoint = last_checkpoint;
    report(std::move(r));
  }
  int64_t now_ns() override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void publish() {
    auto p = runtime->probe();
    p.mailbox_depth = self->mailbox().size();
    env.probes->publish(env.index, std::move(p));
  }

  /// After every message: answer a trace that is done; report an ended task to the master
  /// and stop.
  void settle() {
    if (auto r = runtime->traced()) report(std::move(*r));
    if (reported) return;
    auto s = runtime->state();
    if (s == TaskState::finished) {
      reported = true;
      publish();
      report(TaskReport{});  // finished
      self->quit();
    } else if (s == TaskState::failed) {
      reported = true;
      publish();
      TaskReport r;
      r.kind = TaskReport::Kind::failed;
      r.error = runtime->error();
      r.permanent = runtime->failed_restoring();
      report(std::move(r));
      self->quit();
    }
  }
};

caf::behavior task_actor(caf::stateful_actor<TaskActorState>* self, TaskSpec spec, TaskEnv env) {
  auto& st = self->state;
  st.self = self;
  st.spec = spec;
  st.env = env;
  st.strand = env.io->make_strand();
  // Once the actor is gone, and every I/O job it posted has run (a sink's commit renames),
  // the master hears it: a restart waits for that before the next attempt touches the files.
  self->attach_functor([io = env.io, strand = st.strand, master = env.master, attempt = env.attempt] {
    io->post(strand, [] {}, [master, attempt](const std::string&) { caf::anon_send(master, quiet_atom::value, attempt); });
  });
  st.base = spec.plan->subtask_offsets();
  st.tasks_of_edge.resize(spec.graph->edges.size());
  for (const auto& x : spec.plan->exchanges) st.tasks_of_edge[size_t(x.edge)] = {x.source_task, x.target_task};
  st.runtime = std::make_unique<TaskRuntime>(spec, st);
  const auto& cfg = spec.graph->config;
  auto flush_every = cfg.buffer_timeout.count() > 0 ? cfg.buffer_timeout : std::chrono::milliseconds(1);
  auto probe_every = cfg.probe_interval;
  return {
      [=](wire_atom, const std::vector<caf::actor>& peers) { self->state.peers = peers; },
      [=](command_atom, const ControlBuffer& b) {
        auto& s = self->state;
        log::LogScope lines(&self->state.runtime->log_ring());
        auto c = decode_command(b);
        switch (c.kind) {
          case TaskCommand::Kind::start:
            s.runtime->start();
            self->delayed_send(self, flush_every, flush_atom::value);
            self->delayed_send(self, probe_every, probe_atom::value);
            s.publish();
            break;
          case TaskCommand::Kind::trigger: s.runtime->trigger_checkpoint(c.checkpoint, c.savepoint); break;
          case TaskCommand::Kind::complete: s.runtime->on_checkpoint_complete(c.checkpoint); break;
          case TaskCommand::Kind::abort: s.runtime->on_checkpoint_aborted(c.checkpoint); break;
          case TaskCommand::Kind::drain: s.runtime->drain(); break;
          case TaskCommand::Kind::query:
            if (auto r = s.runtime->answer(c.query)) s.report(std::move(*r));
            break;
          case TaskCommand::Kind::cancel:
            s.runtime->cancel();
            s.reported = true;
            s.publish();
            self->quit();
            return;
        }
        s.settle();
      },
      [=](frame_atom, uint32_t backlog, FrameBuffer& frame) {
        log::LogScope lines(&self->state.runtime->log_ring());
        self->state.runtime->on_frame(backlog, std::move(frame));
        self->state.settle();
      },
      [=](credit_atom, uint32_t edge, uint32_t producer, uint32_t consumer, uint32_t n) {
        log::LogScope lines(&self->state.runtime->log_ring());
        self->state.runtime->on_credit(ChannelId{edge, producer, consumer}, n);
        self->state.settle();
      },
      [=](resume_atom) {
        log::LogScope lines(&self->state.runtime->log_ring());
        self->state.runtime->on_resume();
        self->state.settle();
      },
      [=](flush_atom) {
        log::LogScope lines(&self->state.runtime->log_ring());
        self->state.runtime->on_flush_timer();
        self->delayed_send(self, flush_every, flush_atom::value);
        self->state.settle();
      },
      [=](probe_atom) {
        log::LogScope lines(&self->state.runtime->log_ring());
        self->state.publish();
        if (auto r = self->state.runtime->traced()) self->state.report(std::move(*r));
        self->delayed_send(self, probe_every, probe_atom::value);
      },
      [=](wakeup_atom, int32_t op) {
        log::LogScope lines(&self->state.runtime->log_ring());
        self->state.runtime->on_wakeup(op);
        self->state.settle();
      },
      [=](io_done_atom, const std::string& error) {
        log::LogScope lines(&self->state.runtime->log_ring());
        self->state.runtime->on_io_done(error);
        self->state.settle();
      },
  };
}

}  // namespace

caf::actor spawn_task(caf::actor_system& sys, TaskSpec spec, const ControlBuffer& deployment, TaskEnv env) {
  auto d = decode_deployment(deployment);
  spec.task = d.task;
  spec.subtask = d.subtask;
  spec.job_id = d.job_id;
  env.attempt = d.attempt;
  // In this process the restored state comes decoded with the spec; it must be the one named.
  bool fits = d.restore.kind == RestoreHandle::Kind::none
                  ? !spec.restore
                  : spec.restore && spec.restore->checkpoint_id == d.restore.checkpoint_id;
  if (!fits) {
    log::runtime()->critical("job '{}': subtask {} of task {} is deployed from checkpoint {} but was handed {}",
                             d.job_name, d.subtask + 1, d.task, d.restore.checkpoint_id,
                             spec.restore ? std::to_string(spec.restore->checkpoint_id) : std::string("none"));
    std::abort();
  }
  return sys.spawn(task_actor, std::move(spec), std::move(env));
}

}  // namespace sluice::runtime
