#include "src/domain/countries.h"

#include <algorithm>

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
  // The short names inside the list's own, where they name one country: "Palestine"
  // of "Palestine, State of", "Holy See" of "Holy See (Vatican City State)". (Not
  // what is in the brackets: "French part" is no country's name.) A short name that
  // is another country's name, or two countries', is none: "Congo" is the Republic,
  // and "the Congo" (which the Democratic Republic is called too) nothing. And a
  // name the list turns round, said the right way ("Congo, The Democratic Republic
  // of the": "The Democratic Republic of the Congo"; "Korea, Republic of"), among
  // the names in common use below.
  // Each key to the one country that claims it, "" when two do.
  using Claims = std::unordered_map<std::string, std::string>;
  auto claim = [](Claims& claims, std::string key, const std::string& code) {
    auto [it, fresh] = claims.try_emplace(std::move(key), code);
    if (!fresh && it->second != code) it->second.clear();
  };
  Claims shortOf, commonOf;
  for (const auto& c : countries_)
    for (const auto& n : c.otherNames) {
      const std::size_t comma = n.find(", "), bracket = n.find(" (");
      const std::size_t cut = std::min(comma, bracket);
      if (cut == std::string::npos || (cut == bracket && n.back() != ')')) continue;
      claim(shortOf, lookupKey(n.substr(0, cut)), c.code);
      const std::string_view rest = std::string_view(n).substr(cut + 2);
      if (cut == comma && bracket == std::string::npos &&
          (rest.ends_with(" of") || rest.ends_with(" of the"))) {
        const std::string turned = lookupKey(std::string(rest) + " " + n.substr(0, cut));
        claim(commonOf, turned, c.code);
        if (turned.starts_with("the ")) claim(commonOf, turned.substr(4), c.code);
      }
    }
  for (const auto& [key, code] : shortOf) {
    if (auto named = byKey_.find(key);
        code.empty() || (named != byKey_.end() && named->second != code))
      ambiguous_.insert(key);
    else
      byKey_.try_emplace(key, code);
  }
  // Names in common use, where no name above means another country and no two
  // countries share them (a name of two is none).
  for (const auto& c : countries_)
    for (const auto& n : c.commonNames) claim(commonOf, lookupKey(n), c.code);
  for (const auto& [key, code] : commonOf)
    if (!code.empty() && !ambiguous_.count(key)) byKey_.try_emplace(key, code);
  for (const auto& [key, code] : byKey_) byAccentless_.try_emplace(searchFold(key), code);
  for (const auto& c : countries_) {
    auto& names = foldedNames_.emplace_back();
    names.push_back(lookupKey(c.name));
    for (const auto* list : {&c.otherNames, &c.commonNames})
      for (const auto& n : *list) names.push_back(lookupKey(n));
  }
}

std::optional<std::string> CountryList::find(std::string_view codeOrName) const {
  std::string key = lookupKey(codeOrName);
  for (int pass = 0; pass < 2; ++pass) {
    if (auto it = byKey_.find(key); it != byKey_.end()) return it->second;
    if (auto it = byAccentless_.find(searchFold(key)); it != byAccentless_.end()) return it->second;
    // "The Netherlands", "the Bahamas": the article people put before some names,
    // and ISO 3166-1's own short names after them ("Netherlands (the)").
    std::string bare;
    if (key.starts_with("the "))
      bare = key.substr(4);
    else if (key.ends_with(" (the)"))
      bare = key.substr(0, key.size() - 6);
    if (bare.empty() || ambiguous_.count(bare)) break;
    key = std::move(bare);
  }
  return std::nullopt;
}

std::vector<const Country*> CountryList::suggest(std::string key) const {
  if (key.starts_with("the ")) key.erase(0, 4);
  std::vector<const Country*> out;
  if (key.size() < 3) return out;
  // A code written as an abbreviation ("U.S."), first.
  std::string bare;
  for (char c : key)
    if (c != '.' && c != ' ') bare += c;
  if (bare.size() == 2)
    if (auto it = byKey_.find(bare); it != byKey_.end())
      for (const auto& c : countries_)
        if (c.code == it->second) out.push_back(&c);
  // `key` in `name` with no letter or digit next to it on either side.
  auto holdsWord = [&](const std::string& folded) {
    for (std::size_t at = folded.find(key); at != std::string::npos;
         at = folded.find(key, at + 1)) {
      const auto edge = [&](std::size_t i) {
        const auto b = static_cast<unsigned char>(folded[i]);
        return !((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b >= 0x80);
      };
      if ((at == 0 || edge(at - 1)) && (at + key.size() == folded.size() || edge(at + key.size())))
        return true;
    }
    return false;
  };
  for (std::size_t i = 0; i < countries_.size(); ++i) {
    if (std::find(out.begin(), out.end(), &countries_[i]) == out.end() &&
        std::any_of(foldedNames_[i].begin(), foldedNames_[i].end(), holdsWord))
      out.push_back(&countries_[i]);
    if (out.size() > 4) return {};
  }
  return out;
}

std::string CountryList::problemWith(std::string_view text) const {
  const std::string key = lookupKey(text);
  {
    std::lock_guard lock(problems_->mu);
    if (auto it = problems_->byKey.find(key); it != problems_->byKey.end()) return it->second;
  }
  std::string problem =
      "is not a known ISO 3166-1 country (its English name or two-letter code, as GET "
      "/api/v1/countries and the template's Countries sheet list them)";
  std::vector<std::string> meant;
  for (const auto* country : suggest(key))
    meant.push_back(country->name + " (" + country->code + ")");
  if (!meant.empty()) problem += "; did you mean " + wordList(meant, "or") + "?";
  if (key.size() > 200) return problem;  // no country's name: not kept
  std::lock_guard lock(problems_->mu);
  if (problems_->byKey.size() >= 4096) problems_->byKey.clear();  // a bound on what is kept
  problems_->byKey.emplace(key, problem);
  return problem;
}

}  // namespace portal
