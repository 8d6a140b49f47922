#include "src/domain/services.h"

#include <algorithm>

#include "events/text.h"

namespace portal {

const std::vector<ServiceDefinition>& serviceCatalog() {
  static const std::vector<ServiceDefinition> catalog = {
      {"modeler", "Process Modeler", {"viewer", "editor", "admin"}},
      {"automation", "Automation", {"operator", "developer", "admin"}},
      {"studio", "Studio", {"designer", "publisher", "admin"}},
      {"analytics", "Process Analytics", {"viewer", "analyst", "admin"}},
  };
  return catalog;
}

const ServiceDefinition* findService(std::string_view name) {
  for (const auto& s : serviceCatalog())
    if (s.name == name) return &s;
  return nullptr;
}

bool serviceHasRole(std::string_view service, std::string_view role) {
  const ServiceDefinition* s = findService(service);
  if (s == nullptr) return false;
  for (const auto& r : s->roles)
    if (r == role) return true;
  return false;
}

std::string heldServicesText(const std::vector<std::string>& services) {
  if (services.empty()) return "it holds none";
  return "it holds " + wordList(services, "and");
}

const std::vector<std::string>& defaultServices() {
  static const std::vector<std::string> services = {"modeler", "automation", "studio"};
  return services;
}

bool holdsService(const std::vector<std::string>& services, std::string_view service) {
  return std::find(services.begin(), services.end(), service) != services.end();
}

}  // namespace portal
