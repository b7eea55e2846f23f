// operators/include/sluice/state.hpp — keyed state: descriptors, handles with optional TTL, and the backend interface behind them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/codec.hpp"
#include "sluice/detail/timers.hpp"
#include "sluice/error.hpp"
#include "sluice/hash.hpp"
#include "sluice/json.hpp"

namespace sluice {

/// Time-to-live of keyed state entries: an entry older than `ttl` is never visible again.
struct StateTtl {
  /// 0 (the default) keeps entries forever.
  std::chrono::milliseconds ttl{0};
  /// What restarts an entry's clock: writes only (default), or reads too.
  enum class Update { on_create_and_write, on_read_and_write } update = Update::on_create_and_write;
  bool enabled() const { return ttl.count() > 0; }
  static StateTtl after_write(std::chrono::milliseconds t) { return {t, Update::on_create_and_write}; }
  static StateTtl after_read_or_write(std::chrono::milliseconds t) { return {t, Update::on_read_and_write}; }
};

/// Folds inputs into an accumulator and reads a result from it (Flink's AggregateFunction).
template <class In, class Acc, class Out>
class AggregateFunction {
 public:
  using input_type = In;
  using accumulator_type = Acc;
  using output_type = Out;
  virtual ~AggregateFunction() = default;
  virtual Acc create_accumulator() const = 0;
  virtual void add(const In& value, Acc& acc) const = 0;
  virtual Out get_result(const Acc& acc) const = 0;
  virtual Acc merge(Acc a, const Acc& b) const = 0;
};

// ---- descriptors: a name (unique within the operator), the types, optional TTL

template <class T>
struct ValueStateDescriptor {
  std::string name;
  StateTtl ttl{};
};
template <class T>
struct ListStateDescriptor {
  std::string name;
  StateTtl ttl{};
};
template <class K, class V>
struct MapStateDescriptor {
  std::string name;
  StateTtl ttl{};
};
template <class T>
struct ReducingStateDescriptor {
  std::string name;
  std::function<T(T, T)> reduce;
  StateTtl ttl{};
};
template <class In, class Acc, class Out>
struct AggregatingStateDescriptor {
  std::string name;
  std::shared_ptr<const AggregateFunction<In, Acc, Out>> function;
  StateTtl ttl{};
};

// ---- handles: read and write the entry of the current key

/// One T per key.
template <class T>
class ValueState {
 public:
  virtual ~ValueState() = default;
  virtual std::optional<T> value() = 0;
  virtual void update(T v) = 0;
  virtual void clear() = 0;
};

/// A list of T per key; with TTL, each element expires on its own.
template <class T>
class ListState {
 public:
  virtual ~ListState() = default;
  virtual std::vector<T> get() = 0;
  virtual void add(T v) = 0;
  virtual void update(std::vector<T> vs) = 0;
  virtual void clear() = 0;
};

/// A map per key; with TTL, each entry expires on its own. Entries come in the order of
/// their keys' encoded bytes.
template <class K, class V>
class MapState {
 public:
  virtual ~MapState() = default;
  virtual std::optional<V> get(const K& k) = 0;
  virtual void put(const K& k, V v) = 0;
  virtual void remove(const K& k) = 0;
  virtual bool contains(const K& k) = 0;
  virtual std::vector<std::pair<K, V>> entries() = 0;
  virtual bool empty() = 0;
  virtual void clear() = 0;
};

/// Values folded into one with a reduce function.
template <class T>
class ReducingState {
 public:
  virtual ~ReducingState() = default;
  virtual std::optional<T> get() = 0;
  virtual void add(T v) = 0;
  virtual void clear() = 0;
};

/// Inputs folded into an accumulator; reads give the aggregate's result.
template <class In, class Out>
class AggregatingState {
 public:
  virtual ~AggregatingState() = default;
  virtual std::optional<Out> get() = 0;
  virtual void add(const In& v) = 0;
  virtual void clear() = 0;
};

namespace detail {
/// Objects opened by name and kept for an operator's lifetime; opening a name again with
/// another type is an error.
class HandleCache {
 public:
  template <class H>
  H* get(const std::string& name, const std::function<std::unique_ptr<H>()>& make) {
    for (auto& [n, h] : handles_) {
      if (n != name) continue;
      auto* box = dynamic_cast<Box<H>*>(h.get());
      if (!box) throw JobError("state '" + name + "' was opened before as another kind or type");
      return box->handle.get();
    }
    auto box = std::make_unique<Box<H>>();
    box->handle = make();
    auto* raw = box->handle.get();
    handles_.emplace_back(name, std::move(box));
    return raw;
  }

 private:
  struct AnyBox {
    virtual ~AnyBox() = default;
  };
  template <class H>
  struct Box : AnyBox {
    std::unique_ptr<H> handle;
  };
  std::vector<std::pair<std::string, std::unique_ptr<AnyBox>>> handles_;
};

/// Operator list state: a plain list per subtask, encoded with its codec for checkpoints.
class OperatorListBase {
 public:
  virtual ~OperatorListBase() = default;
  virtual std::vector<std::string> encode() const = 0;
};
template <class T>
class OperatorList final : public ListState<T>, public OperatorListBase {
 public:
  std::vector<T> get() override { return items_; }
  void add(T v) override { items_.push_back(std::move(v)); }
  void update(std::vector<T> vs) override { items_ = std::move(vs); }
  void clear() override { items_.clear(); }
  std::vector<std::string> encode() const override {
    std::vector<std::string> out;
    for (const auto& v : items_) out.push_back(encode_to_string(v));
    return out;
  }
  void decode(const std::vector<std::string>& items) {
    for (const auto& b : items) items_.push_back(decode_from_string<T>(b));
  }

 private:
  std::vector<T> items_;
};
}  // namespace detail

/// Non-keyed state of one operator subtask: named lists. A checkpoint keeps every item;
/// a restore at another parallelism deals the items of all old subtasks out round robin
/// (Flink's even-split redistribution).
class OperatorStateStore {
 public:
  using Encoded = std::vector<std::pair<std::string, std::vector<std::string>>>;

  template <class T>
  ListState<T>& list_state(const ListStateDescriptor<T>& d) {
    if (d.ttl.enabled()) throw JobError("operator state '" + d.name + "' cannot have a TTL");
    for (auto& [name, list] : lists_)
      if (name == d.name) {
        auto* typed = dynamic_cast<detail::OperatorList<T>*>(list.get());
        if (!typed) throw JobError("operator state '" + d.name + "' was opened before as another type");
        return *typed;
      }
    auto list = std::make_unique<detail::OperatorList<T>>();
    for (auto it = restored_.begin(); it != restored_.end(); ++it)
      if (it->first == d.name) {
        list->decode(it->second);
        restored_.erase(it);
        break;
      }
    auto* raw = list.get();
    lists_.emplace_back(d.name, std::move(list));
    return *raw;
  }
  /// Every list, its items encoded (lists restored but not opened again are kept too).
  Encoded snapshot() const {
    Encoded out = restored_;
    for (const auto& [name, list] : lists_) out.emplace_back(name, list->encode());
    return out;
  }
  /// Before the operator opens: the share of restored items of this subtask.
  void restore(Encoded lists) { restored_ = std::move(lists); }

 private:
  std::vector<std::pair<std::string, std::unique_ptr<detail::OperatorListBase>>> lists_;
  Encoded restored_;
};

// ---- the backend

/// Keyed state in a backend-independent form: every backend encodes a state's values with
/// the same codecs, so a snapshot taken from one backend restores into either, and at
/// another parallelism (entries carry their key group).
struct KeyedStateSnapshot {
  struct Entry {
    std::string state;  ///< the state's name
    int key_group = 0;
    std::string key;       ///< the encoded key
    bool map = false;      ///< an entry of map state
    std::string user_key;  ///< the encoded map key (map state only)
    std::string value;     ///< the encoded stored value (with its TTL deadline)
    bool operator==(const Entry&) const = default;
  };
  std::vector<Entry> entries;
  std::vector<detail::Timer> event_timers;
  std::vector<detail::Timer> processing_timers;
  /// Each state's name and codec fingerprint (kind, value types, TTL).
  std::vector<std::pair<std::string, std::string>> fingerprints;
};

/// Snapshot entries written straight from the state's objects in the form a checkpoint file
/// holds them, with no Entry in between: per entry the state's name, key group, key, map flag,
/// user key and value, each as its codec writes it. Heap checkpoints encode through it; the
/// file appends its bytes as they are.
class EntryWriter {
 public:
  template <class V>
  void add(const std::string& state, int key_group, std::string_view key, bool map, std::string_view user_key,
           const V& value) {
    value_.clear();
    ByteWriter vw(value_);
    Codec<V>::encode(value, vw);
    ByteWriter w(bytes_);
    write(w, state, key_group, key, map, user_key,
          std::string_view(reinterpret_cast<const char*>(value_.data()), value_.size()));
    ++count_;
  }
  /// Appends what `other` wrote.
  void append(const EntryWriter& other) {
    bytes_.insert(bytes_.end(), other.bytes_.begin(), other.bytes_.end());
    count_ += other.count_;
  }
  uint64_t count() const { return count_; }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  /// The entries written, decoded.
  std::vector<KeyedStateSnapshot::Entry> entries() const;

  /// One entry in the file form.
  static void write(ByteWriter& w, std::string_view state, int key_group, std::string_view key, bool map,
                    std::string_view user_key, std::string_view value) {
    write_bytes(w, state);
    Codec<int32_t>::encode(int32_t(key_group), w);
    write_bytes(w, key);
    Codec<bool>::encode(map, w);
    write_bytes(w, user_key);
    write_bytes(w, value);
  }
  /// Reads one entry in the file form; throws DecodeError on bytes that are not one.
  static KeyedStateSnapshot::Entry read(ByteReader& r);

 private:
  static void write_bytes(ByteWriter& w, std::string_view s) {
    w.write_varint(s.size());
    w.write(s.data(), s.size());
  }
  std::vector<uint8_t> bytes_;
  std::vector<uint8_t> value_;  // scratch: the value being added
  uint64_t count_ = 0;
};

/// Storage for one named state of one operator, owned by a heap backend.
class StateTable {
 public:
  virtual ~StateTable() = default;
  /// Number of keys with an entry (the console's state size).
  virtual size_t size() const = 0;
  /// Memory one entry takes, roughly: the object, its key, the hash map's node (entries of a
  /// map state are not counted one by one).
  virtual size_t entry_bytes() const { return 64; }
  /// Drops every entry (BATCH: the key they belong to is done).
  virtual void clear() = 0;
  /// Takes entries of this state back (decoding them).
  virtual void restore(const std::vector<KeyedStateSnapshot::Entry>& entries) = 0;
  /// A snapshot in two parts (a checkpoint's synchronous and asynchronous parts): tables take
  /// hold of their objects now and encode them in the returned function, on another thread.
  using DeferredEntries = std::function<void(EntryWriter&)>;
  virtual DeferredEntries snapshot_deferred(const std::string& name) const = 0;
  /// Appends every entry, encoded, to `out` (both parts at once).
  void snapshot(const std::string& name, std::vector<KeyedStateSnapshot::Entry>& out) const {
    EntryWriter w;
    snapshot_deferred(name)(w);
    auto entries = w.entries();
    out.insert(out.end(), std::make_move_iterator(entries.begin()), std::make_move_iterator(entries.end()));
  }
};

/// Bytes in, bytes out: what a backend that serialises everything (RocksDB) offers. Keys
/// are composed by the handles: key group (2 bytes, big-endian), the current key, then the
/// user key of map state; each named state is its own keyspace.
class ByteStore {
 public:
  virtual ~ByteStore() = default;
  /// The keyspace of a named state (created on first use).
  virtual int keyspace(const std::string& name) = 0;
  virtual std::optional<std::string> get(int space, std::string_view key) = 0;
  virtual void put(int space, std::string_view key, std::string_view value) = 0;
  virtual void remove(int space, std::string_view key) = 0;
  /// Calls `fn(key, value)` for every key starting with `prefix`, in byte order.
  virtual void scan(int space, std::string_view prefix,
                    const std::function<void(std::string_view, std::string_view)>& fn) = 0;
  /// Appends `items` (an encoded list: a varint count, then the items) to the list stored
  /// under `key` without reading it; false when this store cannot, and the caller reads,
  /// appends and writes the whole list.
  virtual bool append(int space, std::string_view key, std::string_view items) {
    (void)space, (void)key, (void)items;
    return false;
  }
};

/// Keyed state of one subtask of one operator, as state handles and timers see it: the
/// current key is set before each record and timer. A backend keeps objects (heap) or bytes
/// (ByteStore); handles adapt to either, so job code does not change with the backend. How a
/// backend takes and restores snapshots is the engine's business, not declared here, so that
/// it can change without changing what jobs compile against.
class KeyedStateBackend {
 public:
  virtual ~KeyedStateBackend() = default;
  virtual void set_current_key(std::string_view key_bytes, int key_group) = 0;
  virtual const std::string& current_key() const = 0;
  virtual int current_key_group() const = 0;
  /// Processing time in ms, for TTL.
  virtual int64_t now() const = 0;
  /// Heap backends: the table named `name`, created with `make` on first use.
  virtual StateTable* heap_table(const std::string& name, const std::function<std::unique_ptr<StateTable>()>& make) = 0;
  /// Byte backends: their store; null for heap backends.
  virtual ByteStore* byte_store() = 0;
  /// How much state this backend holds: keys with an entry (per named state) and bytes.
  /// Cheap enough for every probe: both may be estimates.
  struct Size {
    uint64_t entries = 0;
    uint64_t bytes = 0;
  };
  virtual Size size() const { return {}; }

  /// A state is opened with this codec fingerprint; a restored state of that name written
  /// with another one is an error (its bytes would not decode).
  void declare_state(const std::string& name, const std::string& fingerprint) {
    if (const auto* was = restored_fingerprint(name); was && *was != fingerprint)
      throw JobError("state '" + name + "' was checkpointed as " + *was + " but is opened as " + fingerprint +
                     "; its type or TTL changed, so the checkpoint cannot be restored");
    fingerprints_[name] = fingerprint;
  }
  /// The fingerprint a restored state of this name was written with; null when none was.
  const std::string* restored_fingerprint(const std::string& name) const {
    auto it = restored_fingerprints_.find(name);
    return it == restored_fingerprints_.end() ? nullptr : &it->second;
  }
  /// The console's view (docs/rest.md, state and state/keys): each opened state renders the
  /// current key's value as JSON ("null" when it has none) without changing it and lists its
  /// keys (`keys(fn)` calls `fn(key bytes, key group)` once per key with an entry until `fn`
  /// returns false), and a keyed operator says how text becomes its key (`parse`: a parsed
  /// JSON value to the key's bytes, throwing std::invalid_argument) and its key bytes become
  /// JSON (`format`).
  using KeyVisitor = std::function<bool(const std::string& key, int key_group)>;
  struct Inspector {
    std::function<std::string()> render;
    std::function<void(const KeyVisitor&)> keys;
  };
  void add_inspector(const std::string& state, Inspector view) { inspectors_[state] = std::move(view); }
  const std::map<std::string, Inspector>& inspectors() const { return inspectors_; }
  struct KeyText {
    std::function<std::string(const JsonValue&)> parse;
    std::function<std::string(std::string_view)> format;
  };
  void set_key_text(KeyText k) { key_text_ = std::move(k); }
  const KeyText& key_text() const { return key_text_; }
  /// Event-time and processing-time timers of this operator, kept with its state.
  detail::TimerQueue& event_timers() { return event_timers_; }
  detail::TimerQueue& processing_timers() { return processing_timers_; }
  /// Handles opened by name, kept for the operator's lifetime.
  template <class H>
  H* cached_handle(const std::string& name, const std::function<std::unique_ptr<H>()>& make) {
    return handles_.get<H>(name, make);
  }

 protected:
  /// States opened (by name), and states restored with the fingerprint they were written with.
  std::map<std::string, std::string> fingerprints_, restored_fingerprints_;

 private:
  detail::HandleCache handles_;
  std::map<std::string, Inspector> inspectors_;
  KeyText key_text_;
  detail::TimerQueue event_timers_;
  detail::TimerQueue processing_timers_;
};

/// Makes the heap backend (objects in memory, the default). `now` gives processing time.
std::unique_ptr<KeyedStateBackend> make_heap_backend(std::function<int64_t()> now);

/// Every entry and timer of a backend the engine made (make_heap_backend, or the one a harness
/// was given), in the backend-independent form; `max_parallelism` assigns key groups.
KeyedStateSnapshot snapshot_keyed_state(KeyedStateBackend& backend, int max_parallelism);
/// Adds the entries and timers of `s` whose key groups are in `range` to such a backend;
/// call before the operator opens its state.
void restore_keyed_state(KeyedStateBackend& backend, const KeyedStateSnapshot& s, KeyGroupRange range);

}  // namespace sluice
