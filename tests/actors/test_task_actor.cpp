// tests/actors/test_task_actor.cpp — the credit protocol at the actor level, stepped by CAF's deterministic test_coordinator.
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <sluice/sluice.hpp>

#include "actors/messages.hpp"
#include "actors/task_actor.hpp"
#include "scheduler/plan.hpp"

using namespace sluice;
using namespace sluice::runtime;

namespace {

struct Received {
  std::vector<std::pair<uint32_t, FrameBuffer>> frames;
  std::vector<std::string> reports;
};

/// Stands in for a consumer task: keeps every frame and returns no credit by itself.
caf::behavior fake_consumer(caf::event_based_actor*, std::shared_ptr<Received> rec) {
  return {[rec](frame_atom, uint32_t backlog, FrameBuffer& f) {
    rec->frames.emplace_back(backlog, std::move(f));
  }};
}

/// Stands in for the master: notes what the task reports.
caf::behavior fake_master(caf::event_based_actor*, std::shared_ptr<Received> rec) {
  return {
      [rec](report_atom, const ControlBuffer& b) {
        auto r = decode_report(b);
        if (r.kind == TaskReport::Kind::finished) rec->reports.push_back("done");
        else if (r.kind == TaskReport::Kind::failed) rec->reports.push_back("failed: " + r.error);
      },
      [](quiet_atom, int32_t) {},
  };
}

struct Harness {
  static constexpr int64_t records = 3000;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::shared_ptr<Received> rec = std::make_shared<Received>();
  IoExecutor io{1};
  ProbeRegistry probes{2};
  caf::actor producer;
  uint32_t edge = 0;

  Harness() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());

    StreamEnvironment env;
    env.set_parallelism(1).disable_chaining();
    env.config().buffer_size = 2048;
    env.config().output_queue_buffers = 2;
    env.from_generator(records, [](int64_t i) { return i; }).sink_to(DiscardSink<int64_t>());
    auto graph = std::make_shared<JobGraph>(env.graph());
    graph->name = "credit test";
    auto plan = std::make_shared<scheduler::ExecutionPlan>(scheduler::plan(*graph));
    REQUIRE(plan->tasks.size() == 2);
    edge = uint32_t(plan->exchanges.at(0).edge);

    auto master = sys->spawn(fake_master, rec);
    auto consumer = sys->spawn(fake_consumer, rec);
    TaskDeployment d;
    d.job_name = graph->name;
    d.key_groups = {0, 128};
    producer = spawn_task(*sys, TaskSpec{graph, plan, 0, 0, nullptr, nullptr, {}, {}}, encode(d),
                          TaskEnv{master, &io, &probes, 0, 0, {}, {}, {}});
    caf::anon_send(producer, wire_atom::value, std::vector<caf::actor>{producer, consumer});
    caf::anon_send(producer, command_atom::value, encode(TaskCommand{TaskCommand::Kind::start}));
  }
  ~Harness() {
    caf::anon_send_exit(producer, caf::exit_reason::user_shutdown);
    sched->run();
    io.wait_idle();  // the producer's last I/O job tells the master it is drained
    sched->run();  // ... which the master takes before the system shuts down
  }
  /// Runs every ready message; a task that busy-looped would never let this end.
  size_t settle() {
    auto n = sched->run(100000);
    REQUIRE(n < 100000);
    return n;
  }
  void grant(uint32_t n) { caf::anon_send(producer, credit_atom::value, edge, 0u, 0u, n); }
};

}  // namespace

TEST_CASE("a producer sends nothing without credit, and idles instead of spinning", "[credit][actor]") {
  Harness h;
  h.settle();
  CHECK(h.rec->frames.empty());
  CHECK(h.rec->reports.empty());
}

TEST_CASE("a producer sends exactly as many frames as the receiver granted, however late", "[credit][actor]") {
  Harness h;
  h.settle();
  uint32_t granted = 0;
  // The receiver returns one credit at a time, long after the producer ran out.
  for (int round = 0; round < 5; ++round) {
    h.grant(1);
    ++granted;
    h.settle();
    REQUIRE(h.rec->frames.size() == granted);
    CHECK(h.rec->frames.back().first > 0);  // the sender announces its backlog
  }
  h.grant(2);
  granted += 2;
  h.settle();
  CHECK(h.rec->frames.size() == granted);
  CHECK(h.rec->reports.empty());

  // Plenty of credit: everything arrives, in sequence, whole, and the task reports done.
  h.grant(100000);
  h.settle();
  REQUIRE(h.rec->reports == std::vector<std::string>{"done"});
  int64_t next = 0;
  uint64_t seq = 0;
  bool end_of_data = false, end_of_partition = false;
  for (auto& [backlog, buf] : h.rec->frames) {
    FrameView v(buf);
    CHECK(v.sequence() == seq++);
    CHECK(v.channel() == ChannelId{h.edge, 0, 0});
    if (v.kind() == FrameKind::records) {
      CHECK_FALSE(end_of_data);
      CHECK(buf.size() * 8 <= 2048);
      for (size_t i = 0; i < v.record_count(); ++i)
        CHECK(decode_from_bytes<int64_t>(v.record_data(i), v.record_size(i)) == next++);
    }
    end_of_data |= v.kind() == FrameKind::end_of_data;
    end_of_partition |= v.kind() == FrameKind::end_of_partition;
  }
  CHECK(next == Harness::records);
  CHECK(end_of_data);
  CHECK(end_of_partition);
  CHECK(FrameView(h.rec->frames.back().second).kind() == FrameKind::end_of_partition);
}

TEST_CASE("a credit for a channel the task does not have fails it with a clear sentence", "[credit][actor]") {
  Harness h;
  h.settle();
  caf::anon_send(h.producer, credit_atom::value, h.edge + 7, 0u, 0u, 1u);
  h.settle();
  REQUIRE(h.rec->reports.size() == 1);
  CHECK_THAT(h.rec->reports[0], Catch::Contains("no such output channel") && Catch::Contains("credit test"));
}
