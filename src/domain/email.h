#pragma once
// Email addresses: trimmed, compared case-insensitively for uniqueness, shown as
// entered.

#include <optional>
#include <string>
#include <string_view>

#include "events/text.h"

namespace portal {

// trim() and emailKey() are in events/text.h.

// nullopt when the (trimmed) address is acceptable, else why not, for a person:
// local@domain, a dotted domain, no spaces, at most 254 characters, local part at
// most 64.
std::optional<std::string> emailProblem(std::string_view email);

}  // namespace portal
