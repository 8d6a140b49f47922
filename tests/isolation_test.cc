// Isolation between companies, generated from apiRoutes() so that a new route is
// covered without anyone remembering to: every id of one company, used with a session
// of the other, is 404 on every route that takes it (in the path, in the body, in a
// query), and nothing one company can read shows the other's data.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "tests/api_server.h"

namespace portal::test {
namespace {

using json = nlohmann::json;

// One company's people and things, with a marker in every name they carry.
struct Company {
  std::string slug;
  Person owner, admin, plain, gone;  // gone: deactivated
  std::string group, resource;
  std::string importId;  // a refused import, whose error log holds the company's values

  std::vector<std::string> userIds() const { return {owner.id, admin.id, plain.id, gone.id}; }
  // What must never appear in the other company's answers.
  std::vector<std::string> traces() const {
    return {owner.id, admin.id, plain.id, gone.id, group, resource, importId,
            "@" + slug + ".example", "Team of " + slug, "Secret of " + slug};
  }
};

Company populate(ApiServer& server, const std::string& slug) {
  Company c;
  c.slug = slug;
  c.owner = server.provision(slug);
  c.admin = server.user(slug, c.owner, "admin", true);
  c.plain = server.user(slug, c.owner, "plain");
  c.gone = server.user(slug, c.owner, "gone");
  HttpClient client(server.port());
  auto ok = [](const Reply& r, const char* what) {
    if (r.status >= 300) throw std::runtime_error(std::string(what) + ": " + r.body);
    return r;
  };
  c.group = ok(client.post("/api/v1/groups", {{"name", "Team of " + slug}}, c.owner.token),
               "group")
                .json()["id"];
  ok(client.request("PUT", "/api/v1/groups/" + c.group + "/members/" + c.plain.id, "",
                    c.owner.token),
     "member");
  ok(client.request("PUT", "/api/v1/users/" + c.plain.id + "/roles/modeler/editor", "",
                    c.owner.token),
     "role");
  c.resource = ok(client.post("/api/v1/resources",
                              {{"kind", "project"},
                               {"service", "modeler"},
                               {"name", "Secret of " + slug},
                               {"ownerId", c.plain.id}},
                              c.owner.token),
                  "resource")
                   .json()["id"];
  ok(client.post("/api/v1/users/" + c.gone.id + "/deactivate", json::object(), c.owner.token),
     "deactivate");
  Reply imported = client.request(
      "POST", "/api/v1/users/import",
      "Given Name,Surname,Email address,Job title,Manager's email address,Is Active,Country\r\n"
      "Imp,Orted,imported@" + slug + ".example,Secret of " + slug + ",nobody@" + slug +
          ".example,2,\r\n",
      c.owner.token, {{"Content-Type", "text/csv"}});
  if (imported.status != 422) throw std::runtime_error("import: " + imported.body);
  c.importId = imported.json()["importId"];
  return c;
}

// The ids a path parameter can take in `c`, by the folder it stands in.
std::vector<std::string> idsFor(const std::string& folder, const std::string& param,
                                const Company& c) {
  if (param == "{service}") return {"modeler"};
  if (param == "{role}") return {"editor"};
  if (folder == "users" || folder == "admins" || folder == "members") return c.userIds();
  if (folder == "groups") return {c.group};
  if (folder == "resources") return {c.resource};
  if (folder == "import" && param == "{importId}") return {c.importId};
  return {};
}

struct Call {
  std::string method, target;
  json body;              // null: none
  bool transfer = false;  // deactivating one's own user with the victim's as recipient
};

// A body that is valid apart from the ids, for the routes whose body names ids; the
// fields naming ids get `id`. Every route with a body is listed here or in
// kBodiesWithoutIds (a test checks), so that a new one is decided on.
std::optional<json> bodyFor(std::string_view method, std::string_view pattern,
                            const std::string& id, const Company& own) {
  const std::string route = std::string(method) + " " + std::string(pattern);
  if (route == "POST /api/v1/admins" || route == "POST /api/v1/owner") return json{{"userId", id}};
  if (route == "POST /api/v1/resources")
    return json{{"kind", "permission"}, {"service", "modeler"}, {"name", "P"}, {"ownerId", id}};
  if (route == "POST /api/v1/users/{id}/deactivate") return json{{"transferTo", own.admin.id}};
  if (route == "PATCH /api/v1/users/{id}") return json{{"jobTitle", "Changed"}};
  if (route == "PATCH /api/v1/groups/{id}") return json{{"name", "Changed"}};
  return std::nullopt;
}

// Routes whose body names nothing of the company (or that take no body).
const std::set<std::string> kBodiesWithoutIds = {
    "POST /api/v1/sessions",  "POST /api/v1/me/password",
    "POST /api/v1/password-resets", "POST /api/v1/password-resets/confirm",
    "POST /api/v1/users",     "POST /api/v1/users/{id}/reactivate",
    "POST /api/v1/users/{id}/anonymize", "POST /api/v1/groups",
    "POST /api/v1/users/import"};  // a CSV file of new users

// The routes whose body names an id of the company, without one in the path.
bool bodyNamesIds(std::string_view method, std::string_view pattern) {
  const std::string route = std::string(method) + " " + std::string(pattern);
  return route == "POST /api/v1/admins" || route == "POST /api/v1/owner" ||
         route == "POST /api/v1/resources";
}

// Every call of a route that names at least one id of `victim` and otherwise ids of
// `own`: each path parameter takes the victim's ids or the caller's own.
std::vector<Call> crossCalls(const RouteInfo& route, const Company& victim, const Company& own) {
  std::string folder;
  std::string pattern(route.pattern);
  std::vector<std::string> parts;
  for (std::size_t at = 1; at <= pattern.size();) {
    std::size_t next = pattern.find('/', at);
    if (next == std::string::npos) next = pattern.size();
    parts.push_back(pattern.substr(at, next - at));
    at = next + 1;
  }
  // Expand the parameters one by one; `foreign` tells a call names a victim's id.
  std::vector<std::pair<std::string, bool>> targets = {{"", false}};
  for (const std::string& part : parts) {
    std::vector<std::pair<std::string, bool>> next;
    if (part.front() != '{') {
      for (auto& [t, foreign] : targets) next.emplace_back(t + "/" + part, foreign);
      folder = part;
    } else {
      const auto mine = idsFor(folder, part, own);
      const auto theirs = idsFor(folder, part, victim);
      if (mine.empty())
        throw std::runtime_error("the isolation test does not know what " + part + " after " +
                                 folder + " is in " + pattern + ": teach idsFor()");
      const bool shared = part == "{service}" || part == "{role}";  // the same in both
      for (auto& [t, foreign] : targets) {
        next.emplace_back(t + "/" + mine.front(), foreign);
        if (!shared)
          for (const auto& id : theirs) next.emplace_back(t + "/" + id, true);
      }
    }
    targets = std::move(next);
  }
  std::vector<Call> calls;
  for (auto& [target, foreign] : targets) {
    if (foreign) {
      auto body = bodyFor(route.method, route.pattern, "", own);
      calls.push_back({std::string(route.method), target, body ? *body : json()});
    }
  }
  if (bodyNamesIds(route.method, route.pattern))
    for (const auto& id : victim.userIds())
      calls.push_back({std::string(route.method), pattern,
                       *bodyFor(route.method, route.pattern, id, own)});
  // Handing one's own user's resources to the victim's users.
  if (route.method == "POST" && route.pattern == "/api/v1/users/{id}/deactivate")
    for (const auto& id : victim.userIds())
      calls.push_back({"POST", "/api/v1/users/" + own.plain.id + "/deactivate",
                       json{{"transferTo", id}}, true});
  return calls;
}

class Isolation : public ::testing::Test {
 protected:
  ApiServer server;
  Company acme = populate(server, "acme");
  Company other = populate(server, "other");
};

TEST(IsolationTable, EveryRouteWithABodyIsDecidedOn) {
  Company none;
  for (const RouteInfo& route : apiRoutes()) {
    if (route.method != "POST" && route.method != "PATCH") continue;
    const std::string name = std::string(route.method) + " " + std::string(route.pattern);
    EXPECT_TRUE(bodyFor(route.method, route.pattern, "x", none) || kBodiesWithoutIds.count(name))
        << name << ": say in isolation_test.cc whether its body names ids";
  }
}

TEST_F(Isolation, EveryIdOfOneCompanyIs404ToTheOtherOnEveryRoute) {
  HttpClient client(server.port());
  std::size_t checked = 0;
  for (const auto& [victim, own] : {std::pair{&acme, &other}, std::pair{&other, &acme}}) {
    for (const RouteInfo& route : apiRoutes()) {
      if (route.access == Access::kPublic) continue;
      for (const Call& call : crossCalls(route, *victim, *own)) {
        const std::string body = call.body.is_null() ? "" : call.body.dump();
        // The owner and an administrator may call every route: only the company decides.
        for (const Person* caller : {&own->owner, &own->admin}) {
          if (route.access == Access::kOwner && caller != &own->owner) continue;
          Reply r = client.request(call.method, call.target, body, caller->token);
          if (call.transfer) {
            // API.md makes "a user of the same company" a transfer rule: a recipient
            // of another company is refused as one never issued is (422).
            EXPECT_EQ(r.status, 422) << r.body;
            EXPECT_EQ(r.json()["code"], "transfer-refused");
          } else {
            EXPECT_EQ(r.status, 404) << call.method << " " << call.target << " " << body
                                     << " by " << own->slug << "'s " << caller->email << ": "
                                     << r.body;
          }
          ++checked;
        }
        // A plain user is refused some routes anyway: the answer must not tell whether
        // the id exists elsewhere, so it is the one for an id never issued.
        std::string unknown = call.target;
        for (const auto& id : victim->userIds())
          for (std::size_t at; (at = unknown.find(id)) != std::string::npos;)
            unknown.replace(at, id.size(), "01900000-0000-7000-8000-000000000000");
        for (const auto& id : {victim->group, victim->resource, victim->importId})
          for (std::size_t at; (at = unknown.find(id)) != std::string::npos;)
            unknown.replace(at, id.size(), "01900000-0000-7000-8000-000000000001");
        std::string unknownBody = body;
        for (const auto& id : victim->userIds())
          for (std::size_t at; (at = unknownBody.find(id)) != std::string::npos;)
            unknownBody.replace(at, id.size(), "01900000-0000-7000-8000-000000000000");
        const int forUnknown =
            client.request(call.method, unknown, unknownBody, own->plain.token).status;
        EXPECT_EQ(client.request(call.method, call.target, body, own->plain.token).status,
                  forUnknown)
            << call.method << " " << call.target << " by a plain user of " << own->slug;
      }
    }
  }
  EXPECT_GT(checked, 50u);
  // Nothing of that changed either company.
  for (const Company* c : {&acme, &other}) {
    Reply r = client.get("/api/v1/users/" + c->plain.id, c->owner.token);
    EXPECT_EQ(r.json()["jobTitle"], "Engineer") << r.body;
    EXPECT_TRUE(r.json()["active"].get<bool>());
    EXPECT_EQ(client.get("/api/v1/groups/" + c->group, c->owner.token).json()["name"],
              "Team of " + c->slug);
    EXPECT_EQ(client.get("/api/v1/users/" + c->plain.id + "/resources", c->owner.token)
                  .json()["items"]
                  .size(),
              1u);
  }
}

TEST_F(Isolation, NothingOneCompanyReadsShowsTheOthersData) {
  HttpClient client(server.port());
  std::size_t checked = 0;
  for (const auto& [victim, own] : {std::pair{&acme, &other}, std::pair{&other, &acme}}) {
    // Queries that name the victim's things, where a route filters by them.
    const std::string v = victim->plain.id;
    const std::vector<std::string> queries = {
        "",
        "?status=all&limit=500",
        "?search=" + victim->slug,
        "?search=plain",
        "?ownerId=" + v,
        "?subject=" + v + "&actor=" + victim->owner.id,
        "?after=0&limit=500",
        "?company=" + own->slug};
    for (const RouteInfo& route : apiRoutes()) {
      if (route.method != "GET") continue;
      // Each path parameter takes the caller's own ids.
      std::vector<Call> calls;
      std::string folder, target;
      std::string pattern(route.pattern);
      bool known = true;
      for (std::size_t at = 1; at <= pattern.size();) {
        std::size_t next = pattern.find('/', at);
        if (next == std::string::npos) next = pattern.size();
        const std::string part = pattern.substr(at, next - at);
        if (part.front() == '{') {
          const auto ids = idsFor(folder, part, *own);
          known = known && !ids.empty();
          target += "/" + (ids.empty() ? part : ids.front());
        } else {
          target += "/" + part;
          folder = part;
        }
        at = next + 1;
      }
      ASSERT_TRUE(known) << pattern << ": teach idsFor() its parameters";
      for (const std::string& query : queries) {
        Reply r = client.get(target + query, own->owner.token);
        if (r.status != 200) continue;  // a query this route does not take
        for (const std::string& trace : victim->traces())
          EXPECT_EQ(r.body.find(trace), std::string::npos)
              << "GET " << target << query << " by " << own->slug << " shows " << trace;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 30u);
}

}  // namespace
}  // namespace portal::test
