#include "projections/admins_projection.h"
#include "projections/audit_projection.h"
#include "projections/credentials_projection.h"
#include "projections/groups_projection.h"
#include "projections/projector.h"
#include "projections/resources_projection.h"
#include "projections/users_projection.h"

namespace portal {

std::vector<std::unique_ptr<Projection>> allProjections() {
  std::vector<std::unique_ptr<Projection>> all;
  all.push_back(std::make_unique<UsersProjection>());
  all.push_back(std::make_unique<AdminsProjection>());
  all.push_back(std::make_unique<ResourcesProjection>());
  all.push_back(std::make_unique<GroupsProjection>());
  all.push_back(std::make_unique<AuditProjection>());
  all.push_back(std::make_unique<CredentialsProjection>());
  return all;
}

}  // namespace portal
