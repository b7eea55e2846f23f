// actors/sorter.cpp — the external merge sort: buffer, sorted runs in spill files, merges under the memory budget.
#include "actors/sorter.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "sluice/error.hpp"

namespace sluice::runtime {

namespace {

constexpr size_t header_bytes = 16;          // key length (4), payload length (4), timestamp (8)
constexpr size_t min_read_buffer = 32 << 10;  // per run while merging
constexpr size_t write_buffer = 64 << 10;     // while writing a run (counted as fixed overhead)

void put_u32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
void put_i64(char* p, int64_t v) { std::memcpy(p, &v, 8); }
uint32_t get_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
int64_t get_i64(const char* p) {
  int64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

/// The key's first 8 bytes as a big-endian number (zero-padded): comparing two of them
/// compares the keys' first 8 bytes as memcmp would.
uint64_t prefix_of(std::string_view key) {
  unsigned char b[8] = {};
  std::memcpy(b, key.data(), std::min<size_t>(8, key.size()));
  uint64_t p = 0;
  for (unsigned char c : b) p = (p << 8) | c;
  return p;
}

/// memcmp order of keys, then timestamps.
int compare(std::string_view ka, int64_t ta, std::string_view kb, int64_t tb) {
  if (int c = ka.compare(kb)) return c;
  return ta < tb ? -1 : ta > tb ? 1 : 0;
}

[[noreturn]] void io_error(const std::string& what, const std::filesystem::path& p, int err) {
  throw JobError("BATCH sort could not " + what + " spill file '" + p.string() + "': " + std::strerror(err));
}

}  // namespace

/// A sorted spill file: its records in order, and how many there are (a file that ends
/// sooner is corrupt).
struct Sorter::Run {
  std::filesystem::path path;
  uint64_t records = 0;
};

/// One input of a merge: a run read through a buffer, or the sorted in-memory buffer.
struct Sorter::Source {
  // A run
  const Run* run = nullptr;
  std::FILE* file = nullptr;
  std::vector<char> buffer;  // the stdio buffer
  uint64_t read = 0;
  std::string key, payload;
  // The in-memory buffer
  const Sorter* sorter = nullptr;
  size_t position = 0;

  Record current;

  ~Source() {
    if (file) std::fclose(file);
  }
  /// Moves to the next record; false at the end.
  bool advance() {
    if (sorter) {
      if (position == sorter->index_.size()) return false;
      const char* p = sorter->arena_.data() + sorter->index_[position++].at;
      auto kl = get_u32(p), pl = get_u32(p + 4);
      current = {std::string_view(p + header_bytes, kl), get_i64(p + 8),
                 std::string_view(p + header_bytes + kl, pl)};
      return true;
    }
    if (read == run->records) return false;
    char h[header_bytes];
    if (std::fread(h, 1, header_bytes, file) != header_bytes) short_read();
    key.resize(get_u32(h));
    payload.resize(get_u32(h + 4));
    if (std::fread(key.data(), 1, key.size(), file) != key.size() ||
        std::fread(payload.data(), 1, payload.size(), file) != payload.size())
      short_read();
    ++read;
    current = {key, get_i64(h + 8), payload};
    return true;
  }
  [[noreturn]] void short_read() const {
    if (std::ferror(file)) io_error("read", run->path, errno);
    throw JobError("BATCH sort spill file '" + run->path.string() + "' ends after " + std::to_string(read) +
                   " of its " + std::to_string(run->records) + " records");
  }
  static std::unique_ptr<Source> open(const Run& run, size_t buffer_bytes) {
    auto s = std::make_unique<Source>();
    s->run = &run;
    s->file = std::fopen(run.path.c_str(), "rb");
    if (!s->file) io_error("open", run.path, errno);
    s->buffer.resize(buffer_bytes);
    std::setvbuf(s->file, s->buffer.data(), _IOFBF, s->buffer.size());
    return s;
  }
};

Sorter::Sorter(Options options) : options_(std::move(options)) {
  options_.fan_in = std::max<size_t>(2, options_.fan_in);
  options_.memory = std::max<size_t>(options_.memory, 4 * min_read_buffer);
}

Sorter::~Sorter() {
  sources_.clear();  // closes the files
  if (!spill_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(spill_dir_, ec);
  }
}

bool Sorter::less(const Entry& a, const Entry& b) const {
  if (a.prefix != b.prefix) return a.prefix < b.prefix;
  const char* pa = arena_.data() + a.at;
  const char* pb = arena_.data() + b.at;
  return compare(std::string_view(pa + header_bytes, get_u32(pa)), get_i64(pa + 8),
                 std::string_view(pb + header_bytes, get_u32(pb)), get_i64(pb + 8)) < 0;
}

bool Sorter::after(size_t a, size_t b) const {
  const auto& ra = sources_[a]->current;
  const auto& rb = sources_[b]->current;
  int c = compare(ra.key, ra.timestamp, rb.key, rb.timestamp);
  return c != 0 ? c > 0 : a > b;  // among equals, the older source first
}

void Sorter::note_memory(size_t bytes) { stats_.peak_memory = std::max(stats_.peak_memory, bytes); }

void Sorter::add(std::string_view key, int64_t timestamp, std::string_view payload) {
  if (finished_) throw JobError("BATCH sort was given a record after its input ended");
  size_t bytes = header_bytes + key.size() + payload.size();
  if (!index_.empty() && used() + bytes + sizeof(Entry) > options_.memory) spill();
  if (arena_.capacity() < arena_.size() + bytes) {
    // Grow within the budget: the arena and the index share it.
    size_t want = std::max(arena_.size() + bytes, std::min(options_.memory, 2 * arena_.capacity() + 4096));
    arena_.reserve(want);
  }
  auto at = arena_.size();
  arena_.resize(at + bytes);
  char* p = arena_.data() + at;
  put_u32(p, uint32_t(key.size()));
  put_u32(p + 4, uint32_t(payload.size()));
  put_i64(p + 8, timestamp);
  std::memcpy(p + header_bytes, key.data(), key.size());
  std::memcpy(p + header_bytes + key.size(), payload.data(), payload.size());
  index_.push_back({prefix_of(key), at});
  ++stats_.records;
  note_memory(used());
}

std::filesystem::path Sorter::new_run_path() {
  if (spill_dir_.empty()) {
    static std::atomic<uint64_t> sorters{0};
    auto dir = options_.dir / ("sort-" + std::to_string(::getpid()) + "-" + std::to_string(sorters++));
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
      throw JobError("BATCH sort could not create its spill directory '" + dir.string() + "': " + ec.message());
    spill_dir_ = dir;
  }
  return spill_dir_ / ("run-" + std::to_string(next_run_++));
}

namespace {
/// Writes records to a new run file through a fixed buffer.
class RunWriter {
 public:
  explicit RunWriter(std::filesystem::path path) : path_(std::move(path)), buffer_(write_buffer) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (!file_) io_error("create", path_, errno);
    std::setvbuf(file_, buffer_.data(), _IOFBF, buffer_.size());
  }
  ~RunWriter() {
    if (file_) std::fclose(file_);
  }
  void write(std::string_view key, int64_t timestamp, std::string_view payload) {
    char h[header_bytes];
    put_u32(h, uint32_t(key.size()));
    put_u32(h + 4, uint32_t(payload.size()));
    put_i64(h + 8, timestamp);
    if (std::fwrite(h, 1, header_bytes, file_) != header_bytes ||
        std::fwrite(key.data(), 1, key.size(), file_) != key.size() ||
        std::fwrite(payload.data(), 1, payload.size(), file_) != payload.size())
      io_error("write", path_, errno);
    bytes_ += header_bytes + key.size() + payload.size();
    ++records_;
  }
  /// Closes the file; returns (records, bytes).
  std::pair<uint64_t, uint64_t> close() {
    auto* f = file_;
    file_ = nullptr;
    if (std::fclose(f) != 0) io_error("write", path_, errno);
    return {records_, bytes_};
  }

 private:
  std::filesystem::path path_;
  std::vector<char> buffer_;
  std::FILE* file_ = nullptr;
  uint64_t records_ = 0, bytes_ = 0;
};
}  // namespace

void Sorter::spill() {
  std::stable_sort(index_.begin(), index_.end(), [this](const Entry& a, const Entry& b) { return less(a, b); });
  auto run = std::make_unique<Run>();
  run->path = new_run_path();
  RunWriter w(run->path);
  for (const auto& e : index_) {
    const char* p = arena_.data() + e.at;
    auto kl = get_u32(p), pl = get_u32(p + 4);
    w.write(std::string_view(p + header_bytes, kl), get_i64(p + 8), std::string_view(p + header_bytes + kl, pl));
  }
  auto [records, bytes] = w.close();
  run->records = records;
  stats_.spilled_bytes += bytes;
  ++stats_.runs;
  runs_.push_back(std::move(run));
  arena_.clear();
  index_.clear();
}

void Sorter::merge_into_run(std::vector<std::unique_ptr<Run>> group) {
  size_t buffer = std::max(min_read_buffer, options_.memory / (group.size() + 1));
  sources_.clear();
  for (const auto& r : group) sources_.push_back(Source::open(*r, buffer));
  note_memory(buffer * group.size());
  open_merge();
  auto run = std::make_unique<Run>();
  run->path = new_run_path();
  RunWriter w(run->path);
  Record r;
  while (next(r)) w.write(r.key, r.timestamp, r.payload);
  auto [records, bytes] = w.close();
  run->records = records;
  stats_.spilled_bytes += bytes;
  ++stats_.runs;
  ++stats_.merge_passes;
  sources_.clear();
  heap_.clear();
  current_ = SIZE_MAX;
  std::error_code ec;
  for (const auto& g : group) std::filesystem::remove(g->path, ec);  // merged: no longer needed
  runs_.insert(runs_.begin(), std::move(run));  // the oldest records: first among equals
}

void Sorter::open_merge() {
  heap_.clear();
  current_ = SIZE_MAX;
  for (size_t i = 0; i < sources_.size(); ++i)
    if (sources_[i]->advance()) heap_.push_back(i);
  std::make_heap(heap_.begin(), heap_.end(), [this](size_t a, size_t b) { return after(a, b); });
}

void Sorter::finish() {
  if (finished_) return;
  finished_ = true;
  if (runs_.empty()) {
    // Everything fits: sort in place and read the buffer.
    std::stable_sort(index_.begin(), index_.end(), [this](const Entry& a, const Entry& b) { return less(a, b); });
    auto s = std::make_unique<Source>();
    s->sorter = this;
    sources_.push_back(std::move(s));
    open_merge();
    return;
  }
  if (!index_.empty()) spill();  // frees the buffer for the read buffers
  arena_ = {};
  index_ = {};
  // As many runs at once as have a read buffer of at least min_read_buffer each.
  size_t fan_in = std::min(options_.fan_in, std::max<size_t>(2, options_.memory / min_read_buffer - 1));
  while (runs_.size() > fan_in) {
    std::vector<std::unique_ptr<Run>> group;
    for (size_t i = 0; i < fan_in; ++i) group.push_back(std::move(runs_[i]));
    runs_.erase(runs_.begin(), runs_.begin() + long(fan_in));
    merge_into_run(std::move(group));
  }
  size_t buffer = std::max(min_read_buffer, options_.memory / (runs_.size() + 1));
  for (const auto& r : runs_) sources_.push_back(Source::open(*r, buffer));
  note_memory(buffer * runs_.size());
  open_merge();
}

bool Sorter::next(Record& out) {
  if (!finished_) throw JobError("BATCH sort was read before its input ended");
  auto greater = [this](size_t a, size_t b) { return after(a, b); };
  if (current_ != SIZE_MAX && sources_[current_]->advance()) {
    heap_.push_back(current_);
    std::push_heap(heap_.begin(), heap_.end(), greater);
  }
  current_ = SIZE_MAX;
  if (heap_.empty()) return false;
  std::pop_heap(heap_.begin(), heap_.end(), greater);
  current_ = heap_.back();
  heap_.pop_back();
  out = sources_[current_]->current;
  return true;
}

}  // namespace sluice::runtime
