// operators/include/sluice/detail/window_operator.hpp — the keyed window operator and its state.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sluice/codec.hpp"
#include "sluice/detail/operators.hpp"
#include "sluice/detail/state_impl.hpp"
#include "sluice/windows.hpp"

namespace sluice::detail {

// How windows live in keyed state (state handles know only the current key, so the window
// goes into the user key of map cells, whose entries carry the real key and key group):
// - A window is named by its encoded bytes (Codec<W>), its namespace. Timers carry it as
//   their `ns`, so a timer knows its key and window.
// - Contents, in the map cells "_window.contents" (heap: a std::map per key; byte stores:
//   key group | key | user key): reduce keeps the folded T and aggregate the accumulator
//   under the namespace; process keeps the elements in chunks (ListContents). The layout
//   is the same on both backends, so their snapshots are alike.
// - Merging windows: each key's in-flight windows with their state windows
//   (MergingWindowSet), in the value cells "_window.merging".
// - Trigger state and per-window function state: ordinary state handles opened on a
//   WindowScope, a backend view whose current key is varint(length of key) | key |
//   namespace. Their tables are the base backend's, named "_window.trigger/<name>" and
//   "_window.state/<name>"; a snapshot must take the key group from the inner key.

/// a + b for b >= 0, stopping at INT64_MAX.
inline int64_t add_saturated(int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; }

/// A window's namespace: its encoded bytes, written into `out`.
template <class W>
void encode_window(const W& w, std::string& out) {
  thread_local std::vector<uint8_t> buffer;
  buffer.clear();
  ByteWriter writer(buffer);
  Codec<W>::encode(w, writer);
  out.assign(reinterpret_cast<const char*>(buffer.data()), buffer.size());
}
template <class W>
std::string encode_window(const W& w) {
  std::string s;
  encode_window(w, s);
  return s;
}
template <class W>
W decode_window(std::string_view ns) {
  return decode_from_bytes<W>(reinterpret_cast<const uint8_t*>(ns.data()), ns.size());
}

/// The in-flight windows of one key of a merging assigner, each with the window that holds
/// its state (Flink's MergingWindowSet). When windows merge, the result keeps the state
/// window of one of them, so that only the others' contents move. Works on the mapping it is
/// given (loaded from keyed state); changed() tells whether it must be stored back.
template <class W>
class MergingWindowSet {
 public:
  /// (window, state window) pairs; few per key.
  using Mapping = std::vector<std::pair<W, W>>;
  /// merge(result, merged windows, state window of the result, state windows to fold into it).
  using MergeFunction =
      std::function<void(const W& result, const std::vector<W>& merged, const W& state_window,
                         const std::vector<W>& merged_state_windows)>;

  MergingWindowSet(const MergingWindowAssigner<W>& assigner, Mapping& mapping)
      : assigner_(&assigner), mapping_(&mapping) {}

  /// The state window of in-flight `window`; null when it is not in flight.
  const W* state_window(const W& window) const {
    for (const auto& [w, s] : *mapping_)
      if (w == window) return &s;
    return nullptr;
  }
  /// Removes `window` from the set (its cleanup time came, or it was late at once).
  void retire_window(const W& window) {
    for (auto it = mapping_->begin(); it != mapping_->end(); ++it) {
      if (it->first != window) continue;
      mapping_->erase(it);
      changed_ = true;
      return;
    }
    throw JobError("internal error: a window to retire is not in flight");
  }
  /// Adds the window of a new element and merges what intersects it; returns the window the
  /// element belongs to now: `window` itself, or the merge result that swallowed it. Calls
  /// `merge` for every merge that changes windows that were in flight (not when the new
  /// window falls inside one that is).
  W add_window(const W& window, const MergeFunction& merge) {
    if (state_window(window)) return window;
    std::vector<W> all;
    all.reserve(mapping_->size() + 1);
    for (const auto& [w, s] : *mapping_) all.push_back(w);
    all.push_back(window);
    std::vector<std::pair<W, std::vector<W>>> results;
    assigner_->merge_windows(std::move(all), [&](const std::vector<W>& merged, const W& result) {
      results.emplace_back(result, merged);
    });
    W result_window = window;
    bool merged_new = false;
    for (auto& [result, merged] : results) {
      if (auto it = std::find(merged.begin(), merged.end(), window); it != merged.end()) {
        merged.erase(it);
        merged_new = true;
        result_window = result;
      }
      if (merged.empty()) continue;
      const W* in_flight = state_window(merged.front());
      if (!in_flight)
        throw JobError("internal error: an assigner merged a window that is not in flight");
      W state = *in_flight;
      std::vector<W> merged_states;
      for (const auto& m : merged)
        if (auto s = take(m)) merged_states.push_back(*s);
      std::erase(merged_states, state);
      mapping_->emplace_back(result, state);
      changed_ = true;
      if (!(merged.size() == 1 && merged.front() == result))
        merge(result, merged, state, merged_states);
    }
    if (!merged_new || !state_window(result_window)) {
      mapping_->emplace_back(result_window, result_window);
      changed_ = true;
    }
    return result_window;
  }
  bool changed() const { return changed_; }

 private:
  std::optional<W> take(const W& window) {
    for (auto it = mapping_->begin(); it != mapping_->end(); ++it) {
      if (it->first != window) continue;
      W s = it->second;
      mapping_->erase(it);
      return s;
    }
    return std::nullopt;
  }
  const MergingWindowAssigner<W>* assigner_;
  Mapping* mapping_;
  bool changed_ = false;
};

/// A view of a keyed backend whose current key is (the base's current key, a namespace):
/// state handles opened on it are per key and window. Tables and keyspaces are the base's,
/// with `prefix` before their names. Set the namespace again after every key change.
class WindowScope final : public KeyedStateBackend, private ByteStore {
 public:
  WindowScope(KeyedStateBackend& base, std::string prefix)
      : base_(&base), prefix_(std::move(prefix)) {}
  void set_namespace(std::string_view ns) {
    ns_.assign(ns.data(), ns.size());
    stale_ = true;
  }
  void set_current_key(std::string_view key, int key_group) override {
    base_->set_current_key(key, key_group);
    stale_ = true;
  }
  /// varint(length of the key) | key | namespace: unambiguous for any key and namespace.
  const std::string& current_key() const override {
    if (stale_) {
      const auto& k = base_->current_key();
      std::vector<uint8_t> len;
      ByteWriter w(len);
      w.write_varint(k.size());
      key_.assign(reinterpret_cast<const char*>(len.data()), len.size());
      key_ += k;
      key_ += ns_;
      stale_ = false;
    }
    return key_;
  }
  int current_key_group() const override { return base_->current_key_group(); }
  int64_t now() const override { return base_->now(); }
  StateTable* heap_table(const std::string& name,
                         const std::function<std::unique_ptr<StateTable>()>& make) override {
    return base_->heap_table(prefix_ + name, make);
  }
  ByteStore* byte_store() override { return base_->byte_store() ? this : nullptr; }

 private:
  int keyspace(const std::string& name) override {
    return base_->byte_store()->keyspace(prefix_ + name);
  }
  std::optional<std::string> get(int space, std::string_view key) override {
    return base_->byte_store()->get(space, key);
  }
  void put(int space, std::string_view key, std::string_view value) override {
    base_->byte_store()->put(space, key, value);
  }
  void remove(int space, std::string_view key) override { base_->byte_store()->remove(space, key); }
  void scan(int space, std::string_view prefix,
            const std::function<void(std::string_view, std::string_view)>& fn) override {
    base_->byte_store()->scan(space, prefix, fn);
  }
  bool append(int space, std::string_view key, std::string_view items) override {
    return base_->byte_store()->append(space, key, items);
  }

  KeyedStateBackend* base_;
  std::string prefix_;
  std::string ns_;
  mutable std::string key_;
  mutable bool stale_ = true;
};

inline constexpr const char* window_contents_state = "_window.contents";
inline constexpr const char* window_sizes_state = "_window.contents.size";
inline constexpr const char* window_merging_state = "_window.merging";
/// Sliced windows keep all slices of a key in one entry, under their own name, so that a
/// checkpoint of another layout is never read as this one.
inline constexpr const char* window_sliced_state = "_window.sliced";
/// Event-time sessions of an aggregate keep all sessions of a key in one entry, likewise.
inline constexpr const char* window_sessions_state = "_window.sessions";
/// No entries: its fingerprint names the layout above that the operator keeps its windows in,
/// so that a checkpoint of one layout restored into another fails with a sentence instead
/// of leaving its windows unread.
inline constexpr const char* window_layout_state = "_window.layout";

// ---- contents: what a window keeps, per (current key, namespace)

/// Every element, in arrival order (process()), in chunks of up to 64 elements: map cells
/// "_window.contents" hold each chunk (user key: the window's prefix, then the chunk's
/// index), map cells "_window.contents.size" the element count per window. Adding costs the
/// same whatever the window holds (no rewrite of the whole list on byte stores), chunks keep
/// the heap's lookups in small maps, and both backends share the layout, so that their
/// snapshots are alike.
template <class T>
class ListContents {
 public:
  static constexpr uint64_t chunk_size = 64;

  void open(KeyedStateBackend& b) {
    b_ = &b;
    chunks_ = &map_cells<std::vector<T>>(b, window_contents_state);
    sizes_ = &map_cells<uint64_t>(b, window_sizes_state);
    if ((store_ = b.byte_store())) space_ = store_->keyspace(window_contents_state);
  }
  /// Adds `v`; true when the window held nothing before.
  bool add(const std::string& ns, const T& v) {
    auto* size = sizes_->find(ns);
    uint64_t n = size ? *size : 0;
    sizes_->assign(ns) = n + 1;
    sizes_->store(ns);
    chunk_key(ns, n / chunk_size);
    bool fresh_chunk = n % chunk_size == 0;
    auto& chunk = fresh_chunk ? chunks_->assign(uk_) : chunks_->upsert(uk_);
    if (fresh_chunk) chunk.clear();
    chunk.push_back(v);
    chunks_->store(uk_);
    return n == 0;
  }
  /// Appends the contents to `out`; false when the window holds nothing.
  bool get(const std::string& ns, std::vector<T>& out) {
    auto before = out.size();
    visit(ns, [&](std::string_view, std::string_view bytes, std::vector<T>* chunk) {
      if (chunk)
        out.insert(out.end(), chunk->begin(), chunk->end());
      else
        for (auto& v : decode_stored<std::vector<T>>(bytes, window_contents_state))
          out.push_back(std::move(v));
      return Visit::keep;
    });
    return out.size() > before;
  }
  void clear(const std::string& ns) {
    sizes_->erase(ns);
    std::vector<std::string> keys;
    visit(ns, [&](std::string_view key, std::string_view, std::vector<T>*) {
      if (store_) keys.emplace_back(key);
      return Visit::erase;
    });
    for (const auto& k : keys) store_->remove(space_, k);
  }
  /// Appends the contents of `sources` to `target` and clears them.
  void merge(const std::string& target, const std::vector<std::string>& sources) {
    for (const auto& s : sources) {
      std::vector<T> items;
      if (!get(s, items)) continue;
      clear(s);
      for (const auto& v : items) add(target, v);
    }
  }

 private:
  /// uk_ = varint(length) | namespace: no window's prefix is another's.
  void window_prefix(const std::string& ns) {
    uk_.clear();
    for (uint64_t n = ns.size();; n >>= 7) {
      if (n < 0x80) {
        uk_ += char(n);
        break;
      }
      uk_ += char((n & 0x7f) | 0x80);
    }
    uk_ += ns;
  }
  /// uk_ = the window's prefix | the chunk index as its byte count and big-endian bytes,
  /// which sorts chunks in index order.
  void chunk_key(const std::string& ns, uint64_t index) {
    window_prefix(ns);
    int bytes = 1;
    while (bytes < 8 && (index >> (8 * bytes)) != 0) ++bytes;
    uk_ += char(bytes);
    for (int i = bytes - 1; i >= 0; --i) uk_ += char((index >> (8 * i)) & 0xff);
  }
  /// Calls `fn(store key, chunk bytes, chunk)` on the window's chunks in order (the heap
  /// gives the chunk, a byte store its bytes); on the heap, `fn` may erase the chunk.
  template <class F>
  void visit(const std::string& ns, F&& fn) {
    window_prefix(ns);
    if (store_) {
      std::string prefix;
      compose_key(prefix, *b_);
      prefix += uk_;
      store_->scan(space_, prefix,
                   [&](std::string_view k, std::string_view v) { fn(k, v, nullptr); });
      return;
    }
    const std::string prefix = uk_;
    chunks_->visit([&](std::string_view uk, std::vector<T>& chunk) {
      if (uk.substr(0, prefix.size()) != prefix) return Visit::keep;
      return fn(uk, std::string_view(), &chunk);
    });
  }
  KeyedStateBackend* b_ = nullptr;
  MapCells<std::vector<T>>* chunks_ = nullptr;
  MapCells<uint64_t>* sizes_ = nullptr;
  ByteStore* store_ = nullptr;
  int space_ = 0;
  std::string uk_;
};

/// One value per window under its namespace: what reduce and aggregate contents share.
template <class V>
class ValueContents {
 public:
  void open(KeyedStateBackend& b, const char* name = window_contents_state) { cells_ = &map_cells<V>(b, name); }
  void clear(const std::string& ns) { cells_->erase(ns); }
  /// Folds `fold(target, source)` every source into target and clears the sources.
  template <class F>
  void merge(const std::string& target, const std::vector<std::string>& sources, F&& fold) {
    for (const auto& s : sources) {
      auto* c = cells_->find(s);
      if (!c) continue;
      V v = std::move(*c);
      cells_->erase(s);
      if (auto* t = cells_->find(target))
        *t = fold(std::move(*t), std::move(v));
      else
        cells_->assign(target) = std::move(v);
      cells_->store(target);
    }
  }

 protected:
  /// Folds `v` into the window's value with `fold(value, v)`, or makes it the value; true when
  /// the window held nothing before.
  template <class F>
  bool fold(const std::string& ns, const V& v, F&& fold) {
    auto* c = cells_->find(ns);
    if (c)
      *c = fold(std::move(*c), v);
    else
      cells_->assign(ns) = v;
    cells_->store(ns);
    return !c;
  }
  MapCells<V>* cells_ = nullptr;
};

/// The folded value of the window's elements (reduce()).
template <class T, class R>
class ReduceContents : public ValueContents<T> {
 public:
  explicit ReduceContents(R r) : reduce_(std::move(r)) {}
  bool add(const std::string& ns, const T& v) { return this->fold(ns, v, reduce_); }
  bool get(const std::string& ns, std::vector<T>& out) {
    auto* c = this->cells_->find(ns);
    if (!c) return false;
    out.push_back(*c);
    return true;
  }
  void merge(const std::string& target, const std::vector<std::string>& sources) {
    ValueContents<T>::merge(target, sources,
                            [&](T a, T b) { return reduce_(std::move(a), std::move(b)); });
  }

 private:
  R reduce_;
};

/// The accumulator of an AggregateFunction over the window's elements (aggregate()).
template <class A>
class AggregateContents : public ValueContents<typename A::accumulator_type> {
 public:
  using Acc = typename A::accumulator_type;
  explicit AggregateContents(A agg) : agg_(std::move(agg)) {}
  bool add(const std::string& ns, const typename A::input_type& v) {
    auto* c = this->cells_->find(ns);
    bool fresh = !c;
    if (fresh) {
      c = &this->cells_->assign(ns);
      *c = agg_.create_accumulator();
    }
    agg_.add(v, *c);
    this->cells_->store(ns);
    return fresh;
  }
  bool get(const std::string& ns, std::vector<typename A::output_type>& out) {
    auto* c = this->cells_->find(ns);
    if (!c) return false;
    out.push_back(agg_.get_result(*c));
    return true;
  }
  /// Windows may be sliced: an aggregate function merges accumulators (as sessions need), in
  /// any grouping and order.
  static constexpr bool sliceable = true;
  /// A key's slices, (slice start, accumulator) by start: one entry per key, so that an
  /// element costs one lookup of its key and a window's end one more (on RocksDB one get and
  /// one put each, where a state per slice would read every slice of every window).
  using SliceSet = std::vector<std::pair<int64_t, Acc>>;
  void open_slices(KeyedStateBackend& b) { slices_ = &key_cells<SliceSet>(b, window_sliced_state); }
  /// Adds `v` to the current key's slice that starts at `start`; true when that slice is new.
  bool add_to_slice(int64_t start, const typename A::input_type& v) {
    return fold_slice(start, [&](Acc& a) { agg_.add(v, a); });
  }
  /// The window [start, end) of the current key ends: its result is the merge of its slices,
  /// oldest first (false: none held anything). The slices before `keep_from` go; `more` says
  /// whether the window still holds one after them.
  bool end_window(int64_t start, int64_t end, int64_t keep_from, std::vector<typename A::output_type>& out,
                  bool& more) {
    more = false;
    auto* set = slices_->find();
    if (!set) return false;
    std::optional<Acc> acc;
    size_t gone = 0;
    for (const auto& [s, a] : *set) {
      if (s < keep_from) ++gone;
      else if (s < end) more = true;
      if (s >= start && s < end) acc = acc ? agg_.merge(std::move(*acc), a) : a;
    }
    if (acc) out.push_back(agg_.get_result(*acc));
    if (gone == set->size()) {
      slices_->erase();
    } else if (gone > 0) {
      set->erase(set->begin(), set->begin() + std::ptrdiff_t(gone));
      slices_->store();
    }
    return acc.has_value();
  }
  void merge(const std::string& target, const std::vector<std::string>& sources) {
    ValueContents<Acc>::merge(target, sources,
                              [&](Acc a, Acc b) { return agg_.merge(std::move(a), b); });
  }

  /// Event-time sessions (WindowOperator): a key's sessions, (start, end, accumulator) by
  /// start, in one entry, so that an element costs one lookup of its key however its session
  /// merges.
  using SessionSet = std::vector<std::tuple<int64_t, int64_t, Acc>>;
  void open_sessions(KeyedStateBackend& b) { sessions_ = &key_cells<SessionSet>(b, window_sessions_state); }
  KeyCells<SessionSet>& sessions() { return *sessions_; }
  Acc create() const { return agg_.create_accumulator(); }
  void add_to(Acc& acc, const typename A::input_type& v) const { agg_.add(v, acc); }
  Acc merged(Acc a, const Acc& b) const { return agg_.merge(std::move(a), b); }
  typename A::output_type result(const Acc& acc) const { return agg_.get_result(acc); }

 protected:
  const A& function() const { return agg_; }
  /// Applies `f` to the accumulator of the current key's slice at `start`, made when missing;
  /// true when it was.
  template <class F>
  bool fold_slice(int64_t start, F&& f) {
    auto& set = slices_->upsert();
    auto it = std::lower_bound(set.begin(), set.end(), start,
                               [](const auto& slice, int64_t t) { return slice.first < t; });
    bool fresh = it == set.end() || it->first != start;
    if (fresh) it = set.emplace(it, start, agg_.create_accumulator());
    f(it->second);
    slices_->store();
    return fresh;
  }

 private:
  A agg_;
  KeyCells<SliceSet>* slices_ = nullptr;
  KeyCells<SessionSet>* sessions_ = nullptr;
};

/// What an aggregate pre-aggregated before the shuffle sends on: key, slice start, accumulator.
template <class K, class A>
using Partial = std::tuple<K, int64_t, typename A::accumulator_type>;

/// The accumulators of pre-aggregated partials (LocalAggregateOperator): each partial is
/// merged into the accumulator of its slice.
template <class A>
class PartialAggregateContents : public AggregateContents<A> {
 public:
  using AggregateContents<A>::AggregateContents;
  template <class K>
  bool add(const std::string& ns, const std::tuple<K, int64_t, typename A::accumulator_type>& p) {
    return this->fold(ns, std::get<2>(p), [this](auto a, const auto& b) { return this->function().merge(std::move(a), b); });
  }
  template <class K>
  bool add_to_slice(int64_t start, const std::tuple<K, int64_t, typename A::accumulator_type>& p) {
    return this->fold_slice(start, [&](auto& a) { a = this->function().merge(std::move(a), std::get<2>(p)); });
  }
  using AggregateContents<A>::add_to;
  template <class K>
  void add_to(typename A::accumulator_type& acc, const std::tuple<K, int64_t, typename A::accumulator_type>& p) const {
    acc = this->function().merge(std::move(acc), std::get<2>(p));
  }
};

/// Pre-aggregates a stream before its key_by (local-global aggregation, as Flink SQL does):
/// one accumulator per (key, slice of the windows) for the elements ahead of the watermark,
/// sent on as a Partial (with the slice's start as timestamp) before each watermark, before
/// each checkpoint barrier (from snapshot_state), when its input turns idle, when many are
/// held, and at the end.
/// Elements at or behind the watermark pass on at once, alone, so that whether they are late
/// downstream does not change.
template <class K, class In, class KeyFn, class A>
class LocalAggregateOperator final : public OneInput<In, Partial<K, A>> {
 public:
  LocalAggregateOperator(KeyFn key, A agg, WindowLayout layout)
      : key_fn_(std::move(key)), agg_(std::move(agg)), layout_(layout), slice_(std::gcd(layout.size, layout.slide)) {}

  void push(In&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      // Without a timestamp (the window operator names the problem) or behind the watermark:
      // on at once, alone.
      bool stamped = ts != no_timestamp;
      auto start = stamped ? TimeWindow::window_start(ts, layout_.offset, slice_) : 0;
      if (!stamped || ts <= this->watermark_) {
        auto acc = agg_.create_accumulator();
        agg_.add(v, acc);
        return this->out_->push(Partial<K, A>{key_fn_(v), start, std::move(acc)}, stamped ? start : ts);
      }
      auto key = key_fn_(v);
      bytes_.clear();
      ByteWriter w(bytes_);
      Codec<K>::encode(key, w);
      Codec<int64_t>::encode(start, w);
      auto [it, fresh] = held_.try_emplace(std::string(reinterpret_cast<const char*>(bytes_.data()), bytes_.size()));
      if (fresh) it->second = Partial<K, A>{std::move(key), start, agg_.create_accumulator()};
      agg_.add(v, std::get<2>(it->second));
      if (held_.size() >= max_held) send_held();
    });
  }
  void watermark(int64_t wm) override {
    send_held();
    OneInput<In, Partial<K, A>>::watermark(wm);
  }
  /// An idle input no longer holds the window operator's watermark back: what is held must
  /// go now, or other inputs' watermarks could pass it and make it late.
  void stream_status(bool idle) override {
    if (idle) send_held();
    OneInput<In, Partial<K, A>>::stream_status(idle);
  }
  std::string snapshot_state(int64_t) override {
    send_held();  // ahead of the barrier: the window operator's state holds them
    return {};
  }

 private:
  static constexpr size_t max_held = 16384;
  void finish() override { send_held(); }
  void send_held() {
    for (auto& [bytes, p] : held_) {
      auto start = std::get<1>(p);
      this->out_->push(std::move(p), start);
    }
    held_.clear();
  }

  KeyFn key_fn_;
  A agg_;
  WindowLayout layout_;
  int64_t slice_;
  std::unordered_map<std::string, Partial<K, A>> held_;  // by encoded (key, slice start)
  std::vector<uint8_t> bytes_;
};

/// Contents whose windows may be sliced (they say so and merge what slices keep).
template <class C>
concept sliceable_contents = requires { requires C::sliceable; };

// ---- the operator

/// Windows of a keyed stream (Flink's WindowOperator): assigns each element to windows of
/// its key, keeps their contents (Contents: list, reduce or aggregate), asks the trigger
/// what to do on elements, timers and merges, evaluates Fn (a ProcessWindowFunction over
/// what Contents keep) when a window fires, and clears a window at its cleanup time
/// (max_timestamp + allowed lateness for event time, max_timestamp for processing time).
/// Aligned event-time windows of mergeable contents are sliced instead (see the constructor).
template <class K, class In, class W, class KeyFn, class Contents, class Fn>
class WindowOperator final : public OneInput<In, typename Fn::output_type> {
  using Out = typename Fn::output_type;
  using X = typename Fn::input_type;
  using Pwf = ProcessWindowFunction<X, Out, K, W>;

 public:
  WindowOperator(KeyFn key, std::shared_ptr<const WindowAssigner<W>> assigner,
                 std::unique_ptr<Trigger<In, W>> trigger, bool default_trigger, int64_t allowed_lateness,
                 std::string late_tag, Contents contents, Fn fn)
      : key_fn_(std::move(key)),
        assigner_(std::move(assigner)),
        merging_(dynamic_cast<const MergingWindowAssigner<W>*>(assigner_.get())),
        event_time_(assigner_->is_event_time()),
        trigger_(std::move(trigger)),
        default_trigger_(default_trigger),
        lateness_(event_time_ ? allowed_lateness : 0),
        late_tag_(std::move(late_tag)),
        contents_(std::move(contents)),
        fn_(std::move(fn)),
        trigger_ctx_(*this),
        process_ctx_(*this) {
    // Slicing (as Flink SQL does): each element updates the one slice of gcd(size, slide) it
    // falls in, and a window fires by merging its slices, instead of updating size/slide
    // windows. Taken only where it gives the same results: aligned windows with their default
    // trigger, no allowed lateness, and contents that merge (aggregate). Processing-time
    // windows only when they do not overlap (tumbling): an element that comes in the last
    // millisecond of a window that has just fired makes that window fire again with it alone,
    // which only holds for slices no later window shares.
    if constexpr (can_slice) {
      auto layout = assigner_->layout();
      if (layout && (event_time_ || layout->slide >= layout->size) && default_trigger && lateness_ == 0 &&
          sliceable(*layout)) {
        slicing_ = *layout;
        slice_ = std::gcd(layout->size, layout->slide);
      }
      // Event-time sessions of mergeable contents with their default trigger and no allowed
      // lateness keep a key's sessions in one entry (see push_sessions).
      sessions_ = merging_ && merging_->sessions() && event_time_ && default_trigger && lateness_ == 0;
    }
  }

  void open(OperatorContext& ctx) override {
    OperatorBase::open(ctx);
    backend_ = ctx.keyed_state();
    if (!backend_)
      throw JobError("window operator " + ctx.describe() +
                     " has no keyed state (use key_by first)");
    timers_.open(ctx);
    CurrentKey<K>::describe(*backend_);
    trigger_scope_.emplace(*backend_, "_window.trigger/");
    window_scope_.emplace(*backend_, "_window.state/");
    if constexpr (sliceable_contents<Contents>) {
      if (slicing_) contents_.open_slices(*backend_);
      else if (sessions_) contents_.open_sessions(*backend_);
      else contents_.open(*backend_);
    } else {
      contents_.open(*backend_);
    }
    if (merging_ && !sessions_)
      merging_cells_ =
          &key_cells<typename MergingWindowSet<W>::Mapping>(*backend_, window_merging_state);
    std::string layout = sliced() ? "sliced" : sessions() ? "one entry per key's sessions" : "one state per window";
    if (const auto* was = backend_->restored_fingerprint(window_layout_state); was && *was != layout)
      throw JobError("window operator " + ctx.describe() + " was checkpointed keeping its windows " + *was +
                     " but now keeps them " + layout +
                     " (its trigger, allowed lateness or window function changed), so it cannot restore that checkpoint");
    backend_->declare_state(window_layout_state, layout);
    RuntimeContext rc(ctx);
    guarded(this->ctx_, [&] { fn_.open(rc); });
  }
  void close() override { fn_.close(); }

  void push(In&& v, int64_t ts) override {
    guarded(this->ctx_, [&] {
      key_.set(key_fn_(v), *backend_, this->ctx_->max_parallelism());
      if (event_time_ && ts == no_timestamp && assigner_->needs_timestamps())
        throw JobError(assigner_->describe() +
                       " needs event timestamps, but a record has none (give the source's records "
                       "timestamps)");
      bool taken;
      if (sliced()) {
        taken = push_sliced(v, event_time_ ? ts : this->ctx_->processing_time());
      } else if (sessions()) {
        taken = push_sessions(v, ts);
      } else {
        windows_.clear();
        assigner_->assign_windows(ts, this->ctx_->processing_time(), windows_);
        taken = merging_ ? push_merging(v, ts) : push_plain(v, ts);
      }
      if (taken || !is_element_late(ts)) return;
      if (auto* side = late_tag_.empty() ? nullptr : this->side(late_tag_))
        static_cast<Output<In>*>(side)->push(std::move(v), ts);
    });
  }
  void watermark(int64_t wm) override {
    this->watermark_ = wm;
    guarded(this->ctx_, [&] {
      timers_.fire_event(wm, [&](const Timer& t) { fire_timer(t, true); });
    });
    this->forward_watermark(wm);
  }
  void on_wakeup() override {
    guarded(this->ctx_, [&] {
      timers_.fire_processing(this->ctx_->processing_time(), [&](const Timer& t) { fire_timer(t, false); });
    });
  }
  /// BATCH, sorted input: the key's windows fire as at the end of time (every event-time
  /// timer, then every processing-time one, which registers no more), and the watermark is
  /// back at its minimum for the next key.
  void end_of_key() override {
    guarded(this->ctx_, [&] {
      this->watermark_ = max_watermark;
      timers_.fire_event(max_watermark, [&](const Timer& t) { fire_timer(t, true); });
      ending_ = true;
      timers_.fire_processing(INT64_MAX, [&](const Timer& t) { fire_timer(t, false); });
      ending_ = false;
      this->watermark_ = min_watermark;
    });
  }

 private:
  /// End of input: processing time runs to its end, so every processing-time timer fires;
  /// timers registered meanwhile are ignored (nothing would ever follow them).
  void finish() override {
    guarded(this->ctx_, [&] {
      ending_ = true;
      timers_.fire_processing(INT64_MAX, [&](const Timer& t) { fire_timer(t, false); });
    });
  }

  /// A timer fires in the layout the windows are kept in (sessions are event time only).
  void fire_timer(const Timer& t, bool event_time) {
    if (sliced()) fire_sliced(t);
    else if (sessions()) fire_sessions(t);
    else fire(t, event_time);
  }

  bool push_plain(const In& v, int64_t ts) {
    bool taken = false;
    for (const auto& w : windows_) {
      if (is_window_late(w)) continue;
      taken = true;
      encode_window(w, ns_);
      bool fresh = contents_.add(ns_, v);
      trigger_ctx_.deleted_ = false;
      trigger_ctx_.registered_ = trigger_ctx_.registered_processing_ = INT64_MIN;
      // A window that already had contents has its cleanup timer: the default trigger
      // registering the same time again (EventTimeTrigger and ProcessingTimeTrigger do, for
      // every element) needs no lookup. A custom trigger may have deleted that timer when one
      // of its own fired, and registers it again here: that registration must stand.
      auto cleanup = cleanup_time(w);
      trigger_ctx_.known_timer_ = fresh || !default_trigger_ || cleanup == INT64_MAX ? INT64_MIN : cleanup;
      auto r =
          call_trigger(ns_, [&](TriggerContext& c) { return trigger_->on_element(v, ts, w, c); });
      trigger_ctx_.known_timer_ = INT64_MIN;
      if (is_fire(r)) emit(w, ns_, ns_);
      if (is_purge(r)) contents_.clear(ns_);
      // A window with contents has its cleanup timer already (only the cleanup clears both),
      // unless the trigger just deleted a timer, which may have been the same; a new window's
      // trigger may just have registered it (EventTimeTrigger without allowed lateness,
      // ProcessingTimeTrigger).
      auto last = event_time_ ? trigger_ctx_.registered_ : trigger_ctx_.registered_processing_;
      bool registered = !trigger_ctx_.deleted_ && last == cleanup;
      if ((fresh || trigger_ctx_.deleted_) && !registered) register_cleanup_timer(w, ns_);
    }
    return taken;
  }

  /// Whether this operator's windows are sliced (a constant the compiler sees where they cannot be).
  bool sliced() const {
    if constexpr (can_slice) return slicing_.has_value();
    return false;
  }
  /// Adds the element to its slice, unless every window holding it has ended. A new slice
  /// registers a timer at the end of the first window holding it that has not ended; each
  /// window that fires calls the next while that one still holds data (fire_sliced).
  /// `ts`: the element's time in the windows' domain (its timestamp, or processing time).
  bool push_sliced(const In& v, int64_t ts) {
    if constexpr (!can_slice) return (void)v, (void)ts, false;
    else {
      const auto& l = *slicing_;
      auto wm = event_time_ ? this->watermark_ : INT64_MIN;  // processing time: nothing is late
      auto last_start = TimeWindow::window_start(ts, l.offset, l.slide);  // ends last
      if (ts >= last_start + l.size || last_start + l.size - 1 <= wm) return false;  // between windows, or late
      auto slice_start = TimeWindow::window_start(ts, l.offset, slice_);
      if (!contents_.add_to_slice(slice_start, v)) return true;
      auto first_start = window_start_from(slice_start + slice_ - l.size);
      if (wm > INT64_MIN / 2) first_start = std::max(first_start, window_start_from(wm - l.size + 2));
      TimeWindow first{first_start, first_start + l.size};
      encode_window(first, state_ns_);
      add_slice_timer(first.max_timestamp());
      return true;
    }
  }
  /// The first window start at or after `t`.
  int64_t window_start_from(int64_t t) const {
    auto start = TimeWindow::window_start(t, slicing_->offset, slicing_->slide);
    return start < t ? start + slicing_->slide : start;
  }

  /// The window of timer `t` ends: its slices merged are its result (none: it held nothing);
  /// the slices no later window holds go; the next window gets its timer if it holds data.
  void fire_sliced(const Timer& t) {
    if constexpr (!can_slice) return (void)t;
    else {
      const auto& l = *slicing_;
      key_.set(t, *backend_);
      auto window = decode_window<TimeWindow>(t.ns);
      elements_.clear();
      bool more = false;
      if (contents_.end_window(window.start, window.end, window.start + std::min(l.slide, l.size), elements_, more)) {
        collector_.out = this->out_;
        collector_.timestamp = window.max_timestamp();
        with_process_ctx(window, t.ns, [&] { fn_.process(key_.key(), process_ctx_, elements_, collector_); });
      }
      with_process_ctx(window, t.ns, [&] { fn_.clear(process_ctx_); });
      if (!more) return;
      TimeWindow next{window.start + l.slide, window.end + l.slide};
      encode_window(next, state_ns_);
      add_slice_timer(next.max_timestamp());
    }
  }
  /// The timer of the sliced window `state_ns_` at `t`, in the windows' time domain (none once
  /// processing time has run to its end).
  void add_slice_timer(int64_t t) {
    if (event_time_) timers_.add_event(t, state_ns_);
    else if (!ending_) timers_.add_processing(t, state_ns_);
  }

  /// Whether this operator keeps a key's event-time sessions in one entry.
  bool sessions() const {
    if constexpr (can_slice) return sessions_;
    return false;
  }
  /// Adds the element's session [ts, ts + gap) to its key's sessions: those it intersects
  /// merge with it into their cover, oldest accumulator first (sessions never intersect each
  /// other, so they form one run). A new session already behind the watermark takes nothing.
  /// As the general path with EventTimeTrigger, with lazy timers: every session has a timer
  /// named by its start, at or before its end. A session that grows keeps its timer, which
  /// moves to the session's end when it fires (fire_sessions); an element that extends a
  /// session, most of them, touches no timer. Timers of sessions merged into one that starts
  /// earlier find no session of their start when they fire, and do nothing: a new session
  /// cannot start there before they fire, since it would merge into the cover until the
  /// watermark passes the cover's end, and then it would be late.
  bool push_sessions(const In& v, int64_t ts) {
    if constexpr (!can_slice) return (void)v, (void)ts, false;
    else {
      windows_.clear();
      assigner_->assign_windows(ts, 0, windows_);
      const TimeWindow w = windows_.front();
      auto& cells = contents_.sessions();
      auto* set = cells.find();
      if (!set) {
        if (is_window_late(w)) return false;
        set = &cells.assign();
        set->clear();
      }
      // Sessions are disjoint and ordered by start, so their ends are ordered too: those that
      // touch w are the run from the first that ends at or after its start to the first that
      // starts after its end (where w goes when the run is empty).
      auto first = std::find_if(set->begin(), set->end(), [&](const auto& s) { return std::get<1>(s) >= w.start; });
      auto last = std::find_if(first, set->end(), [&](const auto& s) { return std::get<0>(s) > w.end; });
      if (first == last && is_window_late(w)) return false;
      auto window_of = [](const auto& s) { return TimeWindow{std::get<0>(s), std::get<1>(s)}; };
      TimeWindow cover = w;
      for (auto it = first; it != last; ++it) cover = cover.cover(window_of(*it));
      auto acc = first != last ? std::get<2>(*first) : contents_.create();
      // The cover starts where a session did: that session's timer stands for it.
      bool known = first != last && std::get<0>(*first) == cover.start;
      if (first != last)
        for (auto it = std::next(first); it != last; ++it) acc = contents_.merged(std::move(acc), std::get<2>(*it));
      contents_.add_to(acc, v);
      auto at = set->erase(first, last);
      set->emplace(at, cover.start, cover.end, std::move(acc));
      cells.store();
      if (!known) {
        encode_window(cover, state_ns_);
        timers_.add_event(cover.max_timestamp(), state_ns_);
      }
      return true;
    }
  }
  /// The timer of the key's session that starts where window `t.ns` does: the session ends
  /// with that window (its accumulator is the result, and it goes), or grew since (the timer
  /// moves to its end), or merged into one that starts earlier (nothing).
  void fire_sessions(const Timer& t) {
    if constexpr (!can_slice) return (void)t;
    else {
      key_.set(t, *backend_);
      auto window = decode_window<TimeWindow>(t.ns);
      auto& cells = contents_.sessions();
      auto* set = cells.find();
      if (!set) return;
      auto it = std::find_if(set->begin(), set->end(), [&](const auto& s) { return std::get<0>(s) == window.start; });
      if (it == set->end()) return;
      if (std::get<1>(*it) != window.end) {
        encode_window(TimeWindow{window.start, std::get<1>(*it)}, state_ns_);
        timers_.add_event(std::get<1>(*it) - 1, state_ns_);
        return;
      }
      elements_.clear();
      elements_.push_back(contents_.result(std::get<2>(*it)));
      set->erase(it);
      if (set->empty()) cells.erase();
      else cells.store();
      collector_.out = this->out_;
      collector_.timestamp = window.max_timestamp();
      with_process_ctx(window, t.ns, [&] { fn_.process(key_.key(), process_ctx_, elements_, collector_); });
      with_process_ctx(window, t.ns, [&] { fn_.clear(process_ctx_); });
    }
  }

  bool push_merging(const In& v, int64_t ts) {
    auto& mapping = merging_cells_->upsert();
    MergingWindowSet<W> set(*merging_, mapping);
    bool taken = false;
    for (const auto& w : windows_) {
      W actual = set.add_window(w, [&](const W& result, const std::vector<W>& merged,
                                       const W& state_window, const std::vector<W>& merged_states) {
        on_merge(result, merged, state_window, merged_states);
      });
      if (is_window_late(actual)) {
        set.retire_window(actual);
        continue;
      }
      taken = true;
      encode_window(actual, ns_);
      encode_window(*set.state_window(actual), state_ns_);
      contents_.add(state_ns_, v);
      auto r = call_trigger(
          ns_, [&](TriggerContext& c) { return trigger_->on_element(v, ts, actual, c); });
      if (is_fire(r)) emit(actual, ns_, state_ns_);
      if (is_purge(r)) contents_.clear(state_ns_);
      register_cleanup_timer(actual, ns_);
    }
    persist(mapping, set);
    return taken;
  }

  void on_merge(const W& result, const std::vector<W>& merged, const W& state_window,
                const std::vector<W>& merged_states) {
    if (event_time_ && add_saturated(result.max_timestamp(), lateness_) <= this->watermark_)
      throw JobError("internal error: merging made an event-time window end before the watermark");
    if (!event_time_ && result.max_timestamp() <= this->ctx_->processing_time())
      throw JobError("internal error: merging made a processing-time window end before the clock");
    auto result_ns = encode_window(result);
    std::vector<std::string> merged_ns;
    for (const auto& m : merged) merged_ns.push_back(encode_window(m));
    trigger_ctx_.merged_ = &merged_ns;
    call_trigger(result_ns, [&](TriggerContext&) {
      trigger_->on_merge(result, trigger_ctx_);
      return TriggerResult::CONTINUE;
    });
    trigger_ctx_.merged_ = nullptr;
    for (size_t i = 0; i < merged.size(); ++i) {
      call_trigger(merged_ns[i], [&](TriggerContext& c) {
        trigger_->clear(merged[i], c);
        return TriggerResult::CONTINUE;
      });
      delete_cleanup_timer(merged[i], merged_ns[i]);
    }
    std::vector<std::string> sources;
    for (const auto& s : merged_states) sources.push_back(encode_window(s));
    contents_.merge(encode_window(state_window), sources);
  }

  void fire(const Timer& t, bool event_timer) {
    key_.set(t, *backend_);
    W window = decode_window<W>(t.ns);
    std::string state_ns = t.ns;
    typename MergingWindowSet<W>::Mapping* mapping = nullptr;
    std::optional<MergingWindowSet<W>> set;
    if (merging_) {
      // A timer of a window that merged into another or is gone does nothing.
      if (!(mapping = merging_cells_->find())) return;
      set.emplace(*merging_, *mapping);
      auto* s = set->state_window(window);
      if (!s) return;
      encode_window(*s, state_ns);
    }
    auto r = call_trigger(t.ns, [&](TriggerContext& c) {
      return event_timer ? trigger_->on_event_time(t.time, window, c)
                         : trigger_->on_processing_time(t.time, window, c);
    });
    if (is_fire(r)) emit(window, t.ns, state_ns);
    if (is_purge(r)) contents_.clear(state_ns);
    if (event_timer == event_time_ && t.time == cleanup_time(window)) {
      contents_.clear(state_ns);
      call_trigger(t.ns, [&](TriggerContext& c) {
        trigger_->clear(window, c);
        return TriggerResult::CONTINUE;
      });
      with_process_ctx(window, t.ns, [&] { fn_.clear(process_ctx_); });
      if (set) set->retire_window(window);
    }
    if (set) persist(*mapping, *set);
  }

  /// Evaluates the window function over the contents kept under `state_ns`.
  void emit(const W& window, const std::string& ns, const std::string& state_ns) {
    elements_.clear();
    if (!contents_.get(state_ns, elements_)) return;
    collector_.out = this->out_;
    collector_.timestamp = window.max_timestamp();
    with_process_ctx(window, ns,
                     [&] { fn_.process(key_.key(), process_ctx_, elements_, collector_); });
  }

  void persist(typename MergingWindowSet<W>::Mapping& mapping, const MergingWindowSet<W>& set) {
    if (mapping.empty())
      merging_cells_->erase();
    else if (set.changed())
      merging_cells_->store();
  }

  /// Runs `call(ctx)` with the trigger context on the window named `ns`.
  template <class F>
  TriggerResult call_trigger(const std::string& ns, F&& call) {
    trigger_ctx_.window_ns_ = &ns;
    trigger_scope_->set_namespace(ns);
    return call(static_cast<TriggerContext&>(trigger_ctx_));
  }
  template <class F>
  void with_process_ctx(const W& window, const std::string& ns, F&& call) {
    process_ctx_.window_ = &window;
    window_scope_->set_namespace(ns);
    call();
  }

  int64_t cleanup_time(const W& w) const {
    return event_time_ ? add_saturated(w.max_timestamp(), lateness_) : w.max_timestamp();
  }
  bool is_window_late(const W& w) const {
    return event_time_ && cleanup_time(w) <= this->watermark_;
  }
  bool is_element_late(int64_t ts) const {
    return event_time_ && add_saturated(ts, lateness_) <= this->watermark_;
  }
  /// A timer at the window's cleanup time; none for windows that never end (GlobalWindow).
  void register_cleanup_timer(const W& w, const std::string& ns) {
    auto t = cleanup_time(w);
    if (t == INT64_MAX) return;
    if (event_time_)
      timers_.add_event(t, ns);
    else if (!ending_)
      timers_.add_processing(t, ns);
  }
  void delete_cleanup_timer(const W& w, const std::string& ns) {
    auto t = cleanup_time(w);
    if (t == INT64_MAX) return;
    if (event_time_)
      timers_.remove_event(t, ns);
    else
      timers_.remove_processing(t, ns);
  }

  /// The trigger's view: timers and state of the current key and window.
  class TriggerCtx final : public OnMergeContext {
   public:
    explicit TriggerCtx(WindowOperator& op) : op_(&op) {}
    int64_t current_watermark() const override { return op_->watermark_; }
    int64_t current_processing_time() const override { return op_->ctx_->processing_time(); }
    void register_event_time_timer(int64_t t) override {
      if (!op_->event_time_ || t != known_timer_) op_->timers_.add_event(t, *window_ns_);
      registered_ = t;
    }
    void register_processing_time_timer(int64_t t) override {
      if ((op_->event_time_ || t != known_timer_) && !op_->ending_) op_->timers_.add_processing(t, *window_ns_);
      registered_processing_ = t;
    }
    void delete_event_time_timer(int64_t t) override {
      deleted_ = true;
      op_->timers_.remove_event(t, *window_ns_);
    }
    void delete_processing_time_timer(int64_t t) override {
      deleted_ = true;
      op_->timers_.remove_processing(t, *window_ns_);
    }

    const std::string* window_ns_ = nullptr;
    const std::vector<std::string>* merged_ = nullptr;
    /// Whether the trigger deleted a timer since this was last reset.
    bool deleted_ = false;
    /// A timer of the window's own time domain known to exist already (see push_plain).
    int64_t known_timer_ = INT64_MIN;
    /// The last event-time and processing-time timers the trigger registered since these
    /// were last reset.
    int64_t registered_ = INT64_MIN;
    int64_t registered_processing_ = INT64_MIN;

   protected:
    KeyedStateBackend& window_scope() override { return *op_->trigger_scope_; }
    size_t merged_count() const override { return merged_ ? merged_->size() : 0; }
    void scope_merged(size_t i) override { op_->trigger_scope_->set_namespace((*merged_)[i]); }
    void scope_result() override { op_->trigger_scope_->set_namespace(*window_ns_); }

   private:
    WindowOperator* op_;
  };

  /// The window function's view: the window, time, state and side outputs.
  class ProcessCtx final : public Pwf::Context {
   public:
    explicit ProcessCtx(WindowOperator& op) : op_(&op) {}
    const W& window() const override { return *window_; }
    int64_t current_watermark() const override { return op_->watermark_; }
    int64_t current_processing_time() const override { return op_->ctx_->processing_time(); }

    const W* window_ = nullptr;

   protected:
    KeyedStateBackend& window_scope() override {
      if (op_->merging_)
        throw JobError("per-window state is not available with merging windows (" +
                       op_->assigner_->describe() + "): use global_state");
      return *op_->window_scope_;
    }
    KeyedStateBackend& global_scope() override { return *op_->backend_; }
    ElementSink* side_output(const std::string& id) override { return op_->side(id); }

   private:
    WindowOperator* op_;
  };

  KeyFn key_fn_;
  CurrentKey<K> key_;
  std::shared_ptr<const WindowAssigner<W>> assigner_;
  const MergingWindowAssigner<W>* merging_;
  bool event_time_;
  std::unique_ptr<Trigger<In, W>> trigger_;
  bool default_trigger_;  // the assigner's own trigger (EventTimeTrigger, ProcessingTimeTrigger)
  int64_t lateness_;
  std::string late_tag_;
  Contents contents_;
  Fn fn_;
  TriggerCtx trigger_ctx_;
  ProcessCtx process_ctx_;
  KeyedStateBackend* backend_ = nullptr;
  KeyedTimers timers_;
  std::optional<WindowScope> trigger_scope_;
  std::optional<WindowScope> window_scope_;
  KeyCells<typename MergingWindowSet<W>::Mapping>* merging_cells_ = nullptr;
  StampingCollector<Out> collector_;
  bool ending_ = false;
  static constexpr bool can_slice = std::is_same_v<W, TimeWindow> && sliceable_contents<Contents>;
  std::optional<WindowLayout> slicing_;  // set when the windows are sliced
  bool sessions_ = false;                 // a key's sessions are one entry
  int64_t slice_ = 0;                     // the slices' length: gcd(size, slide)
  // Buffers reused from element to element.
  std::vector<W> windows_;
  std::vector<X> elements_;
  std::string ns_;
  std::string state_ns_;
};

}  // namespace sluice::detail
