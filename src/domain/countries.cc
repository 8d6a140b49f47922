#include "src/domain/countries.h"

#include "events/text.h"
#include "src/domain/email.h"

namespace portal {

CountryList::CountryList(std::vector<Country> countries) : countries_(std::move(countries)) {
  for (const auto& c : countries_) {
    byKey_[lookupKey(c.code)] = c.code;
    byKey_[lookupKey(c.name)] = c.code;
    for (const auto& n : c.otherNames) byKey_.try_emplace(lookupKey(n), c.code);
    // The exceptionally reserved code a country of the list goes by.
    if (c.code == "GB") byKey_.try_emplace("uk", c.code);
  }
  for (const auto& [key, code] : byKey_) byAccentless_.try_emplace(searchFold(key), code);
}

std::optional<std::string> CountryList::find(std::string_view codeOrName) const {
  std::string key = lookupKey(codeOrName);
  for (int pass = 0; pass < 2; ++pass) {
    if (auto it = byKey_.find(key); it != byKey_.end()) return it->second;
    if (auto it = byAccentless_.find(searchFold(key)); it != byAccentless_.end()) return it->second;
    // "The Netherlands", "the Bahamas": the article people put before some names.
    if (!key.starts_with("the ")) break;
    key.erase(0, 4);
  }
  return std::nullopt;
}

}  // namespace portal
