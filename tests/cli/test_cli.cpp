// tests/cli/test_cli.cpp — `sluice run`: exit statuses, one-sentence errors for every kind of bad input, kill -9 and restore.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <sluice/sinks.hpp>

#include "checkpoint/storage.hpp"
#include "cli.hpp"
#include "support/temp_dir.hpp"

namespace {
/// Absolute, so that processes started in another working directory find it too.
std::string build_dir() {
  const char* d = std::getenv("SLUICE_BUILD_DIR");
  return std::filesystem::absolute(d ? d : ".").lexically_normal().string();
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
  // Within a memory budget for the process's RocksDB stores.
  r = sluice_cli({"run", test_job("test_job_ok"), "-p", "2", "--state-backend", "rocksdb", "--state-dir",
                  dir.path().string(), "--rocksdb-memory", "32mb", "--", dir.file("budget.txt")});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(slurp(dir.file("budget.txt")) == "500500 p=2\n");
  // With the smallest record cache in front of RocksDB, records are evicted and read back.
  r = sluice_cli({"run", test_job("test_job_ok"), "-p", "2", "--state-backend", "rocksdb", "--state-dir",
                  dir.path().string(), "--rocksdb-record-cache", "1mb", "--", dir.file("small-cache.txt")});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(slurp(dir.file("small-cache.txt")) == "500500 p=2\n");
}

TEST_CASE("the same job runs in BATCH mode by one flag, and a wrong mode is a usage error", "[cli][batch]") {
  test_support::TempDir dir;
  for (const char* mode : {"batch", "automatic"}) {
    INFO(mode);
    auto out = dir.file(std::string(mode) + ".txt");
    auto r = sluice_cli({"run", test_job("test_job_ok"), "-p", "2", "--execution-mode", mode, "--", out});
    INFO(r.err);
    CHECK(r.status == 0);
    CHECK(slurp(out) == "500500 p=2\n");
  }
  // Parallelism 8 on 2 slots: each stage's subtasks run in waves (test_job_master checks the
  // waves themselves; the log goes to the process's stderr, not to `err`).
  auto waves = dir.file("waves.txt");
  auto r = sluice_cli({"run", test_job("test_job_ok"), "-p", "8", "--slots", "2", "--execution-mode", "batch", "--",
                       waves});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(slurp(waves) == "500500 p=8\n");
  r = sluice_cli({"run", test_job("test_job_ok"), "--execution-mode", "bach"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--execution-mode") && Catch::Contains("'bach' is not an execution mode"));
}

TEST_CASE("a missing job library is a usage error naming the path", "[cli]") {
  auto r = sluice_cli({"run", "/no/such/job.so"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("'/no/such/job.so' does not exist"));
}

// Issue 10, item 8: overflowing durations and sizes were taken silently or failed the job.
TEST_CASE("regression 8: durations and sizes out of range are usage errors naming the flag and the range", "[cli][regression]") {
  for (const char* flag : {"--checkpoint-timeout", "--checkpoint-interval", "--min-pause", "--buffer-timeout"}) {
    INFO(flag);
    auto r = sluice_cli({"run", test_job("test_job_ok"), flag, "9999999999999h"});
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains(flag) && Catch::Contains("9999999999999h") && Catch::Contains("0 to 365d"));
  }
  auto r = sluice_cli({"run", test_job("test_job_ok"), "--restart-strategy", "fixed-delay:3:99999999999d"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--restart-strategy") && Catch::Contains("365d"));
  for (const char* size : {"5gb", "999999999999999999gb", "512"}) {
    INFO(size);
    r = sluice_cli({"run", test_job("test_job_ok"), "--buffer-size", size});
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains("--buffer-size") && Catch::Contains(size));
  }
  CHECK_THAT(r.err, Catch::Contains("1kb to 1gb"));
  for (const char* size : {"1mb", "2tb", "lots"}) {
    INFO(size);
    r = sluice_cli({"run", test_job("test_job_ok"), "--rocksdb-memory", size});
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains("--rocksdb-memory") && Catch::Contains(size));
  }
  for (const char* size : {"512kb", "65gb"}) {
    INFO(size);
    r = sluice_cli({"run", test_job("test_job_ok"), "--rocksdb-record-cache", size});
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains("--rocksdb-record-cache") && Catch::Contains(size) &&
                          Catch::Contains("1mb to 64gb"));
  }
  test_support::TempDir dir;
  r = sluice_cli({"run", test_job("test_job_ok"), "--buffer-size", "1gb", "--", dir.file("sum.txt")});
  CHECK(r.status == 0);
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
       "--checkpoint-mode: 'exactly-once' is not a checkpointing mode"},
      {{"--checkpoint-mode", "timeout:soon"},
       "--checkpoint-mode: 'timeout:soon' is not a checkpointing mode"},
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

namespace {

/// A `sluice` process of its own, for what an in-process run cannot show: kill -9, two
/// processes on one checkpoint directory, the runtime's log on stderr. Killed (SIGKILL) if
/// still running when destroyed, so a failed test leaves no process behind.
class SluiceProcess {
 public:
  /// Starts `sluice args...` in `cwd`, stdout and stderr going to `<log>.out` and `<log>.err`.
  SluiceProcess(const std::vector<std::string>& args, const std::string& log, const std::string& cwd = "")
      : out_path_(log + ".out"), err_path_(log + ".err") {
    const std::string binary = build_dir() + "/apps/sluice/sluice";
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
      int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
  }
  ~SluiceProcess() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  SluiceProcess(const SluiceProcess&) = delete;
  SluiceProcess& operator=(const SluiceProcess&) = delete;

  /// The wait status once the process ended; nullopt while it runs.
  std::optional<int> ended() {
    if (!status_) {
      int status = 0;
      struct rusage usage {};
      if (::wait4(pid_, &status, WNOHANG, &usage) == pid_) {
        status_ = status;
        peak_rss_kb_ = usage.ru_maxrss;
      }
    }
    return status_;
  }
  /// The most memory the process held at once (its peak resident set, KiB), once it ended.
  long peak_rss_kb() const { return peak_rss_kb_; }
  /// Waits until the process ends by itself and returns its exit status; -1 when it was
  /// killed by a signal or still ran after 10 minutes (a hung job fails the test instead of
  /// hanging it).
  int exit_code() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    while (!ended() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return ended() && WIFEXITED(*status_) ? WEXITSTATUS(*status_) : -1;
  }
  /// Kills the process with SIGKILL and reaps it; true if the kill ended it (it had not
  /// ended by itself before).
  bool kill9() {
    if (ended()) return false;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = status;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }
  std::string err() const { return slurp(err_path_); }

 private:
  std::string out_path_, err_path_;
  pid_t pid_ = -1;
  std::optional<int> status_;
  long peak_rss_kb_ = 0;
};

/// The id of the newest complete checkpoint (one with its `_metadata`) in `dir`, 0 if none.
int64_t newest_checkpoint(const std::string& dir) {
  namespace fs = std::filesystem;
  int64_t newest = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.rfind("chk-", 0) != 0 || !fs::exists(it->path() / "_metadata")) continue;
    newest = std::max(newest, int64_t(std::stoll(name.substr(4))));
  }
  return newest;
}

/// Waits until `dir` holds a complete checkpoint newer than `than`, or `p` ended. True for
/// the checkpoint. The bound is generous: the test never depends on how fast the job runs.
bool wait_for_checkpoint(SluiceProcess& p, const std::string& dir, int64_t than) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (newest_checkpoint(dir) > than) return true;
    if (p.ended()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

constexpr int64_t job_keys = 101;  // as in job_checkpointed.cpp

/// How the committed output of test_job_checkpointed in `out` differs from a failure-free
/// run over `n` indices: every index once, and each key's exact count. Empty when it does not.
std::string output_mismatch(const std::string& out, int64_t n) {
  std::ostringstream why;
  std::vector<int> seen(size_t(n), 0);
  int64_t foreign = 0, repeated = 0;
  for (const auto& line : sluice::read_committed_lines(out + "/records")) {
    int64_t i = -1;
    try {
      i = std::stoll(line);
    } catch (const std::exception&) {
    }
    if (i < 0 || i >= n) ++foreign;
    else if (seen[size_t(i)]++ > 0) ++repeated;
  }
  int64_t missing = std::count(seen.begin(), seen.end(), 0);
  if (foreign || repeated || missing)
    why << "records: " << missing << " missing, " << repeated << " repeated, " << foreign << " foreign; ";
  std::map<int64_t, int64_t> counts;
  int64_t bad_lines = 0;
  for (const auto& line : sluice::read_committed_lines(out + "/counts")) {
    auto colon = line.find(':');
    if (colon == std::string::npos) {
      ++bad_lines;
      continue;
    }
    auto key = std::stoll(line.substr(0, colon));
    if (counts.count(key)) ++bad_lines;
    counts[key] = std::stoll(line.substr(colon + 1));
  }
  if (bad_lines) why << "counts: " << bad_lines << " malformed or repeated lines; ";
  for (int64_t k = 0; k < job_keys; ++k) {
    const int64_t expected = n / job_keys + (k < n % job_keys ? 1 : 0);
    auto it = counts.find(k);
    if (it == counts.end()) why << "key " << k << ": no count; ";
    else if (it->second != expected) why << "key " << k << ": " << it->second << " != " << expected << "; ";
  }
  if (counts.size() > size_t(job_keys)) why << "counts of " << counts.size() << " keys; ";
  return why.str();
}

/// Every committed part file under `out`'s records and counts, by name, with its contents.
std::map<std::string, std::string> committed_files(const std::string& out) {
  std::map<std::string, std::string> files;
  for (const char* sink : {"/records", "/counts"}) {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(out + sink, ec), end; !ec && it != end; it.increment(ec)) {
      auto name = it->path().filename().string();
      if (name.rfind("part-", 0) == 0) files[sink + ("/" + name)] = slurp(it->path().string());
    }
  }
  return files;
}

/// `a` followed by `b`.
std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

// Issue 15: the examples over bounded input give the same output in BATCH as in STREAMING.
TEST_CASE("the examples write the same output in BATCH as in STREAMING", "[cli][example][batch]") {
  test_support::TempDir dir;
  auto in = dir.file("in.txt");
  std::map<std::string, int64_t> want;
  {
    std::ofstream text(in);
    uint64_t x = 88172645463325252ull;  // xorshift: a fixed text of 3000 lines
    for (int line = 0; line < 3000; ++line) {
      for (int w = 0; w < 12; ++w) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        std::string word = "w" + std::to_string(x % 997);
        ++want[word];
        text << (w ? " " : "") << (x % 3 == 0 ? "W" + word.substr(1) : word);  // capitals fold
      }
      text << ".\n";
    }
  }
  std::string expected;
  for (const auto& [word, n] : want) expected += "(" + word + "," + std::to_string(n) + ")\n";
  std::map<std::string, std::string> printed;
  for (std::string mode : {"streaming", "batch"}) {
    auto out = dir.file("counts-" + mode + ".txt");
    auto r = sluice_cli({"run", build_dir() + "/apps/examples/word_count.so", "-p", "2", "--execution-mode", mode, "--",
                         in, out});
    INFO(mode << ": " << r.err);
    REQUIRE(r.status == 0);
    CHECK(slurp(out) == expected);
    // The demo prints to the process's standard output: run as a process.
    SluiceProcess demo({"run", build_dir() + "/apps/examples/demo.so", "--execution-mode", mode}, dir.file("demo-" + mode));
    REQUIRE(demo.exit_code() == 0);
    printed[mode] = slurp(dir.file("demo-" + mode) + ".out");
    CHECK_THAT(printed[mode], Catch::Contains("(flow,4)"));
  }
  CHECK(printed["batch"] == printed["streaming"]);
}

TEST_CASE("kill -9 three times, each run restoring the latest checkpoint: the output is exactly once",
          "[cli][checkpoint][recovery]") {
  // RocksDB checkpoints are incremental: their shared files must survive the kills counted right.
  const std::string backend = GENERATE(as<std::string>{}, "heap", "rocksdb");
  INFO("state backend " << backend);
  test_support::TempDir dir;
  const int64_t n = 1'000'000;
  const auto chk = dir.file("chk"), out = dir.file("out");
  const std::vector<std::string> run = {"run",         test_job("test_job_checkpointed"), "-p", "2",
                                        "--checkpoint-interval", "100ms", "--checkpoint-dir", chk,
                                        "--state-backend", backend, "--state-dir", dir.file("state"),
                                        "--log-level", "info"};
  // At most 100'000 records a second per subtask: a run without kills lasts 5 s at least.
  const std::vector<std::string> job_args = {"--", out, std::to_string(n)};
  for (int cycle = 0; cycle < 3; ++cycle) {
    const int64_t restored = newest_checkpoint(chk);
    SluiceProcess p(concat(cycle == 0 ? run : concat(run, {"--restore", "latest"}), job_args),
                    dir.file("run-" + std::to_string(cycle)));
    // Killed once it completed cycle + 1 checkpoints of its own (the first kill comes right
    // after a checkpoint's metadata, perhaps before the sinks committed), long before its
    // input ends.
    const bool checkpointed = wait_for_checkpoint(p, chk, restored + cycle);
    const bool killed = p.kill9();
    INFO("run " << cycle << ", stderr:\n" << p.err());
    REQUIRE(checkpointed);
    REQUIRE(killed);
    if (cycle > 0) CHECK_THAT(p.err(), Catch::Contains("restores checkpoint " + std::to_string(restored) + " "));
  }
  const int64_t restored = newest_checkpoint(chk);
  SluiceProcess last(concat(concat(run, {"--restore", "latest"}), job_args), dir.file("run-last"));
  const int code = last.exit_code();
  INFO("stderr:\n" << last.err());
  REQUIRE(code == 0);
  CHECK_THAT(last.err(), Catch::Contains("restores checkpoint " + std::to_string(restored) + " "));
  CHECK(output_mismatch(out, n) == "");
  // Every shared file left is one a retained checkpoint references, and each of those is there.
  std::set<std::string> referenced, present;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(chk + "/shared", ec)) present.insert(e.path().filename());
  // Opened after listing: opening removes what no retained checkpoint references.
  sluice::checkpoint::CheckpointCommitter storage(chk);
  for (const auto& [name, count] : storage.shared_references()) referenced.insert(name);
  CHECK(present == referenced);
  CHECK(referenced.empty() == (backend == "heap"));
}

TEST_CASE("restoring the latest checkpoint of an empty directory starts from scratch and says so",
          "[cli][checkpoint]") {
  test_support::TempDir dir;
  const int64_t n = 20'000;
  const auto chk = dir.file("chk"), out = dir.file("out");
  std::filesystem::create_directories(chk);
  SluiceProcess p({"run", test_job("test_job_checkpointed"), "-p", "2", "--checkpoint-interval", "100ms",
                   "--checkpoint-dir", chk, "--restore", "latest", "--", out, std::to_string(n)},
                  dir.file("run"));
  const int code = p.exit_code();
  INFO("stderr:\n" << p.err());
  REQUIRE(code == 0);
  CHECK_THAT(p.err(), Catch::Contains("no usable checkpoint in '" + chk + "'; starting from scratch"));
  CHECK(output_mismatch(out, n) == "");
}

TEST_CASE("a rerun with --restore latest after the job finished exits 0 and leaves the output as it was",
          "[cli][checkpoint]") {
  test_support::TempDir dir;
  const int64_t n = 20'000;
  const auto out = dir.file("out");
  // No --checkpoint-dir: checkpoints go to checkpoints/<job name> in the working directory.
  const std::vector<std::string> run = {"run",         test_job("test_job_checkpointed"), "-p", "2",
                                        "--checkpoint-interval", "100ms", "--restore", "latest",
                                        "--", out, std::to_string(n)};
  const auto chk = dir.file("checkpoints/checkpointed count");
  {
    SluiceProcess first(run, dir.file("first"), dir.path().string());
    const int code = first.exit_code();
    INFO("stderr:\n" << first.err());
    REQUIRE(code == 0);
    CHECK_THAT(first.err(),
               Catch::Contains("no usable checkpoint in 'checkpoints/checkpointed count'; starting from scratch"));
  }
  REQUIRE(output_mismatch(out, n) == "");
  const auto before = committed_files(out);
  const int64_t final_checkpoint = newest_checkpoint(chk);
  REQUIRE(final_checkpoint > 0);

  SluiceProcess again(run, dir.file("again"), dir.path().string());
  const int code = again.exit_code();
  INFO("stderr:\n" << again.err());
  CHECK(code == 0);
  CHECK(committed_files(out) == before);
}

// The final checkpoint is acknowledged by every subtask (each waits for it before it
// closes), so it records no operator as finished, and a rerun restored from it ran the job
// again, taking another checkpoint, instead of returning at once.
TEST_CASE("a job restored from its final checkpoint reads nothing again and leaves its output as it was",
          "[cli][checkpoint]") {
  test_support::TempDir dir;
  const auto chk = dir.file("chk"), out = dir.file("out");
  const std::vector<std::string> run = {"run",         test_job("test_job_checkpointed"), "-p", "2",
                                        "--checkpoint-interval", "100ms", "--checkpoint-dir", chk,
                                        "--restore", "latest", "--", out, "20000"};
  {
    SluiceProcess first(run, dir.file("first"));
    const int code = first.exit_code();
    INFO("stderr:\n" << first.err());
    REQUIRE(code == 0);
  }
  const int64_t final_checkpoint = newest_checkpoint(chk);
  REQUIRE(final_checkpoint > 0);
  const auto before = committed_files(out);
  SluiceProcess again(run, dir.file("again"));
  const int code = again.exit_code();
  INFO("stderr:\n" << again.err());
  CHECK(code == 0);
  CHECK_THAT(again.err(), Catch::Contains("had already finished at checkpoint " + std::to_string(final_checkpoint)));
  CHECK(committed_files(out) == before);
  CHECK(output_mismatch(out, 20000) == "");
}

TEST_CASE("restoring a path that holds no checkpoint fails with one sentence naming it", "[cli][checkpoint]") {
  test_support::TempDir dir;
  auto r = sluice_cli({"run", test_job("test_job_checkpointed"), "--restore", "/nonexistent/path", "--",
                       dir.file("out"), "100"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::StartsWith("sluice run: --restore: checkpoint '/nonexistent/path' does not exist\n"));

  // A directory that exists but holds no checkpoint: the runtime refuses it before running.
  const auto empty = dir.file("empty");
  std::filesystem::create_directories(empty);
  r = sluice_cli({"run", test_job("test_job_checkpointed"), "--restore", empty, "--", dir.file("out"), "100"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::StartsWith("sluice run: job 'checkpointed count' cannot start: ") &&
                        Catch::Contains("'" + empty + "/_metadata'") && Catch::EndsWith("\n"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(committed_files(dir.file("out")).empty());
}

TEST_CASE("a second job on a checkpoint directory in use is refused, the first running on",
          "[cli][checkpoint]") {
  test_support::TempDir dir;
  const auto chk = dir.file("chk");
  // The first never ends by itself (N < 0); it holds the directory's lock from before its
  // first checkpoint.
  SluiceProcess first({"run", test_job("test_job_checkpointed"), "-p", "2", "--checkpoint-interval", "100ms",
                       "--checkpoint-dir", chk, "--", dir.file("out-first"), "-1", "1000"},
                      dir.file("first"));
  const bool checkpointed = wait_for_checkpoint(first, chk, 0);
  INFO("first's stderr:\n" << first.err());
  REQUIRE(checkpointed);
  SluiceProcess second({"run", test_job("test_job_checkpointed"), "-p", "2", "--checkpoint-interval", "100ms",
                        "--checkpoint-dir", chk, "--restore", "latest", "--", dir.file("out-second"), "100"},
                       dir.file("second"));
  CHECK(second.exit_code() == 2);
  CHECK(second.err() == "sluice run: job 'checkpointed count' cannot start: checkpoint directory '" + chk +
                            "' is in use by another process\n");
  CHECK_FALSE(std::filesystem::exists(dir.file("out-second")));
  CHECK(first.kill9());
}

// Issue 10, item 9: a bare file name was looked up on the library path, not in the working directory.
TEST_CASE("regression 9: sluice run with a bare file name loads that file from the working directory", "[cli][regression]") {
  test_support::TempDir dir;
  std::filesystem::copy_file(test_job("test_job_ok"), dir.file("my_job.so"));
  SluiceProcess p({"run", "my_job.so", "-p", "2", "--", dir.file("sum.txt")}, dir.file("bare"), dir.path().string());
  const int code = p.exit_code();
  INFO(p.err());
  CHECK(code == 0);
  CHECK(slurp(dir.file("sum.txt")) == "500500 p=2\n");
}

// Issue 10, item 4, as a user meets it: a rerun without --restore into the same directory.
TEST_CASE("regression 4: sluice run without --restore into a directory holding checkpoints exits 2 and keeps them",
          "[cli][checkpoint][regression]") {
  test_support::TempDir dir;
  const auto chk = dir.file("chk");
  auto r = sluice_cli({"run", test_job("test_job_checkpointed"), "-p", "2", "--checkpoint-interval", "20ms",
                       "--checkpoint-dir", chk, "--", dir.file("out"), "20000"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto newest = newest_checkpoint(chk);
  REQUIRE(newest > 0);
  r = sluice_cli({"run", test_job("test_job_checkpointed"), "-p", "2", "--checkpoint-interval", "20ms",
                  "--checkpoint-dir", chk, "--", dir.file("out2"), "20000"});
  CHECK(r.status == 2);
  CHECK(r.err == "sluice run: job 'checkpointed count' cannot start: checkpoint directory '" + chk +
                     "' holds checkpoints of an earlier run (newest chk-" + std::to_string(newest) +
                     "); pass --restore latest to continue from them, or give another --checkpoint-dir\n");
  CHECK(newest_checkpoint(chk) == newest);
  CHECK_NOTHROW(sluice::checkpoint::CheckpointCommitter::load(chk + "/chk-" + std::to_string(newest)));
}

// Issue 10, item 10: parallelism 8192 ran until the kernel killed it.
TEST_CASE("regression 10: a parallelism whose channels cannot fit in memory is refused up front with the estimate",
          "[cli][regression]") {
  test_support::TempDir dir;
  auto r = sluice_cli({"run", test_job("test_job_ok"), "-p", "32768", "--max-parallelism", "32768", "--",
                       dir.file("sum.txt")});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::StartsWith("sluice run: job 'sum job' cannot start: its ") &&
                        Catch::Contains("channels need about") && Catch::Contains("GiB") &&
                        Catch::Contains("lower the parallelism"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_FALSE(std::filesystem::exists(dir.file("sum.txt")));
}

// Issue 15: a keyed operator's input sorted on disk under --batch-memory, not held in memory.
TEST_CASE("BATCH sorts a keyed input ten times its --batch-memory within that memory plus a fixed overhead",
          "[cli][batch]") {
  test_support::TempDir dir;
  constexpr int64_t keys = 1000, payload = 100;
  // Each record is about 130 bytes in the sort (payload, its other fields, key, header).
  constexpr int64_t records = 350'000;
  auto run = [&](int64_t n, const std::string& name) {
    auto out = dir.file(name + ".txt");
    SluiceProcess p({"run", test_job("test_job_batch_sort"), "-p", "1", "--execution-mode", "batch",
                     "--batch-memory", "4mb", "--state-dir", dir.path().string(), "--log-level", "info", "--", std::to_string(n),
                     std::to_string(payload), std::to_string(keys), out},
                    dir.file(name));
    INFO(p.err());
    REQUIRE(p.exit_code() == 0);
    std::map<int64_t, std::pair<int64_t, int64_t>> expected;
    for (int64_t i = 0; i < n; ++i) {
      auto& [count, sum] = expected[(i * 7919) % keys];
      ++count;
      sum += i;
    }
    std::string want;
    for (const auto& [key, cs] : expected)
      want += std::to_string(key) + " " + std::to_string(cs.first) + " " + std::to_string(cs.second) + "\n";
    CHECK(slurp(out) == want);
    // The job's partition and spill files are gone.
    for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
      CHECK(entry.path().filename().string().rfind("sluice-batch", 0) != 0);
    return std::make_pair(p.peak_rss_kb(), p.err());
  };
  auto [base_kb, base_log] = run(2'000, "small");
  auto [peak_kb, log] = run(records, "large");
  // The large sort spilled: its log names the spill files.
  std::smatch m;
  REQUIRE(std::regex_search(log, m, std::regex("sorted 350000 records by key \\(([0-9]+) spill files, ([0-9]+) bytes")));
  CHECK(std::stoll(m[1]) >= 2);
  CHECK(std::stoll(m[2]) >= 10 * (int64_t(4) << 20));  // ten times the budget went through the disk
  // Within the budget (4 MiB) plus a fixed overhead of 24 MiB over the small run: the
  // producer's 4 MiB partition pool, the gate's buffers and the allocator's slack.
  INFO("peak RSS " << peak_kb << " KiB, small run " << base_kb << " KiB");
  CHECK(peak_kb - base_kb <= (4 + 24) * 1024);
}

TEST_CASE("BATCH on fewer slots than subtasks logs each stage's waves (a process)", "[cli][batch]") {
  test_support::TempDir dir;
  auto out = dir.file("waves.txt");
  SluiceProcess p({"run", test_job("test_job_ok"), "-p", "8", "--slots", "2", "--execution-mode", "batch",
                   "--log-level", "info", "--", out},
                  dir.file("waves"));
  REQUIRE(p.exit_code() == 0);
  CHECK(slurp(out) == "500500 p=8\n");
  auto log = p.err();
  INFO(log);
  // Two stages (the source, then the sums with their sink), each of 8 subtasks in 4 waves.
  for (const char* line : {"stage 1: task 'Generator Source' subtask 8 of 8 (wave 4 of 4)",
                           "stage 2: task 'Sum -> Collect Sink' subtask 8 of 8 (wave 4 of 4)"})
    CHECK_THAT(log, Catch::Contains(line));
}
