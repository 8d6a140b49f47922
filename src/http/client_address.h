#pragma once
// Who a request comes from, for throttling and the access log: the connection's
// peer, or, behind reverse proxies the operator trusts (`--trusted-proxy`), the
// client their X-Forwarded-For names.
//
// Thread-safe: keeps no state.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/auth/throttle.h"  // canonicalAddress
#include "src/http/http_message.h"

namespace portal {

// `peer` when it is not one of `trustedProxies` (canonical forms); otherwise the
// right-most address of the request's X-Forwarded-For (all its lines, in order)
// that is not a trusted proxy itself: entries further left are the client's own
// word, which anyone can forge. An entry may carry a port ("192.0.2.1:4711",
// "[2001:db8::1]:443"). Without a usable entry, `peer` (or the left-most trusted
// proxy the chain reached).
std::string clientAddressOf(const std::string& peer, const HttpRequest& req,
                            const std::vector<std::string>& trustedProxies);

}  // namespace portal
