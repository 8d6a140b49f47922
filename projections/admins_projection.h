#pragma once
// The administrators view. Family "admins": company, NUL, user id -> {since,
// includedBy}. Who is owner comes from the users view.

#include <string>
#include <string_view>

#include "projections/projection.h"

namespace portal {

class AdminsProjection final : public Projection {
 public:
  static constexpr const char* kName = "admins_v1";
  std::string name() const override { return kName; }
  std::vector<std::string> families() const override { return {"admins"}; }
  const std::set<std::string_view>& handles() const override;
  Result<void> apply(const RecordedEvent& event, RowView& rows) override;
};

// An administrator as API.md shows one: {user, isOwner, since, includedBy}, from the
// user as API JSON (UsersReader::get) and the administrator's row of this view.
std::string adminEntryJson(std::string_view userJson, std::string_view adminRowJson);

}  // namespace portal
