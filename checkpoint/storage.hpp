// checkpoint/storage.hpp — the checkpoint directory: chk-<n>/ files and _metadata with checksums, retention, locking, finding the latest good one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
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

/// FNV-1a 64 over bytes (corruption detection, not security).
uint64_t fnv1a64(const void* data, size_t size, uint64_t seed = 0xcbf29ce484222325ull);

/// One job's checkpoint directory (docs/checkpoints.md): `chk-<n>/` holds task files and
/// `_metadata`, written last and atomically, so a checkpoint without a valid `_metadata` is
/// not complete. `shared/` holds files that several checkpoints reference (incremental
/// RocksDB checkpoints), under names that identify them; a file is deleted when no retained
/// checkpoint references it any more, nor a checkpoint that may still complete. The reference counts are
/// rebuilt from the retained `_metadata` files when the storage opens, so a process killed
/// at any point leaves nothing that is counted wrong: files no complete checkpoint
/// references are removed then, and so are checkpoints that never completed. The directory is locked (flock) while open: two jobs never
/// share it. Every call does blocking I/O: run it on the I/O executor.
class CheckpointStorage {
 public:
  /// Opens (creating) `dir`; keeps the last `retain` complete checkpoints (default 3).
  /// Throws CheckpointError when another process holds the directory.
  explicit CheckpointStorage(std::filesystem::path dir, int retain = 3);
  ~CheckpointStorage();
  CheckpointStorage(const CheckpointStorage&) = delete;
  CheckpointStorage& operator=(const CheckpointStorage&) = delete;

  std::filesystem::path checkpoint_dir(uint64_t id) const;
  /// Writes one file of checkpoint `id` (durably) and returns its reference.
  FileRef write_file(uint64_t id, const std::string& name, const std::string& bytes);
  /// Copies the file at `from` durably into the shared area as `name`, for checkpoint `id`,
  /// and returns its reference. A file of that name is replaced (names identify contents).
  FileRef share_file(uint64_t id, const std::filesystem::path& from, const std::string& name);
  /// How a checkpoint's metadata refers to shared file `name` (relative to its directory).
  static std::string shared_ref(const std::string& name) { return "../shared/" + name; }
  /// Where shared file `name` is for a checkpoint read from `checkpoint_dir`.
  static std::filesystem::path shared_path(const std::filesystem::path& checkpoint_dir, const std::string& name);
  /// How many retained complete checkpoints reference each shared file (by name).
  const std::map<std::string, int>& shared_references() const { return shared_refs_; }
  /// Completes checkpoint `m.checkpoint_id`: writes `_metadata` atomically, then removes
  /// complete checkpoints beyond the newest `retain` (savepoints neither count nor go), and
  /// incomplete ones older than it.
  void commit(const CheckpointMetadata& m);
  /// Checkpoint `id` was aborted (declined, expired, the job failed): its files and the
  /// shared files only it wrote go, so a transient full disk frees up; writes for it that
  /// come later are refused. A complete checkpoint is never touched.
  void discard(uint64_t id);
  /// Reads and verifies a checkpoint directory (or its `_metadata`): metadata checksum, and
  /// every file's size and checksum.
  /// Needs no open storage (a savepoint anywhere can be read).
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
  /// Deletes shared files that no retained checkpoint references and that no checkpoint
  /// from `before` on shared (all of them when `before` is 0).
  void remove_unreferenced(uint64_t before);

  std::filesystem::path dir_;
  int retain_;
  int lock_fd_ = -1;
  std::map<std::string, int> shared_refs_;
  std::mutex share_mu_;                         // share_file runs on several I/O threads
  std::map<std::string, uint64_t> last_shared_;  // by name: the newest checkpoint that shared it
  std::set<uint64_t> discarded_;                 // aborted checkpoints (under share_mu_)
  void refuse_discarded(uint64_t id);
};

}  // namespace sluice::checkpoint
