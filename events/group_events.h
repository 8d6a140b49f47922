#pragma once
// Events of the group aggregate, stream "group-<groupId>": groups of users that
// administrators manage.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/fields.h"

namespace portal {

struct GroupCreated {
  static constexpr std::string_view kType = "GroupCreated";
  static constexpr int kSchema = 1;
  std::string groupId;
  std::string name;
  std::optional<std::string> description;
  PORTAL_FIELDS(GroupCreated, groupId, name, description)
};

struct GroupRenamed {
  static constexpr std::string_view kType = "GroupRenamed";
  static constexpr int kSchema = 1;
  std::string groupId;
  std::string name;
  std::optional<std::string> description;
  // The name before, when this changed it, so that the audit trail says what the
  // group was called (a review: only the timeline, which replays, could). Renames
  // written before this field have none.
  std::optional<std::string> previousName;
  PORTAL_FIELDS(GroupRenamed, groupId, name, description, previousName)
};

// The group's name and its members when it was deleted, so that the deletion is in
// each member's history and reads by name once the group is gone (deletions written
// before these fields were added have only the group's id).
struct GroupDeleted {
  static constexpr std::string_view kType = "GroupDeleted";
  static constexpr int kSchema = 1;
  std::string groupId;
  std::optional<std::string> name;
  std::optional<std::vector<std::string>> memberIds;
  PORTAL_FIELDS(GroupDeleted, groupId, name, memberIds)
};

struct GroupMemberAdded {
  static constexpr std::string_view kType = "GroupMemberAdded";
  static constexpr int kSchema = 1;
  std::string groupId;
  std::string userId;
  PORTAL_FIELDS(GroupMemberAdded, groupId, userId)
};

struct GroupMemberRemoved {
  static constexpr std::string_view kType = "GroupMemberRemoved";
  static constexpr int kSchema = 1;
  std::string groupId;
  std::string userId;
  PORTAL_FIELDS(GroupMemberRemoved, groupId, userId)
};

}  // namespace portal
