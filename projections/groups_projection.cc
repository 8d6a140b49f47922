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
    rows::save(view, 0, rows::key(company, c->groupId),
               rows::json{{"id", c->groupId},
                          {"name", c->name},
                          {"description", rows::text(c->description)},
                          {"members", rows::json::array()},
                          {"version", 1},
                          {"createdAt", rows::time(event.envelope)},
                          {"updatedAt", rows::time(event.envelope)}});
    return {};
  }
  if (const auto* d = std::get_if<GroupDeleted>(&event.data)) {
    view.remove(0, rows::key(company, d->groupId));
    return {};
  }
  std::string groupId;
  std::visit([&](const auto& e) {
    if constexpr (requires { e.groupId; }) groupId = e.groupId;
  }, event.data);
  const std::string key = rows::key(company, groupId);
  auto loaded = rows::load(view, 0, key);
  if (!loaded) return loaded.error();
  if (!*loaded) return {};
  rows::json& row = **loaded;
  std::vector<std::string> members = row.value("members", std::vector<std::string>{});
  if (const auto* r = std::get_if<GroupRenamed>(&event.data)) {
    row["name"] = r->name;
    row["description"] = rows::text(r->description);
  } else if (const auto* a = std::get_if<GroupMemberAdded>(&event.data)) {
    auto at = std::lower_bound(members.begin(), members.end(), a->userId);
    if (at == members.end() || *at != a->userId) members.insert(at, a->userId);
  } else if (const auto* m = std::get_if<GroupMemberRemoved>(&event.data)) {
    std::erase(members, m->userId);
  }
  row["members"] = members;
  row["version"] = row.value("version", std::uint64_t{0}) + 1;
  row["updatedAt"] = rows::time(event.envelope);
  rows::save(view, 0, key, row);
  return {};
}

}  // namespace portal
