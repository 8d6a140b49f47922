#include "src/http/client_address.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cstring>

#include "events/text.h"
#include "src/auth/throttle.h"

namespace portal {

namespace {

// One X-Forwarded-For entry: an address, perhaps with a port.
std::optional<std::string> entryAddress(std::string_view entry) {
  entry = trim(entry);
  if (auto a = canonicalAddress(entry)) return a;
  if (!entry.empty() && entry.front() == '[') {  // [v6]:port
    const std::size_t close = entry.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    return canonicalAddress(entry.substr(1, close - 1));
  }
  const std::size_t colon = entry.find(':');  // v4:port (a v6 address has several)
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos)
    return canonicalAddress(entry.substr(0, colon));
  return std::nullopt;
}

}  // namespace

bool isTrustedProxy(const std::string& peer, const std::vector<std::string>& trustedProxies) {
  const std::string address = canonicalAddress(peer).value_or(peer);
  return std::find(trustedProxies.begin(), trustedProxies.end(), address) != trustedProxies.end();
}

std::string clientAddressOf(const std::string& peer, const HttpRequest& req,
                            const std::vector<std::string>& trustedProxies) {
  if (!isTrustedProxy(peer, trustedProxies)) return peer;
  std::string client = canonicalAddress(peer).value_or(peer);
  std::vector<std::string_view> entries;
  for (const auto& [name, value] : req.headers) {
    if (name != "x-forwarded-for") continue;
    std::string_view v = value;
    for (std::size_t at; (at = v.find(',')) != std::string_view::npos; v.remove_prefix(at + 1))
      entries.push_back(v.substr(0, at));
    entries.push_back(v);
  }
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    auto a = entryAddress(*it);
    // A proxy we trust could not name the client (Squid writes "unknown"): the
    // client is unknown, not the proxy, which would pass it as this host (a review
    // read /metrics so through a proxy on the same host).
    if (!a) return std::string(kUnknownClient);
    client = *a;
    if (!isTrustedProxy(client, trustedProxies)) break;
  }
  return client;
}

namespace {

// The address's bytes (an IPv4-mapped IPv6 address as IPv4); false when not one.
bool addressBytes(std::string_view text, bool& v6, unsigned char (&bytes)[16]) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return false;
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    a = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  v6 = a.is_v6();
  if (v6) {
    const auto b = a.to_v6().to_bytes();
    std::memcpy(bytes, b.data(), 16);
  } else {
    const auto b = a.to_v4().to_bytes();
    std::memcpy(bytes, b.data(), 4);
  }
  return true;
}

}  // namespace

AddressRanges AddressRanges::loopback() {
  AddressRanges r;
  r.add("127.0.0.0/8");
  r.add("::1");
  return r;
}

std::optional<std::string> AddressRanges::add(std::string_view text) {
  text = trim(text);
  const std::size_t slash = text.find('/');
  Range r;
  if (!addressBytes(text.substr(0, slash), r.v6, r.bytes))
    return "'" + std::string(text) +
           "' is not an IP address or network (e.g. 10.0.0.0/8, fd00::/8)";
  const unsigned bits = r.v6 ? 128 : 32;
  r.prefix = bits;
  if (slash != std::string_view::npos) {
    const std::string_view length = text.substr(slash + 1);
    unsigned n = 0;
    if (length.empty() || length.size() > 3 ||
        !std::all_of(length.begin(), length.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        (n = static_cast<unsigned>(std::stoul(std::string(length)))) > bits)
      return "'" + std::string(text) + "' has no prefix length from 0 to " + std::to_string(bits);
    r.prefix = n;
  }
  ranges_.push_back(r);
  return std::nullopt;
}

bool AddressRanges::contains(std::string_view address) const {
  Range a;
  if (!addressBytes(address, a.v6, a.bytes)) return false;
  for (const Range& r : ranges_) {
    if (r.v6 != a.v6) continue;
    const unsigned whole = r.prefix / 8, rest = r.prefix % 8;
    if (std::memcmp(r.bytes, a.bytes, whole) != 0) continue;
    if (rest != 0) {
      const unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
      if ((r.bytes[whole] & mask) != (a.bytes[whole] & mask)) continue;
    }
    return true;
  }
  return false;
}

}  // namespace portal
