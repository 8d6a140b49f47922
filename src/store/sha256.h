#pragma once
// SHA-256 through OpenSSL's libcrypto, which uses the CPU's SHA instructions.
// Thread-safe: each call keeps its own context.

#include <string>
#include <string_view>

#include "events/event.h"

namespace portal {

// SHA-256 of a || b (b may be empty).
Hash sha256(std::string_view a, std::string_view b = {});

// Lower-case hexadecimal, 64 characters for a Hash.
std::string toHex(const Hash& h);
std::string toHex(std::string_view bytes);

}  // namespace portal
