// The HTTP API end to end: who may call each route (the authorization matrix).
// The other http_*_test.cc files hold the flows; all run a real server on an
// ephemeral loopback port, a real HTTP client, a real RocksDB in a temporary
// directory, mail as real .eml files.

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/api_server.h"

namespace portal::test {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// --- the authorization matrix ----------------------------------------------------

enum class Role { kNone, kPlainUser, kSelf, kAdmin, kOwner, kOtherCompany };
const char* roleName(Role r) {
  switch (r) {
    case Role::kNone:
      return "no session";
    case Role::kPlainUser:
      return "plain user";
    case Role::kSelf:
      return "the user themself";
    case Role::kAdmin:
      return "administrator";
    case Role::kOwner:
      return "owner";
    case Role::kOtherCompany:
      return "owner of another company";
  }
  return "?";
}

// Company "acme" with its owner, an administrator and a plain user; company
// "other" with its owner.
struct World {
  ApiServer server;
  Person owner, admin, plain, otherOwner;
  World() {
    owner = server.provision("acme");
    admin = server.user("acme", owner, "ada", true);
    plain = server.user("acme", owner, "paul");
    otherOwner = server.provision("other");
  }
  std::string signInAgain(Role r, const Person& self) {
    const Person* p = r == Role::kPlainUser ? &plain
                      : r == Role::kSelf    ? &self
                      : r == Role::kAdmin   ? &admin
                      : r == Role::kOwner   ? &owner
                                            : &otherOwner;
    Reply reply = server.signIn(r == Role::kOtherCompany ? "other" : "acme", p->email, kPassword);
    return reply.json()["token"];
  }
  std::string tokenOf(Role r, const Person& self) const {
    switch (r) {
      case Role::kNone:
        return "";
      case Role::kPlainUser:
        return plain.token;
      case Role::kSelf:
        return self.token;
      case Role::kAdmin:
        return admin.token;
      case Role::kOwner:
        return owner.token;
      case Role::kOtherCompany:
        return otherOwner.token;
    }
    return "";
  }
};

// What one call of a route needs: made fresh for every role, since calls change
// things (a user deactivated once cannot be deactivated again).
struct Prepared {
  std::string target;
  json body;                  // null: no body
  Person self;                // the user the path names (a fresh one, signed in)
  bool freshSession = false;  // the call ends the caller's session: use a new one
};

struct MatrixRow {
  std::string method, pattern;
  int success;           // the status when the caller may do it
  bool namesCompanyIds;  // the path or body names things of company "acme"
  std::function<Prepared(World&, HttpClient&)> prepare;
};

std::vector<MatrixRow> matrix() {
  auto freshUser = [](World& w, const char* tag) {
    static int n = 0;
    return w.server.user("acme", w.owner, std::string(tag) + std::to_string(++n));
  };
  auto inactiveUser = [freshUser](World& w, HttpClient& c) {
    Person p = freshUser(w, "gone");
    c.post("/api/v1/users/" + p.id + "/deactivate", json::object(), w.owner.token);
    return p;
  };
  auto group = [](World& w, HttpClient& c) {
    static int n = 0;
    return c.post("/api/v1/groups", {{"name", "Group " + std::to_string(++n)}}, w.owner.token)
        .json()["id"]
        .get<std::string>();
  };
  auto resource = [](World& w, HttpClient& c) {
    static int n = 0;  // a permission is held once: a new name each time
    return c
        .post("/api/v1/resources",
              {{"kind", "permission"},
               {"service", "modeler"},
               {"name", "Q" + std::to_string(++n)},
               {"ownerId", w.plain.id}},
              w.owner.token)
        .json()["id"]
        .get<std::string>();
  };
  auto path = [](std::string p) {
    return [p](World&, HttpClient&) { return Prepared{p, nullptr, {}}; };
  };
  return {
      {"GET", "/healthz", 200, false, path("/healthz")},
      {"GET", "/readyz", 200, false, path("/readyz")},
      {"GET", "/metrics", 200, false, path("/metrics")},
      {"POST", "/api/v1/sessions", 201, false,
       [](World& w, HttpClient&) {
         return Prepared{"/api/v1/sessions",
                         {{"company", "acme"}, {"email", w.plain.email}, {"password", kPassword}},
                         {}};
       }},
      {"DELETE", "/api/v1/sessions/current", 204, false,
       [freshUser](World& w, HttpClient&) {
         return Prepared{"/api/v1/sessions/current", nullptr, freshUser(w, "out"), true};
       }},
      {"GET", "/api/v1/me", 200, false, path("/api/v1/me")},
      {"POST", "/api/v1/me/password", 204, false,
       [freshUser](World& w, HttpClient&) {
         return Prepared{
             "/api/v1/me/password",
             {{"currentPassword", kPassword}, {"newPassword", kPassword + std::string(" again")}},
             freshUser(w, "pw")};
       }},
      {"GET", "/api/v1/password-policy", 200, false, path("/api/v1/password-policy?company=acme")},
      {"POST", "/api/v1/password-resets", 202, false,
       [](World&, HttpClient&) {
         // A new address each time: five requests for one email are throttled.
         static int n = 0;
         return Prepared{
             "/api/v1/password-resets",
             {{"company", "acme"}, {"email", "probe" + std::to_string(++n) + "@acme.example"}},
             {}};
       }},
      // An unknown token: the same 400 for everybody, signed in or not.
      {"POST", "/api/v1/password-resets/confirm", 400, false,
       [](World&, HttpClient&) {
         return Prepared{"/api/v1/password-resets/confirm",
                         {{"token", "x"}, {"newPassword", "a long enough password"}},
                         {}};
       }},
      {"GET", "/api/v1/users", 200, false, path("/api/v1/users")},
      {"POST", "/api/v1/users", 201, false,
       [](World&, HttpClient&) {
         static int n = 0;
         return Prepared{"/api/v1/users",
                         {{"email", "new" + std::to_string(++n) + "@x.example"},
                          {"givenName", "N"},
                          {"surname", "U"},
                          {"jobTitle", "T"},
                          {"managerEmail", "m@x.example"}},
                         {}};
       }},
      {"GET", "/api/v1/users/import/template.csv", 200, false,
       path("/api/v1/users/import/template.csv")},
      {"GET", "/api/v1/users/import/template.xlsx", 200, false,
       path("/api/v1/users/import/template.xlsx")},
      {"POST", "/api/v1/users/import", 200, false,
       [](World&, HttpClient&) {
         // A JSON string is sent as it is, as text/csv.
         static int n = 0;
         return Prepared{"/api/v1/users/import",
                         "Given Name,Surname,Email address,Job title,Manager's email address,Is "
                         "Active,Country\r\nIda,Import,ida" +
                             std::to_string(++n) + "@x.example,Clerk,m@x.example,1,\r\n",
                         {}};
       }},
      {"GET", "/api/v1/users/import/{importId}/errors.csv", 200, true,
       [](World& w, HttpClient& c) {
         Reply r = c.request("POST", "/api/v1/users/import", "Given Name\r\nX\r\n", w.owner.token,
                             {{"Content-Type", "text/csv"}});
         return Prepared{
             "/api/v1/users/import/" + r.json()["importId"].get<std::string>() + "/errors.csv",
             nullptr,
             {}};
       }},
      {"GET", "/api/v1/users/{id}", 200, true,
       [freshUser](World& w, HttpClient&) {
         Person p = freshUser(w, "get");
         return Prepared{"/api/v1/users/" + p.id, nullptr, p};
       }},
      {"PATCH", "/api/v1/users/{id}", 200, true,
       [freshUser](World& w, HttpClient&) {
         Person p = freshUser(w, "patch");
         return Prepared{"/api/v1/users/" + p.id, {{"jobTitle", "Lead"}}, p};
       }},
      {"POST", "/api/v1/users/{id}/deactivate", 200, true,
       [freshUser](World& w, HttpClient&) {
         Person p = freshUser(w, "deact");
         return Prepared{"/api/v1/users/" + p.id + "/deactivate", json::object(), p};
       }},
      {"POST", "/api/v1/users/{id}/reactivate", 200, true,
       [inactiveUser](World& w, HttpClient& c) {
         // A deactivated user cannot sign in: "themself" is a plain user here.
         Person p = inactiveUser(w, c);
         return Prepared{"/api/v1/users/" + p.id + "/reactivate", json::object(), {}};
       }},
      {"POST", "/api/v1/users/{id}/anonymize", 200, true,
       [inactiveUser](World& w, HttpClient& c) {
         Person p = inactiveUser(w, c);
         return Prepared{"/api/v1/users/" + p.id + "/anonymize", json::object(), {}};
       }},
      {"GET", "/api/v1/users/{id}/resources", 200, true,
       [freshUser](World& w, HttpClient&) {
         Person p = freshUser(w, "res");
         return Prepared{"/api/v1/users/" + p.id + "/resources", nullptr, p};
       }},
      {"GET", "/api/v1/users/{id}/history", 200, true,
       [freshUser](World& w, HttpClient&) {
         Person p = freshUser(w, "hist");
         return Prepared{"/api/v1/users/" + p.id + "/history", nullptr, p};
       }},
      {"GET", "/api/v1/users/{id}/roles", 200, true,
       [freshUser](World& w, HttpClient&) {
         Person p = freshUser(w, "roles");
         return Prepared{"/api/v1/users/" + p.id + "/roles", nullptr, p};
       }},
      {"GET", "/api/v1/users/{id}/groups", 200, true,
       [freshUser](World& w, HttpClient&) {
         Person p = freshUser(w, "groups");
         return Prepared{"/api/v1/users/" + p.id + "/groups", nullptr, p};
       }},
      {"PUT", "/api/v1/users/{id}/roles/{service}/{role}", 204, true,
       [freshUser](World& w, HttpClient&) {
         Person p = freshUser(w, "role");
         return Prepared{"/api/v1/users/" + p.id + "/roles/modeler/editor", nullptr, p};
       }},
      {"DELETE", "/api/v1/users/{id}/roles/{service}/{role}", 204, true,
       [freshUser](World& w, HttpClient& c) {
         Person p = freshUser(w, "unrole");
         c.request("PUT", "/api/v1/users/" + p.id + "/roles/modeler/editor", "", w.owner.token);
         return Prepared{"/api/v1/users/" + p.id + "/roles/modeler/editor", nullptr, p};
       }},
      {"GET", "/api/v1/countries", 200, false, path("/api/v1/countries")},
      {"GET", "/api/v1/admins", 200, false, path("/api/v1/admins")},
      {"POST", "/api/v1/admins", 201, true,
       [freshUser](World& w, HttpClient&) {
         Person p = freshUser(w, "inc");
         return Prepared{"/api/v1/admins", {{"userId", p.id}}, {}};
       }},
      {"GET", "/api/v1/admins/{userId}", 200, true,
       [freshUser](World& w, HttpClient& c) {
         Person p = freshUser(w, "adm");
         c.post("/api/v1/admins", {{"userId", p.id}}, w.owner.token);
         return Prepared{"/api/v1/admins/" + p.id, nullptr, {}};
       }},
      {"DELETE", "/api/v1/admins/{userId}", 204, true,
       [freshUser](World& w, HttpClient& c) {
         Person p = freshUser(w, "rem");
         c.post("/api/v1/admins", {{"userId", p.id}}, w.owner.token);
         return Prepared{"/api/v1/admins/" + p.id, nullptr, {}};
       }},
      {"GET", "/api/v1/services", 200, false, path("/api/v1/services")},
      {"POST", "/api/v1/resources", 201, true,
       [](World& w, HttpClient&) {
         static int made = 0;  // a permission is held once: a new one for each caller
         return Prepared{"/api/v1/resources",
                         {{"kind", "permission"},
                          {"service", "modeler"},
                          {"name", "P" + std::to_string(++made)},
                          {"ownerId", w.plain.id}},
                         {}};
       }},
      {"GET", "/api/v1/resources", 200, false, path("/api/v1/resources")},
      {"GET", "/api/v1/resources/{id}", 200, true,
       [resource](World& w, HttpClient& c) {
         return Prepared{"/api/v1/resources/" + resource(w, c), nullptr, {}};
       }},
      {"DELETE", "/api/v1/resources/{id}", 204, true,
       [resource](World& w, HttpClient& c) {
         return Prepared{"/api/v1/resources/" + resource(w, c), nullptr, {}};
       }},
      {"GET", "/api/v1/groups", 200, false, path("/api/v1/groups")},
      {"POST", "/api/v1/groups", 201, false,
       [](World&, HttpClient&) {
         static int n = 0;
         return Prepared{"/api/v1/groups", {{"name", "Made " + std::to_string(++n)}}, {}};
       }},
      {"GET", "/api/v1/groups/{id}", 200, true,
       [group](World& w, HttpClient& c) {
         return Prepared{"/api/v1/groups/" + group(w, c), nullptr, {}};
       }},
      {"PATCH", "/api/v1/groups/{id}", 200, true,
       [group](World& w, HttpClient& c) {
         static int n = 0;
         return Prepared{
             "/api/v1/groups/" + group(w, c), {{"name", "Renamed " + std::to_string(++n)}}, {}};
       }},
      {"DELETE", "/api/v1/groups/{id}", 204, true,
       [group](World& w, HttpClient& c) {
         return Prepared{"/api/v1/groups/" + group(w, c), nullptr, {}};
       }},
      {"GET", "/api/v1/groups/{id}/members", 200, true,
       [group](World& w, HttpClient& c) {
         return Prepared{"/api/v1/groups/" + group(w, c) + "/members", nullptr, {}};
       }},
      {"PUT", "/api/v1/groups/{id}/members/{userId}", 204, true,
       [group](World& w, HttpClient& c) {
         return Prepared{"/api/v1/groups/" + group(w, c) + "/members/" + w.plain.id, nullptr, {}};
       }},
      {"DELETE", "/api/v1/groups/{id}/members/{userId}", 204, true,
       [group](World& w, HttpClient& c) {
         const std::string g = group(w, c);
         c.request("PUT", "/api/v1/groups/" + g + "/members/" + w.plain.id, "", w.owner.token);
         return Prepared{"/api/v1/groups/" + g + "/members/" + w.plain.id, nullptr, {}};
       }},
      {"GET", "/api/v1/audit", 200, false, path("/api/v1/audit")},
      {"GET", "/api/v1/events", 200, false, path("/api/v1/events?after=0&limit=10")},
      // Last: it makes another user the owner.
      {"POST", "/api/v1/owner", 200, true,
       [freshUser](World& w, HttpClient& c) {
         Person p = freshUser(w, "heir");
         c.post("/api/v1/admins", {{"userId", p.id}}, w.owner.token);
         return Prepared{"/api/v1/owner", {{"userId", p.id}}, {}};
       }},
  };
}

int expectedStatus(Access access, Role role, const MatrixRow& row) {
  if (access == Access::kPublic) return row.success;
  if (role == Role::kNone) return 401;
  if (role == Role::kOtherCompany) return row.namesCompanyIds ? 404 : row.success;
  switch (access) {
    case Access::kAny:
      return row.success;
    case Access::kSelfOrAdmin:
      return role == Role::kPlainUser ? 403 : row.success;
    case Access::kAdmin:
      return role == Role::kAdmin || role == Role::kOwner ? row.success : 403;
    case Access::kOwner:
      return role == Role::kOwner ? row.success : 403;
    case Access::kPublic:
      break;
  }
  return row.success;
}

TEST(HttpAuthorization, EveryRouteAnswersEachKindOfCallerAsApiMdSays) {
  World w;
  HttpClient client(w.server.port());
  const auto rows = matrix();
  // The table covers every route the API serves, and nothing else.
  ASSERT_EQ(rows.size(), apiRoutes().size());
  for (const auto& row : rows) {
    const RouteInfo* route = nullptr;
    for (const auto& r : apiRoutes())
      if (r.method == row.method && r.pattern == row.pattern) route = &r;
    ASSERT_NE(route, nullptr) << row.method << " " << row.pattern << " is not a route";
    for (Role role : {Role::kNone, Role::kPlainUser, Role::kSelf, Role::kAdmin, Role::kOtherCompany,
                      Role::kOwner}) {
      Prepared p = row.prepare(w, client);
      std::string token = w.tokenOf(role, p.self.token.empty() ? w.plain : p.self);
      if (p.freshSession && !token.empty()) token = w.signInAgain(role, p.self);
      Reply r = p.body.is_string() ? client.request(row.method, p.target, p.body.get<std::string>(),
                                                    token, {{"Content-Type", "text/csv"}})
                                   : client.request(row.method, p.target,
                                                    p.body.is_null() ? "" : p.body.dump(), token);
      EXPECT_EQ(r.status, expectedStatus(route->access, role, row))
          << row.method << " " << p.target << " by " << roleName(role) << ": " << r.body;
      if (r.status >= 400) {
        EXPECT_EQ(r.header("content-type"), "application/problem+json")
            << row.method << " " << row.pattern;
      }
    }
  }
}

}  // namespace
}  // namespace portal::test
