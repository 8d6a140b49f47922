#pragma once
// Small helpers every layer uses: ASCII case folding, and the overload set for
// std::visit over the event variant.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portal {

// asciiLower eight bytes a step: in each byte of `w`, 0x20 added where it is 'A' to 'Z'.
inline std::uint64_t asciiLowerWord(std::uint64_t w) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  const std::uint64_t low7 = w & ~kHigh;                        // no carry leaves a byte below
  const std::uint64_t fromA = low7 + (0x80 - 'A') * kOnes;      // high bit: >= 'A'
  const std::uint64_t pastZ = low7 + (0x80 - 'Z' - 1) * kOnes;  // high bit: > 'Z'
  return w | ((fromA & ~pastZ & ~w & kHigh) >> 2);
}

// ASCII letters lower-cased; every other byte as it is (case-insensitive matching of
// emails, names in search, country names, passwords against a list).
inline std::string asciiLower(std::string_view s) {
  std::string out(s);
  std::size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, out.data() + i, 8);
    w = asciiLowerWord(w);
    std::memcpy(out.data() + i, &w, 8);
  }
  if (const std::size_t rest = out.size() - i; rest != 0) {  // the last bytes, zero-padded
    std::uint64_t w = 0;
    std::memcpy(&w, out.data() + i, rest);
    w = asciiLowerWord(w);
    std::memcpy(out.data() + i, &w, rest);
  }
  return out;
}

// Whether every byte of `s` is ASCII (below 0x80).
inline bool isAscii(std::string_view s) {
  std::uint64_t any = 0;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    any |= w;
  }
  for (; i < s.size(); ++i) any |= static_cast<unsigned char>(s[i]);
  return (any & 0x8080808080808080ull) == 0;
}

// The character at the front of `s` and its length in bytes; 0 bytes when `s` does
// not start with a well-formed UTF-8 sequence of two bytes or more (RFC 3629's
// ranges: no overlong forms, surrogates or code points past U+10FFFF).
inline std::size_t decodeUtf8(std::string_view s, char32_t& c) {
  if (s.empty()) return 0;
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

// The characters (code points) of UTF-8 text: limits on what people type count
// these, not bytes (a name in Chinese takes three bytes a character).
inline std::size_t codePoints(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xc0) != 0x80) ++n;
  return n;
}

// A line break: CR, LF, NEL and Unicode's line and paragraph separators (names are
// one line; an import makes a cell's line breaks spaces).
inline bool isLineBreak(char32_t c) {
  return c == '\r' || c == '\n' || c == 0x85 || c == 0x2028 || c == 0x2029;
}

// A letter of any script (Unicode's Alphabetic property, ICU).
bool isLetter(char32_t c);
// White space of any script (ASCII's, no-break, ideographic, …), Unicode's White_Space.
bool isWhiteSpace(char32_t c);

// A name folded for comparing without regard to case, for uniqueness (a group's
// name, a permission's) and look-ups (a column's, a country's): Unicode's
// NFKC_Casefold (ICU), so that any script folds ("Élodie ÖZTÜRK" ->
// "élodie öztürk", "ΑΘΗΝΑ" -> "αθηνα",
// "Straße" -> "strasse") and a letter typed as one code point (NFC) or as a letter
// and a combining accent (NFD, as some macOS copies give) folds alike. Text that is
// not UTF-8 has its ASCII letters lowered and every other byte kept. (Emails keep
// asciiLower: their uniqueness key must not change.)
std::string foldCase(std::string_view s);

// A name folded for uniqueness (a group's, a permission's): trimmed (trimText),
// foldCase, and a run of spaces inside it taken as one, since the two read alike on
// any page ("Spaced  Name" is "Spaced Name"; foldCase makes the no-break, em and
// ideographic spaces plain ones).
std::string nameKey(std::string_view name);

// Unicode's NFC: a letter and its combining accent (NFD, as some macOS copies give)
// as the one code point they compose. Text that is not UTF-8 as it is. Unicode's
// stability policy keeps the NFC of a string the same in every later version.
std::string nfcOf(std::string_view s);

// Unicode's NFKC, for passwords (NIST SP 800-63B 5.1.1.2: normalized before they are
// hashed, so that "é" typed as one code point or as "e" and a combining accent, or a
// full-width letter, is the same password). Text that is not UTF-8 as it is.
std::string nfkc(std::string_view s);

// foldCase, then accents and other combining marks dropped, and the Latin letters
// whose stroke or ligature is no mark written as people type them without it (ł l,
// ø o, æ ae, œ oe, đ and ð d, ı i, þ th, ħ h, ŧ t, ŋ n): what people type in a
// search box finds what they meant ("elodie" finds "Élodie", "ozturk" finds
// "Öztürk", "lukasz" finds "Łukasz"). The users view searches and sorts names by it.
std::string searchFold(std::string_view s);

// True when a search typed as `typed` holds text that folds to nothing (a lone
// combining accent): it is in nobody's name or address, so nobody is found, where a
// blank search finds everyone.
bool searchFindsNobody(std::string_view typed);

// What a search box's text finds: each of its words (apart at white space of any
// script), in any order, folded by searchFold, or its address's domain in the other
// IDNA form (otherDomainForm: `bücher.test` finds `xn--bcher-kva.test`, and `bucher`
// finds it as `bücher` does). "turing
// alan" and "alan  turing" find Alan Turing as "alan turing" does. A word that folds
// to nothing (a lone combining accent) is none; a search of no word is in every text.
class SearchWords {
 public:
  explicit SearchWords(std::string_view typed);
  // Whether each word is in `folded` (a text searchFold made), in either form.
  bool in(std::string_view folded) const;

 private:
  bool allIn(std::string_view folded) const;
  std::vector<std::pair<std::string, std::string>> words_;  // folded, other form or ""
};

// Leading and trailing spaces, tabs and line breaks removed.
inline std::string_view trim(std::string_view s) {
  auto isSpace = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

// `s` without the characters at either end for which `drop` holds; a byte that is
// not UTF-8 stops it.
std::string_view trimCodePoints(std::string_view s, bool (*drop)(char32_t));

// A code point trimText removes from the ends of text: white space of any script and
// what Unicode says to draw as nothing (default ignorables: zero-width space, word
// joiner, byte order mark, soft hyphen, direction marks and embeddings), but for
// variation selectors and tag characters, which end emoji.
bool invisibleAtEdge(char32_t c);
// White space of any script and every default ignorable, variation selectors and
// tag characters included (the braille blank too): what a reader sees nothing of.
bool drawnAsNothing(char32_t c);

// A company's slug as someone typed it: slugs are lower-case ("ACME" is acme).
inline std::string slugOf(std::string_view given) { return asciiLower(trim(given)); }

// A resource in words, as it was given: "project 'Apollo' in modeler" (a refused
// transfer, a timeline's line).
inline std::string resourceInWords(std::string_view kind, std::string_view name,
                                   std::string_view service) {
  return std::string(kind) + " '" + std::string(name) + "' in " + std::string(service);
}

// An id as someone typed it: a UUID (8-4-4-4-12 hexadecimal digits, whose case
// means nothing, RFC 9562 section 4) in the lower case ids are written in;
// nullopt for anything else (an email, a name).
inline std::optional<std::string> uuidOf(std::string_view given) {
  std::string id = asciiLower(trim(given));
  if (id.size() != 36) return std::nullopt;
  for (std::size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return id;
}

// trim() for text people type or paste (names, titles, group and resource names,
// descriptions): white space of any script (no-break, ideographic and the other
// Unicode spaces) and invisible characters (zero-width space, word joiner, byte order
// mark, soft hyphen, direction marks) are removed from both ends too, so a name made
// of them alone is blank, and "Sales" and "Sales\u00a0" are one name. Variation
// selectors and tag characters stay: they end emoji. Bytes that are not UTF-8 stop it.
std::string_view trimText(std::string_view s);

// The key under which an email is unique: trimmed, in NFC (`zoë` typed with a
// combining diaeresis is `zoë`: canonically equivalent text is one text) and with
// ASCII letters lower-cased; its domain as DNS compares it (domainKey).
std::string emailKeyPastAscii(std::string_view trimmed);
inline std::string emailKey(std::string_view email) {
  const std::string_view trimmed = trim(email);
  if (!isAscii(trimmed)) return emailKeyPastAscii(trimmed);
  std::string key = asciiLower(trimmed);
  // A label of the domain in ACE form ("xn--mller-kva") is its Unicode one.
  if (const std::size_t at = key.rfind('@'); at != std::string::npos)
    for (std::size_t label = at + 1; label < key.size();) {
      if (key.compare(label, 4, "xn--") == 0) return emailKeyPastAscii(trimmed);
      const std::size_t dot = key.find('.', label);
      if (dot == std::string::npos) break;
      label = dot + 1;
    }
  return key;
}

// A domain as DNS compares it, in Unicode: each label mapped as IDNA's UTS #46 maps
// it (nontransitional: `ß` stays), so `MÜLLER.test`, `müller.test` and
// `xn--mller-kva.test` are one domain. A domain UTS #46 finds errors in (a character
// IDNA does not allow) keeps its NFC with ASCII letters lower-cased.
std::string domainKey(std::string_view domain);

// A domain in the ASCII form DNS and SMTP without SMTPUTF8 carry (IDNA's A-labels,
// UTS #46 nontransitional: `müller.test` is `xn--mller-kva.test`); nullopt when UTS #46
// with STD3's rules finds errors in it (only letters, digits and hyphens come out).
// An ASCII domain comes back lower-cased as it is.
std::optional<std::string> asciiDomain(std::string_view domain);

// The domain in Unicode (U-labels: `xn--mller-kva.test` is `müller.test`); nullopt
// when UTS #46 finds errors in it (an ACE label Punycode cannot decode, or one that
// decodes to a character IDNA does not allow).
std::optional<std::string> unicodeDomain(std::string_view domain);

// Search text with the labels of its domain (after its last `@`, or all of it when it
// has none) in their other IDNA form: `xn--bcher-kva` as `bücher`, `müller` as
// `xn--mller-kva`, so that a search finds an address however its domain was typed.
// Empty when no label has another form.
std::string otherDomainForm(std::string_view text);

// Whether a code point is a letter, a mark or a decimal digit of any script
// (Unicode's general categories L, M and Nd; not ², ½ or Ⅻ): what an address may hold
// past ASCII, where pasted text brings typographic quotes, dashes and ellipses
// (`“ann@corp.example”`).
bool isLetterMarkOrDigit(char32_t c);

// Whether a code point is a combining mark (general category M): a text that starts
// with one has nothing for it to sit on, and shows as a stray accent or nothing.
bool isMark(char32_t c);

// A variant form of another character, which reads as it: full-width or half-width
// (`ａ`), a superscript or subscript, a mathematical font's letter, a circled,
// squared or small form, or a Latin ligature (`ﬁ`). Not every compatibility
// decomposition: Thai's sara am (`ำ`), Lao's, and the like are letters of their own.
bool isVariantForm(char32_t c);

// Unicode's noncharacters (U+FDD0 to U+FDEF, and the last two of every plane: U+FFFE,
// U+FFFF, U+1FFFE...), kept for a program's own use and never text.
inline bool isNoncharacter(char32_t c) {
  return (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
}

// Unicode's tag characters (U+E0000 to U+E007F), which spell the emoji flags of
// regions after the emoji they belong to.
inline bool isTagCharacter(char32_t c) { return c >= 0xE0000 && c <= 0xE007F; }

// A name as typed, for looking it up (a column's, a country's): trimmed (trimText), in lower
// case in any script, and a typographic apostrophe (which spreadsheets put in when
// one types ') read as a plain one.
inline std::string lookupKey(std::string_view name) {
  std::string s(trimText(name));
  for (std::size_t at; (at = s.find("\xE2\x80\x99")) != std::string::npos;) s.replace(at, 3, "'");
  return foldCase(s);
}

// Items as a sentence lists them: "a", "a and b", "a, b and c" (`conjunction` "and"
// or "or"). Each item converts to a string_view.
template <class Items>
std::string wordList(const Items& items, std::string_view conjunction) {
  std::string out;
  const std::size_t n = std::size(items);
  std::size_t i = 0;
  for (const auto& item : items) {
    if (i != 0) out.append(i + 1 == n ? " " + std::string(conjunction) + " " : std::string(", "));
    out.append(std::string_view(item));
    ++i;
  }
  return out;
}

// std::visit(Overloaded{[](const A&) {...}, [](const B&) {...}}, variant)
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace portal
