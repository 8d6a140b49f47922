#include "projections/groups_projection.h"

#include <algorithm>

#include "projections/row_json.h"

namespace portal {

const std::set<std::string_view>& GroupsProjection::handles() const {
  static const std::set<std::string_view> types = {GroupCreated::kType, GroupRenamed::kType,
                                                   GroupDeleted::kType, GroupMemberAdded::kType,
                                                   GroupMemberRemoved::kType};
  return types;
}

Result<void> GroupsProjection::apply(const RecordedEvent& event, RowView& view) {
  const std::string& company = event.envelope.companyId;
  if (const auto* c = std::get_if<GroupCreated>(&event.data)) {
    rows::save(view, kGroups, rows::key(company, c->groupId),
               rows::json{{"id", c->groupId},
                          {"name", c->name},
                          {"description", rows::text(c->description)},
                          {"version", 1},
                          {"memberCount", 0},
                          {"createdAt", rows::time(event.envelope)},
                          {"updatedAt", rows::time(event.envelope)}});
    return {};
  }
  if (const auto* d = std::get_if<GroupDeleted>(&event.data)) {
    view.remove(kGroups, rows::key(company, d->groupId));
    const std::string prefix = memberPrefix(company, d->groupId);
    // The event names its members (since schema 1's memberIds): no scan, which a
    // rebuild's builder makes over every row it holds. Older events are scanned.
    std::vector<std::string> members;
    if (d->memberIds) {
      members = *d->memberIds;
    } else {
      view.scan(kMembers, prefix, [&](std::string_view key, std::string_view) {
        members.emplace_back(key.substr(prefix.size()));
        return true;
      });
    }
    for (const std::string& member : members) {
      view.remove(kMembers, prefix + member);
      view.remove(kByMember, memberPrefix(company, member) + d->groupId);
    }
    return {};
  }
  std::string groupId;
  std::visit([&](const auto& e) {
    if constexpr (requires { e.groupId; }) groupId = e.groupId;
  }, event.data);
  const std::string key = rows::key(company, groupId);
  auto loaded = rows::load(view, kGroups, key);
  if (!loaded) return loaded.error();
  if (!*loaded) return {};
  rows::json& row = **loaded;
  // The decider appends an add only for a user not in the group and a removal only
  // for one in it, so the count moves with the member rows.
  const auto count = row.value("memberCount", std::uint64_t{0});
  if (const auto* r = std::get_if<GroupRenamed>(&event.data)) {
    row["name"] = r->name;
    row["description"] = rows::text(r->description);
  } else if (const auto* a = std::get_if<GroupMemberAdded>(&event.data)) {
    view.put(kMembers, memberPrefix(company, groupId) + a->userId, "");
    view.put(kByMember, memberPrefix(company, a->userId) + groupId, "");
    row["memberCount"] = count + 1;
  } else if (const auto* m = std::get_if<GroupMemberRemoved>(&event.data)) {
    view.remove(kMembers, memberPrefix(company, groupId) + m->userId);
    view.remove(kByMember, memberPrefix(company, m->userId) + groupId);
    row["memberCount"] = count > 0 ? count - 1 : 0;
  }
  row["version"] = row.value("version", std::uint64_t{0}) + 1;
  row["updatedAt"] = rows::time(event.envelope);
  rows::save(view, kGroups, key, row);
  return {};
}

}  // namespace portal
