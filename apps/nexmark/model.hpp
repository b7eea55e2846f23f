// apps/nexmark/model.hpp — Nexmark's Person, Auction, Bid and Event as plain aggregates.
#pragma once

#include <cstdint>
#include <string>

namespace sluice::nexmark {

/// A new person registers (Beam `model.Person`). Times are epoch milliseconds.
struct Person {
  int64_t id = 0;
  std::string name;
  std::string email_address;
  std::string credit_card;
  std::string city;
  std::string state;
  int64_t date_time = 0;
  std::string extra;

  friend bool operator==(const Person&, const Person&) = default;
};

/// A new auction opens (Beam `model.Auction`). `expires` is an absolute time, not a duration.
struct Auction {
  int64_t id = 0;
  std::string item_name;
  std::string description;
  int64_t initial_bid = 0;
  int64_t reserve = 0;
  int64_t date_time = 0;
  int64_t expires = 0;
  int64_t seller = 0;
  int64_t category = 0;
  std::string extra;

  friend bool operator==(const Auction&, const Auction&) = default;
};

/// A bid on an auction (Beam `model.Bid`). Prices are in cents.
struct Bid {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  int64_t date_time = 0;
  std::string extra;

  friend bool operator==(const Bid&, const Bid&) = default;
};

/// One generated event (Beam `model.Event`): only the member named by `kind` is meaningful; the
/// other two stay default-constructed. `event_id` is the generator's event id, the seed of the
/// event's randomness and unique over all splits of a stream.
struct Event {
  enum class Kind : uint8_t { person, auction, bid };

  Kind kind = Kind::person;
  int64_t event_id = 0;
  Person person;
  Auction auction;
  Bid bid;

  friend bool operator==(const Event&, const Event&) = default;
};

}  // namespace sluice::nexmark
