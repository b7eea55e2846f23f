// tests/integration/test_probes.cpp — per-operator probes (records in and out, keyed state size) named by ids, and the process's list of running jobs.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <algorithm>
#include <set>

#include "scheduler/plan.hpp"
#include "support/checkpoint_jobs.hpp"
#include "support/temp_dir.hpp"

using namespace sluice;

namespace {

using test_support::jobs::CountPerKey;

/// Source -> evens -> half (one task) then count per key -> collect (another): 1000 records,
/// 500 evens, 50 keys.
JobGraph counting_job(StateBackendKind backend, const std::string& state_dir, CollectSink<int64_t>& sink) {
  StreamEnvironment env;
  env.set_parallelism(1);
  env.config().state_backend = backend;
  env.config().state_dir = state_dir;
  env.from_generator(1000, [](int64_t i) { return i; })
      .filter([](int64_t v) { return v % 2 == 0; }, "evens")
      .map([](int64_t v) { return v / 2; }, "half")
      .key_by([](int64_t v) { return v % 50; })
      .process(CountPerKey(), "count")
      .sink_to(sink);
  return env.graph();
}

const OperatorProbe& op(const std::vector<TaskProbe>& probes, const std::string& name) {
  for (const auto& p : probes)
    for (const auto& o : p.operators)
      if (o.name == name) return o;
  FAIL("no operator '" << name << "' in the probes");
  throw;
}

}  // namespace

TEST_CASE("each operator of a chain reports its records in and out, and a keyed one its state size", "[probes]") {
  test_support::TempDir dir;
  for (auto backend : {StateBackendKind::heap, StateBackendKind::rocksdb}) {
    DYNAMIC_SECTION((backend == StateBackendKind::heap ? "heap" : "rocksdb")) {
      CollectSink<int64_t> sink;
      auto graph = counting_job(backend, dir.path().string(), sink);
      auto plan = scheduler::plan(graph);
      graph.name = "probes";
      JobClient client(default_executor().submit(graph));
      client.wait();
      auto probes = client.probes();
      REQUIRE(probes.size() == 2);
      const auto& source = op(probes, "Generator Source");
      CHECK(source.records_in == 0);
      CHECK(source.records_out == 1000);
      CHECK(op(probes, "evens").records_in == 1000);
      CHECK(op(probes, "evens").records_out == 500);
      CHECK(op(probes, "half").records_in == 500);
      CHECK(op(probes, "half").records_out == 500);  // to the network
      const auto& count = op(probes, "count");
      CHECK(count.records_in == 500);                // from the network
      CHECK(count.records_out == 500);
      CHECK(count.keyed);
      if (backend == StateBackendKind::heap) {
        CHECK(count.state_entries == 50);
      } else {  // RocksDB's estimate counts overwrites still in the memtable until compaction
        CHECK(count.state_entries >= 50);
        CHECK(count.state_entries <= 500);
      }
      CHECK(count.state_bytes > 0);
      CHECK_FALSE(op(probes, "half").keyed);
      // Ids, not names, identify what a probe is about.
      std::set<std::string> ids(plan.operator_ids.begin(), plan.operator_ids.end());
      for (const auto& p : probes) {
        CHECK(p.job_id == client.id());
        CHECK(p.task_id == (p.operators.front().name == "Generator Source" ? 0 : 1));
        for (const auto& o : p.operators) CHECK(ids.count(o.operator_id) == 1);
      }
    }
  }
}

TEST_CASE("the process lists its running jobs until they end", "[probes]") {
  StreamEnvironment env;
  env.set_parallelism(1);
  env.from_generator(-1, [](int64_t i) { return i; }).sink_to(DiscardSink<int64_t>());
  auto client = env.execute_async("listed");
  auto listed = [&] {
    for (const auto& j : running_jobs())
      if (j->id() == client.id()) return true;
    return false;
  };
  CHECK(listed());
  CHECK(test_support::jobs::eventually([&] {
    auto p = client.probes();
    return !p.empty() && !p[0].operators.empty() && p[0].operators[0].records_out > 0;
  }));
  for (const auto& j : running_jobs())
    if (j->id() == client.id()) CHECK(j->name() == "listed");
  client.cancel();
  CHECK_THROWS(client.wait());
  CHECK_FALSE(listed());
}
