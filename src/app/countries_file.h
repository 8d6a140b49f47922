#pragma once
// Reads the ISO 3166-1 country list of Debian's iso-codes package, with the English
// names in common use of Unicode CLDR that ICU's data carries ("Russia", "Ivory
// Coast") beside its own.

#include <string>

#include "events/result.h"
#include "src/domain/countries.h"

namespace portal {

inline constexpr const char* kIsoCodesCountries = "/usr/share/iso-codes/json/iso_3166-1.json";

// kNotFound when the file is missing (install iso-codes) or ICU's region names
// cannot be read (a broken ICU install), kCorrupt when it is not the iso-codes format.
Result<CountryList> loadCountries(const std::string& path = kIsoCodesCountries);

}  // namespace portal
