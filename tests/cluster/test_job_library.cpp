// tests/cluster/test_job_library.cpp — job libraries: the fingerprint check, the content-addressed store, one mapping however often a library is opened, upload to the master and fetch by an agent, graphs rebuilt from a library and their topology compared, a store that fails.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "actors/cluster.hpp"
#include "actors/cluster_master.hpp"
#include "actors/job_library.hpp"
#include "scheduler/topology.hpp"
#include "support/temp_dir.hpp"

using namespace sluice;
using namespace sluice::runtime;
using namespace std::chrono_literals;

namespace {

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Mappings of `path` in this process (one per mapped segment of one load).
int mappings_of(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(maps, line))
    if (line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0) ++n;
  return n;
}

/// A master on a free loopback port with secret "s", keeping libraries under `work`.
MasterOptions master_options(const std::filesystem::path& work) {
  MasterOptions o;
  o.port = 0;
  o.secret = "s";
  o.work_dir = work.string();
  return o;
}

/// An authenticated connection to `master` as `role` named `name`.
std::unique_ptr<Connection> connect(const MasterServer& master, PeerRole role, const std::string& name) {
  auto c = dial("127.0.0.1:" + std::to_string(master.port()), 10s);
  authenticate_to_master(*c, "s", role, name, 10s);
  return c;
}

}  // namespace

TEST_CASE("a job library of this build opens, one of another version or none at all is refused with a sentence",
          "[job_library]") {
  auto lib = open_job_library(JOB_OK);
  CHECK(lib.entry != nullptr);
  CHECK_THAT(
      [] {
        try {
          open_job_library(JOB_OLD_VERSION);
        } catch (const JobLibraryError& e) {
          return std::string(e.what());
        }
        return std::string("opened");
      }(),
      Catch::Contains("was built against Sluice 'sluice-0.0.1/old' but this sluice is '") &&
          Catch::Contains("rebuild the job against this version"));
  test_support::TempDir dir;
  std::ofstream(dir.file("text.so")) << "not a library";
  CHECK_THROWS_WITH(open_job_library(dir.file("text.so")), Catch::Contains("is not a loadable job library"));
  CHECK_THROWS_WITH(open_job_library(dir.file("missing.so")), Catch::EndsWith("does not exist"));
}

TEST_CASE("the library store names libraries by content, and forgets a file whose content changed", "[job_library]") {
  test_support::TempDir dir;
  LibraryStore store(dir.path() / "libs");
  auto bytes = bytes_of(JOB_OK);
  auto hash = store.put(bytes);
  CHECK(hash == sha256_hex(bytes));
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2
  CHECK(store.put(bytes) == hash);                                                                 // stored once
  REQUIRE(store.find(hash));
  CHECK(store.read(hash) == bytes);
  CHECK_FALSE(store.find(std::string(64, '0')));
  CHECK_FALSE(store.find("../../../etc/passwd"));
  std::ofstream(*store.find(hash), std::ios::binary | std::ios::trunc) << "tampered";
  CHECK_FALSE(store.find(hash));
  CHECK_FALSE(std::filesystem::exists(dir.path() / "libs" / (hash + ".so")));
}

TEST_CASE("a stored library opened for 100 jobs is loaded once: an agent does not grow with the jobs it ran",
          "[job_library]") {
  test_support::TempDir dir;
  LibraryStore store(dir.path() / "libs");
  auto path = store.find(store.put(bytes_of(JOB_OK)))->string();
  CHECK(mappings_of(path) == 0);
  open_job_library(path);
  int once = mappings_of(path);
  CHECK(once > 0);
  for (int job = 0; job < 100; ++job) open_job_library(path);
  CHECK(mappings_of(path) == once);
}

TEST_CASE("a client uploads a job library to the master and an agent fetches the same bytes", "[job_library]") {
  test_support::TempDir dir;
  std::vector<std::string> said;
  std::mutex mu;
  MasterServer master(master_options(dir.path()), [&](const std::string& l) {
    std::lock_guard lock(mu);
    said.push_back(l);
  });
  auto bytes = bytes_of(JOB_OK);
  REQUIRE(bytes.size() > max_handshake_message_bytes);  // allowed only once authenticated

  auto client = connect(master, PeerRole::client, "cli");
  client->send(encode(ClusterMessage::with_library(ClusterMessage::Kind::upload_library, bytes)), 10s);
  auto stored = decode_cluster(*client->receive(30s));
  REQUIRE(stored.kind == ClusterMessage::Kind::library_stored);
  CHECK(stored.hash == sha256_hex(bytes));

  auto agent = connect(master, PeerRole::agent, "a1");
  agent->send(encode(ClusterMessage::with_hash(ClusterMessage::Kind::fetch_library, stored.hash)), 10s);
  auto fetched = decode_cluster(*agent->receive(30s));
  REQUIRE(fetched.kind == ClusterMessage::Kind::library);
  CHECK(fetched.bytes == bytes);
  // An unknown library is a refusal, and the connection goes on.
  agent->send(encode(ClusterMessage::with_hash(ClusterMessage::Kind::fetch_library, std::string(64, 'f'))), 10s);
  auto missing = decode_cluster(*agent->receive(30s));
  CHECK(missing.kind == ClusterMessage::Kind::refused);
  CHECK(missing.reason == "this master has no job library " + std::string(64, 'f'));
  agent->send(encode(ClusterMessage::with_hash(ClusterMessage::Kind::fetch_library, stored.hash)), 10s);
  CHECK(decode_cluster(*agent->receive(30s)).kind == ClusterMessage::Kind::library);
  // Agents do not upload.
  agent->send(encode(ClusterMessage::with_library(ClusterMessage::Kind::upload_library, "x")), 10s);
  CHECK(decode_cluster(*agent->receive(30s)).reason == "the master does not take this message from an agent");
  master.stop();
  std::lock_guard lock(mu);
  CHECK(std::find(said.begin(), said.end(),
                  "stored job library " + stored.hash + " (" + std::to_string(bytes.size()) + " bytes) from 'cli'") !=
        said.end());
}

TEST_CASE("an agent rebuilds a job's graph from its library and arguments, and a different graph is named",
          "[job_library]") {
  test_support::TempDir dir;
  auto lib = open_job_library(JOB_OK);
  auto capture = [&](int parallelism) {
    JobContext ctx;
    ctx.config.parallelism = parallelism;
    ctx.args = {dir.file("sum.txt")};
    return capture_graph(lib, ctx);
  };
  auto lines_of = [](const JobGraph& g) { return scheduler::topology(g, scheduler::plan(g)); };
  auto master = capture(2);
  CHECK(master.name == "sum job");
  CHECK_FALSE(std::filesystem::exists(dir.file("sum.txt")));  // the main stopped at execute()
  auto expected = lines_of(master);
  CHECK(expected.front() == "max parallelism 128");
  CHECK(scheduler::topology_fingerprint(lines_of(capture(2))) == scheduler::topology_fingerprint(expected));
  CHECK_FALSE(scheduler::topology_mismatch(expected, lines_of(capture(2)), "agent a1"));

  auto other = lines_of(capture(3));
  CHECK(scheduler::topology_fingerprint(other) != scheduler::topology_fingerprint(expected));
  auto why = scheduler::topology_mismatch(expected, other, "agent a1");
  REQUIRE(why);
  CHECK_THAT(*why, Catch::StartsWith("the job's graph as agent a1 rebuilt it differs from the master's: the master "
                                     "has 'task 0 parallelism 2:") &&
                       Catch::Contains("where agent a1 has 'task 0 parallelism 3:"));

  JobContext no_args;
  CHECK_THROWS_WITH(capture_graph(lib, no_args),
                    Catch::EndsWith("failed (usage: job_ok OUTPUT) after submitting 0 jobs, before job 1"));
  JobContext ok;
  ok.args = {dir.file("sum.txt")};
  CHECK_THROWS_WITH(capture_graph(lib, ok, 1), Catch::EndsWith("ended after submitting 1 job, before job 2"));
}

TEST_CASE("an agent fetches a library once, keeps it, and refuses one of another Sluice naming itself",
          "[job_library]") {
  test_support::TempDir dir;
  MasterServer master(master_options(dir.path() / "master"), [](const std::string&) {});
  auto upload = [&](const std::string& path) {
    auto client = connect(master, PeerRole::client, "cli");
    client->send(encode(ClusterMessage::with_library(ClusterMessage::Kind::upload_library, bytes_of(path))), 10s);
    return decode_cluster(*client->receive(30s)).hash;
  };
  auto good = upload(JOB_OK), old = upload(JOB_OLD_VERSION);

  LibraryStore mine(dir.path() / "agent" / "libraries");
  auto conn = connect(master, PeerRole::agent, "worker-2");
  auto lib = fetch_job_library(*conn, mine, good, "worker-2");
  CHECK(lib.entry != nullptr);
  CHECK(mine.find(good));
  // Kept: a second run needs no master (the connection is closed now).
  conn->close();
  CHECK(fetch_job_library(*conn, mine, good, "worker-2").path == lib.path);

  auto again = connect(master, PeerRole::agent, "worker-2");
  CHECK_THROWS_WITH(fetch_job_library(*again, mine, old, "worker-2"),
                    Catch::StartsWith("agent worker-2 cannot run job library " + old + ": job library '") &&
                        Catch::Contains("was built against Sluice 'sluice-0.0.1/old'"));
  CHECK_THROWS_WITH(fetch_job_library(*again, mine, std::string(64, 'e'), "worker-2"),
                    "agent worker-2 cannot run job library " + std::string(64, 'e') +
                        ": this master has no job library " + std::string(64, 'e'));
}

TEST_CASE("a library the master cannot store is refused with the reason, and the master goes on", "[job_library]") {
  test_support::TempDir dir;
  MasterServer master(master_options(dir.path()), [](const std::string&) {});
  auto bytes = std::string("not really a library, but bytes to store");
  // A directory where the library's file would go: the store's rename onto it fails.
  std::filesystem::create_directories(dir.path() / "libraries" / (sha256_hex(bytes) + ".so") / "in-the-way");
  auto client = connect(master, PeerRole::client, "cli");
  client->send(encode(ClusterMessage::with_library(ClusterMessage::Kind::upload_library, bytes)), 10s);
  auto answer = decode_cluster(*client->receive(30s));
  CHECK(answer.kind == ClusterMessage::Kind::refused);
  CHECK_THAT(answer.reason, Catch::StartsWith("the master could not store the job library: cannot move job library "));
  size_t files = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir.path() / "libraries")) files += f.is_regular_file();
  CHECK(files == 0);  // no temporary file left behind
  // The same connection goes on: another library stores.
  client->send(encode(ClusterMessage::with_library(ClusterMessage::Kind::upload_library, "other bytes")), 10s);
  auto stored = decode_cluster(*client->receive(30s));
  CHECK(stored.kind == ClusterMessage::Kind::library_stored);
  CHECK(stored.hash == sha256_hex("other bytes"));
}
