#include "events/text.h"

#include <locale.h>
#include <wctype.h>

namespace portal {
namespace {

// C.UTF-8 comes with Debian's libc-bin; without it, only ASCII letters fold.
locale_t utf8Locale() {
  static const locale_t locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return locale;
}

void appendUtf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// The character at the front of `s` and its length in bytes; 0 bytes when `s` does
// not start with a well-formed UTF-8 sequence (RFC 3629's ranges).
std::size_t decodeUtf8(std::string_view s, char32_t& c) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  std::size_t n;
  unsigned char low = 0x80, high = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
    c = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    c = b0 & 0x0F;
    if (b0 == 0xE0) low = 0xA0;
    if (b0 == 0xED) high = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    c = b0 & 0x07;
    if (b0 == 0xF0) low = 0x90;
    if (b0 == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < low || b > high) return 0;
    low = 0x80;
    high = 0xBF;
    c = (c << 6) | (b & 0x3F);
  }
  return n;
}

}  // namespace

bool foldCaseHasUnicodeTables() { return utf8Locale() != static_cast<locale_t>(nullptr); }

std::string foldCase(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const locale_t locale = utf8Locale();
  while (!s.empty()) {
    const auto b = static_cast<unsigned char>(s[0]);
    if (b < 0x80) {
      out.push_back(b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : static_cast<char>(b));
      s.remove_prefix(1);
      continue;
    }
    char32_t c = 0;
    const std::size_t n = decodeUtf8(s, c);
    if (n == 0 || locale == static_cast<locale_t>(nullptr)) {
      out.append(s.substr(0, n == 0 ? 1 : n));
      s.remove_prefix(n == 0 ? 1 : n);
      continue;
    }
    appendUtf8(out, static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), locale)));
    s.remove_prefix(n);
  }
  return out;
}

}  // namespace portal
