// apps/nexmark/java_random.hpp — java.util.Random, bit for bit, as Beam's generator draws it.
#pragma once

#include <cstdint>
#include <stdexcept>

namespace sluice::nexmark {

/// The JDK's `java.util.Random`: a 48-bit linear congruential generator whose every method
/// returns exactly what the JDK returns for the same seed and call sequence (JDK 8 and later).
/// Java's signed 32/64-bit wrap-around is reproduced with unsigned arithmetic, never by
/// relying on signed overflow.
class JavaRandom {
 public:
  /// Mirrors `new Random(seed)`: the seed is scrambled with the multiplier.
  explicit JavaRandom(int64_t seed) { set_seed(seed); }

  /// Mirrors `Random.setSeed(long)`.
  void set_seed(int64_t seed) { seed_ = (static_cast<uint64_t>(seed) ^ multiplier) & mask; }

  /// Mirrors `Random.next(int bits)`: advances the LCG and returns its top `bits` bits as a
  /// Java int (for bits == 32 the value may be negative).
  int32_t next(int bits) {
    seed_ = (seed_ * multiplier + addend) & mask;
    return static_cast<int32_t>(static_cast<uint32_t>(seed_ >> (48 - bits)));
  }

  /// Mirrors `Random.nextInt()`: uniform over all 2^32 int values.
  int32_t next_int() { return next(32); }

  /// Mirrors `Random.nextInt(int bound)`: uniform in [0, bound). A power-of-two bound takes the
  /// high bits; any other bound rejects draws from the incomplete last interval, which is what
  /// Java's `u - r + m < 0` int-overflow test does.
  int32_t next_int(int32_t bound) {
    if (bound <= 0) throw std::invalid_argument("JavaRandom::next_int: bound must be positive");
    int32_t r = next(31);
    const int32_t m = bound - 1;
    if ((bound & m) == 0) {
      return static_cast<int32_t>((static_cast<int64_t>(bound) * r) >> 31);
    }
    for (int32_t u = r;; u = next(31)) {
      r = u % bound;
      if (static_cast<int64_t>(u) - r + m <= INT32_MAX) return r;
    }
  }

  /// Mirrors `Random.nextLong()`: `((long) next(32) << 32) + next(32)`, the second term
  /// sign-extended.
  int64_t next_long() {
    const auto high = static_cast<uint64_t>(static_cast<int64_t>(next(32))) << 32;
    const auto low = static_cast<uint64_t>(static_cast<int64_t>(next(32)));
    return static_cast<int64_t>(high + low);
  }

  /// Mirrors `Random.nextDouble()`: 53 random bits scaled into [0, 1).
  double next_double() {
    const int64_t high = static_cast<int64_t>(next(26)) << 27;
    return static_cast<double>(high + next(27)) * 0x1.0p-53;
  }

  /// Mirrors `Random.nextBoolean()`.
  bool next_boolean() { return next(1) != 0; }

 private:
  static constexpr uint64_t multiplier = 0x5DEECE66DULL;
  static constexpr uint64_t addend = 0xBULL;
  static constexpr uint64_t mask = (uint64_t{1} << 48) - 1;

  uint64_t seed_ = 0;
};

}  // namespace sluice::nexmark
