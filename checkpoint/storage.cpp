// checkpoint/storage.cpp — the checkpoint directory: writers of task and shared files, the committer of `_metadata` with retention and reference counts, verification.
#include "storage.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "checkpoint/fault_injection.hpp"
#include "checkpoint/file_ref_wire.hpp"

namespace sluice::checkpoint {

namespace fs = std::filesystem;

namespace {
std::shared_ptr<FaultInjector> fault_injector;  // read and written through std::atomic_load/store
}  // namespace

void set_fault_injector(std::shared_ptr<FaultInjector> injector) { std::atomic_store(&fault_injector, std::move(injector)); }

int injected_fault(IoPoint point, const fs::path& path, uint64_t checkpoint_id) {
  auto injector = std::atomic_load(&fault_injector);
  return injector ? injector->fail(point, path, checkpoint_id) : 0;
}

uint64_t fnv1a64(const void* data, size_t size, uint64_t h) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

namespace {

constexpr const char* metadata_name = "_metadata";
// `_metadata` = magic (8) + checksum of the message (8) + the flat Cap'n Proto message.
constexpr char magic[8] = {'S', 'L', 'C', 'K', 'P', 'T', '0', '1'};

std::string errno_text() { return std::strerror(errno); }

void sync_directory(const fs::path& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

/// Writes `bytes` to `path` durably: a temporary file, fsync, rename, fsync of the directory.
/// An injected write fault leaves a torn file (half the bytes) behind, as a full disk would.
void write_durably(const fs::path& path, const std::string& bytes, uint64_t id) {
  auto tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw CheckpointError("cannot create checkpoint file '" + tmp.string() + "': " + errno_text());
  size_t end = bytes.size();
  int injected = injected_fault(IoPoint::write, path, id);
  if (injected) end /= 2;
  size_t off = 0;
  while (off < end || injected) {
    auto n = off < end ? ::write(fd, bytes.data() + off, end - off) : (errno = injected, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto e = errno_text();
      ::close(fd);
      throw CheckpointError("cannot write checkpoint file '" + tmp.string() + "': " + e);
    }
    off += size_t(n);
  }
  if (int e = injected_fault(IoPoint::fsync, path, id)) {
    ::close(fd);
    errno = e;
    throw CheckpointError("cannot flush checkpoint file '" + tmp.string() + "': " + errno_text());
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    throw CheckpointError("cannot flush checkpoint file '" + tmp.string() + "': " + errno_text());
  std::error_code ec;
  if (int e = injected_fault(IoPoint::rename, path, id)) ec = std::error_code(e, std::generic_category());
  else fs::rename(tmp, path, ec);
  if (ec) throw CheckpointError("cannot rename '" + tmp.string() + "' to '" + path.string() + "': " + ec.message());
  sync_directory(path.parent_path());
}

/// Copies `from` to `to` durably (as write_durably does) and returns the checksum of the
/// bytes copied; their number goes to `size`.
uint64_t copy_durably(const fs::path& from, const fs::path& to, uint64_t* size, uint64_t id) {
  if (int e = injected_fault(IoPoint::share, to, id)) {
    errno = e;
    throw CheckpointError("cannot write checkpoint file '" + to.string() + "': " + errno_text());
  }
  int in = ::open(from.c_str(), O_RDONLY);
  if (in < 0) throw CheckpointError("cannot read '" + from.string() + "': " + errno_text());
  auto tmp = to;
  tmp += ".tmp";
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0) {
    auto e = errno_text();
    ::close(in);
    throw CheckpointError("cannot create checkpoint file '" + tmp.string() + "': " + e);
  }
  uint64_t sum = 0xcbf29ce484222325ull;
  *size = 0;
  std::vector<char> buf(1 << 20);
  std::string error;
  for (;;) {
    auto n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = "cannot read '" + from.string() + "': " + errno_text();
      break;
    }
    if (n == 0) break;
    sum = fnv1a64(buf.data(), size_t(n), sum);
    *size += uint64_t(n);
    for (ssize_t off = 0; off < n;) {
      auto w = ::write(out, buf.data() + off, size_t(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        error = "cannot write checkpoint file '" + tmp.string() + "': " + errno_text();
        break;
      }
      off += w;
    }
    if (!error.empty()) break;
  }
  ::close(in);
  if (error.empty() && ::fsync(out) != 0) error = "cannot flush checkpoint file '" + tmp.string() + "': " + errno_text();
  ::close(out);
  if (error.empty()) {
    std::error_code ec;
    fs::rename(tmp, to, ec);
    if (ec) error = "cannot rename '" + tmp.string() + "' to '" + to.string() + "': " + ec.message();
  }
  if (!error.empty()) {
    std::error_code rm;
    fs::remove(tmp, rm);
    throw CheckpointError(error);
  }
  sync_directory(to.parent_path());
  return sum;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) throw CheckpointError("checkpoint file '" + path.string() + "' is missing");
    throw CheckpointError("cannot read checkpoint file '" + path.string() + "': " + errno_text());
  }
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) throw CheckpointError("cannot read checkpoint file '" + path.string() + "': " + errno_text());
  return s.str();
}

/// The entries of `dir` (none when it does not exist); one sentence naming it when it cannot
/// be listed (permission denied, not a directory).
std::vector<fs::path> list_dir(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return out;
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) out.push_back(it->path());
  if (ec) throw CheckpointError("cannot list checkpoint directory '" + dir.string() + "': " + ec.message());
  return out;
}

/// Whether `path` exists; one sentence naming it when that cannot be told.
bool present(const fs::path& path) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw CheckpointError("cannot read '" + path.string() + "': " + ec.message());
  return fs::exists(st);
}

std::optional<uint64_t> id_of(const fs::path& p) {
  auto name = p.filename().string();
  if (name.rfind("chk-", 0) != 0 || name.size() == 4) return std::nullopt;
  for (size_t i = 4; i < name.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return std::nullopt;
  return std::stoull(name.substr(4));
}

void set_files(capnp::List<capnp_schema::FileRef>::Builder out, const std::vector<FileRef>& files) {
  for (uint32_t j = 0; j < files.size(); ++j) to_wire(out[j], files[j]);
}

std::vector<FileRef> get_files(capnp::List<capnp_schema::FileRef>::Reader in) {
  std::vector<FileRef> out;
  for (auto f : in) out.push_back(from_wire(f));
  return out;
}

std::string encode(const CheckpointMetadata& m) {
  capnp::MallocMessageBuilder msg;
  auto root = msg.initRoot<capnp_schema::CheckpointMetadata>();
  root.setCheckpointId(m.checkpoint_id);
  root.setJobName(m.job_name);
  root.setMaxParallelism(m.max_parallelism);
  root.setTimestampMs(m.timestamp_ms);
  root.setSavepoint(m.savepoint);
  auto ops = root.initOperators(uint32_t(m.operators.size()));
  for (uint32_t i = 0; i < m.operators.size(); ++i) {
    const auto& o = m.operators[i];
    auto op = ops[i];
    op.setOperatorId(o.operator_id);
    op.setParallelism(o.parallelism);
    op.setFinished(o.finished);
    auto states = op.initStates(uint32_t(o.states.size()));
    for (uint32_t j = 0; j < o.states.size(); ++j) {
      states[j].setName(o.states[j].name);
      states[j].setCodec(o.states[j].codec);
    }
    op.setName(o.name);
    auto fin = op.initFinishedSubtasks(uint32_t(o.finished_subtasks.size()));
    for (uint32_t j = 0; j < o.finished_subtasks.size(); ++j) fin.set(j, o.finished_subtasks[j]);
    set_files(op.initFiles(uint32_t(o.files.size())), o.files);
    set_files(op.initShared(uint32_t(o.shared.size())), o.shared);
  }
  auto flat = capnp::messageToFlatArray(msg);
  auto bytes = flat.asChars();
  std::string body(bytes.begin(), bytes.size());
  std::string out(magic, sizeof magic);
  uint64_t sum = fnv1a64(body.data(), body.size());
  out.append(reinterpret_cast<const char*>(&sum), 8);
  out += body;
  return out;
}

CheckpointMetadata decode(const std::string& bytes, const fs::path& where) {
  if (bytes.size() < 16 || std::memcmp(bytes.data(), magic, 8) != 0)
    throw CheckpointError("'" + where.string() + "' is not a Sluice checkpoint metadata file (or is truncated)");
  uint64_t sum;
  std::memcpy(&sum, bytes.data() + 8, 8);
  auto body = std::string_view(bytes).substr(16);
  if (fnv1a64(body.data(), body.size()) != sum)
    throw CheckpointError("'" + where.string() + "' is corrupt: its checksum does not match");
  if (body.size() % 8 != 0) throw CheckpointError("'" + where.string() + "' is truncated");
  std::vector<capnp::word> words(body.size() / 8);
  std::memcpy(words.data(), body.data(), body.size());
  try {
    capnp::FlatArrayMessageReader reader(kj::ArrayPtr<const capnp::word>(words.data(), words.size()));
    auto root = reader.getRoot<capnp_schema::CheckpointMetadata>();
    CheckpointMetadata m;
    m.checkpoint_id = root.getCheckpointId();
    m.job_name = root.getJobName().cStr();
    m.max_parallelism = root.getMaxParallelism();
    m.timestamp_ms = root.getTimestampMs();
    m.savepoint = root.getSavepoint();
    for (auto op : root.getOperators()) {
      OperatorState o;
      o.operator_id = op.getOperatorId().cStr();
      o.parallelism = op.getParallelism();
      o.finished = op.getFinished();
      for (auto st : op.getStates()) o.states.push_back({st.getName().cStr(), st.getCodec().cStr()});
      o.files = get_files(op.getFiles());
      for (auto s : op.getFinishedSubtasks()) o.finished_subtasks.push_back(s);
      o.shared = get_files(op.getShared());
      o.name = op.getName().cStr();
      m.operators.push_back(std::move(o));
    }
    return m;
  } catch (const kj::Exception& e) {
    throw CheckpointError("'" + where.string() + "' is malformed: " + e.getDescription().cStr());
  }
}

}  // namespace

namespace layout {

fs::path checkpoint_dir(const fs::path& dir, uint64_t id) { return dir / ("chk-" + std::to_string(id)); }

fs::path shared_path(const fs::path& checkpoint_dir, const std::string& name) {
  return (checkpoint_dir / ".." / "shared" / name).lexically_normal();
}

}  // namespace layout

namespace {

/// `chk-<id>.aborted`: the committer gave checkpoint `id` up; writers refuse it.
fs::path tombstone(const fs::path& dir, uint64_t id) { return dir / ("chk-" + std::to_string(id) + ".aborted"); }
constexpr const char* shares_name = ".shares";

}  // namespace

// ---- CheckpointWriter

void CheckpointWriter::refuse_aborted(uint64_t id) const {
  if (present(tombstone(dir_, id))) throw CheckpointError("checkpoint " + std::to_string(id) + " was aborted");
}

FileRef CheckpointWriter::write_file(uint64_t id, const std::string& name, const std::string& bytes) {
  refuse_aborted(id);
  auto d = checkpoint_dir(id);
  std::error_code ec;
  fs::create_directories(d, ec);
  if (ec) throw CheckpointError("cannot create '" + d.string() + "': " + ec.message());
  write_durably(d / name, bytes, id);
  try {
    refuse_aborted(id);  // aborted while this was written: what it recreated goes too
  } catch (const CheckpointError&) {
    std::error_code rm;
    fs::remove_all(d, rm);
    throw;
  }
  FileRef f;
  f.path = name;
  f.size = bytes.size();
  f.checksum = fnv1a64(bytes.data(), bytes.size());
  return f;
}

FileRef CheckpointWriter::share_file(uint64_t id, const fs::path& from, const std::string& name) {
  refuse_aborted(id);
  // The mark comes before the copy: a committer that sees the file sees the mark too.
  auto marks = checkpoint_dir(id) / shares_name;
  auto d = dir_ / "shared";
  std::error_code ec;
  fs::create_directories(marks, ec);
  if (!ec) fs::create_directories(d, ec);
  if (ec) throw CheckpointError("cannot create '" + (fs::exists(marks) ? d : marks).string() + "': " + ec.message());
  int fd = ::open((marks / name).c_str(), O_WRONLY | O_CREAT, 0644);
  if (fd < 0) throw CheckpointError("cannot create '" + (marks / name).string() + "': " + errno_text());
  ::close(fd);
  FileRef f;
  f.path = layout::shared_ref(name);
  f.checksum = copy_durably(from, d / name, &f.size, id);
  return f;
}

// ---- CheckpointCommitter

CheckpointCommitter::CheckpointCommitter(fs::path dir, int retain) : dir_(std::move(dir)), retain_(retain) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw CheckpointError("cannot create checkpoint directory '" + dir_.string() + "': " + ec.message());
  auto lock = dir_ / ".lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT, 0644);
  if (lock_fd_ < 0) throw CheckpointError("cannot open '" + lock.string() + "': " + errno_text());
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw CheckpointError("checkpoint directory '" + dir_.string() + "' is in use by another process");
  }
  // Reference counts of shared files, rebuilt from what is retained. No job writes here
  // now (the lock is ours): checkpoints that never completed (a crash, a full disk) and their
  // tombstones hold space and nothing of use, and every file the counts miss goes.
  for (auto id : complete_ids()) {
    try {
      count_references(decode(read_all(checkpoint_dir(id) / metadata_name), checkpoint_dir(id)), +1);
    } catch (const CheckpointError&) {
      // a corrupt checkpoint cannot be restored, so what only it references may go
    }
  }
  for (const auto& p : list_dir(dir_)) {
    auto name = p.filename().string();
    bool aborted = name.rfind("chk-", 0) == 0 && name.ends_with(".aborted");
    if (!aborted && (!id_of(p) || present(p / metadata_name))) continue;
    std::error_code rm;
    fs::remove_all(p, rm);
  }
  remove_unreferenced(0);
}

CheckpointCommitter::~CheckpointCommitter() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void CheckpointCommitter::discard(uint64_t id) {
  auto d = checkpoint_dir(id);
  if (present(d / metadata_name)) return;  // never a complete one
  int fd = ::open(tombstone(dir_, id).c_str(), O_WRONLY | O_CREAT, 0644);
  if (fd < 0) throw CheckpointError("cannot mark checkpoint " + std::to_string(id) + " aborted in '" + dir_.string() +
                                    "': " + errno_text());
  ::close(fd);
  std::error_code rm;
  // A writer in another process may still move a file in or out while this walks the
  // directory (the tombstone refuses it only from its next write): a file gone under the walk
  // is no failure, the walk is taken again.
  for (int walk = 0; walk < 3; ++walk) {
    rm.clear();
    fs::remove_all(d, rm);
    if (rm != std::errc::no_such_file_or_directory) break;
  }
  if (rm && rm != std::errc::no_such_file_or_directory)
    throw CheckpointError("cannot remove aborted checkpoint '" + d.string() + "': " + rm.message());
  remove_older(id);
  remove_unreferenced(id + 1);
}

void CheckpointCommitter::remove_older(uint64_t id) {
  // Checkpoints run one at a time: older incomplete ones and their tombstones are dead. A
  // writer still late for one recreates an incomplete checkpoint, removed the next time.
  for (const auto& path : list_dir(dir_)) {
    auto name = path.filename().string();
    bool aborted = name.rfind("chk-", 0) == 0 && name.ends_with(".aborted");
    auto older = id_of(aborted ? path.parent_path() / name.substr(0, name.size() - 8) : path);
    if (!older || *older >= id || (!aborted && present(path / metadata_name))) continue;
    std::error_code rm;
    fs::remove_all(path, rm);
  }
}

void CheckpointCommitter::count_references(const CheckpointMetadata& m, int delta) {
  for (const auto& op : m.operators)
    for (const auto& f : op.shared) {
      auto name = fs::path(f.path).filename().string();
      if ((shared_refs_[name] += delta) <= 0) shared_refs_.erase(name);
    }
}

void CheckpointCommitter::remove_unreferenced(uint64_t before) {
  // The shared files first, then the marks: a writer marks before it copies, so a file seen
  // here that an incomplete checkpoint from `before` on is sharing has its mark seen below.
  auto files = list_dir(dir_ / "shared");
  if (files.empty()) return;
  std::set<std::string> sharing;
  if (before != 0)
    for (const auto& p : list_dir(dir_)) {
      auto id = id_of(p);
      if (!id || *id < before || present(p / metadata_name)) continue;
      for (const auto& mark : list_dir(p / shares_name)) sharing.insert(mark.filename().string());
    }
  for (const auto& path : files) {
    auto name = path.filename().string();
    auto plain = name.ends_with(".tmp") ? name.substr(0, name.size() - 4) : name;
    if (shared_refs_.count(plain) || sharing.count(plain)) continue;
    std::error_code rm;
    fs::remove(path, rm);
  }
}

void CheckpointCommitter::commit(const CheckpointMetadata& m) {
  auto d = checkpoint_dir(m.checkpoint_id);
  std::error_code ec;
  fs::create_directories(d, ec);
  write_durably(d / metadata_name, encode(m), m.checkpoint_id);
  count_references(m, +1);
  // Retention: the newest `retain_` complete checkpoints stay, and savepoints (kept until
  // deleted, and not counted: the newest checkpoint always stays); older complete ones and
  // incomplete ones older than this checkpoint go.
  std::map<uint64_t, std::optional<CheckpointMetadata>> complete;  // nullopt: corrupt
  for (auto id : complete_ids()) {
    try {
      complete[id] = decode(read_all(checkpoint_dir(id) / metadata_name), checkpoint_dir(id));
    } catch (const CheckpointError&) {
      complete[id] = std::nullopt;  // a corrupt one goes like any other (it was never counted)
    }
  }
  std::vector<uint64_t> keep;
  int kept = 0;  // checkpoints, not savepoints
  for (auto it = complete.rbegin(); it != complete.rend(); ++it) {
    bool savepoint = it->second && it->second->savepoint;
    if (savepoint || kept++ < retain_) keep.push_back(it->first);
  }
  for (const auto& path : list_dir(dir_)) {
    auto id = id_of(path);
    if (!id || std::find(keep.begin(), keep.end(), *id) != keep.end()) continue;
    auto found = complete.find(*id);
    std::error_code rm;
    if (found != complete.end()) {
      // `_metadata` first: once it is gone the checkpoint is no longer complete, and only then
      // are its references uncounted (never twice, never for a checkpoint still there).
      if (!fs::remove(path / metadata_name, rm)) continue;
      if (found->second) count_references(*found->second, -1);
      fs::remove_all(path, rm);
    } else if (*id < m.checkpoint_id) {
      fs::remove_all(path, rm);
    }
  }
  remove_older(m.checkpoint_id);
  // Files no retained checkpoint references: those of removed checkpoints, and those of
  // checkpoints that were aborted while sharing them.
  remove_unreferenced(m.checkpoint_id + 1);
}

CheckpointMetadata CheckpointCommitter::load(const fs::path& path) {
  if (!present(path)) throw CheckpointError("checkpoint or savepoint '" + path.string() + "' does not exist");
  std::error_code dir_ec;
  auto file = fs::is_directory(path, dir_ec) ? path / metadata_name : path;
  auto m = decode(read_all(file), file);
  auto base = file.parent_path();
  for (const auto& op : m.operators)
    for (const auto* list : {&op.files, &op.shared})
    for (const auto& f : *list) {
      auto p = base / f.path;
      std::error_code ec;
      auto size = fs::file_size(p, ec);
      if (ec == std::errc::no_such_file_or_directory)
        throw CheckpointError("checkpoint file '" + p.string() + "' is missing");
      if (ec) throw CheckpointError("cannot read checkpoint file '" + p.string() + "': " + ec.message());
      if (size != f.size)
        throw CheckpointError("checkpoint file '" + p.string() + "' is truncated: " + std::to_string(size) +
                              " bytes, expected " + std::to_string(f.size));
      auto bytes = read_all(p);
      if (fnv1a64(bytes.data(), bytes.size()) != f.checksum)
        throw CheckpointError("checkpoint file '" + p.string() + "' is corrupt: its checksum does not match");
    }
  return m;
}

fs::path export_checkpoint(const fs::path& checkpoint_dir, const fs::path& target) {
  auto m = CheckpointCommitter::load(checkpoint_dir);
  auto dir = target / ("savepoint-" + std::to_string(m.checkpoint_id));
  auto partial = target / (".savepoint-" + std::to_string(m.checkpoint_id) + ".partial");
  std::error_code ec;
  if (fs::exists(dir, ec)) throw CheckpointError("'" + dir.string() + "' exists already; give another --dir");
  fs::remove_all(partial, ec);
  auto copy = [](const fs::path& from, const fs::path& to) {
    std::error_code e;
    fs::create_directories(to.parent_path(), e);
    if (!e) fs::copy_file(from, to, fs::copy_options::overwrite_existing, e);
    if (e) throw CheckpointError("cannot copy '" + from.string() + "' to '" + to.string() + "': " + e.message());
  };
  auto source = fs::is_directory(checkpoint_dir, ec) ? checkpoint_dir : checkpoint_dir.parent_path();
  for (const auto& op : m.operators) {
    for (const auto& f : op.files) copy(source / f.path, partial / f.path);
    for (const auto& f : op.shared)  // "../shared/<name>": beside the savepoint's directory
      if (!fs::exists(dir / f.path, ec)) copy(source / f.path, dir / f.path);
  }
  copy(source / metadata_name, partial / metadata_name);
  fs::rename(partial, dir, ec);
  if (ec) throw CheckpointError("cannot move '" + partial.string() + "' to '" + dir.string() + "': " + ec.message());
  CheckpointCommitter::load(dir);  // what a restore will read
  return dir;
}

uint64_t CheckpointCommitter::highest_id() const {
  uint64_t top = 0;
  for (const auto& path : list_dir(dir_))
    if (auto id = id_of(path)) top = std::max(top, *id);
  return top;
}

std::vector<uint64_t> CheckpointCommitter::complete_ids() const {
  std::vector<uint64_t> ids;
  for (const auto& path : list_dir(dir_)) {
    auto id = id_of(path);
    if (id && present(path / metadata_name)) ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::optional<CheckpointMetadata> CheckpointCommitter::latest(std::vector<std::string>* skipped) const {
  auto ids = complete_ids();
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    try {
      return load(checkpoint_dir(*it));
    } catch (const CheckpointError& e) {
      if (skipped) skipped->push_back(std::string(e.what()) + "; using an older checkpoint");
    }
  }
  return std::nullopt;
}

std::string CheckpointCommitter::read_file(uint64_t id, const FileRef& f) const {
  auto p = checkpoint_dir(id) / f.path;
  auto bytes = read_all(p);
  if (bytes.size() != f.size || fnv1a64(bytes.data(), bytes.size()) != f.checksum)
    throw CheckpointError("checkpoint file '" + p.string() + "' is corrupt: its checksum does not match");
  return bytes;
}

}  // namespace sluice::checkpoint
