#pragma once
// The cloud services a company can hold and the roles each offers. This catalogue
// is product configuration: a service a company holds appears in
// GET /api/v1/services with these roles.

#include <string>
#include <string_view>
#include <vector>

namespace portal {

struct ServiceDefinition {
  std::string name;
  std::string title;
  std::vector<std::string> roles;
};

const std::vector<ServiceDefinition>& serviceCatalog();
const ServiceDefinition* findService(std::string_view name);
bool serviceHasRole(std::string_view service, std::string_view role);

// Whether a company's list of services holds `service` (as named, exactly).
bool holdsService(const std::vector<std::string>& services, std::string_view service);

// "it holds a, b and c" (or "it holds none"), said where a service is not one of
// them, so that the caller sees which to name.
std::string heldServicesText(const std::vector<std::string>& services);

// The services a new company holds when provisioning names none.
const std::vector<std::string>& defaultServices();

}  // namespace portal
