// The services the company holds, roles in them, and resources (projects,
// subscriptions, models, permissions) with their owners.

#include "src/http/api_impl.h"

namespace portal {

HttpResponse Api::Impl::listResources(Call& call, const std::string& ownerId, ViewMoment at) {
  // One moment for the owner, their ids and the rows they name.
  if (!at) at = portal.moment();
  auto reader = portal.resources(at);
  const std::string list = "resources:" + ownerId;
  if (ownerId.empty()) return rowsPage(call, list, reader, call.company());
  HttpResponse error;
  auto limit = limitOf(call, error);
  if (!limit) return error;
  const auto cursor = openListCursor(call, list, error);
  if (!cursor) return error;
  std::vector<std::string> items;
  std::string next;
  for (const auto& rid : portal.resourcesOf(call.company(), ownerId, at)) {
    if (!cursor->empty() && rid <= *cursor) continue;
    if (items.size() == *limit) {
      next = json::parse(items.back()).value("id", "");
      break;
    }
    if (auto row = reader.row(call.company(), rid)) items.push_back(*row);
  }
  return jsonResponse(200, itemsJson(items, sealListCursor(call, list, next)));
}

HttpResponse Api::Impl::servicesList(Call& call) {
  HttpResponse error;
  auto limit = limitOf(call, error);
  if (!limit) return error;
  const auto cursor = openListCursor(call, "services", error);
  if (!cursor) return error;
  auto company = portal.credentials().companyById(call.company());
  std::vector<std::string> items;
  std::string last, next;
  bool past = cursor->empty();
  if (company)
    for (const auto& name : company->services) {
      if (!past) {
        past = name == *cursor;
        continue;
      }
      const ServiceDefinition* s = findService(name);
      if (s == nullptr) continue;
      if (items.size() == *limit) {
        next = last;
        break;
      }
      items.push_back(json{{"name", s->name}, {"title", s->title}, {"roles", s->roles}}.dump());
      last = name;
    }
  return jsonResponse(200, itemsJson(items, sealListCursor(call, "services", next)));
}

HttpResponse Api::Impl::grantRole(Call& call) {
  return command(
      call, GrantRole{call.params[0], call.params[1], call.params[2], untaggedConditions(call.req)},
      [](const CommandReply&) -> HttpResponse { return noContent(); });
}

HttpResponse Api::Impl::revokeRole(Call& call) {
  return command(
      call,
      RevokeRole{call.params[0], call.params[1], call.params[2], untaggedConditions(call.req)},
      [](const CommandReply&) -> HttpResponse { return noContent(); });
}

HttpResponse Api::Impl::createResource(Call& call) {
  HttpResponse error;
  auto body = objectBody(call.req, error);
  if (!body) return error;
  std::vector<std::pair<std::string, std::string>> errors;
  RegisterResource c;
  c.kind = stringField(*body, "kind", errors).value_or("");
  c.service = stringField(*body, "service", errors).value_or("");
  c.name = stringField(*body, "name", errors).value_or("");
  c.ownerId = idAsGiven(stringField(*body, "ownerId", errors).value_or(""));
  refuseOtherFields(*body, {"kind", "service", "name", "ownerId"}, errors,
                    "is not a field of a resource");
  if (!errors.empty()) {
    const auto company = portal.credentials().companyById(call.company());
    return validation(withValueProblems(
        std::move(errors),
        resourceFieldProblems(c, company ? company->services : std::vector<std::string>{})));
  }
  return command(call, std::move(c),
                 [=, this, company = call.company(),
                  params = call.params](const CommandReply& reply) -> HttpResponse {
                   return created("/api/v1/resources/", reply.decision.id,
                                  portal.resources().row(company, reply.decision.id));
                 });
}

HttpResponse Api::Impl::resourcesList(Call& call) {
  const std::string owner = idParam(call, "ownerId");
  if (!owner.empty() && !uuidOf(owner)) return notAnId("ownerId", owner);
  const ViewMoment at = portal.moment();
  if (!owner.empty() && !portal.users(at).row(call.company(), owner)) return notFound("The owner");
  return listResources(call, owner, at);
}

HttpResponse Api::Impl::releaseResource(Call& call) {
  // A resource shows no ETag, so no tag can name it (RFC 9110 13.1.1): a client
  // guarding its delete with If-Match, as it does a group's, is not let through
  // (the decider's 412, after its 404). `*` is any version of one that exists.
  return command(call, ReleaseResource{call.params[0], untaggedConditions(call.req)},
                 [](const CommandReply&) -> HttpResponse { return noContent(); });
}

HttpResponse Api::Impl::getResource(Call& call) {
  // (Said as DELETE says it: notInCompany.)
  const auto row = portal.resources().row(call.company(), call.params[0]);
  if (!row) return rejected(notInCompany("Resource", call.params[0]));
  return jsonResponse(200, *row);
}

}  // namespace portal
