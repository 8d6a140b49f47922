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

// emailProblem, and for the address of an account made now what no mail reaches
// though its syntax holds: a domain ending in one letter (`ann@example.c`), a
// compatibility form of a character before the @ (full-width `ａｌｉｃｅ`). Not
// asked of a manager's address or of --mail-from, which may be an account's made
// before the rule (2026-12-07).
std::optional<std::string> newAccountEmailProblem(std::string_view email);

// Said where an email is given in a user's id's place ("User is given as …"; a
// review read "is not in this company" of a colleague who is).
inline constexpr const char* kEmailNotId =
    "an email, not an id (a UUID): GET /api/v1/users?search= finds a user's id, GET "
    "/api/v1/me one's own";

// What a "not found" says when `id` holds an @, or nullopt when it does not:
// "<subject> is given as an email, not an id." and, of a user (`ofUser`), the way
// to the id (kEmailNotId). The email itself is not repeated.
std::optional<std::string> emailInIdsPlace(std::string_view subject, std::string_view id,
                                           bool ofUser);

}  // namespace portal
