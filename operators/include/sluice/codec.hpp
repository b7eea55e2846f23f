// operators/include/sluice/codec.hpp — Codec<T>: how a record type becomes bytes and back.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "sluice/error.hpp"

namespace sluice {

/// Appends bytes to a growing buffer; the buffer is reused between records.
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>& out) : out_(&out) {}
  void write(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    out_->insert(out_->end(), b, b + n);  // resize would zero the bytes first
  }
  /// Unsigned LEB128: lengths and counts cost one byte when small.
  void write_varint(uint64_t v) {
    while (v >= 0x80) {
      out_->push_back(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    out_->push_back(static_cast<uint8_t>(v));
  }
  std::vector<uint8_t>& buffer() { return *out_; }

 private:
  std::vector<uint8_t>* out_;
};

/// Reads a record's bytes in place; every read is bounds-checked and throws DecodeError.
class ByteReader {
 public:
  ByteReader(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}
  explicit ByteReader(std::string_view s)
      : ByteReader(reinterpret_cast<const uint8_t*>(s.data()), s.size()) {}
  void read(void* dst, size_t n) {
    need(n);
    std::memcpy(dst, p_, n);
    p_ += n;
  }
  /// A view of the next n bytes, without copying them.
  std::string_view view(size_t n) {
    need(n);
    std::string_view s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  uint64_t read_varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      need(1);
      uint8_t b = *p_++;
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw DecodeError("malformed length prefix in record bytes");
  }
  size_t remaining() const { return size_t(end_ - p_); }

 private:
  void need(size_t n) const {
    if (size_t(end_ - p_) < n)
      throw DecodeError("record bytes end early: needed " + std::to_string(n) + " more byte(s), " +
                        std::to_string(end_ - p_) + " left");
  }
  const uint8_t* p_;
  const uint8_t* end_;
};

/// Codec<T> turns a T into bytes (encode) and back (decode). Specialise it, or use
/// SLUICE_CODEC(Type, field...) for a struct. The byte form is also what keys are hashed over,
/// so it must be deterministic: equal values encode to equal bytes.
template <class T, class = void>
struct Codec;

template <class T>
struct Codec<T, std::enable_if_t<std::is_arithmetic_v<T> || std::is_enum_v<T>>> {
  static void encode(const T& v, ByteWriter& w) { w.write(&v, sizeof(T)); }
  static T decode(ByteReader& r) {
    T v;
    r.read(&v, sizeof(T));
    return v;
  }
};

template <>
struct Codec<std::string> {
  static void encode(const std::string& v, ByteWriter& w) {
    w.write_varint(v.size());
    w.write(v.data(), v.size());
  }
  static std::string decode(ByteReader& r) {
    auto n = r.read_varint();
    return std::string(r.view(n));
  }
};

template <>
struct Codec<std::vector<uint8_t>> {
  static void encode(const std::vector<uint8_t>& v, ByteWriter& w) {
    w.write_varint(v.size());
    w.write(v.data(), v.size());
  }
  static std::vector<uint8_t> decode(ByteReader& r) {
    auto n = r.read_varint();
    auto s = r.view(n);
    return std::vector<uint8_t>(s.begin(), s.end());
  }
};

template <class A, class B>
struct Codec<std::pair<A, B>> {
  static void encode(const std::pair<A, B>& v, ByteWriter& w) {
    Codec<A>::encode(v.first, w);
    Codec<B>::encode(v.second, w);
  }
  static std::pair<A, B> decode(ByteReader& r) {
    A a = Codec<A>::decode(r);
    B b = Codec<B>::decode(r);
    return {std::move(a), std::move(b)};
  }
};

template <class... Ts>
struct Codec<std::tuple<Ts...>> {
  static void encode(const std::tuple<Ts...>& v, ByteWriter& w) {
    std::apply([&](const Ts&... xs) { (Codec<Ts>::encode(xs, w), ...); }, v);
  }
  static std::tuple<Ts...> decode(ByteReader& r) {
    // Braced initialisation evaluates left to right, matching the encoding order.
    return std::tuple<Ts...>{Codec<Ts>::decode(r)...};
  }
};

template <class T>
struct Codec<std::optional<T>> {
  static void encode(const std::optional<T>& v, ByteWriter& w) {
    uint8_t has = v.has_value();
    w.write(&has, 1);
    if (v) Codec<T>::encode(*v, w);
  }
  static std::optional<T> decode(ByteReader& r) {
    uint8_t has;
    r.read(&has, 1);
    if (has > 1) throw DecodeError("malformed optional flag in record bytes");
    if (!has) return std::nullopt;
    return Codec<T>::decode(r);
  }
};

template <class T>
struct Codec<std::vector<T>, std::enable_if_t<!std::is_same_v<T, uint8_t>>> {
  static void encode(const std::vector<T>& v, ByteWriter& w) {
    w.write_varint(v.size());
    for (const auto& x : v) Codec<T>::encode(x, w);
  }
  static std::vector<T> decode(ByteReader& r) {
    auto n = r.read_varint();
    if (n > r.remaining()) throw DecodeError("vector length exceeds the record's bytes");
    std::vector<T> v;
    v.reserve(n);
    for (uint64_t i = 0; i < n; ++i) v.push_back(Codec<T>::decode(r));
    return v;
  }
};

/// Maps encode in key order, so equal maps give equal bytes.
template <class K, class V>
struct Codec<std::map<K, V>> {
  static void encode(const std::map<K, V>& m, ByteWriter& w) {
    w.write_varint(m.size());
    for (const auto& [k, v] : m) {
      Codec<K>::encode(k, w);
      Codec<V>::encode(v, w);
    }
  }
  static std::map<K, V> decode(ByteReader& r) {
    auto n = r.read_varint();
    if (n > r.remaining()) throw DecodeError("map size exceeds the record's bytes");
    std::map<K, V> m;
    for (uint64_t i = 0; i < n; ++i) {
      K k = Codec<K>::decode(r);
      m.emplace(std::move(k), Codec<V>::decode(r));
    }
    return m;
  }
};

/// Unordered maps encode sorted by key so that equal maps give equal bytes.
template <class K, class V>
struct Codec<std::unordered_map<K, V>> {
  static void encode(const std::unordered_map<K, V>& m, ByteWriter& w) {
    std::vector<const std::pair<const K, V>*> items;
    items.reserve(m.size());
    for (const auto& kv : m) items.push_back(&kv);
    std::sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
    w.write_varint(items.size());
    for (auto* kv : items) {
      Codec<K>::encode(kv->first, w);
      Codec<V>::encode(kv->second, w);
    }
  }
  static std::unordered_map<K, V> decode(ByteReader& r) {
    auto n = r.read_varint();
    if (n > r.remaining()) throw DecodeError("map size exceeds the record's bytes");
    std::unordered_map<K, V> m;
    for (uint64_t i = 0; i < n; ++i) {
      K k = Codec<K>::decode(r);
      m.emplace(std::move(k), Codec<V>::decode(r));
    }
    return m;
  }
};

/// Variants encode their alternative's index (one byte) and then the value.
template <class... Ts>
struct Codec<std::variant<Ts...>> {
  static_assert(sizeof...(Ts) < 256, "at most 255 alternatives");
  static void encode(const std::variant<Ts...>& v, ByteWriter& w) {
    uint8_t index = uint8_t(v.index());
    w.write(&index, 1);
    std::visit([&](const auto& x) { Codec<std::decay_t<decltype(x)>>::encode(x, w); }, v);
  }
  static std::variant<Ts...> decode(ByteReader& r) {
    uint8_t index;
    r.read(&index, 1);
    return decode_at<0>(index, r);
  }

 private:
  template <size_t I>
  static std::variant<Ts...> decode_at(uint8_t index, ByteReader& r) {
    if constexpr (I == sizeof...(Ts)) {
      throw DecodeError("variant index " + std::to_string(index) + " out of range");
    } else {
      if (index == I) return std::variant<Ts...>(std::in_place_index<I>, Codec<std::variant_alternative_t<I, std::variant<Ts...>>>::decode(r));
      return decode_at<I + 1>(index, r);
    }
  }
};

/// Encodes a value into a fresh byte vector (tests, keys).
template <class T>
std::vector<uint8_t> encode_to_bytes(const T& v) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  Codec<T>::encode(v, w);
  return out;
}

/// Decodes a whole byte string; trailing bytes are an error.
template <class T>
T decode_from_bytes(const uint8_t* p, size_t n) {
  ByteReader r(p, n);
  T v = Codec<T>::decode(r);
  if (r.remaining() != 0)
    throw DecodeError("record has " + std::to_string(r.remaining()) + " unread trailing byte(s)");
  return v;
}

/// The same, as a string (checkpoint state travels as strings).
template <class T>
std::string encode_to_string(const T& v) {
  auto b = encode_to_bytes(v);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}
template <class T>
T decode_from_string(std::string_view s) {
  return decode_from_bytes<T>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace sluice

#define SLUICE_CODEC_ENC_(f) ::sluice::Codec<decltype(v.f)>::encode(v.f, w);
#define SLUICE_CODEC_DEC_(f) v.f = ::sluice::Codec<decltype(v.f)>::decode(r);
#define SLUICE_CODEC_FIELD_(f) fn(#f, v.f);
#define SLUICE_CODEC_EXPAND_(x) x
#define SLUICE_CODEC_FE_1(m, a) m(a)
#define SLUICE_CODEC_FE_2(m, a, ...) m(a) SLUICE_CODEC_EXPAND_(SLUICE_CODEC_FE_1(m, __VA_ARGS__))
#define SLUICE_CODEC_FE_3(m, a, ...) m(a) SLUICE_CODEC_EXPAND_(SLUICE_CODEC_FE_2(m, __VA_ARGS__))
#define SLUICE_CODEC_FE_4(m, a, ...) m(a) SLUICE_CODEC_EXPAND_(SLUICE_CODEC_FE_3(m, __VA_ARGS__))
#define SLUICE_CODEC_FE_5(m, a, ...) m(a) SLUICE_CODEC_EXPAND_(SLUICE_CODEC_FE_4(m, __VA_ARGS__))
#define SLUICE_CODEC_FE_6(m, a, ...) m(a) SLUICE_CODEC_EXPAND_(SLUICE_CODEC_FE_5(m, __VA_ARGS__))
#define SLUICE_CODEC_FE_7(m, a, ...) m(a) SLUICE_CODEC_EXPAND_(SLUICE_CODEC_FE_6(m, __VA_ARGS__))
#define SLUICE_CODEC_FE_8(m, a, ...) m(a) SLUICE_CODEC_EXPAND_(SLUICE_CODEC_FE_7(m, __VA_ARGS__))
#define SLUICE_CODEC_FE_9(m, a, ...) m(a) SLUICE_CODEC_EXPAND_(SLUICE_CODEC_FE_8(m, __VA_ARGS__))
#define SLUICE_CODEC_FE_10(m, a, ...) m(a) SLUICE_CODEC_EXPAND_(SLUICE_CODEC_FE_9(m, __VA_ARGS__))
#define SLUICE_CODEC_FE_11(m, a, ...) m(a) SLUICE_CODEC_EXPAND_(SLUICE_CODEC_FE_10(m, __VA_ARGS__))
#define SLUICE_CODEC_FE_12(m, a, ...) m(a) SLUICE_CODEC_EXPAND_(SLUICE_CODEC_FE_11(m, __VA_ARGS__))
#define SLUICE_CODEC_PICK_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, N, ...) N
#define SLUICE_CODEC_FOR_EACH_(m, ...)                                                        \
  SLUICE_CODEC_EXPAND_(SLUICE_CODEC_PICK_(__VA_ARGS__, SLUICE_CODEC_FE_12, SLUICE_CODEC_FE_11, \
                                          SLUICE_CODEC_FE_10, SLUICE_CODEC_FE_9,               \
                                          SLUICE_CODEC_FE_8, SLUICE_CODEC_FE_7,                \
                                          SLUICE_CODEC_FE_6, SLUICE_CODEC_FE_5,                \
                                          SLUICE_CODEC_FE_4, SLUICE_CODEC_FE_3,                \
                                          SLUICE_CODEC_FE_2, SLUICE_CODEC_FE_1)(m, __VA_ARGS__))

/// Declares Codec<Type> for a default-constructible struct by listing its fields (at most 12),
/// at global namespace scope: SLUICE_CODEC(my::Point, x, y); `fields` names them for the
/// console's JSON (sluice/json.hpp).
#define SLUICE_CODEC(Type, ...)                                                 \
  template <>                                                                   \
  struct sluice::Codec<Type> {                                                  \
    static void encode(const Type& v, ::sluice::ByteWriter& w) {                \
      SLUICE_CODEC_FOR_EACH_(SLUICE_CODEC_ENC_, __VA_ARGS__)                    \
    }                                                                           \
    static Type decode(::sluice::ByteReader& r) {                               \
      Type v{};                                                                 \
      SLUICE_CODEC_FOR_EACH_(SLUICE_CODEC_DEC_, __VA_ARGS__)                    \
      return v;                                                                 \
    }                                                                           \
    template <class F>                                                          \
    static void fields(Type& v, F&& fn) {                                       \
      SLUICE_CODEC_FOR_EACH_(SLUICE_CODEC_FIELD_, __VA_ARGS__)                  \
    }                                                                           \
  }
