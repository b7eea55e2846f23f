// apps/nexmark/csv.hpp — Nexmark events as CSV rows, fields quoted per RFC 4180.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "model.hpp"

namespace sluice::nexmark {

/// The event CSV header, without a line break:
/// `kind,event_id,id,name,emailAddress,creditCard,city,state,itemName,description,initialBid,`
/// `reserve,expires,seller,category,auction,bidder,price,dateTime,extra`.
std::string_view event_csv_header();

/// Appends `field` to `out`, quoted per RFC 4180 (enclosed in double quotes, inner quotes
/// doubled) when it contains a comma, a double quote, CR or LF; verbatim otherwise.
void append_csv_field(std::string& out, std::string_view field);

/// Appends `value` in decimal.
void append_csv_int(std::string& out, int64_t value);

/// Appends one event as a CSV row matching `event_csv_header()`, without a line break. `kind`
/// is `person`, `auction` or `bid`; columns of the other kinds are empty; times are epoch ms.
void append_event_csv(std::string& out, const Event& event);

/// `append_event_csv` into a fresh string.
std::string event_csv_row(const Event& event);

/// Writes the row and a `\n`.
void write_event_csv(std::ostream& out, const Event& event);

/// The number of fields in one CSV row (commas outside quotes, plus one).
std::size_t csv_field_count(std::string_view row);

}  // namespace sluice::nexmark
