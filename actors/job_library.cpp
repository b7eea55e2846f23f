// actors/job_library.cpp — opening job libraries with their fingerprint check, and the content-addressed store.
#include "actors/job_library.hpp"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <optional>
#include <sstream>

#include "actors/cluster.hpp"
#include "actors/connection.hpp"
#include "sluice/error.hpp"
#include "sluice/version.hpp"

namespace sluice::runtime {

JobLibrary open_job_library(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw JobLibraryError("job library '" + path + "' does not exist");
  // dlopen searches the library path for a name without a slash: the file named is meant.
  const std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  void* lib = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) throw JobLibraryError("'" + path + "' is not a loadable job library: " + dlerror());
  using FingerprintFn = const char* (*)();
  auto fingerprint = reinterpret_cast<FingerprintFn>(dlsym(lib, SLUICE_JOB_FINGERPRINT_SYMBOL));
  auto entry = reinterpret_cast<decltype(JobLibrary::entry)>(dlsym(lib, SLUICE_JOB_ENTRY_SYMBOL));
  if (!fingerprint || !entry) {
    dlclose(lib);
    throw JobLibraryError("'" + path +
                          "' is not a Sluice job library: it exports no " SLUICE_JOB_ENTRY_SYMBOL
                          " (build it with sluice_add_job() and SLUICE_JOB_MAIN)");
  }
  if (std::string(fingerprint()) != build_fingerprint) {
    std::string theirs = fingerprint();
    dlclose(lib);
    throw JobLibraryError("job library '" + path + "' was built against Sluice '" + theirs + "' but this sluice is '" +
                          build_fingerprint + "'; rebuild the job against this version");
  }
  return {path, entry};
}

namespace {

/// Stops a job's main at the submission the capture waits for.
struct GraphCaptured : std::exception {
  const char* what() const noexcept override { return "the graph was captured; the job's main stops here"; }
};

/// What an earlier submission gets while capturing: a job that succeeded without running.
class SkippedJob final : public JobHandle {
 public:
  explicit SkippedJob(std::string name) : name_(std::move(name)) {}
  const std::string& id() const override { return id_; }
  const std::string& name() const override { return name_; }
  bool done() const override { return true; }
  JobResult wait() override {
    JobResult r;
    r.job_name = name_;
    r.succeeded = true;
    return r;
  }
  void cancel() override {}
  std::vector<TaskProbe> probes() const override { return {}; }
  std::vector<CheckpointInfo> checkpoints() const override { return {}; }
  int64_t trigger_checkpoint(bool) override { throw JobError("job '" + name_ + "' is not running here"); }
  int64_t stop_with_savepoint(bool) override { throw JobError("job '" + name_ + "' is not running here"); }

 private:
  std::string id_ = "0000000000000000";
  std::string name_;
};

class GraphCapture final : public Executor {
 public:
  explicit GraphCapture(int index) : index_(index) {}
  std::shared_ptr<JobHandle> submit(JobGraph graph) override {
    if (seen_++ < index_) return std::make_shared<SkippedJob>(graph.name);
    graph_ = std::move(graph);
    throw GraphCaptured();
  }
  std::optional<JobGraph> graph_;
  int seen_ = 0;

 private:
  int index_;
};

}  // namespace

JobGraph capture_graph(const JobLibrary& lib, JobContext ctx, int index) {
  GraphCapture capture(index);
  char error[4096] = {0};
  int status = 0;
  with_thread_executor(capture, [&] { status = lib.entry(build_fingerprint, &ctx, error, sizeof error); });
  if (capture.graph_) return std::move(*capture.graph_);
  throw JobLibraryError(
      "the main of '" + lib.path + "' " +
      (status == 0 ? std::string("ended") : "failed (" + std::string(error[0] ? error : "no reason given") + ")") +
      " after submitting " + std::to_string(capture.seen_) + " job" + (capture.seen_ == 1 ? "" : "s") +
      ", before job " + std::to_string(index + 1));
}

JobLibrary fetch_job_library(Connection& master, LibraryStore& store, const std::string& hash,
                             const std::string& agent) {
  return fetch_job_library([&master]() -> Connection& { return master; }, store, hash, agent);
}

JobLibrary fetch_job_library(const std::function<Connection&()>& connect, LibraryStore& store, const std::string& hash,
                             const std::string& agent) {
  auto fail = [&](const std::string& why) {
    return JobLibraryError("agent " + agent + " cannot run job library " + hash + ": " + why);
  };
  auto path = store.find(hash);
  if (!path) {
    constexpr std::chrono::milliseconds timeout{60'000};
    try {
      auto& master = connect();
      master.send(encode(ClusterMessage::with_hash(ClusterMessage::Kind::fetch_library, hash)), timeout);
      for (;;) {
        auto b = master.receive(timeout);
        if (!b) throw fail("the master " + master.peer() + " did not send it");
        auto m = decode_cluster(*b);
        if (m.kind == ClusterMessage::Kind::heartbeat) continue;
        if (m.kind == ClusterMessage::Kind::refused) throw fail(m.reason);
        if (m.kind != ClusterMessage::Kind::library) throw fail("the master answered out of order");
        if (store.put(m.bytes) != hash) throw fail("the master sent bytes that do not hash to it");
        break;
      }
    } catch (const DecodeError& e) {
      throw fail(e.what());
    } catch (const NetworkError& e) {
      throw fail(e.what());
    } catch (const AuthenticationError& e) {
      throw fail(e.what());
    }
    path = store.find(hash);
    if (!path) throw fail("it vanished from " + store.directory().string() + " right after it was stored");
  }
  try {
    return open_job_library(path->string());
  } catch (const JobLibraryError& e) {
    throw fail(e.what());
  }
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed in OpenSSL");
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) out += {digits[digest[i] >> 4], digits[digest[i] & 15]};
  return out;
}

LibraryStore::LibraryStore(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
}

std::string LibraryStore::put(std::string_view bytes) {
  auto hash = sha256_hex(bytes);
  if (find(hash)) return hash;
  auto final_path = dir_ / (hash + ".so");
  // Unique per writer: two connections may store the same library at once.
  static std::atomic<uint64_t> writes{0};
  auto temp = dir_ / (hash + ".so.tmp-" + std::to_string(::getpid()) + "-" + std::to_string(writes++));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    out.flush();
    if (!out) throw std::runtime_error("cannot write job library " + temp.string());
  }
  std::error_code ec;
  std::filesystem::rename(temp, final_path, ec);
  if (ec) {
    std::filesystem::remove(temp);  // nothing half-stored stays behind
    throw std::runtime_error("cannot move job library " + temp.string() + " to " + final_path.string() + ": " +
                             ec.message());
  }
  return hash;
}

std::optional<std::string> LibraryStore::read(const std::string& hash) const {
  if (hash.size() != 64 || hash.find_first_not_of("0123456789abcdef") != std::string::npos) return std::nullopt;
  auto path = dir_ / (hash + ".so");
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  std::string bytes = s.str();
  if (sha256_hex(bytes) != hash) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    return std::nullopt;
  }
  return bytes;
}

std::optional<std::filesystem::path> LibraryStore::find(const std::string& hash) const {
  if (!read(hash)) return std::nullopt;
  return dir_ / (hash + ".so");
}

}  // namespace sluice::runtime
