// actors/capnp_buffer.hpp — a Cap'n Proto message to a ControlBuffer and back, every fault of the bytes one DecodeError (for the .cpp files that encode control messages).
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "actors/control.hpp"
#include "sluice/error.hpp"

namespace sluice::runtime::capnp_io {

inline ControlBuffer to_buffer(capnp::MessageBuilder& b) {
  auto words = capnp::messageToFlatArray(b);
  ControlBuffer out(words.size());
  std::memcpy(out.data(), words.begin(), words.size() * sizeof(capnp::word));
  return out;
}

/// Reads a message of type R from `b` and converts it with `fn`; any fault of the bytes
/// becomes one DecodeError naming `what`.
template <class R, class F>
auto read(const ControlBuffer& b, const char* what, F fn) {
  try {
    kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(b.data()), b.size());
    // A large message (a job library) may be traversed once whole; small ones keep the default limit.
    capnp::ReaderOptions options;
    options.traversalLimitInWords = std::max<uint64_t>(options.traversalLimitInWords, b.size());
    capnp::FlatArrayMessageReader reader(words, options);
    return fn(reader.getRoot<R>());
  } catch (const kj::Exception& e) {
    throw DecodeError(std::string("malformed ") + what + " (" + std::to_string(b.size() * 8) +
                      " bytes): " + e.getDescription().cStr());
  }
}

}  // namespace sluice::runtime::capnp_io
