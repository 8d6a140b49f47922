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

// std::visit(Overloaded{[](const A&) {...}, [](const B&) {...}}, variant)
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace portal
