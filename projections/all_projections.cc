#include "projections/admins_projection.h"
#include "projections/audit_projection.h"
#include "projections/credentials_projection.h"
#include "projections/groups_projection.h"
#include "projections/projector.h"
#include "projections/resources_projection.h"
#include "projections/roles_projection.h"
#include "projections/users_projection.h"

namespace portal {

std::vector<std::unique_ptr<Projection>> allProjections() {
  std::vector<std::unique_ptr<Projection>> all;
  all.push_back(std::make_unique<UsersProjection>());
  all.push_back(std::make_unique<AdminsProjection>());
  all.push_back(std::make_unique<ResourcesProjection>());
  all.push_back(std::make_unique<GroupsProjection>());
  all.push_back(std::make_unique<RolesProjection>());
  all.push_back(std::make_unique<AuditProjection>());
  all.push_back(std::make_unique<CredentialsProjection>());
  return all;
}

std::optional<std::string> projectionNamed(std::string_view name) {
  if (name == "all") return std::string("all");
  for (const auto& p : allProjections()) {
    const std::string full = p->name();
    if (name == full) return full;
    const auto v = full.rfind("_v");
    if (v != std::string::npos && name == std::string_view(full).substr(0, v)) return full;
  }
  return std::nullopt;
}

std::string projectionNameList() {
  // By the short names people type, each with the name its version gives it (a
  // review: the list named only "users_v3", though "users" works).
  std::string out;
  for (const auto& p : allProjections()) {
    const std::string full = p->name();
    const auto v = full.rfind("_v");
    out += (out.empty() ? "" : ", ") +
           (v == std::string::npos ? full : full.substr(0, v) + " (" + full + ")");
  }
  return out;
}

}  // namespace portal
