// tests/nexmark/test_rescale.cpp — a running `nexmark run` q5 rescaled from 2 to 4 and back through its console service writes exactly the uninterrupted run's CSV.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string slurp(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

/// A guard against a hung child or service, not a timing assertion.
constexpr auto patience = std::chrono::minutes(3);

template <class F>
void await(F done, const char* what) {
  auto give_up = std::chrono::steady_clock::now() + patience;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) FAIL("timed out waiting until " << what);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int exit_status(test_support::Process& p, const fs::path& log) {
  int status = p.wait();
  INFO(slurp(log));
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE("q5 rescaled from 2 to 4 and back through the console writes the uninterrupted run's CSV", "[nexmark][console][rescale]") {
  test_support::TempDir dir;
  const std::string events = "400000";
  const fs::path expected = dir.path() / "expected.csv", output = dir.path() / "q5.csv";
  {
    // The same stream (the rate sets the events' times), unpaced.
    test_support::Process plain({NEXMARK_BINARY, "run", "--query", "q5", "--events", events, "--rate", "50000",
                                 "--parallelism", "2", "--output", expected.string()},
                                dir.path() / "plain.log");
    REQUIRE(exit_status(plain, dir.path() / "plain.log") == 0);
  }
  const std::string reference = slurp(expected);
  REQUIRE(reference.size() > std::string("auction,num\n").size());

  // Paced to the wall clock (about 8 s), so that both rescales land mid-stream.
  const fs::path log = dir.path() / "run.log";
  test_support::Process run({NEXMARK_BINARY, "run", "--query", "q5", "--events", events, "--rate", "50000",
                             "--realtime", "--parallelism", "2", "--output", output.string(), "--checkpoint-interval",
                             "300ms", "--checkpoint-dir", (dir.path() / "checkpoints").string(), "--console-port",
                             "0", "--log-level", "info"},
                            log);
  std::smatch m;
  await(
      [&] {
        auto text = slurp(log);
        return std::regex_search(text, m, std::regex("sluice console endpoint on ([0-9.]+):([0-9]+)"));
      },
      "the console endpoint is printed");
  httplib::Client http(m[1].str(), std::stoi(m[2].str()));
  http.set_read_timeout(std::chrono::seconds(120));
  std::string id;
  await(
      [&] {
        auto r = http.Get("/v1/jobs");
        if (!r || r->status != 200) return false;
        auto jobs = json::parse(r->body)["jobs"];
        if (jobs.empty()) return false;
        id = jobs[0]["id"];
        return jobs[0]["last_checkpoint"].get<int64_t>() >= 1;
      },
      "q5 runs with a completed checkpoint");

  auto rescale = [&](int p) {
    auto r = http.Post("/v1/jobs/" + id + "/rescale?parallelism=" + std::to_string(p));
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 200);
    auto doc = json::parse(r->body);
    CHECK(doc["to"] == p);
    CHECK(doc["savepoint"].get<int64_t>() >= 1);
    CHECK(doc["downtime_ms"].get<int64_t>() >= doc["savepoint_ms"].get<int64_t>());
    CHECK(doc["fixed"] == json::array({"Nexmark Source"}));  // its positions cannot move
    WARN("rescale to " << p << ": records stood still " << doc["downtime_ms"] << " ms, of which the savepoint "
                       << doc["savepoint_ms"] << " ms");
    // The job runs on under its id at the new parallelism, past a checkpoint of its own.
    auto graph = json::parse(http.Get("/v1/jobs/" + id)->body);
    int widest = 0;
    for (const auto& t : graph["tasks"]) widest = std::max(widest, t["parallelism"].get<int>());
    CHECK(widest == std::max(p, 2));
    CHECK(graph["state"] == "RUNNING");
    auto saved = doc["savepoint"].get<int64_t>();
    await(
        [&] {
          if (auto ended = run.poll())
            FAIL("nexmark run ended with status " << *ended << " before a checkpoint after the rescale:\n" << slurp(log));
          auto r = http.Get("/v1/jobs/" + id + "/checkpoints");
          if (!r || r->status != 200) return false;
          auto listed = json::parse(r->body);  // kept: the loop reads inside it
          for (const auto& c : listed["checkpoints"])
            if (c["id"].get<int64_t>() > saved && c["status"] == "completed") return true;
          return false;
        },
        "a checkpoint after the rescale completes");
  };
  rescale(4);
  rescale(2);
  REQUIRE(exit_status(run, log) == 0);
  const std::string written = slurp(output);
  CHECK(written.size() == reference.size());
  CHECK(written == reference);
}
