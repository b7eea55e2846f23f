// actors/sorter.cpp — the external merge sort: buffer, sorted runs in spill files, merges under the memory budget.
#include "actors/sorter.hpp"

#include "checkpoint/work_directory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "sluice/error.hpp"

namespace sluice::runtime {

namespace {

constexpr size_t header_bytes = 16;          // key length (4), payload length (4), timestamp (8)
constexpr size_t min_read_buffer = 32 << 10;  // per run while merging
constexpr size_t write_buffer = 64 << 10;     // while writing a run (counted as fixed overhead)
constexpr size_t max_chunk = 2 << 20;         // records sorted at once, to stay in the cache
constexpr size_t max_read_buffer = 1 << 20;   // per run while merging

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
  if (!key.empty()) std::memcpy(b, key.data(), std::min<size_t>(8, key.size()));
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

constexpr int at_bits = 48;
constexpr uint64_t at_mask = (uint64_t(1) << at_bits) - 1;

/// The record laid out at `p` (header, key, payload), in place.
Sorter::Record record_at(const char* p) {
  auto kl = get_u32(p), pl = get_u32(p + 4);
  return {std::string_view(p + header_bytes, kl), get_i64(p + 8), std::string_view(p + header_bytes + kl, pl)};
}

}  // namespace

/// A sorted spill file: its records in order, and how many there are (a file that ends
/// sooner is corrupt).
struct Sorter::Run {
  std::filesystem::path path;
  uint64_t records = 0;
};

/// One input of a merge: a run on disk read through a buffer in large reads, or a run in
/// memory. A record is read in place; one that crosses the end of a disk run's buffer is moved
/// to its start first.
struct Sorter::Source {
  // A run on disk
  const Run* run = nullptr;
  std::FILE* file = nullptr;
  std::unique_ptr<char[]> buffer;  // not zeroed: only what is read into it is read from it
  size_t capacity = 0;
  size_t begin = 0, end = 0;  // the unread bytes in buffer
  uint64_t read = 0;
  // A run in memory
  const char* next_record = nullptr;
  uint64_t left = 0;

  Record current;
  uint64_t prefix = 0;  // of current's key: most comparisons end here

  ~Source() {
    if (file) std::fclose(file);
  }
  /// Moves to the next record; false at the end.
  bool advance() {
    if (!run) {
      if (left == 0) return false;
      --left;
      current = record_at(next_record);
      next_record = current.payload.data() + current.payload.size();
      prefix = prefix_of(current.key);
      return true;
    }
    if (read == run->records) return false;
    if (!available(header_bytes)) short_read();
    const char* h = buffer.get() + begin;
    size_t bytes = header_bytes + get_u32(h) + size_t(get_u32(h + 4));
    if (!available(bytes)) short_read();
    current = record_at(buffer.get() + begin);
    prefix = prefix_of(current.key);
    begin += bytes;
    ++read;
    return true;
  }
  /// Whether `n` unread bytes are in the buffer, reading more (and moving what is left to
  /// the start, or growing the buffer for a large record) as needed.
  bool available(size_t n) {
    if (end - begin >= n) return true;
    if (capacity < n) {  // a record larger than the buffer
      auto grown = std::make_unique_for_overwrite<char[]>(n);
      std::memcpy(grown.get(), buffer.get() + begin, end - begin);
      buffer = std::move(grown);
      capacity = n;
    } else {
      std::memmove(buffer.get(), buffer.get() + begin, end - begin);
    }
    end -= begin;
    begin = 0;
    while (end < n) {
      size_t got = std::fread(buffer.get() + end, 1, capacity - end, file);
      if (got == 0) return false;
      end += got;
    }
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
    std::setvbuf(s->file, nullptr, _IONBF, 0);  // reads go straight into the buffer
    s->buffer = std::make_unique_for_overwrite<char[]>(buffer_bytes);
    s->capacity = buffer_bytes;
    return s;
  }
};

Sorter::Sorter(Options options) : options_(std::move(options)) {
  options_.fan_in = std::max<size_t>(2, options_.fan_in);
  options_.memory = std::max<size_t>(options_.memory, 4 * min_read_buffer);
  // Cache-sized chunks, at least 16 of them in the budget.
  chunk_ = std::clamp<size_t>(options_.memory / 16, 16 << 10, max_chunk);
}

Sorter::~Sorter() {
  sources_.clear();  // closes the files
  if (!spill_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(spill_dir_, ec);
  }
}

void Sorter::Arena::reserve(size_t n) {
  if (n <= capacity) return;
  constexpr size_t huge = 2 << 20;
  n = (n + huge - 1) / huge * huge;
  // Growing by copying cost a copy of everything so far and a fault on every page again
  // (a twentieth of a sort's time); a remap moves the pages as they are.
  void* p = bytes ? ::mremap(bytes, capacity, n, MREMAP_MAYMOVE)
                  : ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // In huge pages where the kernel gives them on request: a fault per 2 MiB instead of per
  // 4 KiB as the records first reach the memory (page faults were a tenth of a sort's time).
  ::madvise(p, n, MADV_HUGEPAGE);  // a hint: without it, ordinary pages
  bytes = static_cast<char*>(p);
  capacity = n;
}

void Sorter::Arena::release() {
  if (bytes) ::munmap(bytes, capacity);
  bytes = nullptr;
  size = capacity = 0;
}

void Sorter::sort_index() {
  const char* arena = arena_.data();
  // Inline: the comparison is most of a sort's time.
  std::sort(index_.begin(), index_.end(), [arena](const Entry& a, const Entry& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    size_t la = a.placement >> at_bits, lb = b.placement >> at_bits;
    if (la <= 8 && lb <= 8) {  // the prefixes hold both keys: equal prefixes, the shorter key first
      if (la != lb) return la < lb;
    } else {
      auto ra = record_at(arena + (a.placement & at_mask));
      auto rb = record_at(arena + (b.placement & at_mask));
      if (int c = ra.key.compare(rb.key)) return c < 0;
    }
    if (a.timestamp != b.timestamp) return a.timestamp < b.timestamp;
    return (a.placement & at_mask) < (b.placement & at_mask);  // arrival: records are appended
  });
}

bool Sorter::after(size_t a, size_t b) const {
  const auto& sa = *sources_[a];
  const auto& sb = *sources_[b];
  if (sa.prefix != sb.prefix) return sa.prefix > sb.prefix;
  int c = compare(sa.current.key, sa.current.timestamp, sb.current.key, sb.current.timestamp);
  return c != 0 ? c > 0 : a > b;  // among equals, the older source first
}

size_t Sorter::read_buffer(size_t runs) const {
  // Sequential reads gain little past 1 MiB; larger buffers only cost their first touch.
  return std::clamp(options_.memory / (runs + 1), min_read_buffer, max_read_buffer);
}

void Sorter::note_memory(size_t bytes) { stats_.peak_memory = std::max(stats_.peak_memory, bytes); }

void Sorter::add(std::string_view key, int64_t timestamp, std::string_view payload, std::string_view more) {
  if (finished_) throw JobError("BATCH sort was given a record after its input ended");
  size_t bytes = header_bytes + key.size() + payload.size() + more.size();
  if (arena_.size > 0 && used() + bytes + sizeof(Entry) > options_.memory) {
    seal_chunk();
    spill();
  }
  // Doubling up to the budget (the index shares it, so the arena never fills it).
  if (arena_.capacity < arena_.size + bytes)
    arena_.reserve(std::max(arena_.size + bytes, std::min(options_.memory, std::max<size_t>(4 << 20, 2 * arena_.capacity))));
  auto at = arena_.size;
  arena_.size += bytes;
  char* p = arena_.data() + at;
  put_u32(p, uint32_t(key.size()));
  put_u32(p + 4, uint32_t(payload.size() + more.size()));
  put_i64(p + 8, timestamp);
  if (!key.empty()) std::memcpy(p + header_bytes, key.data(), key.size());
  if (!payload.empty()) std::memcpy(p + header_bytes + key.size(), payload.data(), payload.size());
  if (!more.empty()) std::memcpy(p + header_bytes + key.size() + payload.size(), more.data(), more.size());
  index_.push_back({prefix_of(key), timestamp, uint64_t(at) | (std::min<uint64_t>(key.size(), 0xffff) << at_bits)});
  ++stats_.records;
  note_memory(used());
  if (arena_.size - chunk_begin_ >= chunk_) seal_chunk();
}

void Sorter::seal_chunk() {
  if (index_.empty()) return;
  sort_index();
  size_t bytes = arena_.size - chunk_begin_;
  if (scratch_.size() < bytes) scratch_.resize(std::max(bytes, chunk_));
  size_t out = 0;
  for (const auto& e : index_) {
    const char* p = arena_.data() + (e.placement & at_mask);
    size_t n = header_bytes + get_u32(p) + size_t(get_u32(p + 4));
    std::memcpy(scratch_.data() + out, p, n);
    out += n;
  }
  std::memcpy(arena_.data() + chunk_begin_, scratch_.data(), bytes);
  memory_runs_.push_back({chunk_begin_, bytes, index_.size()});
  chunk_begin_ = arena_.size;
  index_.clear();
}

void Sorter::open_memory_runs() {
  for (const auto& r : memory_runs_) {
    auto s = std::make_unique<Source>();
    s->next_record = arena_.data() + r.begin;
    s->left = r.records;
    sources_.push_back(std::move(s));
  }
}

std::filesystem::path Sorter::new_run_path() {
  if (spill_dir_.empty()) spill_dir_ = checkpoint::new_work_directory(options_.dir, "sluice-sort-", "A sort that spills");
  return spill_dir_ / ("run-" + std::to_string(next_run_++));
}

namespace {
/// Writes records to a new run file through a fixed buffer, in large writes.
class RunWriter {
 public:
  explicit RunWriter(std::filesystem::path path) : path_(std::move(path)), buffer_(write_buffer) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (!file_) io_error("create", path_, errno);
    std::setvbuf(file_, nullptr, _IONBF, 0);  // this buffer is the only one
  }
  ~RunWriter() {
    if (file_) std::fclose(file_);
  }
  /// A record as the arena and the runs hold it (header, key, payload): `bytes` of them at `p`.
  void write_raw(const char* p, size_t bytes) {
    if (used_ + bytes > buffer_.size()) drain();
    if (bytes > buffer_.size()) {
      put(p, bytes);
    } else {
      std::memcpy(buffer_.data() + used_, p, bytes);
      used_ += bytes;
    }
    bytes_ += bytes;
    ++records_;
  }
  /// Closes the file; returns (records, bytes).
  std::pair<uint64_t, uint64_t> close() {
    drain();
    auto* f = file_;
    file_ = nullptr;
    if (std::fclose(f) != 0) io_error("write", path_, errno);
    return {records_, bytes_};
  }

 private:
  void drain() {
    if (used_ > 0) put(buffer_.data(), used_);
    used_ = 0;
  }
  void put(const char* p, size_t n) {
    if (std::fwrite(p, 1, n, file_) != n) io_error("write", path_, errno);
  }
  std::filesystem::path path_;
  std::vector<char> buffer_;
  size_t used_ = 0;
  std::FILE* file_ = nullptr;
  uint64_t records_ = 0, bytes_ = 0;
};
}  // namespace

void Sorter::spill() {
  if (memory_runs_.empty()) return;
  auto run = std::make_unique<Run>();
  run->path = new_run_path();
  RunWriter w(run->path);
  sources_.clear();
  open_memory_runs();
  open_merge();
  Record r;
  while (pull(r)) w.write_raw(r.key.data() - header_bytes, header_bytes + r.key.size() + r.payload.size());
  sources_.clear();
  heap_.clear();
  current_ = SIZE_MAX;
  auto [records, bytes] = w.close();
  run->records = records;
  stats_.spilled_bytes += bytes;
  ++stats_.runs;
  runs_.push_back(std::move(run));
  arena_.size = 0;
  chunk_begin_ = 0;
  memory_runs_.clear();
}

std::unique_ptr<Sorter::Run> Sorter::merge_into_run(std::vector<std::unique_ptr<Run>> group) {
  size_t buffer = read_buffer(group.size());
  sources_.clear();
  for (const auto& r : group) sources_.push_back(Source::open(*r, buffer));
  note_memory(buffer * group.size());
  open_merge();
  auto run = std::make_unique<Run>();
  run->path = new_run_path();
  RunWriter w(run->path);
  Record r;
  while (pull(r)) w.write_raw(r.key.data() - header_bytes, header_bytes + r.key.size() + r.payload.size());
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
  return run;
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
  seal_chunk();
  if (runs_.empty()) {  // everything fits: merge the runs in memory
    open_memory_runs();
    open_merge();
    return;
  }
  index_ = {};
  scratch_ = {};
  size_t fan_in = std::min(options_.fan_in, std::max<size_t>(2, options_.memory / min_read_buffer - 1));
  // The runs still in memory join the final merge when no merge pass is needed and the spill
  // files' read buffers fit beside them: the last buffer is not written and read back.
  if (runs_.size() <= fan_in && arena_.size + runs_.size() * min_read_buffer <= options_.memory) {
    size_t buffer = std::clamp((options_.memory - arena_.size) / runs_.size(), min_read_buffer, max_read_buffer);
    for (const auto& r : runs_) sources_.push_back(Source::open(*r, buffer));  // older records first
    open_memory_runs();
    note_memory(arena_.size + buffer * runs_.size());
    open_merge();
    return;
  }
  spill();  // frees the buffer for the read buffers
  arena_.release();
  // As many runs at once as have a read buffer of at least min_read_buffer each; more runs
  // are merged a level at a time, consecutive groups into one run each (arrival order stays
  // the runs' order), so every record is read once per level.
  while (runs_.size() > fan_in) {
    std::vector<std::unique_ptr<Run>> level;
    for (size_t i = 0; i < runs_.size(); i += fan_in) {
      std::vector<std::unique_ptr<Run>> group;
      for (size_t j = i; j < std::min(runs_.size(), i + fan_in); ++j) group.push_back(std::move(runs_[j]));
      level.push_back(group.size() == 1 ? std::move(group.front()) : merge_into_run(std::move(group)));
    }
    runs_ = std::move(level);
  }
  size_t buffer = read_buffer(runs_.size());
  for (const auto& r : runs_) sources_.push_back(Source::open(*r, buffer));
  note_memory(buffer * runs_.size());
  open_merge();
}

bool Sorter::next(Record& out) {
  if (!finished_) throw JobError("BATCH sort was read before its input ended");
  return pull(out);
}

bool Sorter::pull(Record& out) {
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
