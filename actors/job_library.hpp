// actors/job_library.hpp — job libraries: opened and checked against this build's fingerprint, and kept by content hash where a master or agent stores them.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "sluice/executor.hpp"
#include "sluice/job.hpp"

namespace sluice::runtime {

/// A job library that cannot be used, in one sentence naming the file and what is wrong.
struct JobLibraryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// An opened job library whose build fingerprint is this Sluice's. It stays loaded for the
/// life of the process: code of a job may still be referenced by static destructors and
/// thread-local state after its last job ends (see docs/architecture.md, "Job libraries").
struct JobLibrary {
  std::string path;
  /// The job's entry point (SLUICE_JOB_MAIN): runs the job's main with `ctx`; 0 success,
  /// 2 a usage error, else failure, with the sentence in `error`.
  int (*entry)(const char* host_fingerprint, JobContext* ctx, char* error, size_t size) = nullptr;
};

/// Opens `path` and checks its fingerprint. Throws JobLibraryError: no such file, not
/// loadable, not a Sluice job library, or built against another Sluice (the sentence says
/// both fingerprints).
JobLibrary open_job_library(const std::string& path);

/// The `index`-th job graph (0: the first) that the library's main submits when run with
/// `ctx` on this thread; the main is stopped right there, so nothing of it runs. Jobs it
/// submits before are reported to it as succeeded without running. Throws JobLibraryError
/// when the main ends or fails before that submission.
JobGraph capture_graph(const JobLibrary& lib, JobContext ctx, int index = 0);

/// SHA-256 of `bytes`, as 64 lowercase hex digits: a job library's name in a store.
std::string sha256_hex(std::string_view bytes);

/// Job libraries by content hash in a directory (`<dir>/<sha256>.so`): the master keeps what
/// clients upload, agents what they fetch. Writes are atomic (a temporary file renamed).
class LibraryStore {
 public:
  explicit LibraryStore(std::filesystem::path dir);
  /// Stores `bytes` (once: an identical library is already there) and gives its hash.
  std::string put(std::string_view bytes);
  /// The stored library named `hash`, its content checked; a file whose content does not
  /// hash to its name is removed, and nothing is returned, as for one never stored.
  std::optional<std::filesystem::path> find(const std::string& hash) const;
  /// The bytes of the stored library `hash`, checked as find() does.
  std::optional<std::string> read(const std::string& hash) const;
  const std::filesystem::path& directory() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

class Connection;

/// An agent's copy of job library `hash`, opened and checked: from `store` when it holds it,
/// else fetched from the master over `master` (an authenticated connection; heartbeats that
/// arrive meanwhile are skipped) and stored. Throws JobLibraryError with a sentence that names
/// `agent`, which the master passes on to the client: the master has no such library, sent
/// other bytes, or the library is of another Sluice.
JobLibrary fetch_job_library(Connection& master, LibraryStore& store, const std::string& hash,
                             const std::string& agent);
/// The same, connecting to the master (`connect`) only when the store lacks the library.
JobLibrary fetch_job_library(const std::function<Connection&()>& connect, LibraryStore& store,
                             const std::string& hash, const std::string& agent);

}  // namespace sluice::runtime
