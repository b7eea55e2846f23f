// operators/include/sluice/format.hpp — a record as one line of text, for the print and file sinks.
#pragma once

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace sluice {

template <class T>
void format_to(std::string& out, const T& v);

namespace detail {
template <class T, class = void>
struct is_streamable : std::false_type {};
template <class T>
struct is_streamable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};
template <class T>
struct is_pair : std::false_type {};
template <class A, class B>
struct is_pair<std::pair<A, B>> : std::true_type {};
template <class T>
struct is_tuple : std::false_type {};
template <class... Ts>
struct is_tuple<std::tuple<Ts...>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
}  // namespace detail

/// Appends the text form of `v`: numbers as numbers, strings as they are, pairs and tuples
/// as `(a,b)`, vectors as `[a,b]`, optionals as the value or `null`, other types through
/// their operator<<.
template <class T>
void format_to(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    out += v;
  } else if constexpr (std::is_same_v<T, bool>) {
    out += v ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    out += std::to_string(v);
  } else if constexpr (detail::is_pair<T>::value) {
    out += '(';
    format_to(out, v.first);
    out += ',';
    format_to(out, v.second);
    out += ')';
  } else if constexpr (detail::is_tuple<T>::value) {
    out += '(';
    std::apply(
        [&](const auto&... xs) {
          bool first = true;
          ((out += first ? "" : ",", first = false, format_to(out, xs)), ...);
        },
        v);
    out += ')';
  } else if constexpr (detail::is_vector<T>::value) {
    out += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out += ',';
      format_to(out, v[i]);
    }
    out += ']';
  } else if constexpr (detail::is_optional<T>::value) {
    if (v) format_to(out, *v);
    else out += "null";
  } else if constexpr (detail::is_streamable<T>::value) {
    std::ostringstream os;
    os << v;
    out += os.str();
  } else {
    static_assert(detail::is_streamable<T>::value,
                  "no text form for this record type: give it an operator<<");
  }
}

template <class T>
std::string format_record(const T& v) {
  std::string s;
  format_to(s, v);
  return s;
}

}  // namespace sluice
