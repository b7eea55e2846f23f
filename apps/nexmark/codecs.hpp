// apps/nexmark/codecs.hpp — Sluice codecs for Nexmark events, so they can cross task boundaries.
#pragma once

#include <sluice/codec.hpp>

#include "model.hpp"

SLUICE_CODEC(sluice::nexmark::Person, id, name, email_address, credit_card, city, state, date_time,
             extra);
SLUICE_CODEC(sluice::nexmark::Auction, id, item_name, description, initial_bid, reserve, date_time,
             expires, seller, category, extra);
SLUICE_CODEC(sluice::nexmark::Bid, auction, bidder, price, date_time, extra);

/// An event encodes its kind, its id and only the member its kind names: the other two are
/// default-constructed by contract and come back that way.
template <>
struct sluice::Codec<sluice::nexmark::Event> {
  using Event = sluice::nexmark::Event;

  static void encode(const Event& v, ::sluice::ByteWriter& w) {
    Codec<Event::Kind>::encode(v.kind, w);
    Codec<int64_t>::encode(v.event_id, w);
    switch (v.kind) {
      case Event::Kind::person:
        Codec<sluice::nexmark::Person>::encode(v.person, w);
        break;
      case Event::Kind::auction:
        Codec<sluice::nexmark::Auction>::encode(v.auction, w);
        break;
      case Event::Kind::bid:
        Codec<sluice::nexmark::Bid>::encode(v.bid, w);
        break;
    }
  }

  static Event decode(::sluice::ByteReader& r) {
    Event v;
    v.kind = Codec<Event::Kind>::decode(r);
    v.event_id = Codec<int64_t>::decode(r);
    switch (v.kind) {
      case Event::Kind::person:
        v.person = Codec<sluice::nexmark::Person>::decode(r);
        return v;
      case Event::Kind::auction:
        v.auction = Codec<sluice::nexmark::Auction>::decode(r);
        return v;
      case Event::Kind::bid:
        v.bid = Codec<sluice::nexmark::Bid>::decode(r);
        return v;
    }
    throw ::sluice::DecodeError("malformed Nexmark event kind in record bytes");
  }
};
