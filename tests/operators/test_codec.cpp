// tests/operators/test_codec.cpp — codecs round-trip every supported type and reject malformed bytes; murmur3 and key groups.
#include <catch2/catch.hpp>

#include <sluice/codec.hpp>
#include <sluice/hash.hpp>

namespace test_types {
struct Point {
  int32_t x = 0;
  int32_t y = 0;
  std::string label;
  std::optional<double> weight;
  bool operator==(const Point&) const = default;
};
}  // namespace test_types
SLUICE_CODEC(test_types::Point, x, y, label, weight);

using namespace sluice;

template <class T>
T round_trip(const T& v) {
  auto bytes = encode_to_bytes(v);
  return decode_from_bytes<T>(bytes.data(), bytes.size());
}

TEST_CASE("codecs round-trip every supported type", "[codec]") {
  CHECK(round_trip<int64_t>(-42) == -42);
  CHECK(round_trip<double>(2.5) == 2.5);
  CHECK(round_trip<bool>(true));
  CHECK(round_trip<std::string>("") == "");
  CHECK(round_trip<std::string>(std::string(300, 'x')) == std::string(300, 'x'));
  CHECK(round_trip(std::vector<uint8_t>{0, 255, 7}) == std::vector<uint8_t>{0, 255, 7});
  CHECK(round_trip(std::make_pair(std::string("a"), int64_t(3))) ==
        std::make_pair(std::string("a"), int64_t(3)));
  CHECK(round_trip(std::make_tuple(1, std::string("b"), 2.0)) == std::make_tuple(1, std::string("b"), 2.0));
  CHECK(round_trip(std::optional<int>()) == std::nullopt);
  CHECK(round_trip(std::optional<int>(5)) == 5);
  CHECK(round_trip(std::vector<std::string>{"x", "", "yz"}) == std::vector<std::string>{"x", "", "yz"});
  std::map<std::string, int> m{{"b", 2}, {"a", 1}};
  CHECK(round_trip(m) == m);
  std::unordered_map<int, std::string> um{{3, "c"}, {1, "a"}, {2, "b"}};
  CHECK(round_trip(um) == um);
  test_types::Point p{3, -4, "here", 1.5};
  CHECK(round_trip(p) == p);
}

TEST_CASE("equal values encode to equal bytes", "[codec]") {
  std::unordered_map<int, int> a, b;
  for (int i = 0; i < 100; ++i) a[i] = i;
  for (int i = 99; i >= 0; --i) b[i] = i;
  CHECK(encode_to_bytes(a) == encode_to_bytes(b));
}

TEST_CASE("malformed bytes give a DecodeError, never a crash", "[codec]") {
  auto bytes = encode_to_bytes(std::string("hello world"));
  for (size_t cut = 0; cut < bytes.size(); ++cut)
    CHECK_THROWS_AS(decode_from_bytes<std::string>(bytes.data(), cut), DecodeError);
  auto extra = bytes;
  extra.push_back(0);
  CHECK_THROWS_WITH(decode_from_bytes<std::string>(extra.data(), extra.size()),
                    Catch::Contains("trailing"));
  std::vector<uint8_t> huge_length = {0xff, 0xff, 0xff, 0xff, 0x0f};
  CHECK_THROWS_AS(decode_from_bytes<std::vector<int64_t>>(huge_length.data(), huge_length.size()),
                  DecodeError);
  std::vector<uint8_t> bad_optional = {7};
  CHECK_THROWS_AS(decode_from_bytes<std::optional<int>>(bad_optional.data(), 1), DecodeError);
}

TEST_CASE("murmur3 x86_32 matches the reference vectors", "[hash]") {
  CHECK(murmur3_32("", 0, 0) == 0u);
  CHECK(murmur3_32("", 0, 1) == 0x514E28B7u);
  CHECK(murmur3_32("hello", 5, 0) == 0x248bfa47u);
  const char* fox = "The quick brown fox jumps over the lazy dog";
  CHECK(murmur3_32(fox, std::strlen(fox), 0) == 0x2e4ff723u);
}

TEST_CASE("key groups map to contiguous subtask ranges", "[hash]") {
  for (int max_p : {1, 7, 128, 1000}) {
    for (int p = 1; p <= std::min(max_p, 33); ++p) {
      int covered = 0;
      for (int s = 0; s < p; ++s) {
        auto r = key_group_range(s, max_p, p);
        CHECK(r.first == covered);
        for (int kg = r.first; kg < r.end; ++kg) CHECK(subtask_for_key_group(kg, max_p, p) == s);
        covered = r.end;
      }
      CHECK(covered == max_p);
    }
  }
}
