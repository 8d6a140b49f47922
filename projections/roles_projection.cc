#include "projections/roles_projection.h"

#include "projections/row_json.h"

namespace portal {

std::string RolesProjection::userList(const std::string& companyId, const std::string& userId) {
  return rows::key(companyId, userId);
}

const std::set<std::string_view>& RolesProjection::handles() const {
  static const std::set<std::string_view> types = {RoleGranted::kType, RoleRevoked::kType};
  return types;
}

Result<void> RolesProjection::apply(const RecordedEvent& event, RowView& view) {
  const std::string& company = event.envelope.companyId;
  auto key = [&](const std::string& user, const std::string& service, const std::string& role) {
    std::string id = service;
    id.push_back('\0');
    id += role;
    return rows::key(userList(company, user), id);
  };
  if (const auto* g = std::get_if<RoleGranted>(&event.data)) {
    rows::save(view, 0, key(g->userId, g->service, g->role),
               rows::json{{"service", g->service}, {"role", g->role}, {"grantedAt", rows::time(event.envelope)}});
  } else if (const auto* r = std::get_if<RoleRevoked>(&event.data)) {
    view.remove(0, key(r->userId, r->service, r->role));
  }
  return {};
}

}  // namespace portal
