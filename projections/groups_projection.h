#pragma once
// The groups view. Family "groups": company, NUL, group id -> {id, name,
// description, members: [user ids, sorted], version (its events so far: the ETag),
// createdAt, updatedAt}.

#include "projections/projection.h"

namespace portal {

class GroupsProjection final : public Projection {
 public:
  static constexpr const char* kName = "groups_v2";
  std::string name() const override { return kName; }
  std::vector<std::string> families() const override { return {"groups"}; }
  const std::set<std::string_view>& handles() const override;
  Result<void> apply(const RecordedEvent& event, RowView& rows) override;
};

}  // namespace portal
