#pragma once
// The roles view: which roles a user holds in the company's services. Family
// "roles": company, NUL, user id, NUL, service, NUL, role -> {service, role,
// grantedAt}; a user's rows are read as one company's list under the prefix
// company, NUL, user id.

#include "projections/projection.h"

namespace portal {

class RolesProjection final : public Projection {
 public:
  static constexpr const char* kName = "roles_v1";
  std::string name() const override { return kName; }
  std::vector<std::string> families() const override { return {"roles"}; }
  const std::set<std::string_view>& handles() const override;
  Result<void> apply(const RecordedEvent& event, RowView& rows) override;

  // The list prefix of one user's roles (ListReader::list's company argument).
  static std::string userList(const std::string& companyId, const std::string& userId);
};

}  // namespace portal
