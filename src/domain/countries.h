#pragma once
// The ISO 3166-1 countries a user's country may be, given to the domain as a value
// (the application reads them from the iso-codes package at start, with CLDR's
// English names in common use from ICU's data).

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace portal {

struct Country {
  std::string code;  // alpha-2, upper case
  std::string name;  // the short name people use ("Bolivia", "Germany")
  std::vector<std::string> otherNames;  // official and formal names also accepted
  // Names in common use that iso-codes does not give ("Russia", "Ivory Coast",
  // "South Korea", "Czech Republic": Unicode CLDR's English names, read through
  // ICU); accepted where no name of the list means something else.
  std::vector<std::string> commonNames;
};

class CountryList {
 public:
  CountryList() = default;
  explicit CountryList(std::vector<Country> countries);

  // The alpha-2 code for a code or a name, compared case-insensitively after
  // trimming, then also without accents ("Cote d'Ivoire", "Curacao": a name typed
  // on a keyboard without them); "UK" is GB (ISO 3166/MA reserves it for the United
  // Kingdom, and people type it). nullopt when it is no country.
  std::optional<std::string> find(std::string_view codeOrName) const;
  // find()'s refusal as a problem of a user's details: what to give, and which
  // countries may have been meant.
  std::string problemWith(std::string_view text) const;
  // Every country, in the order of the list (GET /api/v1/countries).
  const std::vector<Country>& all() const { return countries_; }

 private:
  std::vector<Country> countries_;
  std::unordered_map<std::string, std::string> byKey_;  // lower-cased code or name -> code
  std::unordered_map<std::string, std::string> byAccentless_;  // the same, marks removed
  // Short names of two countries ("korea"), or of one that another's name is
  // ("congo"): "the" before them is not taken away.
  std::unordered_set<std::string> ambiguous_;
  // For what find() found no country for, as lookupKey() gives it: the countries (at
  // most four) one of whose names holds it as a whole word ("korea": South Korea and
  // North Korea; "macedonia": North Macedonia); none when more do.
  std::vector<const Country*> suggest(std::string key) const;
  // Each country's names as lookupKey() gives them, by the list's order (suggest()).
  std::vector<std::vector<std::string>> foldedNames_;
  // problemWith()'s answers by the text's lookupKey: a file whose country column
  // holds one unknown name on every row looks for suggestions once (shared by
  // copies; the list is read from any thread).
  struct ProblemCache {
    std::mutex mu;
    std::unordered_map<std::string, std::string> byKey;
  };
  std::shared_ptr<ProblemCache> problems_ = std::make_shared<ProblemCache>();
};

}  // namespace portal
