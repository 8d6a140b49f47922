#include "src/domain/countries.h"

#include "src/domain/email.h"

namespace portal {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

CountryList::CountryList(std::vector<Country> countries) : countries_(std::move(countries)) {
  for (const auto& c : countries_) {
    byKey_[lower(c.code)] = c.code;
    byKey_[lower(c.name)] = c.code;
    for (const auto& n : c.otherNames) byKey_.try_emplace(lower(n), c.code);
  }
}

std::optional<std::string> CountryList::find(std::string_view codeOrName) const {
  auto it = byKey_.find(lower(trim(codeOrName)));
  if (it == byKey_.end()) return std::nullopt;
  return it->second;
}

}  // namespace portal
