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
