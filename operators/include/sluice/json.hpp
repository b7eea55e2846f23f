// operators/include/sluice/json.hpp — records as JSON text and back, for the console's keyed-state lookups: values written as JSON, keys read from a parsed JSON value.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/codec.hpp"
#include "sluice/format.hpp"

namespace sluice {

/// A parsed JSON value (the runtime parses; templates below read it into a typed key).
struct JsonValue {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  std::string text;  ///< string: the string; number, boolean, null: the literal
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> fields;
};

namespace detail {
template <class T, class = void>
struct has_fields : std::false_type {};
/// A struct declared with SLUICE_CODEC lists its fields by name.
template <class T>
struct has_fields<T, std::void_t<decltype(Codec<T>::fields(std::declval<T&>(), [](const char*, auto&) {}))>>
    : std::true_type {};
template <class T>
struct is_string_map : std::false_type {};
template <class V>
struct is_string_map<std::map<std::string, V>> : std::true_type {};
template <class T>
struct is_map : std::false_type {};
template <class K, class V>
struct is_map<std::map<K, V>> : std::true_type {};

/// The length of the UTF-8 sequence starting at `s[i]`, or 0 when it is not valid UTF-8.
inline size_t utf8_length(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 0;
  return n;
}

/// `s` as a JSON string; bytes that are not UTF-8 become U+FFFD.
inline void write_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = utf8_length(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += char(c);
        }
    }
    ++i;
  }
  out += '"';
}

[[noreturn]] inline void not_a(const char* what, const JsonValue& v) {
  static const char* kinds[] = {"null", "a boolean", "a number", "a string", "an array", "an object"};
  throw std::invalid_argument(std::string("expected ") + what + ", got " + kinds[int(v.kind)]);
}
}  // namespace detail

/// Appends `v` as JSON: numbers, strings, booleans; pairs, tuples and vectors as arrays; maps
/// with string keys as objects, others as arrays of [key, value]; optionals as the value or
/// null; structs declared with SLUICE_CODEC as objects by field name; other types as the
/// string their operator<< writes, or "(no text form)".
template <class T>
void write_json(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    out += v ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    out += std::to_string(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(v)) {
      out += "null";
    } else {
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
      out.append(buf, ec == std::errc() ? end : buf);
    }
  } else if constexpr (std::is_same_v<T, std::string>) {
    detail::write_json_string(out, v);
  } else if constexpr (detail::is_pair<T>::value || detail::is_tuple<T>::value) {
    out += '[';
    std::apply(
        [&](const auto&... xs) {
          bool first = true;
          ((out += first ? "" : ",", first = false, write_json(out, xs)), ...);
        },
        v);
    out += ']';
  } else if constexpr (detail::is_vector<T>::value) {
    out += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out += ',';
      write_json(out, v[i]);
    }
    out += ']';
  } else if constexpr (detail::is_string_map<T>::value) {
    out += '{';
    bool first = true;
    for (const auto& [k, x] : v) {
      if (!first) out += ',';
      first = false;
      detail::write_json_string(out, k);
      out += ':';
      write_json(out, x);
    }
    out += '}';
  } else if constexpr (detail::is_map<T>::value) {
    out += '[';
    bool first = true;
    for (const auto& e : v) {
      if (!first) out += ',';
      first = false;
      write_json(out, std::pair(e.first, e.second));
    }
    out += ']';
  } else if constexpr (detail::is_optional<T>::value) {
    if (v) write_json(out, *v);
    else out += "null";
  } else if constexpr (detail::has_fields<T>::value) {
    out += '{';
    bool first = true;
    Codec<T>::fields(const_cast<T&>(v), [&](const char* name, const auto& field) {
      if (!first) out += ',';
      first = false;
      detail::write_json_string(out, name);
      out += ':';
      write_json(out, field);
    });
    out += '}';
  } else if constexpr (detail::is_streamable<T>::value) {
    std::string text;
    format_to(text, v);
    detail::write_json_string(out, text);
  } else {
    out += "\"(no text form)\"";
  }
}

/// Reads `v` as a T: the inverse of write_json for the types it writes as JSON (a string T
/// also takes the literal of a number, true, false or null). Throws std::invalid_argument saying what did not fit.
template <class T>
T from_json(const JsonValue& v) {
  using K = JsonValue::Kind;
  if constexpr (std::is_same_v<T, bool>) {
    if (v.kind != K::boolean) detail::not_a("true or false", v);
    return v.boolean;
  } else if constexpr (std::is_integral_v<T>) {
    if (v.kind != K::number && v.kind != K::string) detail::not_a("a whole number", v);
    T out{};
    auto [end, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), out);
    if (ec != std::errc() || end != v.text.data() + v.text.size())
      throw std::invalid_argument("'" + v.text + "' is not a whole number of the key's type");
    return out;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (v.kind != K::number) detail::not_a("a number", v);
    return T(std::stod(v.text));
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (v.kind == K::array || v.kind == K::object) detail::not_a("a string", v);
    return v.text;  // a number, true, false or null typed as a string key is its literal
  } else if constexpr (detail::is_pair<T>::value || detail::is_tuple<T>::value) {
    constexpr size_t n = std::tuple_size_v<T>;
    if (v.kind != K::array || v.items.size() != n)
      throw std::invalid_argument("expected an array of " + std::to_string(n) + " items");
    return [&]<size_t... I>(std::index_sequence<I...>) {
      return T{from_json<std::tuple_element_t<I, T>>(v.items[I])...};
    }(std::make_index_sequence<n>{});
  } else if constexpr (detail::is_vector<T>::value) {
    if (v.kind != K::array) detail::not_a("an array", v);
    T out;
    for (const auto& x : v.items) out.push_back(from_json<typename T::value_type>(x));
    return out;
  } else if constexpr (detail::is_optional<T>::value) {
    if (v.kind == K::null) return std::nullopt;
    return from_json<typename T::value_type>(v);
  } else if constexpr (detail::has_fields<T>::value) {
    if (v.kind != K::object) detail::not_a("an object", v);
    T out{};
    Codec<T>::fields(out, [&](const char* name, auto& field) {
      for (const auto& [k, x] : v.fields)
        if (k == name) {
          field = from_json<std::decay_t<decltype(field)>>(x);
          return;
        }
      throw std::invalid_argument(std::string("the object has no field '") + name + "'");
    });
    return out;
  } else {
    throw std::invalid_argument("keys of this type cannot be typed in (declare it with SLUICE_CODEC)");
  }
}

}  // namespace sluice
