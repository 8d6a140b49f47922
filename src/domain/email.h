#pragma once
// Email addresses: trimmed, compared case-insensitively for uniqueness, shown as
// entered.

#include <optional>
#include <string>
#include <string_view>

namespace portal {

// Leading and trailing spaces and tabs removed.
std::string_view trim(std::string_view s);

// The key under which an email is unique: trimmed and lower-cased (ASCII).
std::string emailKey(std::string_view email);

// nullopt when the (trimmed) address is acceptable, else why not, for a person:
// local@domain, a dotted domain, no spaces, at most 254 characters, local part at
// most 64.
std::optional<std::string> emailProblem(std::string_view email);

}  // namespace portal
