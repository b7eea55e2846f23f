// apps/nexmark/csv.cpp — Nexmark events as CSV rows, fields quoted per RFC 4180.
#include "csv.hpp"

#include <algorithm>
#include <charconv>
#include <ostream>

namespace sluice::nexmark {

std::string_view event_csv_header() {
  return "kind,event_id,id,name,emailAddress,creditCard,city,state,itemName,description,"
         "initialBid,reserve,expires,seller,category,auction,bidder,price,dateTime,extra";
}

void append_csv_int(std::string& out, int64_t value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

void append_csv_field(std::string& out, std::string_view field) {
  // A plain loop: find_first_of calls memchr once per character of the field.
  const bool quoted = std::any_of(field.begin(), field.end(), [](char c) {
    return c == ',' || c == '"' || c == '\r' || c == '\n';
  });
  if (!quoted) {
    out += field;
    return;
  }
  out += '"';
  for (const char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void append_event_csv(std::string& out, const Event& event) {
  switch (event.kind) {
    case Event::Kind::person: {
      const Person& p = event.person;
      out += "person,";
      append_csv_int(out, event.event_id);
      out += ',';
      append_csv_int(out, p.id);
      out += ',';
      append_csv_field(out, p.name);
      out += ',';
      append_csv_field(out, p.email_address);
      out += ',';
      append_csv_field(out, p.credit_card);
      out += ',';
      append_csv_field(out, p.city);
      out += ',';
      append_csv_field(out, p.state);
      // itemName..price are auction and bid columns.
      out += ",,,,,,,,,,,";
      append_csv_int(out, p.date_time);
      out += ',';
      append_csv_field(out, p.extra);
      return;
    }
    case Event::Kind::auction: {
      const Auction& a = event.auction;
      out += "auction,";
      append_csv_int(out, event.event_id);
      out += ',';
      append_csv_int(out, a.id);
      // name..state are person columns.
      out += ",,,,,,";
      append_csv_field(out, a.item_name);
      out += ',';
      append_csv_field(out, a.description);
      out += ',';
      append_csv_int(out, a.initial_bid);
      out += ',';
      append_csv_int(out, a.reserve);
      out += ',';
      append_csv_int(out, a.expires);
      out += ',';
      append_csv_int(out, a.seller);
      out += ',';
      append_csv_int(out, a.category);
      // auction, bidder, price are bid columns.
      out += ",,,,";
      append_csv_int(out, a.date_time);
      out += ',';
      append_csv_field(out, a.extra);
      return;
    }
    case Event::Kind::bid: {
      const Bid& b = event.bid;
      out += "bid,";
      append_csv_int(out, event.event_id);
      // id..category are person and auction columns.
      out += ",,,,,,,,,,,,,,";
      append_csv_int(out, b.auction);
      out += ',';
      append_csv_int(out, b.bidder);
      out += ',';
      append_csv_int(out, b.price);
      out += ',';
      append_csv_int(out, b.date_time);
      out += ',';
      append_csv_field(out, b.extra);
      return;
    }
  }
}

std::string event_csv_row(const Event& event) {
  std::string row;
  append_event_csv(row, event);
  return row;
}

void write_event_csv(std::ostream& out, const Event& event) {
  std::string row = event_csv_row(event);
  row += '\n';
  out << row;
}

std::size_t csv_field_count(std::string_view row) {
  std::size_t fields = 1;
  bool quoted = false;
  for (const char c : row) {
    if (c == '"') quoted = !quoted;
    if (c == ',' && !quoted) ++fields;
  }
  return fields;
}

}  // namespace sluice::nexmark
