// The reading of a request target's path and query (url.h).

#include "src/http/url.h"

namespace portal {

std::string percentDecode(std::string_view s, bool plusIsSpace, bool* malformed) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else if (s[i] == '%') {
      if (malformed) *malformed = true;
      out.push_back(s[i]);
    } else if (plusIsSpace && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string> splitPath(std::string_view path, bool* malformed) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    parts.push_back(percentDecode(path.substr(i, j - i), false, malformed));
    i = j;
  }
  return parts;
}

bool hasEmptySegment(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  return path.find("//") != std::string_view::npos || (path.size() > 1 && path.back() == '/');
}

std::map<std::string, std::string> parseQuery(std::string_view q, std::optional<std::string>& twice,
                                              bool& malformed) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    std::size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string key = percentDecode(pair.substr(0, eq), true, &malformed);
    std::string value =
        eq == std::string_view::npos ? "" : percentDecode(pair.substr(eq + 1), true, &malformed);
    auto [it, fresh] = out.try_emplace(std::move(key), std::move(value));
    // (`_`, a GET's cache-buster, may come twice from two layers of a client; a command
    // refuses it as a parameter it does not take.)
    if (!fresh && it->second != value && !twice && it->first != "_") twice = it->first;
  }
  return out;
}

}  // namespace portal
