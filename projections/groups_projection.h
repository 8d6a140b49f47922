#pragma once
// The groups view. Family "groups": company, NUL, group id -> {id, name,
// description, version (its events so far: the ETag), memberCount, createdAt,
// updatedAt}.
// Family "members": company, NUL, group id, NUL, user id -> "" for each member, so
// that adding one to a group of 30,000 writes one small row, not the whole list
// again (a review: 26 ms and 1.3 MB written an add; filling it took minutes).
// Family "byMember": company, NUL, user id, NUL, group id -> "" for each
// membership, the same rows the other way round: a user's groups.
// A group shows its count, not its members (groups_v4: 30,000 ids were more than a
// form may send back); the reader (Portal::groups) gives them a page at a time.

#include "projections/projection.h"

namespace portal {

class GroupsProjection final : public Projection {
 public:
  static constexpr const char* kName = "groups_v4";
  static constexpr int kGroups = 0;
  static constexpr int kMembers = 1;
  static constexpr int kByMember = 2;
  std::string name() const override { return kName; }
  std::vector<std::string> families() const override { return {"groups", "members", "byMember"}; }
  const std::set<std::string_view>& handles() const override;
  Result<void> apply(const RecordedEvent& event, RowView& rows) override;
};

}  // namespace portal
