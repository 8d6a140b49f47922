#include "src/domain/user_details.h"

#include <algorithm>

#include "events/json_writer.h"
#include "events/text.h"
#include "src/domain/email.h"

namespace portal {

namespace {

// Unicode's explicit embeddings, overrides and isolates (LRE, RLE, PDF, LRO, RLO;
// LRI, RLI, FSI, PDI): inside a name they reorder what is shown around them, in an
// administrator's list, a mail's header or a terminal ("Trojan Source",
// CVE-2021-42574). The marks (LRM, RLM, ALM) only nudge neutral characters and stay.
bool isBidiControl(char32_t c) {
  return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

// A code point's digits as U+ writes them: four at least (U+202E, U+1FFFF).
std::string hex4(char32_t c) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[c & 0xf]);
    c >>= 4;
  } while (c != 0 || out.size() < 4);
  return out;
}

}  // namespace

std::optional<std::string> textProblem(std::string_view value, std::size_t maxLength, bool lines) {
  // One pass: UTF-8, controls and the length together (this runs for every name of
  // every user created or imported).
  std::optional<std::string> control;
  std::size_t characters = 0;
  for (std::size_t i = 0; i < value.size(); ++characters) {
    const auto b = static_cast<unsigned char>(value[i]);
    char32_t c = b;
    if (b < 0x80) {
      ++i;
      if (b >= 0x20 && b != 0x7f) continue;
    } else {
      const std::size_t n = decodeUtf8(value.substr(i), c);
      if (n == 0) return "is not valid UTF-8 text";
      i += n;
      // What has nothing to go on first: a combining mark, a tag (kept by the trim
      // for the emoji it follows).
      const bool strayFirst = characters == 0 && (isMark(c) || isTagCharacter(c));
      if (c > 0x9f && c != 0x2028 && c != 0x2029 && !isBidiControl(c) && !isNoncharacter(c) &&
          !strayFirst)
        continue;
    }
    if (control) continue;
    // (A review: `\u0301` and `\uffff` were taken as a group's name.)
    if (isNoncharacter(c)) {
      control = "holds a noncharacter (U+" + hex4(c) + "), which is no text";
      continue;
    }
    if (characters == 0 && c > 0x9f && isMark(c)) {
      control = "starts with a combining mark (U+" + hex4(c) + "), which has no letter to go on";
      continue;
    }
    if (characters == 0 && isTagCharacter(c)) {
      control = "starts with a tag character (U+" + hex4(c) + "), which has no emoji to go on";
      continue;
    }
    if (isBidiControl(c)) {
      control = "holds a bidirectional control character (U+" + hex4(c) +
                "), which can make text read out of order";
      continue;
    }
    const bool lineBreak = isLineBreak(c);
    if (lines) {
      // (NEL is a C1 control too: a description's line breaks are the others.)
      if (c == '\t' || (lineBreak && c != 0x85)) continue;
    } else if (lineBreak) {
      control = "holds a line break";
      continue;
    }
    // C0 and C1 controls and DEL (U+009B, say, starts a terminal's escape sequence).
    control = "holds a control character";
  }
  if (control) return control;
  // Counted in NFC, as the text shows: "é" typed as "e" and a combining accent (as
  // macOS may send it) is one character, as it is in a name's uniqueness (a review
  // found 200 of them refused where 200 composed ones passed). Stored as sent. NFC
  // takes at most four code points into one (U+1F82), so a text more than four times
  // as long is refused without it: ICU orders a long run of combining marks in
  // quadratic time, and this runs on the one writer thread (a code review).
  if (characters > 4 * maxLength)
    return "is longer than " + std::to_string(maxLength) + " characters";
  if (characters > maxLength) {
    const std::string composed = nfcOf(value);
    const auto codePoints = std::count_if(composed.begin(), composed.end(), [](char c) {
      return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
    });
    if (static_cast<std::size_t>(codePoints) > maxLength)
      return "is longer than " + std::to_string(maxLength) + " characters";
  }
  return std::nullopt;
}

bool blankText(std::string_view value) {
  // Characters that fold to nothing (variation selectors, tag characters: the
  // default ignorables that trimming keeps beside an emoji) alone show as nothing
  // and compare as nothing: blank, as zero-width spaces alone are. (Any ASCII
  // character shows; only text without one is folded to find out.)
  return value.empty() ||
         (std::none_of(value.begin(), value.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; }) &&
          foldCase(value).empty());
}

void requireText(std::vector<FieldProblem>& problems, const std::string& prefix, const char* field,
                 std::string_view value) {
  if (blankText(value)) {
    problems.push_back({prefix + field, "is required"});
  } else if (auto p = textProblem(value, kMaxTextLength)) {
    problems.push_back({prefix + field, *p});
  }
}

std::vector<FieldProblem> validateDetails(const NewUserDetails& d, const CountryList& countries,
                                          ValidDetails& out, const std::string& prefix) {
  std::vector<FieldProblem> problems;
  out.email = std::string(trim(d.email));
  out.givenName = std::string(trimText(d.givenName));
  out.surname = std::string(trimText(d.surname));
  out.jobTitle = std::string(trimText(d.jobTitle));
  out.managerEmail = std::string(trim(d.managerEmail));
  out.active = d.active;
  if (auto p = newAccountEmailProblem(out.email)) problems.push_back({prefix + "email", *p});
  requireText(problems, prefix, "givenName", out.givenName);
  requireText(problems, prefix, "surname", out.surname);
  requireText(problems, prefix, "jobTitle", out.jobTitle);
  // The top of a hierarchy has no manager: said how it is written (a review: every
  // import's first row hit a bare "is required").
  if (out.managerEmail.empty())
    problems.push_back(
        {prefix + "managerEmail", "is required: a user without a manager names themself"});
  else if (auto p = emailProblem(out.managerEmail))
    problems.push_back({prefix + "managerEmail", *p});
  if (d.country && !trimText(*d.country).empty()) {
    out.country = countries.find(*d.country);
    if (!out.country) problems.push_back({prefix + "country", countries.problemWith(*d.country)});
  }
  return problems;
}

}  // namespace portal
