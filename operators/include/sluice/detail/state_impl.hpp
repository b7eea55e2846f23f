// operators/include/sluice/detail/state_impl.hpp — the state handles, written once over two storages: heap objects and a byte store.
#pragma once

#include <atomic>
#include <climits>
#include <map>
#include <memory>
#include <vector>
#include <type_traits>
#include <typeinfo>

#include "sluice/codec.hpp"
#include "sluice/detail/flat_key_map.hpp"
#include "sluice/error.hpp"
#include "sluice/state.hpp"

namespace sluice::detail {

/// A stored value with the time it expires (INT64_MAX: never): a cell of a state with a TTL.
template <class V>
struct TtlCell {
  V value{};
  int64_t expires = INT64_MAX;
  void set_expires(int64_t t) { expires = t; }
};

/// A stored value of a state without a TTL: it never expires, so it keeps no time (8 bytes
/// less an entry, and a list element). Encoded as a TtlCell that never expires, so a state's
/// bytes are the same whichever cell holds it.
template <class V>
struct PlainCell {
  V value{};
  static constexpr int64_t expires = INT64_MAX;
  void set_expires(int64_t) {}
};

/// Which cell a state's values live in; `with_cell` picks it from the state's TTL.
template <template <class> class C>
struct CellKind {
  template <class V>
  using cell = C<V>;
};
using Expiring = CellKind<TtlCell>;
using Lasting = CellKind<PlainCell>;
template <class F>
decltype(auto) with_cell(const StateTtl& ttl, F&& f) {
  if (ttl.enabled()) return f(Expiring{});
  return f(Lasting{});
}

/// Both cells encode as the time they expire, then the value; a PlainCell drops a time read
/// back (kept while the state had a TTL: it no longer expires).
template <class Cell>
struct CellCodec {
  static void encode(const Cell& c, ByteWriter& w) {
    Codec<int64_t>::encode(c.expires, w);
    Codec<decltype(c.value)>::encode(c.value, w);
  }
  static Cell decode(ByteReader& r) {
    Cell c;
    c.set_expires(Codec<int64_t>::decode(r));
    c.value = Codec<decltype(c.value)>::decode(r);
    return c;
  }
};
}  // namespace sluice::detail

template <class V>
struct sluice::Codec<sluice::detail::TtlCell<V>> : sluice::detail::CellCodec<sluice::detail::TtlCell<V>> {};
template <class V>
struct sluice::Codec<sluice::detail::PlainCell<V>> : sluice::detail::CellCodec<sluice::detail::PlainCell<V>> {};

namespace sluice::detail {

// ---- storage shapes

/// One V per key. find() and upsert() return a V to read or change in place; store() makes a
/// change durable (a no-op on the heap, an encode and put on a byte store).
template <class V>
class KeyCells {
 public:
  virtual ~KeyCells() = default;
  virtual V* find() = 0;
  virtual V& upsert() = 0;
  /// A V to overwrite completely, without reading the old one (blind write).
  virtual V& assign() = 0;
  virtual void store() = 0;
  virtual void erase() = 0;
  /// Appends the list `tail` to the stored list without reading it (V is a list); false when
  /// the storage cannot, and the caller upserts, appends and stores.
  virtual bool append(const V& tail) {
    (void)tail;
    return false;
  }
  /// Calls `fn(key, key group)` for every key with an entry until it returns false.
  virtual void keys(const KeyedStateBackend::KeyVisitor& fn) = 0;
};

/// What a map visitor did with an entry.
enum class Visit { keep, changed, erase };

/// A map of user key (by its encoded bytes) to V per key.
template <class V>
class MapCells {
 public:
  virtual ~MapCells() = default;
  virtual V* find(const std::string& ukey) = 0;
  virtual V& upsert(const std::string& ukey) = 0;
  virtual V& assign(const std::string& ukey) = 0;
  virtual void store(const std::string& ukey) = 0;
  virtual void erase(const std::string& ukey) = 0;
  /// Visits the current key's entries in user-key byte order.
  virtual void visit(const std::function<Visit(std::string_view, V&)>& fn) = 0;
  virtual void erase_all() = 0;
  /// Calls `fn(key, key group)` for every key with an entry until it returns false.
  virtual void keys(const KeyedStateBackend::KeyVisitor& fn) = 0;
};

template <class V>
V decode_stored(std::string_view bytes, const std::string& state);
template <class V>
std::string encode_stored(const V& v);

/// A heap table's maps, one per key group. A snapshot takes a reference to each (its
/// synchronous part costs a pointer per key group) and encodes them on the I/O executor,
/// letting go of each group once encoded. Until then, the first access to a group the
/// snapshot holds that may change it copies that group (copy-on-write): a write, or a
/// lookup that finds an entry, since callers may change what find() returns. The snapshot
/// sees the state as it was, processing goes on, and only groups used during the encoding
/// are ever copied.
template <class Map>
class KeyGroupMaps {
 public:
  /// Key group `kg`'s map to read; null when it has none.
  Map* peek(int kg) const { return size_t(kg) < groups_.size() ? groups_[size_t(kg)].get() : nullptr; }
  /// Whether a snapshot still holds key group `kg` (a write must copy it first).
  bool held(int kg) const {
    if (groups_[size_t(kg)].use_count() > 1) return true;
    // The snapshot let go with a release decrement: its reads happened before our writes.
    std::atomic_thread_fence(std::memory_order_acquire);
    return false;
  }
  /// Key group `kg`'s map to change: created when missing, copied while a snapshot holds it.
  Map& writable(int kg) {
    if (size_t(kg) >= groups_.size()) groups_.resize(size_t(kg) + 1);
    auto& g = groups_[size_t(kg)];
    if (!g) g = std::make_shared<Map>();
    else if (held(kg)) g = std::make_shared<Map>(*g);
    return *g;
  }
  /// Drops every entry; maps no snapshot holds keep their memory for the entries to come.
  void clear() {
    for (auto& g : groups_)
      if (g && !g->empty()) {
        if (g.use_count() > 1) g.reset();
        else g->clear();
      }
  }
  size_t size() const {
    size_t n = 0;
    for (const auto& g : groups_)
      if (g) n += g->size();
    return n;
  }
  template <class F>
  void for_each(F&& f) const {
    for (size_t kg = 0; kg < groups_.size(); ++kg)
      if (groups_[kg]) f(int(kg), *groups_[kg]);
  }
  /// The snapshot's hold on every group.
  std::shared_ptr<std::vector<std::shared_ptr<const Map>>> share() const {
    return std::make_shared<std::vector<std::shared_ptr<const Map>>>(groups_.begin(), groups_.end());
  }

 private:
  std::vector<std::shared_ptr<Map>> groups_;
};

/// A heap table's deferred snapshot: holds `maps` now and encodes them later with
/// `encode_group`, releasing each group once encoded. Values that cannot be copied are
/// encoded now instead (a write could not copy them).
template <class V, class Map>
StateTable::DeferredEntries share_then_encode(const KeyGroupMaps<Map>& maps, const std::string& name,
                                              void (*encode_group)(int, const Map&, const std::string&, EntryWriter&)) {
  if constexpr (std::is_copy_constructible_v<V>) {
    auto held = maps.share();
    return [held, name, encode_group](EntryWriter& out) {
      for (size_t kg = 0; kg < held->size(); ++kg) {
        auto& g = (*held)[kg];
        if (!g) continue;
        encode_group(int(kg), *g, name, out);
        g.reset();
      }
    };
  } else {
    auto now = std::make_shared<EntryWriter>();
    maps.for_each([&](int kg, const Map& m) { encode_group(kg, m, name, *now); });
    return [now](EntryWriter& out) { out.append(*now); };
  }
}

/// Every key of a heap table's maps, until `fn` returns false.
template <class Map>
void visit_keys(const KeyGroupMaps<Map>& maps, const KeyedStateBackend::KeyVisitor& fn) {
  bool more = true;
  maps.for_each([&](int kg, const Map& m) {
    m.for_each([&](std::string_view key, const auto&) {
      if (more) more = fn(std::string(key), kg);
    });
  });
}

/// Heap tables file each key under the key group current when it was written: a namespaced
/// view (window state) stores under a composite key whose hash is not the record key's group.
template <class V>
class HeapKeyCells final : public KeyCells<V>, public StateTable {
 public:
  explicit HeapKeyCells(KeyedStateBackend& b) : b_(&b) {}
  V* find() override {
    int kg = b_->current_key_group();
    auto* m = maps_.peek(kg);
    if (!m) return nullptr;
    auto* v = m->find(b_->current_key());
    if (!v) return nullptr;
    if (maps_.held(kg)) return maps_.writable(kg).find(b_->current_key());  // the caller may change it
    return v;
  }
  V& upsert() override { return maps_.writable(b_->current_key_group())[b_->current_key()]; }
  V& assign() override { return upsert(); }
  void store() override {}
  void erase() override {
    int kg = b_->current_key_group();
    auto* m = maps_.peek(kg);
    if (m && m->count(b_->current_key())) maps_.writable(kg).erase(b_->current_key());
  }
  size_t size() const override { return maps_.size(); }
  void clear() override { maps_.clear(); }
  void keys(const KeyedStateBackend::KeyVisitor& fn) override { visit_keys(maps_, fn); }
  size_t entry_bytes() const override { return Map::slot_bytes() * 11 / 8; }  // tables ~73 % full
  DeferredEntries snapshot_deferred(const std::string& name) const override {
    return share_then_encode<V>(maps_, name, &encode_group);
  }
  void restore(const std::vector<KeyedStateSnapshot::Entry>& entries) override {
    for (const auto& e : entries) maps_.writable(e.key_group)[e.key] = decode_stored<V>(e.value, e.state);
  }

 private:
  using Map = FlatKeyMap<V>;
  static void encode_group(int kg, const Map& m, const std::string& name, EntryWriter& out) {
    m.for_each([&](std::string_view key, const V& v) { out.add(name, kg, key, false, {}, v); });
  }
  KeyedStateBackend* b_;
  KeyGroupMaps<Map> maps_;
};

/// Window contents and map state on the heap: per key, an ordered map of user keys. The
/// current key's entries are looked up once and kept until the key changes (an operator
/// touches several windows of one record's key in a row); a snapshot that shares the maps, or
/// anything that may drop or move the entries, forgets them.
template <class V>
class HeapMapCells final : public MapCells<V>, public StateTable {
 public:
  explicit HeapMapCells(KeyedStateBackend& b) : b_(&b) {}
  V* find(const std::string& uk) override {
    auto* entries = current(false);
    return entries ? entries->find(uk) : nullptr;
  }
  V& upsert(const std::string& uk) override { return (*current(true))[uk]; }
  V& assign(const std::string& uk) override { return upsert(uk); }
  void store(const std::string&) override {}
  void erase(const std::string& uk) override {
    const auto* found = existing();
    if (!found || !found->find(uk)) return;
    auto& entries = *current(true);
    entries.erase(uk);
    if (entries.empty()) erase_all();
  }
  /// `fn` must not change this table otherwise (the entries it visits could move).
  void visit(const std::function<Visit(std::string_view, V&)>& fn) override {
    forget();
    if (!existing()) return;
    // The visitor may change entries: write access to this key's group.
    auto& group = maps_.writable(b_->current_key_group());
    auto& m = *group.find(b_->current_key());
    m.erase_if([&](std::string_view uk, V& v) { return fn(uk, v) == Visit::erase; });
    if (m.empty()) group.erase(b_->current_key());
  }
  void erase_all() override {
    forget();
    if (existing()) maps_.writable(b_->current_key_group()).erase(b_->current_key());
  }
  size_t size() const override { return maps_.size(); }
  void clear() override {
    forget();
    maps_.clear();
  }
  void keys(const KeyedStateBackend::KeyVisitor& fn) override { visit_keys(maps_, fn); }
  // A key's slot and one entry: a key's further entries are not counted.
  size_t entry_bytes() const override { return Map::slot_bytes() * 11 / 8 + Entries::entry_bytes(); }
  DeferredEntries snapshot_deferred(const std::string& name) const override {
    forget();  // the shared groups are copied before the next write
    return share_then_encode<V>(maps_, name, &encode_group);
  }
  void restore(const std::vector<KeyedStateSnapshot::Entry>& entries) override {
    forget();
    for (const auto& e : entries) maps_.writable(e.key_group)[e.key][e.user_key] = decode_stored<V>(e.value, e.state);
  }

 private:
  using Entries = SortedEntries<V>;
  using Map = FlatKeyMap<Entries>;
  /// The current key's entries, to change: created when `create`, else null when it has none.
  /// A group a snapshot holds is copied first, since callers may change what they get. Adding
  /// a key may move the group's other entries, so the cache holds the one key just looked up.
  Entries* current(bool create) {
    int kg = b_->current_key_group();
    const auto& key = b_->current_key();
    if (cached_ && kg == cached_group_ && key == cached_key_) return cached_;
    Entries* entries = nullptr;
    if (create) {
      entries = &maps_.writable(kg)[key];
    } else {
      auto* m = maps_.peek(kg);
      if (!m) return nullptr;
      entries = m->find(key);
      if (!entries) return nullptr;
      if (maps_.held(kg)) entries = maps_.writable(kg).find(key);
    }
    cached_ = entries;
    cached_group_ = kg;
    cached_key_ = key;
    return entries;
  }
  void forget() const { cached_ = nullptr; }
  mutable Entries* cached_ = nullptr;  // the entries of (cached_group_, cached_key_)
  int cached_group_ = -1;
  std::string cached_key_;

  /// The current key's entries to read; null when it has none.
  const Entries* existing() const {
    auto* m = maps_.peek(b_->current_key_group());
    return m ? m->find(b_->current_key()) : nullptr;
  }
  static void encode_group(int kg, const Map& m, const std::string& name, EntryWriter& out) {
    m.for_each([&](std::string_view key, const Entries& entries) {
      entries.for_each([&](std::string_view uk, const V& v) { out.add(name, kg, key, true, uk, v); });
    });
  }
  KeyedStateBackend* b_;
  KeyGroupMaps<Map> maps_;
};

/// The byte-store key of the current key: key group (2 bytes, big-endian), the key's
/// length (varint) and bytes; map state appends the user key.
inline void compose_key(std::string& out, int key_group, const std::string& key) {
  out.clear();
  auto kg = uint16_t(key_group);
  out.push_back(char(kg >> 8));
  out.push_back(char(kg & 0xff));
  for (uint64_t n = key.size();; n >>= 7) {
    if (n < 0x80) {
      out.push_back(char(n));
      break;
    }
    out.push_back(char((n & 0x7f) | 0x80));
  }
  out += key;
}
inline void compose_key(std::string& out, const KeyedStateBackend& b) {
  compose_key(out, b.current_key_group(), b.current_key());
}

/// Where the state's key ends in a byte-store key: after the key group, the key's length and
/// its bytes, as compose_key writes them (what follows is a user key or a window); `key_at`
/// gets where the key's bytes start. 0 when `k` does not start with a whole one.
inline size_t key_prefix_length(std::string_view k, size_t* key_at = nullptr) {
  size_t i = 2;
  uint64_t n = 0;
  for (int shift = 0; i < k.size() && shift < 64; shift += 7) {
    auto b = uint8_t(k[i++]);
    n |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      if (k.size() - i < n) return 0;
      if (key_at) *key_at = i;
      return i + n;
    }
  }
  return 0;
}

/// Splits a byte-store key back into key group, key and user key; false if malformed.
inline bool split_key(std::string_view k, int& key_group, std::string& key, std::string& user_key) {
  size_t at = 0;
  auto end = key_prefix_length(k, &at);
  if (end == 0) return false;
  key_group = (uint8_t(k[0]) << 8) | uint8_t(k[1]);
  key.assign(k.substr(at, end - at));
  user_key.assign(k.substr(end));
  return true;
}

template <class V>
V decode_stored(std::string_view bytes, const std::string& state) {
  try {
    return decode_from_bytes<V>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  } catch (const DecodeError& e) {
    throw DecodeError("state '" + state + "' holds a value that cannot be decoded: " + e.what());
  }
}

template <class V>
std::string encode_stored(const V& v) {
  auto b = encode_to_bytes(v);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

/// Every key of a byte-store keyspace (entries of one key are adjacent: the key group and
/// the key lead), until `fn` returns false.
inline void scan_keys(ByteStore& store, int space, const KeyedStateBackend::KeyVisitor& fn) {
  struct Stop {};  // ends the scan early: ByteStore::scan visits everything otherwise
  std::string last;
  try {
    store.scan(space, {}, [&](std::string_view k, std::string_view) {
      size_t at = 0;
      size_t end = key_prefix_length(k, &at);
      if (end == 0) return;
      auto key = k.substr(at, end - at);
      if (!last.empty() && std::string_view(last) == k.substr(0, end)) return;
      last.assign(k.substr(0, end));
      int group = (uint8_t(k[0]) << 8) | uint8_t(k[1]);
      if (!fn(std::string(key), group)) throw Stop{};
    });
  } catch (const Stop&) {
  }
}

template <class V>
class ByteKeyCells final : public KeyCells<V> {
 public:
  ByteKeyCells(KeyedStateBackend& b, ByteStore& s, std::string name)
      : b_(&b), s_(&s), space_(s.keyspace(name)), name_(std::move(name)) {}
  V* find() override {
    compose_key(key_, *b_);
    auto v = s_->get(space_, key_);
    if (!v) return nullptr;
    scratch_ = decode_stored<V>(*v, name_);
    return &scratch_;
  }
  V& upsert() override {
    if (!find()) scratch_ = V{};
    return scratch_;
  }
  V& assign() override {
    scratch_ = V{};
    return scratch_;
  }
  void store() override {
    compose_key(key_, *b_);
    s_->put(space_, key_, encode_stored(scratch_));
  }
  void erase() override {
    compose_key(key_, *b_);
    s_->remove(space_, key_);
  }
  bool append(const V& tail) override {
    compose_key(key_, *b_);
    return s_->append(space_, key_, encode_stored(tail));
  }
  void keys(const KeyedStateBackend::KeyVisitor& fn) override { scan_keys(*s_, space_, fn); }

 private:
  KeyedStateBackend* b_;
  ByteStore* s_;
  int space_;
  std::string name_;
  std::string key_;
  V scratch_{};
};

template <class V>
class ByteMapCells final : public MapCells<V> {
 public:
  ByteMapCells(KeyedStateBackend& b, ByteStore& s, std::string name)
      : b_(&b), s_(&s), space_(s.keyspace(name)), name_(std::move(name)) {}
  V* find(const std::string& uk) override {
    auto v = s_->get(space_, full(uk));
    if (!v) return nullptr;
    scratch_ = decode_stored<V>(*v, name_);
    return &scratch_;
  }
  V& upsert(const std::string& uk) override {
    if (!find(uk)) scratch_ = V{};
    return scratch_;
  }
  V& assign(const std::string&) override {
    scratch_ = V{};
    return scratch_;
  }
  void store(const std::string& uk) override { s_->put(space_, full(uk), encode_stored(scratch_)); }
  void erase(const std::string& uk) override { s_->remove(space_, full(uk)); }
  void visit(const std::function<Visit(std::string_view, V&)>& fn) override {
    compose_key(key_, *b_);
    auto prefix = key_;
    std::vector<std::string> dead;
    std::vector<std::pair<std::string, V>> changed;
    s_->scan(space_, prefix, [&](std::string_view k, std::string_view v) {
      std::string uk(k.substr(prefix.size()));
      V value = decode_stored<V>(v, name_);
      switch (fn(uk, value)) {
        case Visit::erase: dead.push_back(std::string(k)); break;
        case Visit::changed: changed.emplace_back(std::string(k), std::move(value)); break;
        case Visit::keep: break;
      }
    });
    for (auto& k : dead) s_->remove(space_, k);
    for (auto& [k, v] : changed) s_->put(space_, k, encode_stored(v));
  }
  void erase_all() override {
    visit([](std::string_view, V&) { return Visit::erase; });
  }
  void keys(const KeyedStateBackend::KeyVisitor& fn) override { scan_keys(*s_, space_, fn); }

 private:
  const std::string& full(const std::string& uk) {
    compose_key(key_, *b_);
    key_ += uk;
    return key_;
  }
  KeyedStateBackend* b_;
  ByteStore* s_;
  int space_;
  std::string name_;
  std::string key_;
  V scratch_{};
};

/// The storage of state `name` on `b`, heap or bytes, whichever the backend keeps.
template <class V>
KeyCells<V>& key_cells(KeyedStateBackend& b, const std::string& name) {
  if (auto* s = b.byte_store())
    return *b.cached_handle<KeyCells<V>>("cells:" + name, [&] {
      return std::unique_ptr<KeyCells<V>>(new ByteKeyCells<V>(b, *s, name));
    });
  auto* t = b.heap_table(name, [&] { return std::make_unique<HeapKeyCells<V>>(b); });
  auto* cells = dynamic_cast<HeapKeyCells<V>*>(t);
  if (!cells) throw JobError("state '" + name + "' was opened before with another type or TTL");
  return *cells;
}

template <class V>
MapCells<V>& map_cells(KeyedStateBackend& b, const std::string& name) {
  if (auto* s = b.byte_store())
    return *b.cached_handle<MapCells<V>>("cells:" + name, [&] {
      return std::unique_ptr<MapCells<V>>(new ByteMapCells<V>(b, *s, name));
    });
  auto* t = b.heap_table(name, [&] { return std::make_unique<HeapMapCells<V>>(b); });
  auto* cells = dynamic_cast<HeapMapCells<V>*>(t);
  if (!cells) throw JobError("state '" + name + "' was opened before with another type or TTL");
  return *cells;
}

/// TTL arithmetic shared by every state kind.
class Ttl {
 public:
  Ttl(const KeyedStateBackend& b, StateTtl cfg) : b_(&b), cfg_(cfg) {}
  int64_t deadline() const {
    return cfg_.enabled() ? b_->now() + cfg_.ttl.count() : INT64_MAX;
  }
  bool expired(int64_t expires) const { return expires != INT64_MAX && b_->now() >= expires; }
  /// On read: whether reading restarts the entry's clock.
  bool refresh_on_read() const {
    return cfg_.enabled() && cfg_.update == StateTtl::Update::on_read_and_write;
  }

 private:
  const KeyedStateBackend* b_;
  StateTtl cfg_;
};

/// The current key's cell if it is alive: an expired one is erased and reads as absent;
/// with read refresh, reading restarts its clock.
template <class C>
C* read_live(KeyCells<C>& cells, const Ttl& ttl) {
  auto* c = cells.find();
  if (!c) return nullptr;
  if (ttl.expired(c->expires)) {
    cells.erase();
    return nullptr;
  }
  if (ttl.refresh_on_read()) {
    c->set_expires(ttl.deadline());
    cells.store();
  }
  return c;
}

// ---- the state kinds, each once over KeyCells / MapCells

template <class T, class Kind>
class ValueStateImpl final : public ValueState<T> {
 public:
  using Cell = typename Kind::template cell<T>;
  ValueStateImpl(KeyedStateBackend& b, const ValueStateDescriptor<T>& d)
      : cells_(key_cells<Cell>(b, d.name)), ttl_(b, d.ttl) {}
  std::optional<T> value() override {
    auto* c = read_live(cells_, ttl_);
    if (!c) return std::nullopt;
    return c->value;
  }
  void update(T v) override {
    auto& c = cells_.assign();
    c.value = std::move(v);
    c.set_expires(ttl_.deadline());
    cells_.store();
  }
  void clear() override { cells_.erase(); }

 private:
  KeyCells<Cell>& cells_;
  Ttl ttl_;
};

template <class T, class Kind>
class ListStateImpl final : public ListState<T> {
 public:
  using Cell = typename Kind::template cell<T>;
  ListStateImpl(KeyedStateBackend& b, const ListStateDescriptor<T>& d)
      : cells_(key_cells<std::vector<Cell>>(b, d.name)), ttl_(b, d.ttl) {}
  std::vector<T> get() override {
    std::vector<T> out;
    auto* list = cells_.find();
    if (!list) return out;
    size_t before = list->size();
    std::erase_if(*list, [&](const Cell& c) { return ttl_.expired(c.expires); });
    bool refresh = ttl_.refresh_on_read();
    for (auto& c : *list) {
      out.push_back(c.value);
      if (refresh) c.set_expires(ttl_.deadline());
    }
    if (list->empty()) cells_.erase();
    else if (refresh || list->size() != before) cells_.store();
    return out;
  }
  /// A blind append where the storage can (RocksDB's merge operator): no read and rewrite of
  /// the whole list for every element.
  void add(T v) override {
    tail_.clear();
    tail_.push_back(cell(std::move(v)));
    if (cells_.append(tail_)) return;
    cells_.upsert().push_back(std::move(tail_.back()));
    cells_.store();
  }
  void update(std::vector<T> vs) override {
    if (vs.empty()) return clear();
    auto& list = cells_.assign();
    list.clear();
    for (auto& v : vs) list.push_back(cell(std::move(v)));
    cells_.store();
  }
  void clear() override { cells_.erase(); }

 private:
  Cell cell(T v) const {
    Cell c;
    c.value = std::move(v);
    c.set_expires(ttl_.deadline());
    return c;
  }
  KeyCells<std::vector<Cell>>& cells_;
  Ttl ttl_;
  std::vector<Cell> tail_;  // what add() appends
};

template <class K, class V, class Kind>
class MapStateImpl final : public MapState<K, V> {
 public:
  using Entry = std::pair<K, typename Kind::template cell<V>>;
  MapStateImpl(KeyedStateBackend& b, const MapStateDescriptor<K, V>& d)
      : cells_(map_cells<Entry>(b, d.name)), ttl_(b, d.ttl) {}
  std::optional<V> get(const K& k) override {
    auto uk = user_key(k);
    auto* c = live(uk);
    if (!c) return std::nullopt;
    if (ttl_.refresh_on_read()) {
      c->second.set_expires(ttl_.deadline());
      cells_.store(uk);
    }
    return c->second.value;
  }
  void put(const K& k, V v) override {
    auto uk = user_key(k);
    auto& c = cells_.assign(uk);
    c.first = k;
    c.second.value = std::move(v);
    c.second.set_expires(ttl_.deadline());
    cells_.store(uk);
  }
  void remove(const K& k) override { cells_.erase(user_key(k)); }
  bool contains(const K& k) override { return live(user_key(k)) != nullptr; }
  std::vector<std::pair<K, V>> entries() override {
    std::vector<std::pair<K, V>> out;
    bool refresh = ttl_.refresh_on_read();
    cells_.visit([&](std::string_view, Entry& e) {
      if (ttl_.expired(e.second.expires)) return Visit::erase;
      out.emplace_back(e.first, e.second.value);
      if (!refresh) return Visit::keep;
      e.second.set_expires(ttl_.deadline());
      return Visit::changed;
    });
    return out;
  }
  bool empty() override { return entries().empty(); }
  void clear() override { cells_.erase_all(); }

 private:
  static std::string user_key(const K& k) { return encode_stored(k); }
  Entry* live(const std::string& uk) {
    auto* c = cells_.find(uk);
    if (c && ttl_.expired(c->second.expires)) {
      cells_.erase(uk);
      return nullptr;
    }
    return c;
  }
  MapCells<Entry>& cells_;
  Ttl ttl_;
};

template <class T, class Kind>
class ReducingStateImpl final : public ReducingState<T> {
 public:
  using Cell = typename Kind::template cell<T>;
  ReducingStateImpl(KeyedStateBackend& b, const ReducingStateDescriptor<T>& d)
      : cells_(key_cells<Cell>(b, d.name)), ttl_(b, d.ttl), reduce_(d.reduce) {
    if (!reduce_) throw JobError("reducing state '" + d.name + "' has no reduce function");
  }
  std::optional<T> get() override {
    auto* c = read_live(cells_, ttl_);
    if (!c) return std::nullopt;
    return c->value;
  }
  void add(T v) override {
    auto* c = cells_.find();
    if (c && !ttl_.expired(c->expires)) {
      c->value = reduce_(std::move(c->value), std::move(v));
    } else {
      c = &cells_.assign();
      c->value = std::move(v);
    }
    c->set_expires(ttl_.deadline());
    cells_.store();
  }
  void clear() override { cells_.erase(); }

 private:
  KeyCells<Cell>& cells_;
  Ttl ttl_;
  std::function<T(T, T)> reduce_;
};

template <class In, class Acc, class Out, class Kind>
class AggregatingStateImpl final : public AggregatingState<In, Out> {
 public:
  using Cell = typename Kind::template cell<Acc>;
  AggregatingStateImpl(KeyedStateBackend& b, const AggregatingStateDescriptor<In, Acc, Out>& d)
      : cells_(key_cells<Cell>(b, d.name)), ttl_(b, d.ttl), fn_(d.function) {
    if (!fn_) throw JobError("aggregating state '" + d.name + "' has no aggregate function");
  }
  std::optional<Out> get() override {
    auto* c = read_live(cells_, ttl_);
    if (!c) return std::nullopt;
    return fn_->get_result(c->value);
  }
  void add(const In& v) override {
    auto* c = cells_.find();
    if (!c || ttl_.expired(c->expires)) {
      c = &cells_.assign();
      c->value = fn_->create_accumulator();
    }
    fn_->add(v, c->value);
    c->set_expires(ttl_.deadline());
    cells_.store();
  }
  void clear() override { cells_.erase(); }

 private:
  KeyCells<Cell>& cells_;
  Ttl ttl_;
  std::shared_ptr<const AggregateFunction<In, Acc, Out>> fn_;
};

// ---- opening handles (cached per name for the operator's lifetime)

/// What a state's stored bytes depend on: its kind, its value types, whether it has a TTL.
template <class... Ts>
std::string state_fingerprint(const char* kind, bool ttl) {
  std::string fp = kind;
  fp += "<";
  bool first = true;
  ((fp += first ? "" : ",", first = false, fp += typeid(Ts).name()), ...);
  fp += ">";
  if (ttl) fp += "+ttl";
  return fp;
}

/// The console's rendering of a single-value state for the current key: `show(value)` as
/// JSON, or null when absent or expired. Reads without refreshing a TTL or erasing.
template <class Cell, class Show>
void inspect_cell(KeyedStateBackend& b, const std::string& name, StateTtl ttl, Show show) {
  auto& cells = key_cells<Cell>(b, name);
  b.add_inspector(name, {[&cells, t = Ttl(b, ttl), show] {
                           std::string out;
                           auto* c = cells.find();
                           if (!c || t.expired(c->expires)) return std::string("null");
                           write_json(out, show(c->value));
                           return out;
                         },
                         [&cells](const KeyedStateBackend::KeyVisitor& fn) { cells.keys(fn); }});
}

template <class T>
ValueState<T>& open_state(KeyedStateBackend& b, const ValueStateDescriptor<T>& d) {
  return *b.cached_handle<ValueState<T>>(d.name, [&] {
    b.declare_state(d.name, state_fingerprint<T>("value", d.ttl.enabled()));
    return with_cell(d.ttl, [&](auto kind) -> std::unique_ptr<ValueState<T>> {
      using Impl = ValueStateImpl<T, decltype(kind)>;
      auto h = std::make_unique<Impl>(b, d);
      inspect_cell<typename Impl::Cell>(b, d.name, d.ttl, [](const T& v) -> const T& { return v; });
      return h;
    });
  });
}
template <class T>
ListState<T>& open_state(KeyedStateBackend& b, const ListStateDescriptor<T>& d) {
  return *b.cached_handle<ListState<T>>(d.name, [&] {
    b.declare_state(d.name, state_fingerprint<T>("list", d.ttl.enabled()));
    return with_cell(d.ttl, [&](auto kind) -> std::unique_ptr<ListState<T>> {
      using Impl = ListStateImpl<T, decltype(kind)>;
      auto h = std::make_unique<Impl>(b, d);
      auto& cells = key_cells<std::vector<typename Impl::Cell>>(b, d.name);
      auto render = [&cells, t = Ttl(b, d.ttl)] {
        auto* list = cells.find();
        if (!list) return std::string("null");
        std::string out = "[";
        bool first = true;
        for (const auto& c : *list) {
          if (t.expired(c.expires)) continue;
          if (!first) out += ',';
          first = false;
          write_json(out, c.value);
        }
        return first ? std::string("null") : out + "]";
      };
      b.add_inspector(d.name, {render, [&cells](const KeyedStateBackend::KeyVisitor& fn) { cells.keys(fn); }});
      return h;
    });
  });
}
template <class K, class V>
MapState<K, V>& open_state(KeyedStateBackend& b, const MapStateDescriptor<K, V>& d) {
  return *b.cached_handle<MapState<K, V>>(d.name, [&] {
    b.declare_state(d.name, state_fingerprint<K, V>("map", d.ttl.enabled()));
    return with_cell(d.ttl, [&](auto kind) -> std::unique_ptr<MapState<K, V>> {
      using Impl = MapStateImpl<K, V, decltype(kind)>;
      using Entry = typename Impl::Entry;
      auto h = std::make_unique<Impl>(b, d);
      auto& cells = map_cells<Entry>(b, d.name);
      auto render = [&cells, t = Ttl(b, d.ttl)] {
        std::string out = "[";
        bool first = true;
        cells.visit([&](std::string_view, Entry& e) {
          if (t.expired(e.second.expires)) return Visit::keep;
          if (!first) out += ',';
          first = false;
          out += '[';
          write_json(out, e.first);
          out += ',';
          write_json(out, e.second.value);
          out += ']';
          return Visit::keep;
        });
        return first ? std::string("null") : out + "]";
      };
      b.add_inspector(d.name, {render, [&cells](const KeyedStateBackend::KeyVisitor& fn) { cells.keys(fn); }});
      return h;
    });
  });
}
template <class T>
ReducingState<T>& open_state(KeyedStateBackend& b, const ReducingStateDescriptor<T>& d) {
  return *b.cached_handle<ReducingState<T>>(d.name, [&] {
    b.declare_state(d.name, state_fingerprint<T>("reducing", d.ttl.enabled()));
    return with_cell(d.ttl, [&](auto kind) -> std::unique_ptr<ReducingState<T>> {
      using Impl = ReducingStateImpl<T, decltype(kind)>;
      auto h = std::make_unique<Impl>(b, d);
      inspect_cell<typename Impl::Cell>(b, d.name, d.ttl, [](const T& v) -> const T& { return v; });
      return h;
    });
  });
}
template <class In, class Acc, class Out>
AggregatingState<In, Out>& open_state(KeyedStateBackend& b,
                                      const AggregatingStateDescriptor<In, Acc, Out>& d) {
  return *b.cached_handle<AggregatingState<In, Out>>(d.name, [&] {
    b.declare_state(d.name, state_fingerprint<Acc>("aggregating", d.ttl.enabled()));
    return with_cell(d.ttl, [&](auto kind) -> std::unique_ptr<AggregatingState<In, Out>> {
      using Impl = AggregatingStateImpl<In, Acc, Out, decltype(kind)>;
      auto h = std::make_unique<Impl>(b, d);
      inspect_cell<typename Impl::Cell>(b, d.name, d.ttl,
                                        [fn = d.function](const Acc& acc) { return fn->get_result(acc); });
      return h;
    });
  });
}

}  // namespace sluice::detail
