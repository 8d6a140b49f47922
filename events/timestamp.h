#pragma once
// Points in time as microseconds since the Unix epoch, UTC, and their RFC 3339 text
// form ("2026-11-23T10:15:30.123456Z"), the only form that times take on the wire
// and in stored events.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portal {

struct Timestamp {
  std::int64_t micros = 0;  // since 1970-01-01T00:00:00Z
  auto operator<=>(const Timestamp&) const = default;
};

// "YYYY-MM-DDTHH:MM:SS.ffffffZ", always six fractional digits.
std::string formatRfc3339(Timestamp t);

// Accepts RFC 3339 with 'Z' or a numeric offset and any number of fractional digits
// (beyond 6 are truncated), or a bare date "YYYY-MM-DD" meaning its midnight UTC. A
// leap second (:60) only as the last second of a UTC day. nullopt when the text is
// not such a time.
std::optional<Timestamp> parseRfc3339(std::string_view text);
// The start of a time range: parseRfc3339, except that digits past the microsecond
// round up, so that "since 10:00:00.0000005" leaves out an event at 10:00:00.000000.
std::optional<Timestamp> parseRangeStart(std::string_view text);
// The end of a time range as people type it: parseRfc3339, except that a bare date
// is its last moment, so that "until 2026-11-30" takes in that day's events.
std::optional<Timestamp> parseRangeEnd(std::string_view text);
// Whether time `a`, typed `aText`, is after `b`, typed `bText`, to every digit typed
// (a Timestamp keeps microseconds; the digits past them decide between equal ones).
bool laterAsTyped(Timestamp a, std::string_view aText, Timestamp b, std::string_view bText);

}  // namespace portal
