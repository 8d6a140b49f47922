#pragma once
// The company the API tests, the fuzz targets and the benchmarks provision: its owner
// is owner@<slug>.example, Olga Owner, CEO, her own manager.

#include <string>

#include "src/domain/commands.h"

namespace portal::test {

inline ProvisionCompany exampleCompany(const std::string& slug, const std::string& name) {
  ProvisionCompany c;
  c.slug = slug;
  c.name = name;
  const std::string owner = "owner@" + slug + ".example";
  c.owner = NewUserDetails{owner, "Olga", "Owner", "CEO", owner, std::nullopt, true};
  return c;
}

}  // namespace portal::test
