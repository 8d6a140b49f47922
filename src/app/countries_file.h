#pragma once
// Reads the ISO 3166-1 country list of Debian's iso-codes package.

#include <string>

#include "events/result.h"
#include "src/domain/countries.h"

namespace portal {

inline constexpr const char* kIsoCodesCountries = "/usr/share/iso-codes/json/iso_3166-1.json";

// kNotFound when the file is missing (install iso-codes), kCorrupt when it is not
// the iso-codes format.
Result<CountryList> loadCountries(const std::string& path = kIsoCodesCountries);

}  // namespace portal
