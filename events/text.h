#pragma once
// Small helpers every layer uses: ASCII case folding, and the overload set for
// std::visit over the event variant.

#include <string>
#include <string_view>

namespace portal {

// ASCII letters lower-cased; every other byte as it is (case-insensitive matching of
// emails, names in search, country names, passwords against a list).
inline std::string asciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Lower case for any script, for case-insensitive search and sorting of names:
// Unicode's simple lowercase mapping of each character (glibc's C.UTF-8 tables:
// "Élodie ÖZTÜRK" -> "élodie öztürk", "ΑΘΗΝΑ" -> "αθηνα"). Bytes that are not UTF-8
// stay as they are. (Emails keep asciiLower: their uniqueness key must not change.)
std::string foldCase(std::string_view s);
// Whether foldCase has the C.UTF-8 tables (else it folds ASCII letters only): the
// server refuses to start without them, since the users view keeps folded keys.
bool foldCaseHasUnicodeTables();

// Leading and trailing spaces, tabs and line breaks removed.
inline std::string_view trim(std::string_view s) {
  auto isSpace = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

// The key under which an email is unique: trimmed and lower-cased (ASCII).
inline std::string emailKey(std::string_view email) { return asciiLower(trim(email)); }

// std::visit(Overloaded{[](const A&) {...}, [](const B&) {...}}, variant)
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace portal
