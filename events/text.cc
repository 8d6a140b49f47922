#include "events/text.h"

#include <unicode/bytestream.h>
#include <unicode/idna.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "events/json_writer.h"

namespace portal {
namespace {

// ICU's normalizers are built into its data library: they cannot be missing, so a
// failure to get one is a broken installation, not an input to recover from.
const icu::Normalizer2& normalizer(const icu::Normalizer2* (*get)(UErrorCode&)) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = get(status);
  if (U_FAILURE(status) || n == nullptr)
    throw std::runtime_error(std::string("ICU normalizer unavailable: ") + u_errorName(status));
  return *n;
}
const icu::Normalizer2& nfkcCasefold() {
  static const icu::Normalizer2& n = normalizer(&icu::Normalizer2::getNFKCCasefoldInstance);
  return n;
}
const icu::Normalizer2& nfkcNormalizer() {
  static const icu::Normalizer2& n = normalizer(&icu::Normalizer2::getNFKCInstance);
  return n;
}
const icu::Normalizer2& nfd() {
  static const icu::Normalizer2& n = normalizer(&icu::Normalizer2::getNFDInstance);
  return n;
}
const icu::Normalizer2& nfc() {
  static const icu::Normalizer2& n = normalizer(&icu::Normalizer2::getNFCInstance);
  return n;
}

}  // namespace

namespace {

// `s` (valid UTF-8) through `n`; nullopt when ICU fails (out of memory).
std::optional<std::string> normalizeUtf8(const icu::Normalizer2& n, std::string_view s) {
  std::string out;
  out.reserve(s.size());
  icu::StringByteSink<std::string> sink(&out);
  UErrorCode status = U_ZERO_ERROR;
  n.normalizeUTF8(0, icu::StringPiece(s.data(), static_cast<int32_t>(s.size())), sink, nullptr,
                  status);
  if (U_FAILURE(status)) return std::nullopt;
  return out;
}

}  // namespace

std::string foldCase(std::string_view s) {
  // Names are mostly ASCII: they never reach ICU.
  if (isAscii(s) || !isValidUtf8(s)) return asciiLower(s);
  auto out = normalizeUtf8(nfkcCasefold(), s);
  return out ? std::move(*out) : asciiLower(s);
}

std::string emailKeyPastAscii(std::string_view trimmed) {
  const std::size_t at = trimmed.rfind('@');
  // (NFC again after lowering: "J" and a combining caron have no composed form,
  // "j" and one have, so the key is the same however the address was typed.)
  if (at == std::string_view::npos) return nfcOf(asciiLower(nfcOf(trimmed)));
  return nfcOf(asciiLower(nfcOf(trimmed.substr(0, at)))) + "@" + domainKey(trimmed.substr(at + 1));
}

namespace {

// IDNA's UTS #46 mapping, nontransitional (`ß` stays). For keys, as the domain
// keys have always been made; for the ASCII form that goes to a mail relay, with
// STD3's rules besides, so that a character UTS #46 maps to ASCII punctuation
// (`＞` to `>`, `¨` to a space and a mark) is an error rather than part of a name
// in an SMTP command.
const icu::IDNA& uts46(bool std3) {
  auto make = [](uint32_t options) {
    UErrorCode status = U_ZERO_ERROR;
    icu::IDNA* idna = icu::IDNA::createUTS46Instance(options, status);
    if (U_FAILURE(status))
      throw std::runtime_error(std::string("ICU's UTS #46: ") + u_errorName(status));
    return idna;
  };
  static const icu::IDNA* const keys = make(UIDNA_NONTRANSITIONAL_TO_UNICODE);
  static const icu::IDNA* const strict = make(
      UIDNA_NONTRANSITIONAL_TO_UNICODE | UIDNA_NONTRANSITIONAL_TO_ASCII | UIDNA_USE_STD3_RULES);
  return std3 ? *strict : *keys;
}

// The domain mapped to Unicode (U-labels) or, under STD3's rules, to ASCII
// (A-labels); nullopt on errors.
std::optional<std::string> mappedDomain(std::string_view domain, bool toAscii) {
  if (!isValidUtf8(domain)) return std::nullopt;
  std::string out;
  icu::StringByteSink<std::string> sink(&out);
  icu::IDNAInfo info;
  UErrorCode status = U_ZERO_ERROR;
  const icu::StringPiece in(domain.data(), static_cast<int32_t>(domain.size()));
  if (toAscii)
    uts46(true).nameToASCII_UTF8(in, sink, info, status);
  else
    uts46(false).nameToUnicodeUTF8(in, sink, info, status);
  if (U_FAILURE(status) || info.hasErrors()) return std::nullopt;
  return out;
}

}  // namespace

std::string domainKey(std::string_view domain) {
  auto mapped = mappedDomain(domain, false);
  return mapped ? std::move(*mapped) : nfcOf(asciiLower(nfcOf(domain)));
}

std::optional<std::string> asciiDomain(std::string_view domain) {
  return mappedDomain(domain, true);
}

std::optional<std::string> unicodeDomain(std::string_view domain) {
  return mappedDomain(domain, false);
}

std::string otherDomainForm(std::string_view text) {
  if (!isValidUtf8(text)) return {};
  const std::size_t at = text.rfind('@');
  const std::size_t from = at == std::string_view::npos ? 0 : at + 1;
  std::string out(text.substr(0, from));
  bool changed = false;
  for (std::size_t start = from;;) {
    const std::size_t dot = std::min(text.find('.', start), text.size());
    const std::string_view label = text.substr(start, dot - start);
    std::optional<std::string> other;
    if (label.size() > 4 && asciiLower(label.substr(0, 4)) == "xn--")
      other = mappedDomain(label, false);
    else if (!isAscii(label))
      other = mappedDomain(label, true);
    changed = changed || (other && *other != label);
    out += other ? *other : std::string(label);
    if (dot == text.size()) break;
    out += '.';
    start = dot + 1;
  }
  return changed ? out : std::string();
}

bool isLetterMarkOrDigit(char32_t c) {
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & (U_GC_L_MASK | U_GC_M_MASK | U_GC_ND_MASK)) != 0;
}

bool isMark(char32_t c) { return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_M_MASK) != 0; }

bool isVariantForm(char32_t c) {
  if (c >= 0xFB00 && c <= 0xFB06) return true;  // the Latin ligatures ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ
  switch (u_getIntPropertyValue(static_cast<UChar32>(c), UCHAR_DECOMPOSITION_TYPE)) {
    case U_DT_WIDE:
    case U_DT_NARROW:
    case U_DT_SUPER:
    case U_DT_SUB:
    case U_DT_FONT:
    case U_DT_CIRCLE:
    case U_DT_SQUARE:
    case U_DT_SMALL:
      return true;
    default:
      return false;
  }
}

std::string nameKey(std::string_view name) {
  // Folding drops what the trim keeps at the ends (a variation selector, a tag
  // character: a review's "Dev Crew \ufe0f" beside "Dev Crew"), and leaves some
  // spaces as they are (U+1680): every run of white space is one space here, and
  // none at the ends.
  const std::string folded = foldCase(trimText(name));
  std::string key;
  bool space = false;
  for (std::size_t i = 0; i < folded.size();) {
    char32_t c = static_cast<unsigned char>(folded[i]);
    std::size_t n = decodeUtf8(std::string_view(folded).substr(i), c);
    if (n == 0) {  // not UTF-8: the byte as it is, white space only if it is ASCII's
      n = 1;
      c = static_cast<unsigned char>(folded[i]) < 0x80 ? static_cast<unsigned char>(folded[i])
                                                       : 0xFFFD;
    }
    if (isWhiteSpace(c)) {
      space = !key.empty();
    } else {
      if (space) key += ' ';
      space = false;
      key.append(folded, i, n);
    }
    i += n;
  }
  return key;
}

std::string nfcOf(std::string_view s) {
  if (isAscii(s) || !isValidUtf8(s)) return std::string(s);
  auto out = normalizeUtf8(nfc(), s);
  return out ? std::move(*out) : std::string(s);
}

std::string nfkc(std::string_view s) {
  if (isAscii(s) || !isValidUtf8(s)) return std::string(s);
  auto out = normalizeUtf8(nfkcNormalizer(), s);
  return out ? std::move(*out) : std::string(s);
}

bool searchFindsNobody(std::string_view typed) {
  const std::string_view text = trimText(typed);
  return !text.empty() && searchFold(text).empty();
}

std::string searchFold(std::string_view s) {
  if (isAscii(s) || !isValidUtf8(s)) return asciiLower(s);
  UErrorCode status = U_ZERO_ERROR;
  const icu::UnicodeString folded = nfkcCasefold().normalize(
      icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size()))),
      status);
  const icu::UnicodeString parts = nfd().normalize(folded, status);
  if (U_FAILURE(status)) return foldCase(s);
  // Latin letters that hold their stroke or ligature in themselves rather than in a
  // combining mark, as a search box gets them typed without (a review: "lukasz" did
  // not find Łukasz, nor "orsted" Ørsted); folded already, so lower case only.
  static constexpr std::pair<UChar32, const char*> kBaseLetters[] = {
      {0x00E6, "ae"}, {0x00F0, "d"}, {0x00F8, "o"}, {0x00FE, "th"}, {0x0111, "d"}, {0x0127, "h"},
      {0x0131, "i"},  {0x0142, "l"}, {0x014B, "n"}, {0x0153, "oe"}, {0x0167, "t"}};
  icu::UnicodeString bare;
  for (int32_t i = 0; i < parts.length();) {
    const UChar32 c = parts.char32At(i);
    i += U16_LENGTH(c);
    if (u_charType(c) == U_NON_SPACING_MARK) continue;
    const auto* base = std::find_if(std::begin(kBaseLetters), std::end(kBaseLetters),
                                    [c](const auto& letter) { return letter.first == c; });
    if (base != std::end(kBaseLetters))
      bare.append(icu::UnicodeString(base->second));
    else
      bare.append(c);
  }
  std::string out;
  nfc().normalize(bare, status).toUTF8String(out);
  if (U_FAILURE(status)) return foldCase(s);
  return out;
}

SearchWords::SearchWords(std::string_view typed) {
  const auto length = static_cast<std::int32_t>(typed.size());
  auto word = [&](std::int32_t from, std::int32_t to) {
    if (to <= from) return;
    const std::string_view w =
        typed.substr(static_cast<std::size_t>(from), static_cast<std::size_t>(to - from));
    std::string folded = searchFold(w);
    if (folded.empty()) return;
    const std::string other = otherDomainForm(w);
    words_.emplace_back(std::move(folded), other.empty() ? std::string() : searchFold(other));
  };
  std::int32_t start = 0;
  for (std::int32_t i = 0; i < length;) {
    std::int32_t next = i;
    UChar32 c;
    U8_NEXT(typed.data(), next, length, c);
    if (c >= 0 && isWhiteSpace(static_cast<char32_t>(c))) {
      word(start, i);
      start = next;
    }
    i = next;
  }
  word(start, length);
}

bool SearchWords::allIn(std::string_view folded) const {
  for (const auto& [word, other] : words_)
    if (folded.find(word) == std::string_view::npos &&
        (other.empty() || folded.find(other) == std::string_view::npos))
      return false;
  return true;
}

bool SearchWords::in(std::string_view folded) const {
  if (allIn(folded)) return true;
  // A domain kept in its xn-- form is found by its Unicode form folded too: "muller"
  // finds `anna@xn--mller-kva.example` as "müller" does (a review: only the latter
  // did). Only such texts pay for it.
  if (folded.find("xn--") == std::string_view::npos) return false;
  const std::string other = otherDomainForm(folded);
  return !other.empty() && allIn(searchFold(other));
}

bool drawnAsNothing(char32_t c) {
  if (isWhiteSpace(c)) return true;
  if (c < 0x80) return false;
  // A symbol that fonts draw as nothing, used for names that look blank (a review
  // made a group of it alone).
  if (c == 0x2800) return true;  // BRAILLE PATTERN BLANK
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_DEFAULT_IGNORABLE_CODE_POINT);
}

bool invisibleAtEdge(char32_t c) {
  return drawnAsNothing(c) &&
         !u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_VARIATION_SELECTOR) &&
         !isTagCharacter(c);
}

bool isLetter(char32_t c) { return u_isalpha(static_cast<UChar32>(c)) != 0; }

bool isWhiteSpace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0d);
  return u_isUWhiteSpace(static_cast<UChar32>(c)) != 0;
}

std::string_view trimCodePoints(std::string_view s, bool (*drop)(char32_t)) {
  const auto length = static_cast<std::int32_t>(s.size());
  std::int32_t begin = 0;
  while (begin < length) {
    std::int32_t next = begin;
    UChar32 c;
    U8_NEXT(s.data(), next, length, c);
    if (c < 0 || !drop(static_cast<char32_t>(c))) break;
    begin = next;
  }
  std::int32_t end = length;
  while (end > begin) {
    std::int32_t before = end;
    UChar32 c;
    U8_PREV(s.data(), begin, before, c);
    if (c < 0 || !drop(static_cast<char32_t>(c))) break;
    end = before;
  }
  return s.substr(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin));
}

std::string_view trimText(std::string_view s) {
  auto plain = [](char b) {
    return static_cast<unsigned char>(b) > 0x20 && static_cast<unsigned char>(b) < 0x80;
  };
  if (s.empty() || (plain(s.front()) && plain(s.back()))) return s;  // the common case
  return trimCodePoints(s, invisibleAtEdge);
}

}  // namespace portal
