// checkpoint/storage.hpp — the checkpoint directory: chk-<n>/ files and _metadata with checksums, retention, locking, finding the latest good one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sluice/hash.hpp"

namespace sluice::checkpoint {

/// A checkpoint that cannot be used: corrupt, truncated, or not there. what() is one
/// sentence naming the file.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FileRef {
  std::string path;  ///< relative to the checkpoint's directory
  uint64_t size = 0;
  uint64_t checksum = 0;
  uint32_t subtask = 0;
  uint32_t key_group_start = 0;
  uint32_t key_group_end = 0;
  bool operator==(const FileRef&) const = default;
};

struct StateFingerprint {
  std::string name;
  std::string codec;
  bool operator==(const StateFingerprint&) const = default;
};

struct OperatorState {
  std::string operator_id;
  uint32_t parallelism = 0;
  bool finished = false;
  std::vector<StateFingerprint> states;
  std::vector<FileRef> files;
  std::vector<uint32_t> finished_subtasks;
  std::string name;
  /// Files of the shared area this operator references (path "../shared/<name>").
  std::vector<FileRef> shared;
  bool operator==(const OperatorState&) const = default;
};

/// What `_metadata` records (Cap'n Proto on disk, checksummed).
struct CheckpointMetadata {
  uint64_t checkpoint_id = 0;
  std::string job_name;
  uint32_t max_parallelism = uint32_t(default_max_parallelism);
  int64_t timestamp_ms = 0;
  bool savepoint = false;
  std::vector<OperatorState> operators;
  bool operator==(const CheckpointMetadata&) const = default;
};

/// Copies the complete checkpoint or savepoint in `checkpoint_dir` into `target/savepoint-<id>/`,
/// with the shared files it references in `target/shared/`, so that it can be restored from
/// there alone (`--restore target/savepoint-<id>`) whatever happens to the job's directory.
/// The copy is verified as a restore would; returns its directory. Throws CheckpointError with
/// one sentence (the checkpoint does not verify, the target exists, a copy failed).
std::filesystem::path export_checkpoint(const std::filesystem::path& checkpoint_dir, const std::filesystem::path& target);

/// FNV-1a 64 over bytes (corruption detection, not security).
uint64_t fnv1a64(const void* data, size_t size, uint64_t seed = 0xcbf29ce484222325ull);

/// The layout of one job's checkpoint directory (docs/checkpoints.md): `chk-<n>/` holds the
/// task files of checkpoint n and its `_metadata`, written last and atomically, so a
/// checkpoint without a valid `_metadata` is not complete. `shared/` holds files that several
/// checkpoints reference (incremental RocksDB checkpoints), under names that identify them.
/// Two sides use it, possibly from different processes: CheckpointWriters (the tasks) write
/// task files and shared files and return handles to them; one CheckpointCommitter (the job
/// master) writes `_metadata`, counts references, retains and removes. They coordinate
/// through files only: `chk-<n>.aborted` (a tombstone: writes for n are refused) and
/// `chk-<n>/.shares/<name>` (checkpoint n is sharing <name>: it is not removed meanwhile).
namespace layout {
std::filesystem::path checkpoint_dir(const std::filesystem::path& dir, uint64_t id);
/// How a checkpoint's metadata refers to shared file `name` (relative to its directory).
inline std::string shared_ref(const std::string& name) { return "../shared/" + name; }
/// Where shared file `name` is for a checkpoint read from `checkpoint_dir`.
std::filesystem::path shared_path(const std::filesystem::path& checkpoint_dir, const std::string& name);
}  // namespace layout

/// The task side: writes the files of checkpoints into the directory, durably, and returns
/// their handles for the acknowledgement. Takes no lock; any number of writers, in any
/// process, may write while one committer commits. Every call does blocking I/O: run it on
/// the I/O executor.
class CheckpointWriter {
 public:
  explicit CheckpointWriter(std::filesystem::path dir) : dir_(std::move(dir)) {}

  std::filesystem::path checkpoint_dir(uint64_t id) const { return layout::checkpoint_dir(dir_, id); }
  /// Writes one file of checkpoint `id` (durably) and returns its reference. Refused once the
  /// committer aborted `id`; a write that races the abort removes what it recreated.
  FileRef write_file(uint64_t id, const std::string& name, const std::string& bytes);
  /// Copies the file at `from` durably into the shared area as `name`, for checkpoint `id`,
  /// and returns its reference. A file of that name is replaced (names identify contents).
  /// The share is recorded in `chk-<id>/.shares/` first, so the committer keeps the file.
  FileRef share_file(uint64_t id, const std::filesystem::path& from, const std::string& name);

 private:
  void refuse_aborted(uint64_t id) const;
  std::filesystem::path dir_;
};

/// The master side: owns the directory while the job runs (flock: two jobs never share it).
/// Writes `_metadata`, keeps reference counts of shared files, retains the newest complete
/// checkpoints, discards aborted ones. The counts are rebuilt from the retained `_metadata`
/// files when it opens, so a process killed at any point leaves nothing counted wrong: files
/// no complete checkpoint references are removed then, and so are checkpoints that never
/// completed. Every call does blocking I/O: run it on the I/O executor.
class CheckpointCommitter {
 public:
  /// Opens (creating) `dir`; keeps the last `retain` complete checkpoints (default 3).
  /// Throws CheckpointError when another process holds the directory.
  explicit CheckpointCommitter(std::filesystem::path dir, int retain = 3);
  ~CheckpointCommitter();
  CheckpointCommitter(const CheckpointCommitter&) = delete;
  CheckpointCommitter& operator=(const CheckpointCommitter&) = delete;

  const std::filesystem::path& directory() const { return dir_; }
  std::filesystem::path checkpoint_dir(uint64_t id) const { return layout::checkpoint_dir(dir_, id); }
  /// How many retained complete checkpoints reference each shared file (by name).
  const std::map<std::string, int>& shared_references() const { return shared_refs_; }
  /// Completes checkpoint `m.checkpoint_id`: writes `_metadata` atomically, then removes
  /// complete checkpoints beyond the newest `retain` (savepoints neither count nor go), and
  /// incomplete ones older than it.
  void commit(const CheckpointMetadata& m);
  /// Checkpoint `id` was aborted (declined, expired, the job failed): a tombstone refuses
  /// later writes for it, its files go, and so do the shared files only it wrote, so a
  /// transient full disk frees up. A complete checkpoint is never touched.
  void discard(uint64_t id);
  /// Reads and verifies a checkpoint directory (or its `_metadata`): metadata checksum, and
  /// every file's size and checksum. Needs no committer (a savepoint anywhere can be read).
  static CheckpointMetadata load(const std::filesystem::path& path);
  /// The highest checkpoint id present, complete or not (new ids go above it).
  uint64_t highest_id() const;
  /// The newest checkpoint that verifies. Each one skipped gets a sentence in `skipped`.
  std::optional<CheckpointMetadata> latest(std::vector<std::string>* skipped = nullptr) const;
  /// Ids of the complete checkpoints present (those with a `_metadata`), oldest first.
  std::vector<uint64_t> complete_ids() const;
  /// The bytes of a file of a loaded checkpoint, verified again.
  std::string read_file(uint64_t id, const FileRef& f) const;

 private:
  void count_references(const CheckpointMetadata& m, int delta);
  /// Deletes shared files that no retained checkpoint references and that no incomplete
  /// checkpoint from `before` on is sharing (all such files when `before` is 0).
  void remove_unreferenced(uint64_t before);
  /// Removes incomplete checkpoints older than `id`, and their tombstones.
  void remove_older(uint64_t id);

  std::filesystem::path dir_;
  int retain_;
  int lock_fd_ = -1;
  std::map<std::string, int> shared_refs_;
};

}  // namespace sluice::checkpoint
