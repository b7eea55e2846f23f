// tests/actors/test_job_master.cpp — the job master's decisions driven directly: deployment, checkpoints asked for by clients, stop-with-savepoint, failures and restarts across attempts.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include "actors/job_master.hpp"

using namespace sluice;
using namespace sluice::runtime;
using Kind = TaskCommand::Kind;

namespace {

/// Two source subtasks (flat indexes 0, 1) into a keyed sum chained with its sink (2, 3).
struct Fixture {
  std::shared_ptr<const JobGraph> graph;
  std::shared_ptr<const scheduler::ExecutionPlan> plan;
  std::unique_ptr<JobMaster> master;

  explicit Fixture(bool checkpointing = true, int restarts = 3) {
    StreamEnvironment env;
    env.set_parallelism(2);
    env.from_collection(std::vector<int64_t>{1, 2, 3})
        .key_by([](int64_t v) { return v; })
        .sum("sum")
        .sink_to(DiscardSink<int64_t>());
    auto g = env.graph();
    g.name = "jm";
    if (checkpointing) g.config.checkpoint.interval = std::chrono::milliseconds(100);
    g.config.checkpoint.restart.limit = restarts;
    g.config.checkpoint.restart.delay = std::chrono::milliseconds(50);
    graph = std::make_shared<const JobGraph>(std::move(g));
    plan = std::make_shared<const scheduler::ExecutionPlan>(scheduler::plan(*graph));
    master = std::make_unique<JobMaster>(graph, plan, checkpointing, 0, nullptr);
  }

  /// Acks checkpoint `id` from the given subtasks of attempt `attempt`.
  MasterActions ack(int64_t id, std::vector<int> indexes, int64_t now, int32_t attempt = 0) {
    MasterActions out;
    for (int i : indexes) {
      CheckpointAck a;
      a.checkpoint_id = id;
      a.task = i / 2;
      a.subtask = i % 2;
      a.file.path = "op-" + std::to_string(i);
      a.bytes = 10;
      out += master->on_ack(attempt, a, now);
    }
    return out;
  }

  /// Subtask `index` of `attempt` is down, and the I/O it posted on its way out has run.
  MasterActions gone(int32_t attempt, int index, int64_t now) {
    auto out = master->on_subtask_down(attempt, index, "", now);
    out += master->on_io_done(attempt);
    return out;
  }
};

std::vector<int> targets(const MasterActions& a, Kind k) {
  std::vector<int> out;
  for (const auto& c : a.commands)
    if (c.kind == k) out.push_back(c.index);
  return out;
}

bool has(const MasterActions& a, Kind k, int index = -1) {
  for (const auto& c : a.commands)
    if (c.kind == k && c.index == index) return true;
  return false;
}

}  // namespace

TEST_CASE("the first attempt deploys every subtask and checkpoints trigger at the sources", "[job_master]") {
  Fixture f;
  auto a = f.master->start(0);
  REQUIRE(a.deploy == std::vector<int32_t>{0});
  CHECK(f.master->subtasks() == 4);
  CHECK(f.master->live(0) == 4);
  a = f.master->on_time(100);
  CHECK(targets(a, Kind::trigger) == std::vector<int>{0, 1});
  REQUIRE(f.master->checkpoints().size() == 1);
  CHECK(f.master->checkpoints()[0].status == CheckpointInfo::Status::pending);
  a = f.ack(1, {0, 1, 2}, 120);
  CHECK_FALSE(a.commit);
  a = f.ack(1, {3}, 130);
  REQUIRE(a.commit);
  CHECK(a.commit->checkpoint_id == 1);
  CHECK_FALSE(a.commit->savepoint);
  // Each operator lists one file per subtask, from the acks of the task it runs in.
  REQUIRE(a.commit->operators.size() == 3);
  CHECK(a.commit->operators[0].files.size() == 2);
  CHECK(a.commit->operators[2].files[1].path == "op-3");
  CHECK(f.master->checkpoints()[0].bytes == 40);
  a = f.master->on_committed(1, "", 150);
  CHECK(has(a, Kind::complete));
  CHECK(f.master->checkpoints()[0].status == CheckpointInfo::Status::completed);
}

TEST_CASE("each client request is answered by the checkpoint it started, in order", "[job_master]") {
  Fixture f;
  f.master->start(0);
  auto a = f.master->on_checkpoint_request(7, true, 10);
  REQUIRE(targets(a, Kind::trigger) == std::vector<int>{0, 1});
  CHECK(a.commands[0].savepoint);
  a = f.master->on_checkpoint_request(8, false, 11);  // one at a time: waits
  CHECK(a.commands.empty());
  a = f.ack(1, {0, 1, 2, 3}, 20);
  REQUIRE(a.commit);
  CHECK(a.commit->savepoint);
  a = f.master->on_committed(1, "", 30);
  REQUIRE(a.replies.size() == 1);
  CHECK(a.replies[0].request == 7);
  CHECK(a.replies[0].checkpoint == 1);
  CHECK(a.replies[0].error.empty());
  // The waiting request starts the next checkpoint at once, as a plain checkpoint.
  REQUIRE(targets(a, Kind::trigger) == std::vector<int>{0, 1});
  CHECK_FALSE(a.commands.back().savepoint);
  a = f.master->on_decline(0, 1, 0, 2, "disk full", 40);
  CHECK(has(a, Kind::abort));
  CHECK(a.discard == std::vector<int64_t>{2});
  REQUIRE(a.replies.size() == 1);
  CHECK(a.replies[0].request == 8);
  CHECK_THAT(a.replies[0].error, Catch::Contains("disk full"));
}

TEST_CASE("a job without checkpoints refuses requests with a sentence", "[job_master]") {
  Fixture f(false);
  f.master->start(0);
  auto a = f.master->on_checkpoint_request(1, true, 10);
  REQUIRE(a.replies.size() == 1);
  CHECK_THAT(a.replies[0].error, Catch::Contains("does not checkpoint"));
  // Without checkpoints a failure ends the job: no restart.
  a = f.master->on_task_failed(0, "job 'jm' failed: boom", false, 20);
  CHECK(has(a, Kind::cancel));
  CHECK(a.restart_after_ms.empty());
  CHECK(f.master->ended());
  CHECK_FALSE(a.result);  // four actors still up
  for (int i = 0; i < 3; ++i) CHECK_FALSE(f.gone(0, i, 30).result);
  // The last actor is down, but the result waits until the I/O it posted on its way out has
  // run (the client may tear the I/O executor down once it has the result).
  CHECK_FALSE(f.master->on_subtask_down(0, 3, "", 30).result);
  a = f.master->on_io_done(0);
  REQUIRE(a.result);
  CHECK_FALSE(a.result->succeeded);
  CHECK(a.result->error == "job 'jm' failed: boom");
}

TEST_CASE("stop-with-savepoint ends the job when the running subtasks are down, however many finished before",
          "[job_master]") {
  Fixture f;
  f.master->start(0);
  // The sources' input ends after checkpoint 1; checkpoint 2 completes and they finish.
  f.master->on_time(100);
  f.ack(1, {0, 1, 2, 3}, 110);
  f.master->on_committed(1, "", 120);
  f.master->on_input_ended(0, 0, 0, 1, 130);
  f.master->on_input_ended(0, 0, 1, 1, 130);
  auto a = f.master->on_time(200);
  REQUIRE(targets(a, Kind::trigger) == std::vector<int>{0, 1});
  f.ack(2, {0, 1, 2, 3}, 210);
  f.master->on_committed(2, "", 220);
  for (int i : {0, 1}) {
    f.master->on_task_finished(0, 0, i, 230);
    f.master->on_subtask_down(0, i, "", 231);
  }
  CHECK(f.master->live(0) == 2);
  a = f.master->on_stop_request(9, false, 300);
  REQUIRE(targets(a, Kind::trigger) == std::vector<int>{2, 3});  // the running frontier
  CHECK(a.commands[0].savepoint);
  a = f.ack(3, {2, 3}, 310);
  REQUIRE(a.commit);
  CHECK(a.commit->operators[0].finished);  // the finished sources are recorded as such
  a = f.master->on_committed(3, "", 320);
  REQUIRE(a.replies.size() == 1);
  CHECK(a.replies[0].checkpoint == 3);
  CHECK(has(a, Kind::complete));
  CHECK(has(a, Kind::cancel));
  for (int i = 0; i < 2; ++i) f.master->on_io_done(0);  // the finished sources went quiet
  CHECK_FALSE(f.gone(0, 2, 330).result);
  a = f.gone(0, 3, 340);
  REQUIRE(a.result);
  CHECK(a.result->succeeded);
  CHECK(a.result->last_checkpoint == 3);
}

TEST_CASE("an actor of an earlier attempt going down during a later attempt's stop does not end the job early",
          "[job_master]") {
  Fixture f;
  f.master->start(0);
  auto a = f.master->on_task_failed(0, "job 'jm' failed: boom", false, 50);
  CHECK(has(a, Kind::cancel));
  REQUIRE(a.restart_after_ms.size() == 1);
  CHECK(a.restart_after_ms[0].first == 1);
  CHECK(a.restart_after_ms[0].second == 50);
  CHECK(f.master->attempt() == 1);
  // Reports of the failed attempt no longer count.
  CHECK(f.master->on_task_failed(0, "late", false, 60).commands.empty());
  // The restart waits until every actor of attempt 0 has run its I/O.
  CHECK(f.master->on_restart_due(1).find_restart_point.empty());
  for (int i = 0; i < 3; ++i) {
    f.master->on_subtask_down(0, i, "", 70);
    CHECK(f.master->on_io_done(0).find_restart_point.empty());
  }
  a = f.master->on_io_done(0);
  REQUIRE(a.find_restart_point == std::vector<int32_t>{1});
  a = f.master->on_restart_point(1, from_scratch(), "", 110);
  REQUIRE(a.deploy == std::vector<int32_t>{1});
  CHECK(f.master->restore_of(1)->checkpoint_id == 0);
  CHECK(f.master->live(1) == 4);
  CHECK(f.master->live(0) == 1);  // subtask 3 of attempt 0 is not down yet

  a = f.master->on_stop_request(5, false, 200);
  REQUIRE(targets(a, Kind::trigger) == std::vector<int>{0, 1});
  CHECK(f.ack(1, {0, 1, 2, 3}, 210, 0).commands.empty());  // acks of attempt 0 are ignored
  f.ack(1, {0, 1, 2, 3}, 220, 1);
  a = f.master->on_committed(1, "", 230);
  CHECK(has(a, Kind::cancel));
  CHECK_FALSE(f.gone(0, 3, 240).result);  // attempt 0's straggler
  for (int i = 0; i < 3; ++i) {
    a = f.gone(1, i, 250);
    CHECK_FALSE(a.result);
    CHECK_FALSE(f.master->ended());
  }
  a = f.gone(1, 3, 260);
  REQUIRE(a.result);
  CHECK(a.result->succeeded);
  CHECK(a.result->restarts == 1);
}

TEST_CASE("a failing subtask actor of the current attempt fails over, and a permanent failure ends the job",
          "[job_master]") {
  Fixture f;
  f.master->start(0);
  f.master->on_time(100);
  auto a = f.master->on_subtask_down(0, 2, "out of memory", 120);
  REQUIRE(a.restart_after_ms.size() == 1);
  // The pending checkpoint is given up, its files discarded.
  CHECK(has(a, Kind::abort));
  CHECK(a.discard == std::vector<int64_t>{1});
  CHECK(f.master->checkpoints()[0].status == CheckpointInfo::Status::aborted);
  for (int i = 0; i < 4; ++i) f.master->on_io_done(0);
  a = f.master->on_restart_due(1);
  REQUIRE(a.find_restart_point == std::vector<int32_t>{1});
  f.master->on_restart_point(1, from_scratch(), "", 200);
  a = f.master->on_task_failed(1, "job 'jm' failed: restoring 'sum' failed", true, 210);
  CHECK(f.master->ended());
  CHECK(a.restart_after_ms.empty());
  CHECK(has(a, Kind::cancel));
}

TEST_CASE("restarts run out under the fixed-delay strategy", "[job_master]") {
  Fixture f(true, 1);
  f.master->start(0);
  CHECK(f.master->on_task_failed(0, "e1", false, 10).restart_after_ms.size() == 1);
  for (int i = 0; i < 4; ++i) f.master->on_io_done(0);
  f.master->on_restart_point(1, from_scratch(), "", 70);
  auto a = f.master->on_task_failed(1, "job 'jm' failed: e2", false, 80);
  CHECK(a.restart_after_ms.empty());
  CHECK(f.master->ended());
  for (int i = 0; i < 4; ++i) {
    f.master->on_subtask_down(0, i, "", 90);
    a = f.gone(1, i, 90);
  }
  REQUIRE(a.result);
  CHECK(a.result->error == "job 'jm' failed: e2 (no restart left after 1)");
}

TEST_CASE("stop with drain ends the sources, and the final checkpoint is the savepoint", "[job_master]") {
  Fixture f;
  f.master->start(0);
  auto a = f.master->on_stop_request(4, true, 10);
  CHECK(targets(a, Kind::drain) == std::vector<int>{0, 1});
  // The sources ended; the sum subtasks' reports are still on their way. No periodic
  // checkpoint starts now, though one is due: the tasks would close after it (it comes after
  // every input's end) without it being the drain's savepoint.
  for (int s = 0; s < 2; ++s) a = f.master->on_input_ended(0, 0, s, 0, 15);
  CHECK(targets(f.master->on_time(500), Kind::trigger).empty());
  for (int s = 0; s < 2; ++s) a += f.master->on_input_ended(0, 1, s, 0, 600);
  // Every input ended: the final checkpoint starts at once.
  REQUIRE(targets(a, Kind::trigger) == std::vector<int>{0, 1});
  CHECK(a.commands.back().savepoint);
  a = f.ack(1, {0, 1, 2, 3}, 630);
  REQUIRE(a.commit);
  CHECK(a.commit->savepoint);
  a = f.master->on_committed(1, "", 640);
  REQUIRE(a.replies.size() == 1);
  CHECK(a.replies[0].request == 4);
  CHECK(a.replies[0].checkpoint == 1);
  CHECK(f.master->checkpoints()[0].final);
  for (int t = 0; t < 2; ++t)
    for (int s = 0; s < 2; ++s) a = f.master->on_task_finished(0, t, s, 650);
  CHECK(f.master->ended());
  CHECK_FALSE(a.result);
  for (int i = 0; i < 4; ++i) a = f.gone(0, i, 660);
  REQUIRE(a.result);
  CHECK(a.result->succeeded);
}

TEST_CASE("a cancel answers every waiting client and ends once all actors are down", "[job_master]") {
  Fixture f;
  f.master->start(0);
  f.master->on_checkpoint_request(1, false, 10);
  f.master->on_checkpoint_request(2, true, 10);
  auto a = f.master->on_cancel(20);
  CHECK(has(a, Kind::cancel));
  REQUIRE(a.replies.size() == 2);
  CHECK_THAT(a.replies[0].error, Catch::Contains("ended before checkpoint 1"));
  CHECK_THAT(a.replies[1].error, Catch::Contains("ended"));
  a = f.master->on_checkpoint_request(3, false, 30);
  REQUIRE(a.replies.size() == 1);
  CHECK_THAT(a.replies[0].error, Catch::Contains("ended"));
  for (int i = 0; i < 4; ++i) a = f.gone(0, i, 40);
  REQUIRE(a.result);
  CHECK(a.result->error == "job 'jm' was canceled");
}

TEST_CASE("a report as it came over the wire is dispatched, and one naming a subtask the job lacks is dropped",
          "[job_master]") {
  Fixture f;
  f.master->start(0);
  f.master->on_time(100);
  TaskReport bad;
  bad.kind = TaskReport::Kind::failed;
  bad.task = 7;
  bad.error = "forged";
  CHECK(f.master->on_report(bad, 110).commands.empty());
  bad.task = 1;
  bad.subtask = 2;  // the task has subtasks 0 and 1
  CHECK(f.master->on_report(bad, 110).commands.empty());
  CHECK_FALSE(f.master->ended());
  // Acks of every subtask through on_report complete the checkpoint.
  MasterActions a;
  for (int i = 0; i < 4; ++i) {
    TaskReport r;
    r.kind = TaskReport::Kind::ack;
    r.task = r.ack.task = i / 2;
    r.subtask = r.ack.subtask = i % 2;
    r.ack.checkpoint_id = 1;
    a += f.master->on_report(r, 120);
  }
  REQUIRE(a.commit);
  CHECK(a.commit->checkpoint_id == 1);
}

TEST_CASE("deployments name every subtask's agent once a placement is set, none without", "[job_master]") {
  Fixture f;
  CHECK(f.master->deployment(2).peers.empty());
  auto placed = scheduler::place(*f.plan, {{"agent-a", 1}, {"agent-b", 1}}, "jm");
  REQUIRE(std::holds_alternative<scheduler::Placement>(placed));
  f.master->start(0);
  f.master->set_placement(0, std::get<scheduler::Placement>(placed));
  auto d = f.master->deployment(3);
  CHECK(d.peers == std::vector<std::string>{"agent-a", "agent-b", "agent-a", "agent-b"});
  CHECK(d.subtask == 1);
  CHECK(decode_deployment(encode(d)).peers == d.peers);
}

namespace {

/// Two independent pipelines, each a source (2 subtasks) into a keyed sum chained with its
/// sink (2): region 0 is flat indexes 0-3, region 1 is 4-7.
struct TwoRegions {
  std::shared_ptr<const JobGraph> graph;
  std::shared_ptr<const scheduler::ExecutionPlan> plan;
  std::unique_ptr<JobMaster> master;

  TwoRegions() {
    StreamEnvironment env;
    env.set_parallelism(2);
    for (const auto* name : {"a", "b"})
      env.from_collection(std::vector<int64_t>{1, 2, 3})
          .name(name)
          .key_by([](int64_t v) { return v; })
          .sum(std::string(name) + " sum")
          .sink_to(DiscardSink<int64_t>());
    auto g = env.graph();
    g.name = "two";
    g.config.checkpoint.interval = std::chrono::milliseconds(100);
    g.config.checkpoint.restart.limit = 3;
    g.config.checkpoint.restart.delay = std::chrono::milliseconds(50);
    graph = std::make_shared<const JobGraph>(std::move(g));
    plan = std::make_shared<const scheduler::ExecutionPlan>(scheduler::plan(*graph));
    master = std::make_unique<JobMaster>(graph, plan, true, 0, nullptr);
  }

  /// Acks checkpoint `id` from every subtask, each with its region's attempt.
  MasterActions ack_all(int64_t id, int32_t attempt_a, int32_t attempt_b, int64_t now) {
    MasterActions out;
    for (int i = 0; i < 8; ++i) {
      CheckpointAck a;
      a.checkpoint_id = id;
      a.task = i / 2;
      a.subtask = i % 2;
      out += master->on_ack(i < 4 ? attempt_a : attempt_b, a, now);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("a failure in one pipelined region restarts only that region, as a new attempt, and checkpoints span both",
          "[job_master][region]") {
  TwoRegions f;
  REQUIRE(f.master->regions() == 2);
  auto a = f.master->start(0);
  REQUIRE(a.deploy == std::vector<int32_t>{0, 1});
  CHECK(f.master->subtasks_of(0) == std::vector<int>{0, 1, 2, 3});
  CHECK(f.master->subtasks_of(1) == std::vector<int>{4, 5, 6, 7});
  CHECK(f.master->deployment(5).attempt == 1);

  a = f.master->on_time(100);
  CHECK(targets(a, Kind::trigger) == std::vector<int>{0, 1, 4, 5});
  a = f.ack_all(1, 0, 1, 110);
  REQUIRE(a.commit);
  f.master->on_committed(1, "", 120);

  f.master->on_time(220);  // checkpoint 2 pending when region 1 fails
  a = f.master->on_task_failed(1, "job 'two' failed: boom", false, 230);
  CHECK(targets(a, Kind::cancel) == std::vector<int>{4, 5, 6, 7});
  CHECK(has(a, Kind::abort));
  REQUIRE(a.restart_after_ms.size() == 1);
  CHECK(a.restart_after_ms[0] == std::pair<int32_t, int64_t>{2, 50});
  CHECK(f.master->current(0));
  CHECK_FALSE(f.master->current(1));
  CHECK(f.master->current(2));
  CHECK(f.master->on_task_failed(1, "late", false, 231).commands.empty());

  // Nothing is checkpointed while a region is down, and clients are told why.
  CHECK(f.master->on_time(400).commands.empty());
  a = f.master->on_checkpoint_request(9, false, 400);
  REQUIRE(a.replies.size() == 1);
  CHECK_THAT(a.replies[0].error, Catch::Contains("is restarting"));

  // The restart waits for the I/O of its region's earlier attempt only.
  CHECK(f.master->on_restart_due(2).find_restart_point.empty());
  for (int i = 4; i < 8; ++i) f.master->on_subtask_down(1, i, "", 410);
  for (int i = 0; i < 3; ++i) CHECK(f.master->on_io_done(1).find_restart_point.empty());
  a = f.master->on_io_done(1);
  REQUIRE(a.find_restart_point == std::vector<int32_t>{2});
  auto chk1 = std::make_shared<RestoreState>();
  chk1->checkpoint_id = 1;
  a = f.master->on_restart_point(2, chk1, "", 420);
  REQUIRE(a.deploy == std::vector<int32_t>{2});
  CHECK(f.master->restore_of(2)->checkpoint_id == 1);
  CHECK(f.master->deployment(5).attempt == 2);
  CHECK(f.master->deployment(5).restore.checkpoint_id == 1);
  CHECK(f.master->deployment(1).attempt == 0);
  CHECK_FALSE(f.master->deployment(1).restore.checkpoint_id);

  // Checkpoints span both regions again: acks of the failed attempt do not count.
  a = f.master->on_time(520);
  REQUIRE(targets(a, Kind::trigger) == std::vector<int>{0, 1, 4, 5});
  auto id = a.commands[0].checkpoint;
  CHECK_FALSE(f.ack_all(id, 0, 1, 530).commit);
  a = f.ack_all(id, 0, 2, 540);
  REQUIRE(a.commit);
  f.master->on_committed(id, "", 550);

  // The job ends once every subtask finished in its current attempt.
  for (int i = 0; i < 8; ++i) {
    CHECK_FALSE(f.master->ended());
    f.master->on_task_finished(i < 4 ? 0 : 2, i / 2, i % 2, 600);
  }
  CHECK(f.master->ended());
}

TEST_CASE("a failure of the whole job (too many failed checkpoints) restarts every region once", "[job_master][region]") {
  TwoRegions f;
  f.master->start(0);
  auto a = f.master->on_time(100);
  a = f.master->on_decline(0, 0, 0, 1, "disk full", 110);
  REQUIRE(a.restart_after_ms.size() == 2);
  CHECK(a.restart_after_ms[0].first == 2);
  CHECK(a.restart_after_ms[1].first == 3);
  CHECK(has(a, Kind::cancel));  // one cancel to every subtask
  a = f.master->on_restart_point(2, from_scratch(), "", 200);
  CHECK(a.deploy == std::vector<int32_t>{2});
  CHECK(f.master->on_time(300).commands.empty());  // region 1 is still down
  a = f.master->on_restart_point(3, from_scratch(), "", 310);
  CHECK(a.deploy == std::vector<int32_t>{3});
  CHECK(targets(f.master->on_time(400), Kind::trigger) == std::vector<int>{0, 1, 4, 5});
}

TEST_CASE("queries go to the running subtasks they concern, key listings merge, and unanswered ones expire",
          "[job_master][console]") {
  Fixture f;
  f.master->start(0);
  // The keyed operator and its task.
  std::string op;
  int task = -1;
  for (size_t n = 0; n < f.graph->nodes.size(); ++n)
    if (f.graph->nodes[n].keyed) {
      op = f.graph->nodes[n].name;
      task = f.plan->task_of_node[n];
    }
  REQUIRE(task >= 0);
  const auto offsets = f.plan->subtask_offsets();
  const int first = int(offsets[size_t(task)]);

  TaskQuery keys;
  keys.kind = TaskQuery::Kind::keys;
  keys.op = op;
  auto a = f.master->on_query(1, keys, 0);
  REQUIRE(a.commands.size() == 2);  // both subtasks of the keyed task
  CHECK(targets(a, Kind::query) == std::vector<int>{first, first + 1});
  auto id = a.commands[0].query.id;
  CHECK(a.commands[0].query.limit == 100);  // the default
  TaskReport r;
  r.kind = TaskReport::Kind::answer;
  r.task = task;
  r.query = id;
  r.text = "-\n10\n2";
  CHECK(f.master->on_report(r, 0).replies.empty());  // the other subtask has not answered
  r.text = "+\n\"b\"\n-1";
  a = f.master->on_report(r, 0);
  REQUIRE(a.replies.size() == 1);
  CHECK(a.replies[0].error.empty());
  CHECK(a.replies[0].text == "{\"operator\":\"" + op + "\",\"keys\":[-1,2,10,\"b\"],\"truncated\":true}");

  TaskQuery trace;
  trace.kind = TaskQuery::Kind::trace;
  trace.task = task;
  trace.subtask = 1;
  a = f.master->on_query(2, trace, 0);
  CHECK(targets(a, Kind::query) == std::vector<int>{first + 1});
  trace.subtask = 2;
  a = f.master->on_query(3, trace, 0);
  REQUIRE(a.replies.size() == 1);
  CHECK_THAT(a.replies[0].error, Catch::Contains("has no subtask 2 (it has 2, numbered from 0)"));
  trace.task = 99;
  CHECK_THAT(f.master->on_query(4, trace, 0).replies.at(0).error, Catch::Contains("has no task 99"));

  // A finished subtask is not asked; nor is one that never answers kept past 20 s.
  f.master->on_task_finished(0, task, 0, 100);
  a = f.master->on_query(5, keys, 100);
  CHECK(targets(a, Kind::query) == std::vector<int>{first + 1});
  TaskQuery log;
  log.kind = TaskQuery::Kind::log;
  log.task = task;
  log.subtask = 0;
  CHECK_THAT(f.master->on_query(6, log, 100).replies.at(0).error, Catch::Contains("has finished"));
  CHECK(f.master->on_time(20'001).replies.size() == 1);  // the trace of request 2, asked at 0
  a = f.master->on_time(20'200);
  REQUIRE(a.replies.size() == 1);  // the listing of request 5, asked at 100
  CHECK(a.replies[0].request == 5);
  CHECK_THAT(a.replies[0].error, Catch::Contains("no answer from the subtasks within 20 s"));
}

namespace {
/// A BATCH job of three tasks at parallelism 2 (source, sum, sink: one stage each), restarted
/// up to `restarts` times, on `slots` slots (0: no limit).
std::shared_ptr<const JobGraph> batch_sums(int restarts, int slots = 0) {
  StreamEnvironment env;
  env.set_parallelism(2);
  env.config().execution_mode = ExecutionMode::batch;
  env.disable_chaining();
  env.from_collection(std::vector<int64_t>{1, 2, 3})
      .key_by([](int64_t v) { return v; })
      .sum("sum")
      .sink_to(DiscardSink<int64_t>());
  auto g = env.graph();
  g.name = "batch";
  g.config.checkpoint.restart.limit = restarts;
  g.config.checkpoint.restart.delay = std::chrono::milliseconds(10);
  g.config.slots = slots;
  return std::make_shared<const JobGraph>(std::move(g));
}
}  // namespace

TEST_CASE("BATCH deploys each subtask once its producers finished, and a failed subtask reruns alone from its inputs",
          "[job_master][batch]") {
  auto graph = batch_sums(2);
  auto plan = std::make_shared<const scheduler::ExecutionPlan>(scheduler::plan(*graph));
  REQUIRE(plan->tasks.size() == 3);  // source, sum, sink: one stage each
  JobMaster master(graph, plan, false, 0, nullptr);
  auto a = master.start(0);
  REQUIRE(a.deploy == std::vector<int32_t>{0, 1});  // the source's subtasks, one attempt each
  CHECK(master.subtasks_of(0) == std::vector<int>{0});
  CHECK(master.subtasks_of(1) == std::vector<int>{1});
  CHECK(master.on_task_finished(0, 0, 0, 1).deploy.empty());  // half the source: not yet
  a = master.on_task_finished(1, 0, 1, 2);
  REQUIRE(a.deploy == std::vector<int32_t>{2, 3});  // the sum, now that its input is complete
  CHECK(master.subtasks_of(2) == std::vector<int>{2});
  CHECK(master.tasks_of(3) == std::vector<int>{1});
  // Sum subtask 0 fails: it reruns alone as a new attempt after the delay; its sibling goes on.
  a = master.on_task_failed(2, "boom", false, 3);
  CHECK_FALSE(a.result);
  CHECK(targets(a, Kind::cancel) == std::vector<int>{2});
  REQUIRE(a.restart_after_ms.size() == 1);
  auto rerun = a.restart_after_ms[0].first;
  CHECK(master.subtasks_of(rerun) == std::vector<int>{2});
  a = master.on_restart_due(rerun);
  CHECK(a.deploy.empty());  // the failed attempt's actor is still there
  a += master.on_subtask_down(2, 2, "", 4);
  a += master.on_io_done(2);
  CHECK(a.find_restart_point.empty());  // no checkpoint to look for
  REQUIRE(a.deploy == std::vector<int32_t>{rerun});
  CHECK(master.restore_of(rerun) == nullptr);
  CHECK(master.on_task_finished(3, 1, 1, 5).deploy.empty());
  a = master.on_task_finished(rerun, 1, 0, 6);
  REQUIRE(a.deploy.size() == 2);  // the sink's subtasks
  auto sink0 = a.deploy[0], sink1 = a.deploy[1];
  master.on_task_finished(sink0, 2, 0, 7);
  a = master.on_task_finished(sink1, 2, 1, 8);
  CHECK(a.deploy.empty());
  // The result is handed out once every actor is down and its I/O ran.
  for (auto [attempt, index] :
       std::vector<std::pair<int32_t, int>>{{0, 0}, {1, 1}, {3, 3}, {rerun, 2}, {sink0, 4}, {sink1, 5}}) {
    a += master.on_subtask_down(attempt, index, "", 9);
    a += master.on_io_done(attempt);
  }
  REQUIRE(a.result);
  CHECK(a.result->error.empty());
}

TEST_CASE("BATCH on a cluster: a lost agent's finished producers run again, and a consumer that failed waits for them",
          "[job_master][batch]") {
  auto graph = batch_sums(5, 2);  // --slots 2
  auto plan = std::make_shared<const scheduler::ExecutionPlan>(scheduler::plan(*graph));
  JobMaster master(graph, plan, false, 0, nullptr);
  auto place = [&](int32_t attempt, int index, const std::string& agent) {
    scheduler::Placement p;
    p.subtasks.resize(plan->subtask_count());
    p.subtasks[size_t(index)] = {agent, 0};
    master.set_placement(attempt, p);
  };
  auto a = master.start(0);
  REQUIRE(a.deploy == std::vector<int32_t>{0, 1});
  place(0, 0, "a1");
  place(1, 1, "a2");
  // A finished attempt's actor quits and its I/O ends; a rerun waits for that.
  auto done = [&](int32_t attempt, int index) {
    auto d = master.on_subtask_down(attempt, index, "", 9);
    d += master.on_io_done(attempt);
    return d;
  };
  master.on_task_finished(0, 0, 0, 1);
  a = master.on_task_finished(1, 0, 1, 2);
  REQUIRE(a.deploy == std::vector<int32_t>{2, 3});  // the sums
  done(0, 0);
  done(1, 1);
  place(2, 2, "a1");
  place(3, 3, "a1");
  // The sums read both sources' files; source subtask 1's went with agent a2.
  CHECK(master.deployment(2).peers == std::vector<std::string>{"a1", "a2", "a1", "", "", ""});
  CHECK(master.on_agent_lost("a9", 2).deploy.empty());  // an agent the job did not use
  // Both sums read the lost file: they stop and give back their slots, and source subtask 1
  // runs again; no restart is counted.
  a = master.on_agent_lost("a2", 2);
  CHECK(targets(a, Kind::cancel) == std::vector<int>{2, 3});
  CHECK(a.restart_after_ms.empty());
  REQUIRE(a.deploy.size() == 1);
  auto source = a.deploy[0];
  CHECK(master.subtasks_of(source) == std::vector<int>{1});
  // The cancelled sum's failure comes late: it no longer counts.
  a = master.on_task_failed(3, "the data link to a2 broke", false, 3);
  CHECK(a.restart_after_ms.empty());
  CHECK(a.deploy.empty());
  CHECK_FALSE(a.result);
  place(source, 1, "a1");
  a = master.on_task_finished(source, 0, 1, 5);
  CHECK(a.deploy.empty());  // the sums again, once the cancelled attempts' I/O is over
  a = done(2, 2);
  a += done(3, 3);
  done(source, 1);
  REQUIRE(a.deploy.size() == 2);
  auto sum0 = a.deploy[0], sum1 = a.deploy[1];
  CHECK(master.subtasks_of(sum1) == std::vector<int>{3});
  CHECK(master.deployment(3).peers == std::vector<std::string>{"a1", "a1", "", "a1", "", ""});
  // A second agent lost: the sums that ran on a1 (finished) must run again, and their source
  // subtasks (both on a1 now) first; the sinks, which read the sums' files, wait.
  place(sum0, 2, "a1");
  place(sum1, 3, "a1");
  master.on_task_finished(sum0, 1, 0, 6);
  a = master.on_task_finished(sum1, 1, 1, 7);
  REQUIRE(a.deploy.size() == 2);  // the sinks
  done(sum0, 2);
  done(sum1, 3);
  place(a.deploy[0], 4, "a3");
  place(a.deploy[1], 5, "a3");
  a = master.on_agent_lost("a1", 1);
  CHECK(targets(a, Kind::cancel) == std::vector<int>{4, 5});
  REQUIRE(a.deploy.size() == 1);  // one slot left: source subtask 0 first
  CHECK(master.subtasks_of(a.deploy[0]) == std::vector<int>{0});
  // An agent registers: the waves widen again, up to the job's --slots (2).
  a = master.on_cluster_slots(5);
  REQUIRE(a.deploy.size() == 1);
  CHECK(master.subtasks_of(a.deploy[0]) == std::vector<int>{1});
  CHECK(master.on_cluster_slots(5).deploy.empty());
}

TEST_CASE("BATCH runs a stage wider than the slots in waves", "[job_master][batch]") {
  StreamEnvironment env;
  env.set_parallelism(8);
  env.config().execution_mode = ExecutionMode::batch;
  env.config().slots = 2;
  env.from_collection(std::vector<int64_t>{1, 2, 3})
      .key_by([](int64_t v) { return v; })
      .sum("sum")
      .sink_to(DiscardSink<int64_t>());
  auto graph = std::make_shared<const JobGraph>(env.graph());
  auto plan = std::make_shared<const scheduler::ExecutionPlan>(scheduler::plan(*graph));
  JobMaster master(graph, plan, false, 0, nullptr);
  std::vector<int32_t> running = master.start(0).deploy;
  int deployed = int(running.size()), now = 0;
  while (!running.empty()) {
    REQUIRE(running.size() <= 2);
    auto attempt = running.front();
    running.erase(running.begin());
    auto index = master.subtasks_of(attempt).front();
    auto more = master.on_task_finished(attempt, index / 8, index % 8, ++now).deploy;
    deployed += int(more.size());
    running.insert(running.end(), more.begin(), more.end());
  }
  CHECK(deployed == 16);  // both tasks' 8 subtasks, two at a time
}

