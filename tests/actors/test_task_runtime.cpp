// tests/actors/test_task_runtime.cpp — one subtask's TaskRuntime driven directly through an in-memory TaskTransport: alignment, unaligned overtaking, alignment timeout, end of partition, credit exhaustion; no actor system, time by hand.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <cstring>
#include <map>

#include "checkpoint/snapshot.hpp"
#include "actors/task.hpp"
#include "checkpoint/storage.hpp"
#include "scheduler/plan.hpp"
#include "support/temp_dir.hpp"

using namespace sluice;
using namespace sluice::runtime;

namespace {

/// Everything the task asks of the world, kept for the test to look at and to answer.
struct MemoryTransport final : TaskTransport {
  struct Sent {
    ChannelId ch;
    uint32_t backlog;
    FrameBuffer frame;
  };
  std::vector<Sent> sent;
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> credits;  // (edge, producer) -> granted
  bool resume_requested = false;
  std::vector<std::function<void()>> io;
  struct Report {
    int64_t id;
    std::shared_ptr<const CheckpointAck> ack;
    std::string why;
  };
  std::vector<Report> reports;
  std::vector<int64_t> ended;
  int64_t clock_ns = 0;

  void send_frame(const ChannelId& ch, uint32_t backlog, FrameBuffer&& frame) override {
    sent.push_back({ch, backlog, std::move(frame)});
  }
  void send_credit(const ChannelId& ch, uint32_t n) override { credits[{ch.edge, ch.producer}] += n; }
  void request_resume() override { resume_requested = true; }
  void request_wakeup(int, std::chrono::milliseconds) override {}
  void submit_io(std::function<void()> job) override { io.push_back(std::move(job)); }
  int64_t now_ns() override { return clock_ns; }
  CheckpointReporter reporter() override {
    return [this](int64_t id, std::shared_ptr<const CheckpointAck> ack, const std::string& why) {
      reports.push_back({id, std::move(ack), why});
    };
  }
  void input_ended(int64_t last) override { ended.push_back(last); }

  /// What was sent downstream, decoded: "r:<values>", "b<id>", "B<id>" (priority), "eop", ...
  std::vector<std::string> sent_kinds() const {
    std::vector<std::string> out;
    for (const auto& s : sent) {
      FrameView v(s.frame);
      switch (v.kind()) {
        case FrameKind::records: {
          std::string r = "r:";
          size_t m = 0;
          for (size_t i = 0; i <= v.record_count(); ++i) {
            for (; m < v.marks().size() && v.marks()[m].after == i; ++m) r += "w" + std::to_string(v.marks()[m].watermark) + ",";
            if (i == v.record_count()) break;
            int64_t x;
            std::memcpy(&x, v.record_data(i), 8);
            r += std::to_string(x) + ",";
          }
          out.push_back(r);
          break;
        }
        case FrameKind::barrier: out.push_back((v.priority() ? "B" : "b") + std::to_string(v.value())); break;
        case FrameKind::end_of_data: out.push_back("eod"); break;
        case FrameKind::end_of_partition: out.push_back("eop"); break;
        default: out.push_back(frame_kind_name(v.kind())); break;
      }
    }
    return out;
  }
};

/// Subtask 0 of "Map" (parallelism 1) between two sources and two sinks: two input channels
/// (producers 0 and 1 of the source task), two output channels.
struct Fixture {
  test_support::TempDir dir;
  std::shared_ptr<std::vector<int64_t>> seen = std::make_shared<std::vector<int64_t>>();
  std::shared_ptr<const JobGraph> graph;
  std::shared_ptr<const scheduler::ExecutionPlan> plan;
  std::shared_ptr<checkpoint::CheckpointCommitter> committer;
  std::shared_ptr<checkpoint::CheckpointWriter> storage;
  MemoryTransport t;
  std::unique_ptr<TaskRuntime> rt;
  uint32_t in_edge = 0, out_edge = 0;
  uint64_t seq[2] = {0, 0};
  uint32_t used[2] = {0, 0};  // credits each producer spent

  explicit Fixture(CheckpointingMode mode, bool checkpoints = true, uint32_t buffer_size = 32 * 1024) {
    StreamEnvironment env;
    env.set_parallelism(2);
    env.config().buffer_size = buffer_size;
    env.config().checkpoint.interval = std::chrono::milliseconds(checkpoints ? 1000 : 0);
    env.config().checkpoint.mode = mode;
    env.config().checkpoint.alignment_timeout = std::chrono::milliseconds(100);
    auto seen_by_map = seen;
    env.from_generator(10, [](int64_t i) { return i; })
        .map([seen_by_map](int64_t v) {
          seen_by_map->push_back(v);
          return v;
        }, "Map")
        .set_parallelism(1)
        .sink_to(DiscardSink<int64_t>())
        .set_parallelism(2);
    auto g = env.graph();
    g.name = "runtime test";
    graph = std::make_shared<const JobGraph>(std::move(g));
    plan = std::make_shared<const scheduler::ExecutionPlan>(scheduler::plan(*graph));
    REQUIRE(plan->tasks.size() == 3);
    in_edge = uint32_t(plan->exchanges.at(0).edge);
    out_edge = uint32_t(plan->exchanges.at(1).edge);
    if (checkpoints) {
      committer = std::make_shared<checkpoint::CheckpointCommitter>(dir.path() / "chk");
      storage = std::make_shared<checkpoint::CheckpointWriter>(committer->directory());
    }
    rt = std::make_unique<TaskRuntime>(TaskSpec{graph, plan, 1, 0, storage, nullptr, "test-job", {}}, t);
    rt->start();
    REQUIRE(rt->state() == TaskState::running);
  }

  ChannelId in(uint32_t producer) const { return {in_edge, producer, 0}; }
  /// Credits producer `p` may still spend; an in-band frame needs one, as a real sender.
  uint32_t available(uint32_t p) { return credits_upstream(p) - used[p]; }
  void spend(uint32_t p) {
    REQUIRE(available(p) > 0);
    ++used[p];
  }
  /// A record frame of `values`; a value of `watermark_at(w)` stages watermark w there instead.
  static constexpr int64_t mark_base = int64_t(1) << 40;
  static int64_t watermark_at(int64_t w) { return mark_base + w; }
  void records(uint32_t producer, std::vector<int64_t> values) {
    RecordBatch b;
    for (auto v : values) {
      if (v >= mark_base) {
        b.mark_watermark(v - mark_base);
        continue;
      }
      auto at = b.data.size();
      b.data.resize(at + 8);
      std::memcpy(b.data.data() + at, &v, 8);
      b.ends.push_back(uint32_t(b.data.size()));
      b.timestamps.push_back(v);
    }
    spend(producer);
    rt->on_frame(0, encode_records(in(producer), seq[producer]++, b));
  }
  void barrier(uint32_t producer, int64_t id) {
    spend(producer);
    rt->on_frame(0, encode_barrier(in(producer), seq[producer]++, id, false));
  }
  void priority_barrier(uint32_t producer, int64_t id) { rt->on_frame(0, encode_priority_barrier(in(producer), id)); }
  void event(uint32_t producer, FrameKind k) {
    spend(producer);
    rt->on_frame(0, encode_element(in(producer), seq[producer]++, k));
  }
  void grant_downstream(uint32_t n) {
    for (uint32_t c = 0; c < 2; ++c) rt->on_credit({out_edge, 0, c}, n);
  }
  /// Runs processing steps until the task asks for no more.
  void pump() {
    for (int i = 0; i < 1000 && t.resume_requested; ++i) {
      t.resume_requested = false;
      rt->on_resume();
    }
    REQUIRE_FALSE(t.resume_requested);  // a task with nothing to do must not spin
  }
  /// Runs the snapshot writes the task submitted.
  void run_io() {
    while (!t.io.empty()) {
      auto jobs = std::move(t.io);
      t.io.clear();
      for (auto& j : jobs) {
        j();
        rt->on_io_done("");
      }
    }
  }
  uint32_t credits_upstream(uint32_t producer) { return t.credits[{in_edge, producer}]; }
  std::string outputs() {
    std::string s;
    for (const auto& k : t.sent_kinds()) s += k + " ";
    return s;
  }
  std::vector<int64_t> sorted_seen() const {
    auto v = *seen;
    std::sort(v.begin(), v.end());
    return v;
  }
  /// The snapshot the ack of checkpoint `id` points to.
  SubtaskSnapshot snapshot_of(const CheckpointAck& ack) {
    return decode_snapshot(committer->read_file(uint64_t(ack.checkpoint_id), ack.file), ack.file.path);
  }
};

std::vector<int64_t> values_of(const std::vector<ChannelRecords>& chans) {
  std::vector<int64_t> out;
  for (const auto& c : chans)
    for (const auto& [ts, bytes] : c.records) {
      int64_t v;
      std::memcpy(&v, bytes.data(), 8);
      out.push_back(v);
    }
  std::sort(out.begin(), out.end());
  return out;
}

using V = std::vector<int64_t>;

}  // namespace

TEST_CASE("aligned: a channel that delivered barrier n is held back until every channel did", "[task_runtime]") {
  Fixture f(CheckpointingMode::aligned);
  f.grant_downstream(10);
  CHECK(f.credits_upstream(0) == 2);  // the exclusive buffers of each channel
  f.records(0, {1, 2});
  f.barrier(0, 1);
  f.records(1, {10});
  f.pump();
  CHECK(f.sorted_seen() == V{1, 2, 10});
  // Channel 0 delivered the barrier: its exclusive buffers come back, but what it sends now
  // waits behind the barrier.
  f.records(0, {3});
  f.pump();
  CHECK(f.sorted_seen() == V{1, 2, 10});
  CHECK(f.t.io.empty());
  f.barrier(1, 1);
  f.pump();
  CHECK(f.sorted_seen() == V{1, 2, 3, 10});
  f.rt->on_flush_timer();
  // Each output channel carries the records before the barrier, the barrier, then the rest.
  auto out = f.outputs();
  CHECK(out.find("b1") != std::string::npos);
  CHECK(out.find("B1") == std::string::npos);
  f.run_io();
  REQUIRE(f.t.reports.size() == 1);
  REQUIRE(f.t.reports[0].ack);
  CHECK(f.t.reports[0].id == 1);
  CHECK_FALSE(f.t.reports[0].ack->unaligned);
  CHECK(f.snapshot_of(*f.t.reports[0].ack).inputs.empty());
}

TEST_CASE("unaligned: a priority barrier overtakes queued input and output, which become channel state",
          "[task_runtime]") {
  Fixture f(CheckpointingMode::unaligned);
  f.records(0, {1, 2});
  f.pump();
  f.rt->on_flush_timer();  // 1 and 2 wait in the output queues: no credit downstream
  CHECK(f.t.sent.empty());
  f.records(0, {3, 4});  // queued, not yet processed
  f.priority_barrier(0, 1);
  // The snapshot is taken at once and the barrier overtakes the queued output, without credit.
  CHECK(f.outputs() == "B1 B1 ");
  f.records(1, {10});  // before channel 1's barrier: channel state
  f.priority_barrier(1, 1);
  f.records(1, {11});  // after it: not
  f.run_io();
  REQUIRE(f.t.reports.size() == 1);
  REQUIRE(f.t.reports[0].ack);
  const auto& ack = *f.t.reports[0].ack;
  CHECK(ack.unaligned);
  CHECK(ack.inflight_bytes == 5 * 8);
  auto snap = f.snapshot_of(ack);
  CHECK(values_of(snap.inputs) == V{3, 4, 10});
  CHECK(values_of(snap.outputs) == V{1, 2});
  // The records stay queued and are processed after the snapshot (a restore would replay
  // them from the channel state instead).
  f.pump();
  CHECK(f.sorted_seen() == V{1, 2, 3, 4, 10, 11});
  f.grant_downstream(10);
  f.rt->on_flush_timer();
  CHECK(f.outputs().find("r:1,") != std::string::npos);
}

TEST_CASE("alignment timeout: an aligned checkpoint turns unaligned once alignment takes too long",
          "[task_runtime]") {
  Fixture f(CheckpointingMode::aligned_with_timeout);
  f.grant_downstream(10);
  f.barrier(0, 1);
  f.records(0, {5});
  f.pump();
  f.records(1, {10});
  f.pump();
  CHECK(f.sorted_seen() == V{10});  // channel 0 is held back behind its barrier
  f.t.clock_ns = 50'000'000;        // 50 ms: not yet
  f.rt->on_flush_timer();
  CHECK(f.t.io.empty());
  f.t.clock_ns = 150'000'000;  // 150 ms > the 100 ms timeout
  f.rt->on_flush_timer();
  CHECK(f.outputs().find("B1") != std::string::npos);  // the barrier went out ahead
  f.pump();
  CHECK(f.sorted_seen() == V{5, 10});  // channel 0 flows again
  f.records(1, {11});                  // channel 1 records until its barrier
  f.barrier(1, 1);
  f.pump();
  f.run_io();
  REQUIRE(f.t.reports.size() == 1);
  REQUIRE(f.t.reports[0].ack);
  CHECK(f.t.reports[0].ack->unaligned);
  CHECK(values_of(f.snapshot_of(*f.t.reports[0].ack).inputs) == V{11});
}

TEST_CASE("end of partition: a closed channel no longer holds back a checkpoint, and the task closes after the final one",
          "[task_runtime]") {
  Fixture f(CheckpointingMode::aligned);
  f.grant_downstream(10);
  f.barrier(0, 1);
  f.records(1, {7});
  f.event(1, FrameKind::end_of_data);
  f.pump();
  CHECK(f.t.io.empty());  // channel 1 is still open: checkpoint 1 waits for its barrier
  f.event(1, FrameKind::end_of_partition);
  f.pump();
  f.run_io();
  REQUIRE(f.t.reports.size() == 1);
  CHECK(f.t.reports[0].ack);  // channel 1 closed: checkpoint 1 completed without its barrier
  CHECK(f.t.ended.empty());
  f.event(0, FrameKind::end_of_data);
  f.event(0, FrameKind::end_of_partition);
  f.pump();
  REQUIRE(f.t.ended == V{1});  // input ended after checkpoint 1
  CHECK(f.rt->state() == TaskState::running);  // waits for a checkpoint after the end
  f.rt->trigger_checkpoint(2);
  f.run_io();
  REQUIRE(f.t.reports.size() == 2);
  CHECK(f.t.reports[1].ack);
  f.rt->on_checkpoint_complete(2);
  f.run_io();
  CHECK(f.rt->state() == TaskState::finished);
  auto out = f.outputs();
  CHECK(out.find("eop") != std::string::npos);
}

TEST_CASE("credit exhaustion: without credit downstream the task stops consuming and returns no credit upstream",
          "[task_runtime]") {
  Fixture f(CheckpointingMode::aligned, false, 256);  // a buffer holds about 20 records
  int64_t next = 0;
  auto frame_of = [&](uint32_t producer) {
    std::vector<int64_t> vs;
    for (int i = 0; i < 30; ++i) vs.push_back(next++);
    f.records(producer, vs);
  };
  // Both channels use their two exclusive buffers.
  for (int i = 0; i < 2; ++i) {
    frame_of(0);
    frame_of(1);
  }
  f.pump();
  auto processed = f.seen->size();
  CHECK(processed > 0);
  CHECK(processed < 120);  // the output queues filled up first
  auto returned = f.credits_upstream(0) + f.credits_upstream(1);
  f.pump();
  f.rt->on_flush_timer();
  f.pump();
  CHECK(f.seen->size() == processed);
  CHECK(f.t.sent.empty());
  CHECK(f.credits_upstream(0) + f.credits_upstream(1) == returned);
  // Credit downstream lets it go on, and credit flows back upstream.
  for (int round = 0; round < 20 && f.seen->size() < 120; ++round) {
    f.grant_downstream(2);
    f.pump();
    f.rt->on_flush_timer();
    f.pump();
  }
  CHECK(f.seen->size() == 120);
  CHECK(f.credits_upstream(0) + f.credits_upstream(1) > returned);
  CHECK_FALSE(f.t.sent.empty());
}

TEST_CASE("watermarks between the records of a frame reach the operator between those records", "[task_runtime]") {
  Fixture f(CheckpointingMode::aligned, false);
  auto w = &Fixture::watermark_at;
  f.grant_downstream(10);
  f.records(1, {w(100)});  // producer 1's channel: a frame of a watermark alone
  f.records(0, {1, 2, w(5), 3, w(6), w(7)});
  f.pump();
  CHECK(*f.seen == std::vector<int64_t>{1, 2, 3});
  f.rt->on_flush_timer();
  // The map (parallelism 1) deals records round robin to two sink subtasks and sends every
  // watermark the valve lets through (the smaller of its two channels') to both, in place; one
  // that follows another with no record between replaces it (6 by 7; on the channel that got
  // record 2, 5 by 7).
  auto sent = f.t.sent_kinds();
  std::sort(sent.begin(), sent.end());
  CHECK(sent == std::vector<std::string>{"r:1,w5,3,w7,", "r:2,w7,"});
}
