// tests/actors/test_introspection.cpp — the console's pure parts: rates from sampled probes, the bottleneck rule, REST documents and Prometheus text.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "actors/introspection.hpp"

using namespace sluice;
using namespace sluice::runtime;
using nlohmann::json;

namespace {

TaskProbe probe(int task, int subtask, double busy, double bp, double idle, uint64_t in, uint64_t out) {
  TaskProbe p;
  p.job_id = "j";
  p.task_id = task;
  p.subtask = subtask;
  p.status = "running";
  p.busy_ms = busy;
  p.backpressured_ms = bp;
  p.idle_ms = idle;
  p.records_in = in;
  p.records_out = out;
  return p;
}

/// Source (task 0) -> slow map (task 1) -> sink (task 2), each of parallelism 1 or `p`.
JobShape chain_shape(int p = 1) {
  JobShape s;
  s.max_parallelism = 128;
  s.tasks = {{0, "Source", {"a"}, {"Source"}, p, true},
             {1, "Slow Map", {"b"}, {"Slow Map"}, p, false},
             {2, "Sink", {"c"}, {"Sink"}, p, false}};
  s.edges = {{0, 1, "rebalance"}, {1, 2, "forward"}};
  return s;
}

/// A running job with fixed figures.
class FakeJob final : public JobHandle {
 public:
  FakeJob(JobShape shape, std::vector<TaskProbe> probes, std::vector<CheckpointInfo> infos = {})
      : shape_(std::move(shape)), probes_(std::move(probes)), infos_(std::move(infos)) {}
  const std::string& id() const override { return id_; }
  const std::string& name() const override { return name_; }
  bool done() const override { return false; }
  JobResult wait() override { return {}; }
  void cancel() override {}
  std::vector<TaskProbe> probes() const override { return probes_; }
  std::vector<CheckpointInfo> checkpoints() const override { return infos_; }
  int64_t trigger_checkpoint(bool) override { return 0; }
  int64_t stop_with_savepoint(bool) override { return 0; }
  JobShape shape() const override { return shape_; }
  int64_t submitted_ms() const override { return 1'000'000; }
  int restarts() const override { return 2; }

 private:
  std::string id_ = "00112233aabbccdd", name_ = "a \"quoted\" job";
  JobShape shape_;
  std::vector<TaskProbe> probes_;
  std::vector<CheckpointInfo> infos_;
};

}  // namespace

TEST_CASE("rates are the counters' differences over the window, per second", "[introspection]") {
  ProbeHistory h;
  h.add("j", 0, {probe(0, 0, 0, 0, 0, 0, 0), probe(0, 1, 0, 0, 0, 0, 0)});
  h.add("j", 1000, {probe(0, 0, 100, 0, 900, 0, 1000), probe(0, 1, 500, 500, 0, 0, 2000)});
  h.add("j", 2000, {probe(0, 0, 300, 0, 1700, 0, 3000), probe(0, 1, 1000, 1000, 0, 0, 4000)});
  h.add("j", 3000, {probe(0, 0, 600, 0, 2400, 0, 6000), probe(0, 1, 1500, 1500, 0, 0, 6000)});

  SECTION("a window of two seconds spans the last three samples") {
    auto r = h.rates("j", 2000);
    REQUIRE(r.size() == 2);
    CHECK(r[0].window_s == Approx(2.0));
    CHECK(r[0].busy_ms_per_s == Approx(250));
    CHECK(r[0].idle_ms_per_s == Approx(750));
    CHECK(r[0].records_out_per_s == Approx(2500));
    CHECK(r[1].backpressured_ms_per_s == Approx(500));
    CHECK(r[1].records_out_per_s == Approx(2000));
  }
  SECTION("a window longer than the history takes all of it") {
    auto r = h.rates("j", 60'000);
    CHECK(r[0].window_s == Approx(3.0));
    CHECK(r[0].records_out_per_s == Approx(2000));
  }
  SECTION("samples closer than the gap replace the newest, and keep the older ones") {
    h.add("j", 3050, {probe(0, 0, 610, 0, 2440, 0, 6100), probe(0, 1, 1525, 1525, 0, 0, 6100)});
    h.add("j", 3100, {probe(0, 0, 620, 0, 2480, 0, 6200), probe(0, 1, 1550, 1550, 0, 0, 6200)});
    auto r = h.rates("j", 2000);
    CHECK(r[0].window_s == Approx(2.1));  // 3100 back to 1000, the latest at least 2 s older
    CHECK(r[0].records_out_per_s == Approx((6200.0 - 1000) / 2.1).epsilon(0.05));
  }
  SECTION("a subtask whose counters went down (restarted) counts from zero") {
    h.add("j", 4000, {probe(0, 0, 50, 0, 950, 0, 500), probe(0, 1, 2000, 2000, 0, 0, 8000)});
    auto r = h.rates("j", 1000);
    CHECK(r[0].records_out_per_s == Approx(500));
    CHECK(r[0].busy_ms_per_s == Approx(50));
  }
  SECTION("a sample of other tasks (the job was rescaled) starts the history over") {
    h.add("j", 4000, {probe(0, 0, 10, 0, 0, 0, 100), probe(0, 1, 10, 0, 0, 0, 100), probe(0, 2, 10, 0, 0, 0, 100)});
    auto r = h.rates("j", 2000);
    REQUIRE(r.size() == 3);
    CHECK(r[0].window_s == 0);
    h.add("j", 5000, {probe(0, 0, 20, 0, 0, 0, 300), probe(0, 1, 20, 0, 0, 0, 300), probe(0, 2, 20, 0, 0, 0, 300)});
    CHECK(h.rates("j", 2000)[2].records_out_per_s == Approx(200));
  }
  SECTION("a job never sampled, or forgotten, has no rates") {
    CHECK(h.rates("other", 1000).empty());
    h.retain({"other"});
    CHECK(h.rates("j", 1000).empty());
  }
}

TEST_CASE("rates over a window stay that long when queries come often", "[introspection]") {
  ProbeHistory h;
  uint64_t n = 0;
  // A sample a second plus ten queries in between: the window still reaches back five seconds.
  for (int64_t t = 0; t <= 20'000; t += 100) {
    n += 100;
    h.add("j", t, {probe(0, 0, double(t) / 2, 0, double(t) / 2, n, n)});
  }
  auto r = h.rates("j", 5000);
  REQUIRE(r.size() == 1);
  CHECK(r[0].window_s >= 4.8);
  CHECK(r[0].window_s <= 5.3);
  CHECK(r[0].records_in_per_s == Approx(1000).epsilon(0.01));
  CHECK(r[0].busy_ms_per_s == Approx(500).epsilon(0.01));
}

TEST_CASE("keys typed as text parse as JSON or stay text, and values written as JSON are valid UTF-8", "[introspection]") {
  CHECK(from_json<int64_t>(parse_key_text("42")) == 42);
  CHECK(from_json<std::string>(parse_key_text("alice")) == "alice");
  CHECK(from_json<std::string>(parse_key_text("1.50")) == "1.50");  // the literal, not 1.5
  CHECK(from_json<std::string>(parse_key_text("\"42\"")) == "42");
  using Keyed = std::pair<int64_t, std::string>;
  CHECK(from_json<Keyed>(parse_key_text("[3, \"eu\"]")) == Keyed{3, "eu"});
  CHECK_THROWS_AS(from_json<int64_t>(parse_key_text("abc")), std::invalid_argument);
  using Pair = std::pair<int64_t, int64_t>;
  CHECK_THROWS_AS(from_json<Pair>(parse_key_text("[1]")), std::invalid_argument);
  std::string out;
  write_json(out, std::string("caf\xc3\xa9 \xff\"x\"\n"));
  CHECK(out == "\"caf\xc3\xa9 \\ufffd\\\"x\\\"\\n\"");
  CHECK(nlohmann::json::parse(out) == "caf\xc3\xa9 \xef\xbf\xbd\"x\"\n");
}

TEST_CASE("the bottleneck is the busy task that is not back-pressured while one upstream of it is", "[introspection]") {
  auto shape = chain_shape(2);
  auto rates_of = [&](std::vector<TaskProbe> now) {
    ProbeHistory h;
    std::vector<TaskProbe> zero;
    for (const auto& p : now) zero.push_back(probe(p.task_id, p.subtask, 0, 0, 0, 0, 0));
    h.add("j", 0, zero);
    h.add("j", 1000, std::move(now));
    return h.rates("j", 1000);
  };
  SECTION("a slow map behind a back-pressured source") {
    auto r = rates_of({probe(0, 0, 100, 850, 50, 0, 1000), probe(0, 1, 100, 870, 30, 0, 1000),
                       probe(1, 0, 900, 0, 100, 1000, 1000), probe(1, 1, 990, 0, 10, 1000, 1000),
                       probe(2, 0, 20, 0, 980, 1000, 0), probe(2, 1, 20, 0, 980, 1000, 0)});
    auto b = find_bottleneck(shape, r);
    REQUIRE(b);
    CHECK(b->task == 1);
    CHECK(b->subtask == 1);
    auto doc = json::parse(rest::backpressure(FakeJob(shape, {}), r));
    CHECK(doc["bottleneck"]["task"] == 1);
    CHECK(doc["bottleneck"]["name"] == "Slow Map");
    CHECK(doc["tasks"][0]["level"] == "high");
    CHECK(doc["tasks"][1]["level"] == "ok");
    CHECK(doc["sentence"].get<std::string>().find("'Slow Map'") != std::string::npos);
  }
  SECTION("a slow sink two steps down: the map is back-pressured too") {
    auto r = rates_of({probe(0, 0, 100, 850, 50, 0, 1000), probe(0, 1, 100, 850, 50, 0, 1000),
                       probe(1, 0, 100, 800, 100, 1000, 1000), probe(1, 1, 100, 800, 100, 1000, 1000),
                       probe(2, 0, 950, 0, 50, 1000, 0), probe(2, 1, 970, 0, 30, 1000, 0)});
    auto b = find_bottleneck(shape, r);
    REQUIRE(b);
    CHECK(b->task == 2);
  }
  SECTION("no back-pressure: no bottleneck, and the sentence says so") {
    auto r = rates_of({probe(0, 0, 900, 0, 100, 0, 1000), probe(0, 1, 900, 0, 100, 0, 1000),
                       probe(1, 0, 300, 0, 700, 1000, 1000), probe(1, 1, 300, 0, 700, 1000, 1000),
                       probe(2, 0, 20, 0, 980, 1000, 0), probe(2, 1, 20, 0, 980, 1000, 0)});
    CHECK_FALSE(find_bottleneck(shape, r));
    auto doc = json::parse(rest::backpressure(FakeJob(shape, {}), r));
    CHECK(doc["bottleneck"].is_null());
    CHECK(doc["sentence"] == "no task is back-pressured");
  }
}

TEST_CASE("the REST documents carry the job's graph, its subtasks and its checkpoints", "[introspection]") {
  auto shape = chain_shape(1);
  TaskProbe a = probe(0, 0, 200, 0, 800, 0, 5000), b = probe(1, 0, 700, 0, 300, 5000, 5000),
            c = probe(2, 0, 10, 0, 990, 5000, 0);
  b.watermark = 1'999'000;
  c.watermark = 1'998'000;
  b.operators = {{"b", "Slow Map", 5000, 5000, true, 42, 4200}};
  b.mailbox_depth = 7;
  b.agent = "worker-1";
  b.checkpoint_id = 3;
  b.checkpoint_sync_ms = 1.5;
  CheckpointInfo done{1, CheckpointInfo::Status::completed, false, false, false, 0, 0, 0, 0, 0, ""};
  done.triggered_ms = 100;
  done.ended_ms = 130;
  done.bytes = 999;
  CheckpointInfo save = done;
  save.id = 2;
  save.savepoint = true;
  CheckpointInfo failed = done;
  failed.id = 3;
  failed.status = CheckpointInfo::Status::aborted;
  failed.reason = "expired";
  CheckpointInfo pending = done;
  pending.id = 4;
  pending.status = CheckpointInfo::Status::pending;
  pending.unaligned = true;
  FakeJob job(shape, {a, b, c}, {done, save, failed, pending});
  ProbeHistory h;
  h.add("j", 0, {probe(0, 0, 0, 0, 0, 0, 0), probe(1, 0, 0, 0, 0, 0, 0), probe(2, 0, 0, 0, 0, 0, 0)});
  h.add("j", 1000, {a, b, c});
  auto rates = h.rates("j", 1000);

  auto doc = json::parse(rest::job(job, rates, 2'000'000));
  CHECK(doc["id"] == "00112233aabbccdd");
  CHECK(doc["restarts"] == 2);
  CHECK(doc["uptime_ms"] == 1'000'000);
  REQUIRE(doc["tasks"].size() == 3);
  CHECK(doc["tasks"][1]["name"] == "Slow Map");
  CHECK(doc["tasks"][1]["busy_ms_per_s"] == 700.0);
  CHECK(doc["tasks"][1]["records_in_per_s"] == 5000.0);
  CHECK(doc["tasks"][1]["watermark_lag_ms"] == 1000);
  CHECK(doc["tasks"][1]["operators"][0]["state_entries"] == 42);
  CHECK(doc["tasks"][0]["watermark"].is_null());
  REQUIRE(doc["edges"].size() == 2);
  CHECK(doc["edges"][0]["partitioning"] == "rebalance");
  CHECK(doc["edges"][0]["records_per_s"] == 5000.0);

  auto actors = json::parse(rest::actors(job, rates, 1));
  REQUIRE(actors["actors"].size() == 1);
  auto& m = actors["actors"][0];
  CHECK(m["agent"] == "worker-1");
  CHECK(m["mailbox_depth"] == 7);
  CHECK(m["state_bytes"] == 4200);
  CHECK(m["checkpoint"]["id"] == 3);
  CHECK(m["checkpoint"]["sync_ms"] == 1.5);

  auto top = json::parse(rest::top(job, rates, "busy", 2));
  REQUIRE(top["actors"].size() == 2);
  CHECK(top["actors"][0]["task"] == 1);
  CHECK(top["actors"][1]["task"] == 0);
  CHECK(json::parse(rest::top(job, rates, "state", 1))["actors"][0]["task"] == 1);
  CHECK_THROWS_AS(rest::top(job, rates, "speed", 1), std::invalid_argument);

  auto chk = json::parse(rest::checkpoints(job));
  CHECK(chk["counts"]["completed"] == 2);
  CHECK(chk["counts"]["failed"] == 1);
  CHECK(chk["counts"]["pending"] == 1);
  CHECK(chk["checkpoints"][0]["kind"] == "aligned");
  CHECK(chk["checkpoints"][0]["duration_ms"] == 30);
  CHECK(chk["checkpoints"][0]["trigger_time_ms"] == 1'000'100);
  CHECK(chk["checkpoints"][1]["kind"] == "savepoint");
  CHECK(chk["checkpoints"][2]["status"] == "failed");
  CHECK(chk["checkpoints"][2]["reason"] == "expired");
  CHECK(chk["checkpoints"][3]["kind"] == "unaligned");
  CHECK(chk["checkpoints"][3]["duration_ms"].is_null());
}

TEST_CASE("the Prometheus text has Flink's metric names, escaped labels and one sample per subtask", "[introspection]") {
  auto shape = chain_shape(2);
  std::vector<TaskProbe> now;
  for (int t = 0; t < 3; ++t)
    for (int s = 0; s < 2; ++s) now.push_back(probe(t, s, 100.0 * (t + 1), 0, 0, 10, 10));
  now[3].watermark = 12345;
  auto job = std::make_shared<FakeJob>(shape, now,
                                       std::vector<CheckpointInfo>{{1, CheckpointInfo::Status::completed, false, false,
                                                                    false, 0, 0, 10, 25, 4096, ""}});
  ProbeHistory h;
  std::vector<TaskProbe> zero;
  for (const auto& p : now) zero.push_back(probe(p.task_id, p.subtask, 0, 0, 0, 0, 0));
  h.add("j", 0, zero);
  h.add("j", 1000, now);
  auto text = prometheus_text({{job, h.rates("j", 1000)}});

  // Every line is a comment or `name{labels} value`, as Prometheus' parser wants it.
  std::istringstream in(text);
  std::string line;
  std::map<std::string, int> samples;
  const std::regex sample(R"re(([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-z_]+="(?:[^"\\]|\\.)*",?)*)\} (-?[0-9.e+]+|NaN))re");
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
    std::smatch m;
    INFO(line);
    REQUIRE(std::regex_match(line, m, sample));
    ++samples[m[1]];
  }
  CHECK(samples["sluice_busyTimeMsPerSecond"] == 6);
  CHECK(samples["sluice_numRecordsOutPerSecond"] == 6);
  CHECK(samples["sluice_currentInputWatermark"] == 1);  // the others have none yet
  CHECK(samples["sluice_numberOfCompletedCheckpoints"] == 1);
  CHECK(samples["sluice_numRestarts"] == 1);
  CHECK(text.find(R"(job="a \"quoted\" job")") != std::string::npos);
  CHECK(text.find(R"(sluice_busyTimeMsPerSecond{job="a \"quoted\" job",job_id="00112233aabbccdd",task="Slow Map",task_id="1",subtask="1",agent=""} 200)") !=
        std::string::npos);
  CHECK(text.find(R"(sluice_lastCheckpointDuration{job="a \"quoted\" job",job_id="00112233aabbccdd"} 15)") !=
        std::string::npos);
  CHECK(text.find("sluice_lastCheckpointSize{job=\"a \\\"quoted\\\" job\",job_id=\"00112233aabbccdd\"} 4096") !=
        std::string::npos);
}
