#include "src/domain/countries.h"

#include "events/text.h"
#include "src/domain/email.h"

namespace portal {

CountryList::CountryList(std::vector<Country> countries) : countries_(std::move(countries)) {
  for (const auto& c : countries_) {
    byKey_[asciiLower(c.code)] = c.code;
    byKey_[asciiLower(c.name)] = c.code;
    for (const auto& n : c.otherNames) byKey_.try_emplace(asciiLower(n), c.code);
  }
}

std::optional<std::string> CountryList::find(std::string_view codeOrName) const {
  auto it = byKey_.find(asciiLower(trim(codeOrName)));
  if (it == byKey_.end()) return std::nullopt;
  return it->second;
}

}  // namespace portal
