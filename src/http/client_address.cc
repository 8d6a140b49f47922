#include "src/http/client_address.h"

#include <algorithm>

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

std::string clientAddressOf(const std::string& peer, const HttpRequest& req,
                            const std::vector<std::string>& trustedProxies) {
  auto trusted = [&](const std::string& a) {
    return std::find(trustedProxies.begin(), trustedProxies.end(), a) != trustedProxies.end();
  };
  std::string client = canonicalAddress(peer).value_or(peer);
  if (!trusted(client)) return peer;
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
    if (!a) break;  // a proxy we trust wrote nothing like this: believe no further
    client = *a;
    if (!trusted(client)) break;
  }
  return client;
}

}  // namespace portal
