// Administrators (included, listed, removed) and the company's ownership.

#include "src/http/api_impl.h"

namespace portal {

HttpResponse Api::Impl::listAdmins(Call& call) {
  HttpResponse error;
  auto limit = limitOf(call, error);
  if (!limit) return error;
  const std::string typed(trimText(param(call, "search")));
  const std::string search = searchFold(typed);
  const bool nobody = searchFindsNobody(typed);
  const SearchWords words(typed);
  // The search is part of the list: a cursor of another search starts elsewhere.
  const std::string list = "admins:" + search;
  const auto cursor = openListCursor(call, list, error);
  if (!cursor) return error;
  // One moment for both views: an entry's isOwner and isAdmin come from the user's row.
  const ViewMoment at = portal.moment();
  auto users = portal.users(at);
  std::vector<std::string> items;
  RowPage page =
      portal.admins(at).list(call.company(), *limit, *cursor, [&](const std::string& row) {
        json a = json::parse(row, nullptr, false);
        if (nobody || !a.is_object()) return false;
        auto user = users.get(call.company(), a.value("userId", ""));
        if (!user) return false;
        json u = json::parse(*user);
        if (!search.empty()) {
          const std::string hay =
              searchFold(u.value("givenName", "") + " " + u.value("surname", "") + " " +
                         (u["email"].is_string() ? u["email"].get<std::string>() : ""));
          if (!words.in(hay)) return false;
        }
        return true;
      });
  for (const auto& row : page.items) {
    json a = json::parse(row);
    items.push_back(
        adminEntryJson(users.get(call.company(), a.value("userId", "")).value_or("null"), row));
  }
  return jsonResponse(200, itemsJson(items, sealListCursor(call, list, page.nextCursor)));
}

HttpResponse Api::Impl::adminOf(const std::string& company, const std::string& userId, int status,
                                ViewMoment at) {
  if (!at) at = portal.moment();
  auto row = portal.admins(at).row(company, userId);
  return jsonResponse(status, adminEntryJson(portal.users(at).get(company, userId).value_or("null"),
                                             row.value_or("{}")));
}

HttpResponse Api::Impl::includeAdmin(Call& call) {
  HttpResponse error;
  auto fields = requiredStrings<1>(call.req, {"userId"}, error, "is not a field of an inclusion");
  if (!fields) return error;
  const std::string userId = idAsGiven((*fields)[0]);  // clang 14 cannot capture a binding
  return command(call, IncludeAdmin{userId},
                 [=, this, company = call.company(),
                  params = call.params](const CommandReply& reply) -> HttpResponse {
                   const std::string& id = subjectOf(reply, userId);
                   HttpResponse r = adminOf(company, id, 201);
                   r.headers.emplace_back("Location", "/api/v1/admins/" + id);
                   return r;
                 });
}

HttpResponse Api::Impl::getAdmin(Call& call) {
  // One moment for the check and the answer (an administrator removed between the two
  // read 200 with nulls: the diff review).
  const ViewMoment at = portal.moment();
  if (!portal.admins(at).row(call.company(), call.params[0])) {
    // As DELETE /admins says it (a review found "does not exist" of a user who does).
    if (portal.users(at).row(call.company(), call.params[0]))
      return Api::problem(404, "not-found", "Not found",
                          "User " + call.params[0] +
                              " is not an administrator: POST /api/v1/admins makes them one.");
    return userNotFound(call.params[0]);
  }
  return adminOf(call.company(), call.params[0], 200, at);
}

HttpResponse Api::Impl::removeAdmin(Call& call) {
  return command(call, RemoveAdmin{call.params[0]},
                 [](const CommandReply&) -> HttpResponse { return noContent(); });
}

HttpResponse Api::Impl::transferOwnership(Call& call) {
  HttpResponse error;
  auto fields =
      requiredStrings<1>(call.req, {"userId"}, error, "is not a field of an ownership transfer");
  if (!fields) return error;
  const std::string userId = idAsGiven((*fields)[0]);  // clang 14 cannot capture a binding
  return command(call, TransferOwnership{userId},
                 [=, this, company = call.company(),
                  params = call.params](const CommandReply& reply) -> HttpResponse {
                   return adminOf(company, subjectOf(reply, userId), 200);
                 });
}

}  // namespace portal
