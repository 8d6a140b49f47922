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

// Who a trusted proxy forwarded without naming them usably: no address, so no
// network --metrics-from names holds it.
inline constexpr std::string_view kUnknownClient = "unknown";

// `peer` when it is not one of `trustedProxies` (canonical forms); otherwise the
// right-most address of the request's X-Forwarded-For (all its lines, in order)
// that is not a trusted proxy itself: entries further left are the client's own
// word, which anyone can forge. An entry may carry a port ("192.0.2.1:4711",
// "[2001:db8::1]:443"). Without X-Forwarded-For, `peer` (the proxy's own request);
// with an entry that is no address, kUnknownClient.
std::string clientAddressOf(const std::string& peer, const HttpRequest& req,
                            const std::vector<std::string>& trustedProxies);

// Whether `peer` (in any form an address is written) is one of `trustedProxies`
// (canonical forms).
bool isTrustedProxy(const std::string& peer, const std::vector<std::string>& trustedProxies);

// Networks in CIDR notation ("10.0.0.0/8", "fd00::/8") or single addresses; an
// IPv4-mapped IPv6 address counts as its IPv4 one.
class AddressRanges {
 public:
  // This host only: 127.0.0.0/8 and ::1.
  static AddressRanges loopback();
  // Adds `text`; nullopt when taken, else what is wrong with it.
  std::optional<std::string> add(std::string_view text);
  bool contains(std::string_view address) const;

 private:
  struct Range {
    bool v6 = false;
    unsigned prefix = 0;
    unsigned char bytes[16] = {};
  };
  std::vector<Range> ranges_;
};

}  // namespace portal
