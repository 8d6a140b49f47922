#include "src/app/countries_file.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "events/text.h"

namespace portal {

Result<CountryList> loadCountries(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return makeError(ErrorCode::kNotFound,
                     "cannot read the country list " + path + " (install the iso-codes package)");
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (!doc.is_object() || !doc.contains("3166-1") || !doc["3166-1"].is_array())
    return makeError(ErrorCode::kCorrupt, path + " is not an iso-codes ISO 3166-1 list");
  std::vector<Country> countries;
  for (const auto& entry : doc["3166-1"]) {
    if (!entry.contains("alpha_2") || !entry.contains("name")) continue;
    Country c;
    c.code = entry["alpha_2"].get<std::string>();
    c.name = entry.value("common_name", entry["name"].get<std::string>());
    c.otherNames.push_back(entry["name"].get<std::string>());
    if (entry.contains("official_name")) c.otherNames.push_back(entry["official_name"].get<std::string>());
    if (entry.contains("alpha_3")) c.otherNames.push_back(entry["alpha_3"].get<std::string>());
    countries.push_back(std::move(c));
  }
  if (countries.empty()) return makeError(ErrorCode::kCorrupt, path + " lists no countries");
  // The short names inside the list's own: "Palestine" of "Palestine, State of",
  // "Holy See" and "Vatican City State" of "Holy See (Vatican City State)"; each only
  // where no other country's name gives it too ("Korea" is two countries).
  auto shortNames = [](const std::string& name) {
    std::vector<std::string> out;
    if (auto comma = name.find(", "); comma != std::string::npos)
      out.push_back(name.substr(0, comma));
    if (auto open = name.find(" ("); open != std::string::npos && name.back() == ')') {
      out.push_back(name.substr(0, open));
      out.push_back(name.substr(open + 2, name.size() - open - 3));
    }
    return out;
  };
  std::map<std::string, int> given;  // short name -> how many countries give it
  std::set<std::string> names;       // every name and code of the list
  std::vector<std::map<std::string, std::string>> shorts(countries.size());
  for (std::size_t i = 0; i < countries.size(); ++i) {
    names.insert(lookupKey(countries[i].code));
    names.insert(lookupKey(countries[i].name));
    for (const auto& n : countries[i].otherNames) {
      names.insert(lookupKey(n));
      for (auto& s : shortNames(n)) shorts[i].emplace(lookupKey(s), std::move(s));
    }
    for (const auto& [key, s] : shorts[i]) ++given[key];
  }
  for (std::size_t i = 0; i < countries.size(); ++i)
    for (const auto& [key, s] : shorts[i])
      if (given[key] == 1 && !names.count(key)) countries[i].otherNames.push_back(s);
  // By name, as people look for one in a list (GET /countries, the template's
  // Countries sheet and its drop-down): iso-codes lists them by alpha-3 code, which
  // put the United Kingdom between Gabon and Georgia (a review). Compared folded and
  // without accents, so that the Åland Islands come among the A's.
  std::vector<std::pair<std::string, Country>> keyed;
  keyed.reserve(countries.size());
  for (auto& c : countries) keyed.emplace_back(searchFold(c.name), std::move(c));
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  countries.clear();
  for (auto& [key, c] : keyed) countries.push_back(std::move(c));
  return CountryList(std::move(countries));
}

}  // namespace portal
