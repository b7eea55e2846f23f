// tests/cli/test_cli.cpp — `sluice run`: exit statuses and one-sentence errors for every kind of bad input.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli.hpp"
#include "support/temp_dir.hpp"

namespace {
std::string build_dir() {
  const char* d = std::getenv("SLUICE_BUILD_DIR");
  return d ? d : ".";
}
std::string test_job(const std::string& name) { return build_dir() + "/tests/" + name + ".so"; }

struct Run {
  int status;
  std::string out, err;
};
Run sluice_cli(std::vector<std::string> args) {
  std::ostringstream out, err;
  int status = sluice::cli::main(args, out, err);
  return {status, out.str(), err.str()};
}
std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
}  // namespace

TEST_CASE("sluice run runs a job library with options and job arguments", "[cli]") {
  test_support::TempDir dir;
  auto out = dir.file("sum.txt");
  auto r = sluice_cli({"run", test_job("test_job_ok"), "--parallelism", "3", "--buffer-timeout", "2ms", "--", out});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(slurp(out) == "500500 p=3\n");
}

TEST_CASE("the same job runs on the RocksDB backend by one flag", "[cli]") {
  test_support::TempDir dir;
  auto out = dir.file("sum.txt");
  auto r = sluice_cli({"run", test_job("test_job_ok"), "-p", "2", "--state-backend", "rocksdb", "--state-dir",
                       dir.path().string(), "--", out});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(slurp(out) == "500500 p=2\n");
}

TEST_CASE("a missing job library is a usage error naming the path", "[cli]") {
  auto r = sluice_cli({"run", "/no/such/job.so"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("'/no/such/job.so' does not exist"));
}

TEST_CASE("a file that is not a shared library is refused", "[cli]") {
  test_support::TempDir dir;
  auto path = dir.file("job.so");
  std::ofstream(path) << "not an ELF file\n";
  auto r = sluice_cli({"run", path});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("is not a loadable job library"));
}

TEST_CASE("a shared library without the entry point is not a job library", "[cli]") {
  auto r = sluice_cli({"run", build_dir() + "/libsluice.so"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("is not a Sluice job library"));
}

TEST_CASE("a job library built against another version is refused before it runs", "[cli]") {
  test_support::TempDir dir;
  auto out = dir.file("never.txt");
  auto r = sluice_cli({"run", test_job("test_job_old_version"), "--", out});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("sluice-0.0.1/old") && Catch::Contains("rebuild"));
  CHECK_FALSE(std::ifstream(out).good());
}

TEST_CASE("unknown flags and bad values are usage errors", "[cli]") {
  auto r = sluice_cli({"run", test_job("test_job_ok"), "--turbo"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--turbo"));
  r = sluice_cli({"run", test_job("test_job_ok"), "--buffer-timeout", "soon"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("'soon'"));
  r = sluice_cli({"run", test_job("test_job_ok"), "--parallelism", "0"});
  CHECK(r.status == 2);
  r = sluice_cli({"run", test_job("test_job_ok"), "--log-level", "loud"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("'loud'"));
  r = sluice_cli({"run", test_job("test_job_ok"), "--state-backend", "paper"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("paper"));
  r = sluice_cli({"launch"});
  CHECK(r.status == 2);
  r = sluice_cli({});
  CHECK(r.status == 2);
}

TEST_CASE("checkpoint options land in the job's ExecutionConfig", "[cli][checkpoint]") {
  test_support::TempDir dir;
  auto out = dir.file("config.txt");
  auto r = sluice_cli({"run", test_job("test_job_config"), "--", out});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(slurp(out) ==
        "interval=0\ndir=\nmode=aligned\nalignment_timeout=0\ntimeout=600000\nmin_pause=0\n"
        "tolerable_failures=0\nretained=3\nrestore=\nallow_non_restored_state=0\n"
        "restart=1:3:1000:60000:60000\n");

  auto chk = dir.file("chk-7");
  std::filesystem::create_directories(chk);
  r = sluice_cli({"run", test_job("test_job_config"), "--checkpoint-interval", "300ms",
                  "--checkpoint-dir", dir.file("ckpts"), "--checkpoint-mode", "timeout:2s",
                  "--checkpoint-timeout", "1m", "--min-pause", "50",
                  "--tolerable-failed-checkpoints", "2", "--retained-checkpoints", "5", "--restore",
                  chk, "--allow-non-restored-state", "--restart-strategy", "failure-rate:4:5m:10s",
                  "--", out});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(slurp(out) == "interval=300\ndir=" + dir.file("ckpts") +
                          "\nmode=aligned with timeout\nalignment_timeout=2000\ntimeout=60000\n"
                          "min_pause=50\ntolerable_failures=2\nretained=5\nrestore=" +
                          chk + "\nallow_non_restored_state=1\nrestart=3:4:10000:60000:300000\n");

  r = sluice_cli({"run", test_job("test_job_config"), "--checkpoint-interval", "1s", "--restore",
                  "latest", "--checkpoint-mode", "unaligned", "--restart-strategy", "none", "--",
                  out});
  INFO(r.err);
  REQUIRE(r.status == 0);
  // No --checkpoint-dir: the runtime resolves checkpoints/<job name> once the job has a name.
  CHECK_THAT(slurp(out), Catch::Contains("interval=1000\ndir=\nmode=unaligned\n") &&
                             Catch::Contains("restore=latest\n") && Catch::Contains("restart=0:"));
}

TEST_CASE("bad checkpoint values are usage errors naming the option and the value",
          "[cli][checkpoint]") {
  struct Case {
    std::vector<std::string> option;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--checkpoint-interval", "often"}, "--checkpoint-interval: 'often' is not a duration"},
      {{"--checkpoint-interval", "5 weeks"},
       "--checkpoint-interval: '5 weeks' has an unknown duration unit"},
      {{"--checkpoint-mode", "exactly-once"},
       "--checkpoint-mode: 'exactly-once' is not a checkpoint mode"},
      {{"--checkpoint-mode", "timeout:soon"},
       "--checkpoint-mode: 'timeout:soon' is not a checkpoint mode"},
      {{"--checkpoint-timeout", "0"}, "--checkpoint-timeout: '0' would abort every checkpoint"},
      {{"--min-pause", "later"}, "--min-pause: 'later' is not a duration"},
      {{"--tolerable-failed-checkpoints", "some"},
       "--tolerable-failed-checkpoints: 'some' is not a whole number"},
      {{"--retained-checkpoints", "0"}, "--retained-checkpoints: 0 is out of range"},
      {{"--restore", "/no/such/chk-3"}, "--restore: checkpoint '/no/such/chk-3' does not exist"},
      {{"--restart-strategy", "always"}, "--restart-strategy: 'always' is not a restart strategy"},
      {{"--restart-strategy", "fixed-delay:3:soon"},
       "--restart-strategy: 'fixed-delay:3:soon' is not a restart strategy: 'soon' is not a "
       "duration"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"run", test_job("test_job_ok")};
    args.insert(args.end(), c.option.begin(), c.option.end());
    INFO(c.option[0] << " " << c.option[1]);
    auto r = sluice_cli(args);
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::StartsWith("sluice run: " + c.message));
  }
}

TEST_CASE("a failing job exits 1 with the operator and the message", "[cli]") {
  auto r = sluice_cli({"run", test_job("test_job_fails"), "-p", "2"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("job 'failing job' failed") && Catch::Contains("'fragile map'") &&
                        Catch::Contains("fifty is too many"));
}

TEST_CASE("help and version exit 0", "[cli]") {
  auto r = sluice_cli({"--help"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("run"));
  r = sluice_cli({"run", "--help"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("--buffer-timeout"));
  for (const char* option :
       {"--checkpoint-interval", "--checkpoint-dir", "--checkpoint-mode", "--checkpoint-timeout",
        "--min-pause", "--tolerable-failed-checkpoints", "--retained-checkpoints", "--restore",
        "--allow-non-restored-state", "--restart-strategy"}) {
    CHECK_THAT(r.out, Catch::Contains(option));
  }
  CHECK_THAT(r.out, Catch::Contains("Checkpoints:"));
  CHECK(sluice_cli({"--version"}).status == 0);
}

TEST_CASE("the word count example counts a file", "[cli][example]") {
  test_support::TempDir dir;
  auto in = dir.file("in.txt"), out = dir.file("counts.txt");
  std::ofstream(in) << "to be or not to be\nthat is the question\n";
  auto r = sluice_cli({"run", build_dir() + "/apps/examples/word_count.so", "-p", "2", "--", in, out});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(slurp(out) == "(be,2)\n(is,1)\n(not,1)\n(or,1)\n(question,1)\n(that,1)\n(the,1)\n(to,2)\n");
}
