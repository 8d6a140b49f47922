#include "src/domain/countries.h"

#include "events/text.h"
#include "src/domain/email.h"

namespace portal {

CountryList::CountryList(std::vector<Country> countries) : countries_(std::move(countries)) {
  for (const auto& c : countries_) {
    byKey_[lookupKey(c.code)] = c.code;
    byKey_[lookupKey(c.name)] = c.code;
    for (const auto& n : c.otherNames) byKey_.try_emplace(lookupKey(n), c.code);
  }
}

std::optional<std::string> CountryList::find(std::string_view codeOrName) const {
  auto it = byKey_.find(lookupKey(codeOrName));
  if (it == byKey_.end()) return std::nullopt;
  return it->second;
}

}  // namespace portal
