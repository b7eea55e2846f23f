// operators/src/files.cpp — text file reading, line writing and committing file transactions, with every blocking call on the I/O executor.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string_view>
#include <tuple>

#include <spdlog/spdlog.h>

#include "sluice/codec.hpp"
#include "sluice/error.hpp"
#include "sluice/logging.hpp"
#include "sluice/sinks.hpp"
#include "sluice/sources.hpp"

namespace sluice {

namespace {

std::string errno_text() { return std::strerror(errno); }

/// The reader's half that I/O jobs fill: touched by one job at a time, and read by the task
/// only after the job's completion (done) is seen.
struct ReadState {
  std::string path;
  int subtask = 0;
  int parallelism = 1;
  std::FILE* file = nullptr;
  uint64_t end = 0;       // one past the last byte whose line this subtask owns
  uint64_t size = 0;      // the file's size when opened
  uint64_t next = 0;      // file offset of the first read
  uint64_t read_to = 0;   // file offset after the last read (0 before the first)
  bool skip_first = false;
  /// A resumed reader: the offset of the next line to emit, and the file's size then.
  std::optional<std::pair<uint64_t, uint64_t>> resume;
  std::string chunk;      // bytes read by the last job
  bool eof = false;
  std::atomic<bool> done{false};
  ~ReadState() {
    if (file) std::fclose(file);
  }
};

constexpr size_t read_chunk = 1 << 20;

void read_job(ReadState& s) {
  if (!s.file) {
    s.file = std::fopen(s.path.c_str(), "rb");
    if (!s.file) throw std::runtime_error("cannot open text file '" + s.path + "': " + errno_text());
    std::error_code ec;
    auto size = std::filesystem::file_size(s.path, ec);
    if (ec) throw std::runtime_error("cannot read the size of text file '" + s.path + "': " + ec.message());
    uint64_t start = size * uint64_t(s.subtask) / uint64_t(s.parallelism);
    s.end = size * uint64_t(s.subtask + 1) / uint64_t(s.parallelism);
    s.size = size;
    if (s.resume) {
      auto [at, was] = *s.resume;
      if (size != was || at > size)
        throw std::runtime_error("text file '" + s.path + "' changed since the checkpoint: " + std::to_string(size) +
                                 " bytes, " + std::to_string(was) + " then");
      // `at` starts a line: no line break to skip.
      s.skip_first = false;
      s.next = at;
    } else {
      // A line belongs to the subtask whose range holds its first byte: start one byte early
      // and skip through the first line break.
      s.skip_first = start > 0;
      s.next = start > 0 ? start - 1 : 0;
    }
    if (std::fseek(s.file, long(s.next), SEEK_SET) != 0)
      throw std::runtime_error("cannot seek in text file '" + s.path + "': " + errno_text());
  }
  s.chunk.resize(read_chunk);
  auto n = std::fread(s.chunk.data(), 1, read_chunk, s.file);
  if (n < read_chunk && std::ferror(s.file))
    throw std::runtime_error("cannot read text file '" + s.path + "': " + errno_text());
  s.chunk.resize(n);
  s.read_to = (s.read_to ? s.read_to : s.next) + n;
  if (n < read_chunk && s.read_to < s.size)
    throw std::runtime_error("text file '" + s.path + "' shrank while it was read: it ends at byte " +
                             std::to_string(s.read_to) + " but had " + std::to_string(s.size) + " bytes when opened");
  s.eof = n < read_chunk;
  s.done.store(true, std::memory_order_release);
}

class TextFileReader final : public SourceReader<std::string> {
 public:
  TextFileReader(std::string path, int subtask, int parallelism) : s_(std::make_shared<ReadState>()) {
    s_->path = std::move(path);
    s_->subtask = subtask;
    s_->parallelism = parallelism;
  }
  /// Continues at `position` (see position()).
  TextFileReader(std::string path, int subtask, int parallelism, const std::string& position)
      : TextFileReader(std::move(path), subtask, parallelism) {
    auto [at, size] = decode_from_string<std::tuple<uint64_t, uint64_t>>(position);
    if (at != not_started) s_->resume = std::pair{at, size};
  }
  /// The offset of the next line to emit and the file's size, or not_started before the
  /// first line of this subtask's range was found.
  std::string position() const override {
    // Restored but not read yet: still where the restore put it.
    if (!started_ && s_->resume) return encode_to_string(std::make_tuple(s_->resume->first, s_->resume->second));
    bool found = started_ && !skipping_;
    return encode_to_string(std::make_tuple(found ? pos_ : not_started, found ? s_->size : uint64_t(0)));
  }
  void open(OperatorContext& ctx) override {
    io_ = &ctx.io();
    request();
  }
  SourceStatus poll(Output<std::string>& out, int max_records) override {
    if (pending_) {
      if (!s_->done.load(std::memory_order_acquire)) return SourceStatus::waiting;
      take_chunk();
    }
    for (int emitted = 0; emitted < max_records;) {
      if (skipping_) {
        auto nl = buf_.find('\n', off_);
        if (nl == std::string::npos) {
          pos_ += buf_.size() - off_;
          off_ = buf_.size();
          if (eof_) return SourceStatus::finished;
          return request();
        }
        pos_ += nl + 1 - off_;
        off_ = nl + 1;
        skipping_ = false;
      }
      if (pos_ >= s_->end && started_) return SourceStatus::finished;
      auto nl = buf_.find('\n', off_);
      if (nl == std::string::npos) {
        if (!eof_) return request();
        if (off_ < buf_.size()) {
          out.push(buf_.substr(off_), no_timestamp);
          pos_ += buf_.size() - off_;
          off_ = buf_.size();
        }
        return SourceStatus::finished;
      }
      auto len = nl - off_;
      if (len > 0 && buf_[nl - 1] == '\r') --len;
      out.push(buf_.substr(off_, len), no_timestamp);
      pos_ += nl + 1 - off_;
      off_ = nl + 1;
      ++emitted;
    }
    return SourceStatus::more;
  }

 private:
  SourceStatus request() {
    if (!pending_) {
      pending_ = true;
      s_->done.store(false, std::memory_order_relaxed);
      auto s = s_;
      io_->submit([s] { read_job(*s); });
    }
    return SourceStatus::waiting;
  }
  void take_chunk() {
    pending_ = false;
    if (!started_) {
      started_ = true;
      skipping_ = s_->skip_first;
      pos_ = s_->next;
    }
    buf_.erase(0, off_);
    off_ = 0;
    buf_ += s_->chunk;
    eof_ = s_->eof;
  }

  static constexpr uint64_t not_started = UINT64_MAX;
  std::shared_ptr<ReadState> s_;
  IoService* io_ = nullptr;
  bool pending_ = false;
  bool started_ = false;
  bool skipping_ = false;
  bool eof_ = false;
  std::string buf_;
  size_t off_ = 0;
  uint64_t pos_ = 0;  // file offset of buf_[off_]
};

std::mutex stdout_mu;

}  // namespace

std::unique_ptr<SourceReader<std::string>> TextFileSource::create_reader(int subtask,
                                                                         int parallelism) const {
  return std::make_unique<TextFileReader>(path_, subtask, parallelism);
}

std::unique_ptr<SourceReader<std::string>> TextFileSource::resume_reader(int subtask, int parallelism,
                                                                         const std::string& position) const {
  try {
    return std::make_unique<TextFileReader>(path_, subtask, parallelism, position);
  } catch (const DecodeError& e) {
    throw JobError("source '" + name() + "' got a position it cannot read: " + e.what());
  }
}

namespace detail {

/// The file a LineWriter appends to; used only by its task's I/O jobs, one at a time.
struct LineFile {
  std::string path;
  std::function<void(const std::string&)> print;  // standard output elsewhere; empty: this process's
  std::FILE* file = nullptr;
  ~LineFile() {
    if (file) std::fclose(file);
  }
  void write(const std::string& data) {
    if (path.empty() && print) {
      if (!data.empty()) print(data);
      return;
    }
    if (path.empty()) {
      std::lock_guard<std::mutex> l(stdout_mu);
      std::fwrite(data.data(), 1, data.size(), stdout);
      std::fflush(stdout);
      return;
    }
    if (!file) {
      auto parent = std::filesystem::path(path).parent_path();
      std::error_code ec;
      if (!parent.empty()) std::filesystem::create_directories(parent, ec);
      file = std::fopen(path.c_str(), "wb");
      if (!file) throw std::runtime_error("cannot open output file '" + path + "': " + errno_text());
    }
    if (!data.empty() && std::fwrite(data.data(), 1, data.size(), file) != data.size())
      throw std::runtime_error("cannot write output file '" + path + "': " + errno_text());
  }
  /// Closes the file; with `sync`, makes its bytes durable first (fsync).
  void close(bool sync = false) {
    if (file && sync && (std::fflush(file) != 0 || ::fsync(::fileno(file)) != 0)) {
      auto why = errno_text();
      std::fclose(file);
      file = nullptr;
      throw std::runtime_error("cannot sync output file '" + path + "': " + why);
    }
    if (file && std::fclose(file) != 0) {
      file = nullptr;
      throw std::runtime_error("cannot close output file '" + path + "': " + errno_text());
    }
    file = nullptr;
  }
};

void LineWriter::open(OperatorContext& ctx) {
  io_ = &ctx.io();
  file_ = std::make_shared<LineFile>();
  file_->path = path_;
  if (path_.empty()) file_->print = io_->standard_output();
}

void LineWriter::write_out(bool close) {
  if (!io_ || (buffer_.empty() && !close)) return;
  auto file = file_;
  if (close && !path_.empty()) {
    io_->submit([file, data = std::move(buffer_)] {
      file->write(data);
      file->close();
    });
  } else if (!buffer_.empty()) {
    io_->submit([file, data = std::move(buffer_)] { file->write(data); });
  }
  buffer_.clear();
}

namespace {

namespace fs = std::filesystem;

/// Makes the entries of directory `dir` (creations, renames, deletions) durable.
void sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open directory '" + dir + "' to sync it: " + errno_text());
  if (::fsync(fd) != 0) {
    auto why = errno_text();
    ::close(fd);
    throw std::runtime_error("cannot sync directory '" + dir + "': " + why);
  }
  ::close(fd);
}

bool file_exists(const std::string& path, const std::string& doing) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw std::runtime_error("cannot " + doing + ": cannot check '" + path + "': " + ec.message());
  return fs::exists(st);
}

/// Renames a pre-committed file to its final name. Idempotent: a file already renamed (the
/// in-progress file gone, the final one there) counts as committed. Unless `overwrite`, a
/// final name that exists while the in-progress file does too is an error, never replaced.
void commit_file(const std::string& in_progress, const std::string& final_path, bool overwrite) {
  auto doing = "commit '" + in_progress + "' as '" + final_path + "'";
  bool have_in = file_exists(in_progress, doing);
  bool have_final = file_exists(final_path, doing);
  if (!have_in) {
    if (have_final) return;  // committed before: a repeated notification or restore
    throw std::runtime_error("cannot " + doing + ": the in-progress file is missing and '" + final_path +
                             "' does not exist either");
  }
  if (have_final && !overwrite)
    throw std::runtime_error("cannot " + doing + ": '" + final_path +
                             "' already exists (another run or job wrote into the directory, or "
                             "checkpoint ids were reused)");
  std::error_code ec;
  fs::rename(in_progress, final_path, ec);
  if (ec) throw std::runtime_error("cannot " + doing + ": " + ec.message());
}

/// The numbers in a file name `part-<subtask>-<n>[-<k>]`: the subtask and n (the checkpoint
/// that committed it for a committed part, the transaction for an in-progress one).
std::optional<std::pair<int64_t, int64_t>> part_numbers(const std::string& name) {
  if (name.rfind("part-", 0) != 0) return std::nullopt;
  const char* p = name.data() + 5;
  const char* last = name.data() + name.size();
  int64_t subtask = -1;
  auto [after, ec] = std::from_chars(p, last, subtask);
  if (ec != std::errc() || after == p || subtask < 0 || after == last || *after != '-') return std::nullopt;
  // n counts only when the rest is `<n>` or `<n>-<k>`, all digits.
  int64_t n = -1, k = -1;
  auto [end, ec2] = std::from_chars(after + 1, last, n);
  if (ec2 != std::errc() || end == after + 1 || n < 0) return std::make_pair(subtask, int64_t(-1));
  if (end != last) {
    auto [end_k, ec3] = std::from_chars(end + 1, last, k);
    if (*end != '-' || ec3 != std::errc() || end_k != last || end_k == end + 1) return std::make_pair(subtask, int64_t(-1));
  }
  return std::make_pair(subtask, n);
}

/// The subtask index in an in-progress file name `part-<subtask>-<txn>`, or -1.
int64_t subtask_of(const std::string& name) {
  auto n = part_numbers(name);
  return n ? n->first : -1;
}

/// Applies `f` to each entry of `dir` (none when it does not exist), naming the directory
/// in the error when it cannot be listed.
template <class F>
void for_each_entry(const std::string& dir, const std::string& what, F&& f) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return;
    throw std::runtime_error("cannot list " + what + " '" + dir + "': " + ec.message());
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) f(it->path());
  if (ec) throw std::runtime_error("cannot list " + what + " '" + dir + "': " + ec.message());
}

/// Where a sink directory keeps in-progress files that the restored checkpoint does not know:
/// a newer checkpoint may have pre-committed them, and a later restore of it needs them.
fs::path in_progress_aside(const fs::path& in_progress_dir) {
  return in_progress_dir.parent_path() / ".rolled-back" / "in-progress";
}

/// The in-progress files in `dir` of old subtasks i with i % parallelism == subtask whose
/// names are not in `keep` (written after the restored checkpoint) go: deleted with
/// `aside` empty, else moved there (their names are unique).
void clear_leftovers(const std::string& dir, int subtask, int parallelism, const std::set<std::string>& keep,
                     const fs::path& aside) {
  bool moved = false;
  for_each_entry(dir, "in-progress directory", [&](const fs::path& path) {
    auto name = path.filename().string();
    auto i = subtask_of(name);
    if (i < 0 || i % parallelism != subtask || keep.count(name)) return;
    std::error_code ec;
    if (aside.empty()) {
      fs::remove(path, ec);
    } else {
      fs::create_directories(aside, ec);
      if (!ec) fs::rename(path, aside / name, ec);
    }
    if (ec) throw std::runtime_error("cannot clear leftover in-progress file '" + path.string() + "': " + ec.message());
    moved = true;
  });
  if (moved) {
    sync_dir(dir);
    if (!aside.empty()) sync_dir(aside.string());
  }
}

bool in_lineage(const CommittingFiles::Lineage& l, int64_t id) {
  for (const auto& [first, last] : l)
    if (id >= first && id <= last) return true;
  return false;
}

/// `l` cut off after checkpoint `r`.
CommittingFiles::Lineage up_to(const CommittingFiles::Lineage& l, int64_t r) {
  CommittingFiles::Lineage out;
  for (const auto& [first, last] : l)
    if (first <= r) out.emplace_back(first, std::min(last, r));
  return out;
}

/// The committed parts directly in `dir` of old subtasks i with i % parallelism == subtask,
/// with their checkpoint ids. In `.rolled-back/`, a name may carry a `.<n>` suffix (a part
/// of that name was set aside before): it is read without it.
std::vector<std::pair<fs::path, int64_t>> parts_in(const std::string& dir, int subtask, int parallelism) {
  std::vector<std::pair<fs::path, int64_t>> out;
  for_each_entry(dir, "output directory", [&](const fs::path& path) {
    auto name = path.filename().string();
    auto n = part_numbers(name.substr(0, name.find('.')));
    if (n && n->second >= 0 && n->first % parallelism == subtask) out.emplace_back(path, n->second);
  });
  return out;
}

/// Makes `dir` hold exactly the parts of the checkpoints in `keep` (for these subtasks): parts
/// of other checkpoints (later ones, or another history's) move into `dir/.rolled-back/`
/// (kept for the user), and parts of `keep` set aside by an earlier restore move back.
/// Returns how many moved aside and back.
std::pair<size_t, size_t> roll_to(const std::string& dir, int subtask, int parallelism,
                                  const CommittingFiles::Lineage& keep) {
  auto aside = fs::path(dir) / ".rolled-back";
  std::error_code ec;
  size_t out = 0, back = 0;
  for (const auto& [p, id] : parts_in(dir, subtask, parallelism)) {
    if (in_lineage(keep, id)) continue;
    fs::create_directories(aside, ec);
    if (ec) throw std::runtime_error("cannot create '" + aside.string() + "': " + ec.message());
    auto to = aside / p.filename();
    for (int k = 1; fs::exists(to, ec); ++k) to = aside / (p.filename().string() + "." + std::to_string(k));
    fs::rename(p, to, ec);
    if (ec) throw std::runtime_error("cannot move part file '" + p.string() + "' aside: " + ec.message());
    ++out;
  }
  std::map<std::string, std::vector<fs::path>> returning;  // by part name: its copies set aside
  for (const auto& [p, id] : parts_in(aside.string(), subtask, parallelism)) {
    auto name = p.filename().string();
    if (in_lineage(keep, id)) returning[name.substr(0, name.find('.'))].push_back(p);
  }
  for (const auto& [name, copies] : returning) {
    auto to = fs::path(dir) / name;
    if (fs::exists(to, ec)) continue;
    if (copies.size() > 1)
      throw std::runtime_error("cannot restore part file '" + to.string() + "': " + std::to_string(copies.size()) +
                               " files set aside under that name in '" + aside.string() +
                               "' (two checkpoint directories reused its checkpoint id); move the right one back");
    fs::rename(copies.front(), to, ec);
    if (ec) throw std::runtime_error("cannot move part file '" + copies.front().string() + "' back: " + ec.message());
    ++back;
  }
  if (out + back > 0) {
    sync_dir(aside.string());
    sync_dir(dir);
  }
  return {out, back};
}

using PendingList = std::vector<std::tuple<int64_t, std::string, std::string>>;
/// A sink state starts with this (states before it held the pending list alone).
constexpr std::string_view state_magic = "SLCFS2";

std::string encode_state(const std::vector<CommittingFiles::Pending>& pending, const CommittingFiles::Lineage& lineage) {
  PendingList l;
  for (auto& p : pending) l.emplace_back(p.checkpoint_id, p.in_progress, p.final_path);
  return std::string(state_magic) + encode_to_string(std::make_tuple(l, lineage));
}

/// "a10b" < "a9b" is false: runs of digits compare as numbers.
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      auto ia = a.find_first_not_of('0', i), jb = b.find_first_not_of('0', j);
      ia = std::min(ia, ie), jb = std::min(jb, je);
      if (ie - ia != je - jb) return ie - ia < je - jb;
      auto c = a.compare(ia, ie - ia, b, jb, je - jb);
      if (c != 0) return c < 0;
      i = ie, j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i, ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

}  // namespace

CommittingFiles::CommittingFiles(std::string dir, int subtask, bool owns_dir)
    : dir_(std::move(dir)), subtask_(subtask), owns_dir_(owns_dir) {
  std::random_device rd;
  uint64_t r = (uint64_t(rd()) << 32) ^ uint64_t(rd());
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r));
  txn_prefix_ = hex;
}

CommittingFiles::~CommittingFiles() = default;

void CommittingFiles::restore(const std::vector<std::string>& states, int subtask, int parallelism) {
  restored_ = true;
  for (size_t i = 0; i < states.size(); ++i) {
    if (states[i].empty()) continue;
    PendingList l;
    try {
      if (std::string_view(states[i]).substr(0, state_magic.size()) == state_magic) {
        auto [pending, lineage] = decode_from_string<std::tuple<PendingList, Lineage>>(states[i].substr(state_magic.size()));
        l = std::move(pending);
        if (!restored_lineage_) restored_lineage_ = std::move(lineage);
      } else {
        l = decode_from_string<PendingList>(states[i]);
      }
    } catch (const DecodeError& e) {
      throw std::runtime_error("cannot restore the committing file sink in '" + dir_ + "': the state of old subtask " +
                               std::to_string(i) + " is malformed (" + e.what() + ")");
    }
    for (auto& [id, in, final_path] : l) {
      keep_.push_back(fs::path(in).filename().string());
      if (int(i % size_t(parallelism)) == subtask) to_recommit_.push_back({id, in, final_path});
    }
  }
}

void CommittingFiles::open(OperatorContext& ctx) {
  io_ = &ctx.io();
  checkpointing_ = ctx.checkpointing();
  auto restored = ctx.restored_checkpoint();
  if (!restored && !restored_ && !owns_dir_) return;
  // A state from before lineages were kept: the whole history up to the restored checkpoint.
  lineage_ = restored_lineage_.value_or(Lineage{{1, INT64_MAX}});
  if (restored) lineage_ = up_to(lineage_, *restored);
  if (!restored && !restored_) lineage_.clear();
  io_->submit([dir = dir_, pending = std::move(to_recommit_), keep = std::set<std::string>(keep_.begin(), keep_.end()),
               subtask = ctx.subtask_index(), parallelism = ctx.parallelism(), restored, lineage = lineage_,
               was_restored = restored_, who = ctx.describe()] {
    if (!restored && !was_restored) {  // a fresh start in a directory of its own: earlier runs' parts go
      for (const auto& from : {dir, dir + "/.rolled-back"})  // set-aside ones too: ids start over
        for (const auto& [p, id] : parts_in(from, subtask, parallelism)) {
          std::error_code rm;
          fs::remove(p, rm);
          if (rm)
            throw std::runtime_error("cannot delete part file '" + p.string() + "' of an earlier run: " + rm.message());
        }
      clear_leftovers(dir + "/.in-progress", subtask, parallelism, {}, {});
      clear_leftovers(in_progress_aside(dir + "/.in-progress").string(), subtask, parallelism, {}, {});
      return;
    }
    // First the output becomes what the restored checkpoint's history committed (a part set
    // aside by a restore of an older checkpoint may be needed again), then its pending
    // transactions commit.
    if (restored) {
      auto [out, back] = roll_to(dir, subtask, parallelism, lineage);
      if (out + back > 0)
        log::get("operators")->warn("{} resumed from checkpoint {}: moved {} part file(s) that are not part of its "
                                    "history to '{}' and {} back from there",
                                    who, *restored, out, dir + "/.rolled-back", back);
    }
    // The final names were fixed at pre-commit: they may lie in another directory than this
    // run's (the output moved between runs), so each one's own directory is synced.
    std::set<std::string> dirs;
    for (auto& p : pending) {
      // Set aside by a restore of an older checkpoint: it comes back for its commit.
      auto aside = in_progress_aside(fs::path(p.in_progress).parent_path()) / fs::path(p.in_progress).filename();
      std::error_code ec;
      if (!fs::exists(p.in_progress, ec) && !fs::exists(p.final_path, ec) && fs::exists(aside, ec)) {
        fs::rename(aside, p.in_progress, ec);
        if (ec) throw std::runtime_error("cannot move '" + aside.string() + "' back: " + ec.message());
      }
      commit_file(p.in_progress, p.final_path, false);
      dirs.insert(fs::path(p.final_path).parent_path().string());
    }
    for (const auto& d : dirs) sync_dir(d);
    clear_leftovers(dir + "/.in-progress", subtask, parallelism, keep, in_progress_aside(dir + "/.in-progress"));
  });
  to_recommit_.clear();
  keep_.clear();
}

void CommittingFiles::write_out() {
  if (!io_ || buffer_.empty()) return;
  if (!file_) {
    file_ = std::make_shared<LineFile>();
    file_path_ = dir_ + "/.in-progress/part-" + std::to_string(subtask_) + "-" + txn_prefix_ + "-" +
                 std::to_string(next_txn_++);
    file_->path = file_path_;
  }
  io_->submit([file = file_, data = std::move(buffer_)] { file->write(data); });
  buffer_.clear();
}

std::string CommittingFiles::pre_commit(int64_t checkpoint_id) {
  write_out();
  if (file_) {
    auto final_path = dir_ + "/part-" + std::to_string(subtask_) + "-" + std::to_string(checkpoint_id);
    auto same = std::count_if(pending_.begin(), pending_.end(),
                              [&](const Pending& p) { return p.checkpoint_id == checkpoint_id; });
    if (same > 0) final_path += "-" + std::to_string(same);
    io_->submit([file = file_, dir = dir_ + "/.in-progress"] {
      file->close(true);
      sync_dir(dir);
    });
    pending_.push_back({checkpoint_id, file_path_, std::move(final_path)});
    file_.reset();
  }
  // This run's parts all come from checkpoints from this one on.
  if (lineage_.empty() || lineage_.back().second != INT64_MAX) lineage_.emplace_back(checkpoint_id, INT64_MAX);
  return encode_state(pending_, lineage_);
}

void CommittingFiles::commit(int64_t checkpoint_id) {
  std::vector<Pending> due;
  auto rest = std::stable_partition(pending_.begin(), pending_.end(),
                                    [&](const Pending& p) { return p.checkpoint_id <= checkpoint_id; });
  due.assign(std::make_move_iterator(pending_.begin()), std::make_move_iterator(rest));
  pending_.erase(pending_.begin(), rest);
  if (due.empty() || !io_) return;
  io_->submit([dir = dir_, due = std::move(due)] {
    for (auto& p : due) commit_file(p.in_progress, p.final_path, false);
    sync_dir(dir);
  });
}

void CommittingFiles::close() {
  if (!io_) return;
  if (checkpointing_) {
    // Not pre-committed: dropped. The in-progress file stays until a restore deletes it.
    buffer_.clear();
    if (file_) {
      io_->submit([file = file_] {
        if (file->file) std::fclose(file->file);
        file->file = nullptr;
      });
      file_.reset();
    }
    return;
  }
  write_out();
  if (!file_) return;
  auto final_path = dir_ + "/part-" + std::to_string(subtask_) + "-0";
  io_->submit([file = file_, in = file_path_, dir = dir_, final_path = std::move(final_path)] {
    file->close(true);
    commit_file(in, final_path, true);
    sync_dir(dir);
  });
  file_.reset();
}

}  // namespace detail

std::vector<std::string> read_committed_lines(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return {};
    throw std::runtime_error("cannot list output directory '" + dir + "': " + ec.message());
  }
  std::vector<std::string> names;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.rfind("part-", 0) == 0 && it->is_regular_file()) names.push_back(name);
  }
  if (ec) throw std::runtime_error("cannot list output directory '" + dir + "': " + ec.message());
  std::sort(names.begin(), names.end(), detail::natural_less);
  std::vector<std::string> lines;
  for (auto& name : names) {
    auto path = (fs::path(dir) / name).string();
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open committed file '" + path + "': " + errno_text());
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(std::move(line));
    }
    if (in.bad()) throw std::runtime_error("cannot read committed file '" + path + "': " + errno_text());
  }
  return lines;
}

}  // namespace sluice
