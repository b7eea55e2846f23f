// actors/sorter.hpp — an external merge sort under a memory budget: the sorted input of BATCH keyed operators (records by key, then timestamp, then arrival), spilling runs to disk.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::runtime {

/// Sorts records, each a sort key (bytes, compared as unsigned bytes), an event timestamp and
/// a payload, into (key, timestamp, arrival) order under a memory budget, as Flink's BATCH
/// mode sorts a keyed operator's input. Records collect in one buffer (an arena of their
/// bytes); every `chunk` bytes of them are sorted by an index of 24 bytes a record and laid
/// back in order, a sorted run in memory that a merge reads front to back (a cache-sized sort,
/// then reads in sequence, instead of one large sort read at random). When the buffer reaches
/// the budget, its runs are merged into a spill file (a run on disk), and the buffer starts
/// again. `finish` merges the runs into one ordered stream read with `next`; when there are
/// more runs on disk than `fan_in` (or their read buffers would not fit in the budget),
/// groups of them are merged into longer runs first. Equal keys and timestamps keep their
/// arrival order, so a sort is deterministic.
///
/// Spill files live in a directory of their own under `Options::dir`, removed when the
/// sorter is destroyed: at the end, and just as well when the task fails midway. Failing
/// I/O and a spill file that reads back short throw a JobError naming the file.
/// Not thread-safe: one task's thread uses it.
class Sorter {
 public:
  struct Options {
    std::filesystem::path dir;  ///< where the sorter makes its spill directory
    size_t memory = 64 << 20;   ///< bytes of records, index and read buffers at most
    size_t fan_in = 64;         ///< runs merged at once at most
  };
  /// A record as `next` returns it: valid until the next call.
  struct Record {
    std::string_view key;
    int64_t timestamp = 0;
    std::string_view payload;
  };
  /// What the sort did, for logs and tests.
  struct Stats {
    uint64_t records = 0;
    uint64_t runs = 0;           ///< spill files written (merge passes included)
    uint64_t spilled_bytes = 0;  ///< bytes written to spill files
    uint64_t merge_passes = 0;   ///< merges before the final one
    size_t peak_memory = 0;      ///< the most bytes the buffer and read buffers held at once
  };

  explicit Sorter(Options options);
  ~Sorter();
  Sorter(const Sorter&) = delete;
  Sorter& operator=(const Sorter&) = delete;

  /// Adds a record whose payload is `payload` followed by `more` (a caller's tag and its
  /// record, copied once into the buffer); may spill. Not after `finish`.
  void add(std::string_view key, int64_t timestamp, std::string_view payload, std::string_view more = {});
  /// Ends the input: the records can be read.
  void finish();
  /// The next record in order; false after the last.
  bool next(Record& out);

  const Stats& stats() const { return stats_; }
  /// The directory of this sorter's spill files (removed with it).
  const std::filesystem::path& spill_directory() const { return spill_dir_; }

 private:
  struct Run;
  struct Source;
  /// A sorted run in the arena: `records` records from offset `begin`.
  struct MemoryRun {
    size_t begin = 0;
    size_t bytes = 0;
    uint64_t records = 0;
  };
  struct Entry {
    uint64_t prefix;     // the key's first 8 bytes, big-endian: most comparisons end here
    int64_t timestamp;   // the record's, so that keys of up to 8 bytes sort without the arena
    uint64_t placement;  // offset of the record in the arena (low 48 bits), key length (high 16, capped)
  };
  /// A byte buffer that grows without zeroing what it will overwrite anyway.
  /// Anonymous memory of its own: it grows by remapping (the kernel moves the pages, nothing
  /// is copied or touched again), and memory not written yet costs nothing.
  struct Arena {
    char* bytes = nullptr;
    size_t size = 0, capacity = 0;
    Arena() = default;
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;
    ~Arena() { release(); }
    char* data() const { return bytes; }
    void reserve(size_t n);
    void release();
  };
  /// Whether merge source `a`'s current record comes after `b`'s (the heap's order).
  bool after(size_t a, size_t b) const;
  /// Sorts the records added since the last chunk into a run in memory.
  void seal_chunk();
  /// Merges the runs in memory into a run on disk; the buffer is empty afterwards.
  void spill();
  /// Makes the runs in memory the merge's sources (after `first` sources already there).
  void open_memory_runs();
  std::filesystem::path new_run_path();
  std::unique_ptr<Run> merge_into_run(std::vector<std::unique_ptr<Run>> group);
  void open_merge();
  /// The merge's next record (`next` without its check).
  bool pull(Record& out);
  size_t used() const { return arena_.size + index_.size() * sizeof(Entry) + scratch_.size(); }
  void sort_index();
  void note_memory(size_t bytes);
  /// The read buffer of each of `runs` runs merged at once.
  size_t read_buffer(size_t runs) const;

  Options options_;
  std::filesystem::path spill_dir_;
  Arena arena_;                 // records: key length, payload length, timestamp, key, payload
  std::vector<Entry> index_;        // of the chunk being added to
  std::vector<char> scratch_;       // a chunk laid out in order before it goes back in the arena
  std::vector<MemoryRun> memory_runs_;
  size_t chunk_begin_ = 0;          // arena offset of the chunk being added to
  size_t chunk_ = 0;                // bytes of records sorted together
  std::vector<std::unique_ptr<Run>> runs_;
  std::vector<std::unique_ptr<Source>> sources_;  // the final merge: runs and the sorted buffer
  std::vector<size_t> heap_;                      // indices into sources_, smallest on top
  size_t current_ = SIZE_MAX;                     // the source `next` returned from last
  bool finished_ = false;
  uint64_t next_run_ = 0;
  Stats stats_;
};

}  // namespace sluice::runtime
