#pragma once
// The reading of a request target's path and query, shared by the router (api.cc)
// and the access log (server.cc). Light: no Beast, no JSON.
//
// Thread-safe: keeps no state.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portal {

// `malformed` (when given) is set when a % is not followed by two hexadecimal digits
// (the % is then kept as it is).
std::string percentDecode(std::string_view s, bool plusIsSpace, bool* malformed = nullptr);

// The path's segments, %-decoded; empty segments are skipped. `malformed` as
// percentDecode's.
std::vector<std::string> splitPath(std::string_view path, bool* malformed = nullptr);
// Whether the target's path has an empty segment: `//`, or a `/` at its end.
bool hasEmptySegment(std::string_view target);

// `twice` gets the first name given twice with different values (`?dryRun=false&dryRun=true`:
// which one was meant cannot be known, and a proxy or a log may take the other one);
// `malformed` is set by a % not followed by two hexadecimal digits.
std::map<std::string, std::string> parseQuery(std::string_view q, std::optional<std::string>& twice,
                                              bool& malformed);

}  // namespace portal
