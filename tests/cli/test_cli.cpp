// tests/cli/test_cli.cpp — `sluice run`: exit statuses and one-sentence errors for every kind of bad input.
#include <catch2/catch.hpp>

#include <cstdlib>
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
