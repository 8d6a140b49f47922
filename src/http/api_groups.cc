// Groups and their members.

#include "src/http/api_impl.h"

namespace portal {

HttpResponse Api::Impl::listGroups(Call& call) {
  return rowsPage(call, "groups", portal.groups(), call.company());
}

HttpResponse Api::Impl::groupResponse(const std::string& company, const std::string& id,
                                      int status) {
  const std::optional<std::string> row = portal.groups().row(company, id);
  if (!row) return groupNotFound(id);
  HttpResponse r = jsonResponse(status, *row);
  setETag(r, versionTag(r.body));
  return r;
}

HttpResponse Api::Impl::createGroup(Call& call) {
  HttpResponse error;
  auto body = objectBody(call.req, error);
  if (!body) return error;
  std::vector<std::pair<std::string, std::string>> errors;
  CreateGroup c;
  c.name = stringField(*body, "name", errors).value_or("");
  c.description = stringField(*body, "description", errors);
  // Told where members are added, as a PATCH is (it read "is not a field of a
  // group": a review).
  if (body->erase("members") > 0)
    errors.emplace_back("members",
                        "is not taken when a group is made: add each member with PUT "
                        "/api/v1/groups/{id}/members/{userId} once it is");
  refuseOtherFields(*body, {"name", "description"}, errors, "is not a field of a group");
  if (!errors.empty())
    return validation(
        withValueProblems(std::move(errors), groupFieldProblems(c.name, c.description)));
  return command(call, std::move(c),
                 [=, this, company = call.company(),
                  params = call.params](const CommandReply& reply) -> HttpResponse {
                   HttpResponse r = created("/api/v1/groups/", reply.decision.id,
                                            portal.groups().row(company, reply.decision.id));
                   setETag(r, versionTag(r.body));
                   return r;
                 });
}

HttpResponse Api::Impl::getGroup(Call& call) {
  // (A review found If-None-Match honoured on a user and not on a group.)
  return conditionalRead(call, groupResponse(call.company(), call.params[0], 200), "group");
}

HttpResponse Api::Impl::patchGroup(Call& call) {
  HttpResponse error;
  auto body = objectBody(call.req, error);
  if (!body) return error;
  std::vector<std::pair<std::string, std::string>> errors;
  UpdateGroup u;
  u.groupId = call.params[0];
  // A group deleted since it was read is 404, not its fields refused one by one.
  if (!portal.groups().row(call.company(), u.groupId)) return groupNotFound(u.groupId);
  if (auto it = body->find("name"); it != body->end()) {
    if (it->is_string())
      u.name = it->get<std::string>();
    else
      errors.emplace_back("name", "must be a string");
  }
  if (auto it = body->find("description"); it != body->end()) {
    if (it->is_null())
      u.description = std::optional<std::string>();
    else if (it->is_string())
      u.description = std::optional<std::string>(it->get<std::string>());
    else
      errors.emplace_back("description", "must be a string or null");
  }
  // A group shows no members (a list of 30,000 would be more than a body may be),
  // but a client that sends some is told where they are changed.
  static constexpr const char* kMembersReadOnly =
      "is read-only: use PUT or DELETE /api/v1/groups/{id}/members/{userId}";
  if (body->erase("members") > 0) errors.emplace_back("members", kMembersReadOnly);
  const ShownFields shown = judgeShownFields(
      *body, {"name", "description"}, groupRow(call, u.groupId),
      [](std::string_view field) {
        return std::string(field == "memberCount" ? kMembersReadOnly : "is read-only");
      },
      "group", u.expectedVersion, errors);
  if (!errors.empty()) {
    refuseReadOnly(shown, u.expectedVersion, errors);
    return validation(errors);
  }
  if (auto failed = ifMatch(call, groupTagNow(call, u.groupId), "group", u.expectedVersion))
    return *failed;
  refuseReadOnly(shown, u.expectedVersion, errors);
  if (!errors.empty()) return validation(errors);
  return command(call, std::move(u),
                 [=, this, company = call.company(),
                  params = call.params](const CommandReply& reply) -> HttpResponse {
                   return groupResponse(company, subjectOf(reply, params[0]), 200);
                 });
}

HttpResponse Api::Impl::deleteGroup(Call& call) {
  DeleteGroup d{call.params[0], std::nullopt};
  if (auto failed = ifMatch(call, groupTagNow(call, d.groupId), "group", d.expectedVersion))
    return *failed;
  return command(call, std::move(d),
                 [](const CommandReply&) -> HttpResponse { return noContent(); });
}

HttpResponse Api::Impl::addMember(Call& call) {
  return command(call, AddGroupMember{call.params[0], call.params[1], untaggedConditions(call.req)},
                 [](const CommandReply&) -> HttpResponse { return noContent(); });
}

HttpResponse Api::Impl::idsPage(
    Call& call, const std::string& list, const ListReader& reader, const std::string& of,
    const std::function<std::optional<std::string>(const std::string& id)>& show) {
  HttpResponse error;
  auto limit = limitOf(call, error);
  if (!limit) return error;
  const auto cursor = openListCursor(call, list, error);
  if (!cursor) return error;
  RowPage page = reader.memberIds(call.company(), of, *limit, *cursor);
  // Each id names a row of the company (the decider links no other, and users and
  // groups are removed from both sides at once); the views are applied in log order.
  for (std::string& id : page.items) id = show(id).value_or(json{{"id", id}}.dump());
  return jsonResponse(200, itemsJson(page.items, sealListCursor(call, list, page.nextCursor)));
}

HttpResponse Api::Impl::listMembers(Call& call) {
  const std::string& id = call.params[0];
  // One moment for the group, its members and their rows: a group deleted meanwhile
  // is not shown as one without members (a review).
  const ViewMoment at = portal.moment();
  const ListReader groups = portal.groups(at);
  if (!groups.row(call.company(), id)) return groupNotFound(id);
  const UsersReader users = portal.users(at);
  // A cursor holds its place among one group's members.
  return idsPage(call, "members:" + id, groups, id,
                 [&](const std::string& member) { return users.get(call.company(), member); });
}

HttpResponse Api::Impl::userGroups(Call& call) {
  const std::string& id = call.params[0];
  const ViewMoment at = portal.moment();
  if (!portal.users(at).row(call.company(), id)) return userNotFound(id);
  const ListReader groups = portal.groups(at);
  return idsPage(call, "groups:" + id, portal.groupsByMember(at), id,
                 [&](const std::string& group) { return groups.row(call.company(), group); });
}

HttpResponse Api::Impl::removeMember(Call& call) {
  return command(call,
                 RemoveGroupMember{call.params[0], call.params[1], untaggedConditions(call.req)},
                 [](const CommandReply&) -> HttpResponse { return noContent(); });
}

}  // namespace portal
