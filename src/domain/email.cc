#include "src/domain/email.h"

#include <algorithm>

#include "events/json_writer.h"
#include "events/text.h"
#include "src/domain/rejection.h"

namespace portal {

namespace {

// Spaces and invisible characters past ASCII that spreadsheets and copied text
// carry (a no-break space, a zero-width space, a byte-order mark, …): Unicode's
// space separators (Zs) and format characters (Cf) of the Latin, general
// punctuation and CJK blocks; and the C1 controls (U+0080 to U+009F).
bool invisible(char32_t c) {
  return (c >= 0x0080 && c <= 0x009F) || c == 0x00A0 || c == 0x00AD || c == 0x1680 || c == 0x180E ||
         (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) ||
         (c >= 0x205F && c <= 0x206F) || c == 0x3000 || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB);
}

// The first code point past ASCII in valid UTF-8 `s` for which `found` holds, as
// UTF-8; empty when there is none.
std::string firstPastAscii(std::string_view s, bool (*found)(char32_t)) {
  for (std::size_t i = 0; i < s.size();) {
    char32_t c = 0;
    const std::size_t n = decodeUtf8(s.substr(i), c);  // 0 for ASCII
    if (n > 0 && found(c)) return std::string(s.substr(i, n));
    i += n > 0 ? n : 1;
  }
  return {};
}

// The punctuation names are written with (RFC 5892's CONTEXTO: the middle dot of
// Catalan's l·l, the Greek keraia, Hebrew geresh and gershayim, the katakana middle
// dot of foreign names in Japanese): taken before the @ (Col·lell, ジョン・スミス, a
// review), and in a domain left to UTS #46 to judge.
bool namePunctuation(char32_t c) {
  return c == 0x00B7 || c == 0x0375 || c == 0x05F3 || c == 0x05F4 || c == 0x30FB;
}

// The first code point past ASCII in valid UTF-8 `s` that is no letter, mark or
// digit (a typographic quote, a dash, an ellipsis, an ideographic full stop), as
// UTF-8; empty when there is none. The punctuation of names passes.
std::string firstNonLetterPastAscii(std::string_view s) {
  return firstPastAscii(s,
                        [](char32_t c) { return !isLetterMarkOrDigit(c) && !namePunctuation(c); });
}

}  // namespace

std::optional<std::string> emailProblem(std::string_view raw) {
  const std::string_view email = trim(raw);
  if (email.empty()) return "is required";
  if (email.size() > 254) return "is longer than 254 characters";
  if (!isValidUtf8(email)) return "is not valid UTF-8 text";
  if (!firstPastAscii(email, invisible).empty())
    return "holds a no-break space or an invisible character";
  // As a mail program writes an address, "Ann Smith <ann@acme.example>" (an
  // end-to-end review read "holds a space" of it).
  // (Not two addresses: "a@x <b@y>".)
  if (const auto open = email.find('<'); open != std::string_view::npos && email.back() == '>' &&
                                         email.find('@', open) != std::string_view::npos &&
                                         email.substr(0, open).find('@') == std::string_view::npos)
    return open == 0 ? "is in angle brackets (<address>): give the address alone"
                     : "holds a name beside the address (Name <address>): give the address alone";
  // The older form, "ann@acme.example (Ann Smith)".
  if (const auto open = email.find(" (");
      open != std::string_view::npos && email.back() == ')' &&
      email.substr(0, open).find('@') != std::string_view::npos &&
      email.substr(open).find('@') == std::string_view::npos)
    return "holds a name beside the address (address (Name)): give the address alone";
  const auto at = email.find('@');
  if (at == std::string_view::npos || email.find('@', at + 1) != std::string_view::npos)
    return "must be of the form name@domain";
  const std::string_view local = email.substr(0, at);
  const std::string_view domain = email.substr(at + 1);
  if (local.empty()) return "has nothing before the @";
  if (local.size() > 64) return "has more than 64 characters before the @";
  // The local part: RFC 5322's atext and dots; bytes of 0x80 and up are UTF-8
  // (RFC 6531, checked above). The domain: labels of letters, digits and hyphens (or
  // UTF-8, an internationalized name), the last one not all digits.
  auto atext = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80 || std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) !=
                            std::string_view::npos;
  };
  for (unsigned char c : local)
    if (c != '.' && !atext(c))
      return c <= ' ' ? "holds a space or a control character"
                      : std::string("holds '") + static_cast<char>(c) +
                            "', which an address may not hold before the @";
  // Past ASCII (RFC 6531) letters, marks and digits of any script: quotes, dashes and
  // ellipses pasted from a word processor make an address nobody receives at, and
  // a second account beside the person's own (a review imported `“ann@corp.example”`).
  if (const std::string c = firstNonLetterPastAscii(local); !c.empty())
    return "holds '" + c + "', which an address may not hold before the @";
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return "has a misplaced dot before the @";
  if (const std::string c = firstNonLetterPastAscii(domain); !c.empty())
    return "has '" + c + "' in its domain, which holds only letters, digits, hyphens and dots";
  if (domain.find('.') == std::string_view::npos) return "needs a domain with a dot (name@example.com)";
  std::size_t start = 0;
  while (start <= domain.size()) {
    const auto dot = domain.find('.', start);
    const bool last = dot == std::string_view::npos;
    const std::string_view label = domain.substr(start, last ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return "has an invalid domain";
    bool digitsOnly = true;
    for (unsigned char c : label) {
      const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
      const bool digit = c >= '0' && c <= '9';
      if (!letter && !digit && c != '-')
        return c <= ' ' ? "holds a space or a control character"
                        : "has a domain with a character other than letters, digits, hyphens and dots";
      digitsOnly = digitsOnly && digit;
    }
    if (last) {
      if (digitsOnly) return "has a domain that ends in a number";
      break;
    }
    start = dot + 1;
  }
  // An internationalized domain as IDNA takes it (UTS #46 with STD3's rules: the
  // form its mail is sent to): a letter IDNA does not allow, or a label too long in
  // its ASCII form, makes a domain no mail reaches. One written in its ASCII form
  // (an `xn--` label) is judged so too, and as its Unicode form: a label Punycode
  // cannot decode, or one that decodes to what the domain may not hold, reaches
  // nobody (a review stored `user@xn--zz.example`, and `xn--ls8h` where the 💩 it
  // stands for is refused).
  const std::string lower = asciiLower(domain);
  const bool aceLabels = lower.starts_with("xn--") || lower.find(".xn--") != std::string::npos;
  if ((aceLabels || !isAscii(domain)) && !asciiDomain(domain))
    return "has an invalid internationalized domain";
  if (aceLabels) {
    const auto unicode = unicodeDomain(domain);
    if (!unicode) return "has an invalid internationalized domain";
    if (const std::string c = firstNonLetterPastAscii(*unicode); !c.empty())
      return "has '" + c +
             "' in its domain (written in its xn-- form), which holds only "
             "letters, digits, hyphens and dots";
  }
  return std::nullopt;
}

std::optional<std::string> newAccountEmailProblem(std::string_view email) {
  if (auto problem = emailProblem(email)) return problem;
  // No top-level domain is one letter: `ann@example.c` is a cut `.com` (a review).
  // (The domain holds a dot and its last label is ASCII here: emailProblem saw to it.)
  const std::string_view address = trim(email);
  if (address.size() - address.rfind('.') == 2)
    return "has a domain that ends in one letter (no top-level domain does: .c for .com?)";
  // A variant form of a character before the @ (full-width `ａｌｉｃｅ`, a ligature, a
  // superscript: isVariantForm): no mail system delivers to it, and it reads as the
  // plain address, a second account beside the person's own (a review made
  // `ａｌｉｃｅ@corp.example` beside `alice@corp.example`; the domain is mapped by
  // IDNA, and `alice@ｃｏｒｐ.example` was taken already). (Not every compatibility
  // character: Thai's sara am, in กำพล, is a letter of its own; a review.)
  if (const std::string one = firstPastAscii(address.substr(0, address.rfind('@')), isVariantForm);
      !one.empty()) {
    const std::string plain = nfkc(one);
    return "holds '" + one + "' before the @, a variant form (full-width, a ligature, a " +
           "superscript…) of '" + plain + "': write it as '" + plain + "'";
  }
  return std::nullopt;
}

std::optional<std::string> emailInIdsPlace(std::string_view subject, std::string_view id,
                                           bool ofUser) {
  if (id.find('@') == std::string_view::npos) return std::nullopt;
  return std::string(subject) + " is given as " + (ofUser ? kEmailNotId : "an email, not an id") +
         ".";
}

Rejection notInCompany(const std::string& what, std::string_view id) {
  // No detail holds an email: one given where an id goes is not repeated; nor does
  // it repeat a long text (a path of 10,000 letters) that cannot be an id.
  // (The way to a user's id is said of a user only: a review read it of a group.)
  if (auto said = emailInIdsPlace(what, id, what == "User"))
    return {RejectionKind::kNotFound, "not-found", std::move(*said), {}, {}};
  // (A text not shaped as an id, a name typed where the id goes, is not repeated
  // either: details hold ids only.)
  const bool idShaped = id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
                          return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                                 (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
                        });
  const std::string named = idShaped         ? " " + std::string(id)
                            : id.size() > 64 ? std::string(" given (too long to be an id)")
                                             : std::string(" given (not an id)");
  return {RejectionKind::kNotFound,
          "not-found",
          what + named + " does not exist in this company.",
          {},
          {}};
}

}  // namespace portal
