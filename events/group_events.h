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
  // The description before, when this changed it ("" when the group had none), so
  // that a change of the description, or its removal, reads as one (a review: one
  // removed read as a rename to the same name). Older renames have none.
  std::optional<std::string> previousDescription;
  PORTAL_FIELDS(GroupRenamed, groupId, name, description, previousName, previousDescription)
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

// A member's events carry the group's name as it was, so that the audit trail says
// which group a person joined or left once it is renamed or deleted (a review: the
// user's history showed the group's id alone). Older ones have only the id.
struct GroupMemberAdded {
  static constexpr std::string_view kType = "GroupMemberAdded";
  static constexpr int kSchema = 1;
  std::string groupId;
  std::string userId;
  std::optional<std::string> groupName;
  PORTAL_FIELDS(GroupMemberAdded, groupId, userId, groupName)
};

struct GroupMemberRemoved {
  static constexpr std::string_view kType = "GroupMemberRemoved";
  static constexpr int kSchema = 1;
  std::string groupId;
  std::string userId;
  std::optional<std::string> groupName;
  PORTAL_FIELDS(GroupMemberRemoved, groupId, userId, groupName)
};

}  // namespace portal
