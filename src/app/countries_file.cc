#include "src/app/countries_file.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

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
