// actors/sorted_input.hpp — BATCH's sorted input: a task's keyed (or sort_partition) records sorted by key, then fed to its head operator one key at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/sorter.hpp"
#include "operators/engine/keyed_backend.hpp"
#include "sluice/detail/record_io.hpp"
#include "sluice/element.hpp"

namespace sluice::runtime {

/// What Flink's BATCH mode does for a keyed operator: its keyed inputs are not processed as
/// they arrive but sorted (a Sorter under the batch memory, spilling to disk), by key, then
/// timestamp, then arrival, across all of them (so a two-input operator sees each key's
/// records of both inputs together); once every input ended, the records are fed key by
/// key, and after each key the head fires that key's timers (`end_of_key`) and its state is
/// dropped (`BatchKeyedBackend::clear`): only one key's state is ever held. Inputs not
/// partitioned by key (a broadcast side) pass straight through as they arrive, so they are
/// consumed before any keyed record. A sort_partition head takes its input sorted the same
/// way, by the sort key its edges carry. Not thread-safe: the task's thread uses it.
class SortedInput {
 public:
  /// `state`: the keyed head's, cleared after each key; null for a head without keyed state.
  SortedInput(Sorter::Options options, OperatorBase& head, BatchKeyedBackend* state);

  /// Declares head input `input` (in order: 0, 1, ...): its records are sorted with the key
  /// `type` gives (`sorted`) or decoded at once by `reader`, which feeds the head either way.
  void add_input(int input, const detail::EdgeType& type, std::unique_ptr<detail::RecordDecoder> reader,
                 bool sorted);
  bool sorts(int input) const { return inputs_.at(size_t(input)).sorted; }

  /// A record of `input` arrived: into the sort, or to the head now.
  void add(int input, const uint8_t* bytes, size_t size, int64_t timestamp);
  /// Every input ended: the sorted records can be fed.
  void finish();
  bool finished() const { return finished_; }
  /// Feeds sorted records while `budget` lasts and `more()` says the head may take more,
  /// ending each key as the next one starts; true once the last key has ended.
  bool feed(int& budget, const std::function<bool()>& more);
  const Sorter::Stats& stats() const { return sorter_.stats(); }

 private:
  struct Input {
    const detail::EdgeType* type = nullptr;
    std::unique_ptr<detail::RecordDecoder> reader;
    bool sorted = false;
  };
  void end_key();

  Sorter sorter_;
  OperatorBase* head_;
  BatchKeyedBackend* state_;
  std::vector<Input> inputs_;
  std::vector<uint8_t> key_;  // scratch: the record's key
  std::string current_;       // the key being fed
  bool keyed_ = false;        // a key is being fed
  bool finished_ = false;
  bool done_ = false;
};

}  // namespace sluice::runtime
