#include "src/app/countries_file.h"

#include <unicode/unistr.h>
#include <unicode/ures.h>
#include <unicode/utypes.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "events/text.h"

namespace portal {
namespace {

// CLDR's English names of each region, as ICU's data has them: the standard one,
// and the short and variant ones ("UK", "Ivory Coast", "Czech Republic"), by
// alpha-2 code.
Result<std::multimap<std::string, std::string>> cldrEnglishNames() {
  UErrorCode status = U_ZERO_ERROR;
  const std::string tree = std::string(U_ICUDATA_NAME) + "-region";
  std::unique_ptr<UResourceBundle, decltype(&ures_close)> en(ures_open(tree.c_str(), "en", &status),
                                                             &ures_close);
  if (U_FAILURE(status))
    return makeError(ErrorCode::kNotFound,
                     std::string("cannot read ICU's country names: ") + u_errorName(status));
  std::multimap<std::string, std::string> names;
  for (const char* table : {"Countries", "Countries%short", "Countries%variant"}) {
    status = U_ZERO_ERROR;
    std::unique_ptr<UResourceBundle, decltype(&ures_close)> t(
        ures_getByKey(en.get(), table, nullptr, &status), &ures_close);
    if (U_FAILURE(status)) continue;  // a table this ICU's data does not have
    for (int32_t i = 0; i < ures_getSize(t.get()); ++i) {
      status = U_ZERO_ERROR;
      int32_t length = 0;
      const char* code = nullptr;
      const UChar* name = ures_getNextString(t.get(), &length, &code, &status);
      if (U_FAILURE(status) || code == nullptr) continue;
      std::string utf8;
      icu::UnicodeString(name, length).toUTF8String(utf8);
      names.emplace(code, std::move(utf8));
    }
  }
  return names;
}

}  // namespace

Result<CountryList> loadCountries(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return makeError(ErrorCode::kNotFound,
                     "cannot read the country list " + path + " (install the iso-codes package)");
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (!doc.is_object() || !doc.contains("3166-1") || !doc["3166-1"].is_array())
    return makeError(ErrorCode::kCorrupt, path + " is not an iso-codes ISO 3166-1 list");
  auto common = cldrEnglishNames();
  if (!common) return common.error();
  std::vector<Country> countries;
  for (const auto& entry : doc["3166-1"]) {
    if (!entry.contains("alpha_2") || !entry.contains("name")) continue;
    Country c;
    c.code = entry["alpha_2"].get<std::string>();
    c.name = entry.value("common_name", entry["name"].get<std::string>());
    c.otherNames.push_back(entry["name"].get<std::string>());
    if (entry.contains("official_name")) c.otherNames.push_back(entry["official_name"].get<std::string>());
    if (entry.contains("alpha_3")) c.otherNames.push_back(entry["alpha_3"].get<std::string>());
    for (auto [it, end] = common->equal_range(c.code); it != end; ++it)
      c.commonNames.push_back(it->second);
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
