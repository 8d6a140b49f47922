// The HTTP API end to end: users, administrators, resources, roles and groups,
// idempotency, If-Match and the lists.

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "projections/groups_projection.h"
#include "tests/api_server.h"

namespace portal::test {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// A membership and a role show no ETag: If-Match and If-None-Match are weighed
// against whether they exist (RFC 9110 13.1.1, 13.1.2), after every other refusal,
// and a refusal changes nothing (a review: they were passed over, and
// `If-None-Match: *`, "only if it is not there yet", was 204 on one that was).
TEST(HttpFlows, AMembershipOrRoleIsChangedOnlyAsItsPreconditionsSay) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person bob = server.user("acme", owner, "bob");
  HttpClient client(server.port());
  Reply r = client.post("/api/v1/groups", {{"name", "Ops"}}, owner.token);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string member =
      "/api/v1/groups/" + r.json()["id"].get<std::string>() + "/members/" + bob.id;
  const std::string role = "/api/v1/users/" + bob.id + "/roles/modeler/editor";
  auto send = [&](const std::string& method, const std::string& path, const std::string& header,
                  const std::string& value) {
    return client.request(method, path, "", owner.token, {{header, value}});
  };
  const std::string memberOf = "/api/v1/users/" + bob.id + "/groups";
  const std::string rolesOf = "/api/v1/users/" + bob.id + "/roles";
  for (const auto& [path, listed] : {std::pair{member, memberOf}, std::pair{role, rolesOf}}) {
    SCOPED_TRACE(path);
    auto items = [&, listed = listed] {
      return client.get(listed, owner.token).json()["items"].size();
    };
    // Not there yet: If-Match: * fails, a tag fails, If-None-Match: * holds.
    r = send("PUT", path, "If-Match", "*");
    EXPECT_EQ(r.status, 412) << r.body;
    EXPECT_NE(r.body.find("that exists, and there is none"), std::string::npos) << r.body;
    r = send("PUT", path, "If-Match", "\"2\"");
    EXPECT_EQ(r.status, 412) << r.body;
    EXPECT_NE(r.body.find("has no ETag"), std::string::npos) << r.body;
    EXPECT_EQ(items(), 0u) << "nothing changed";
    EXPECT_EQ(send("PUT", path, "If-None-Match", "*").status, 204);
    EXPECT_EQ(items(), 1u);
    // There now: If-None-Match: * fails, If-Match: * holds.
    r = send("PUT", path, "If-None-Match", "*");
    EXPECT_EQ(r.status, 412) << r.body;
    EXPECT_NE(r.body.find("that does not exist yet, and there is one"), std::string::npos)
        << r.body;
    EXPECT_EQ(send("DELETE", path, "If-None-Match", "*").status, 412);
    EXPECT_EQ(items(), 1u) << "nothing changed";
    EXPECT_EQ(send("DELETE", path, "If-Match", "*").status, 204);
    EXPECT_EQ(items(), 0u);
    EXPECT_EQ(send("DELETE", path, "If-Match", "*").status, 412) << "gone";
    EXPECT_EQ(send("DELETE", path, "If-None-Match", "\"7\"").status, 204)
        << "a tag of If-None-Match names nothing here: it holds";
  }
  // A group or user that is not there is 404 before any precondition is weighed.
  EXPECT_EQ(
      send("PUT", "/api/v1/users/" + bob.id + "/roles/nosuch/editor", "If-Match", "\"1\"").status,
      404);
  const std::string nobody = "01a23270-e9b0-7000-8000-000000000000";
  EXPECT_EQ(
      send("PUT", "/api/v1/users/" + nobody + "/roles/modeler/editor", "If-Match", "\"1\"").status,
      404);
  EXPECT_EQ(
      send("PUT", "/api/v1/groups/" + nobody + "/members/" + bob.id, "If-Match", "\"1\"").status,
      404);
}

// Only the owner takes an administrator's rights away, also by deactivating them.
TEST(HttpFlows, OnlyTheOwnerDeactivatesAnAdministrator) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person alice = server.user("acme", owner, "alice", true);
  Person carol = server.user("acme", owner, "carol", true);
  HttpClient client(server.port());
  Reply r = client.post("/api/v1/users/" + alice.id + "/deactivate", json::object(), carol.token);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(client.get("/api/v1/admins", owner.token).body.find(alice.id), std::string::npos)
      << "still an administrator";
  r = client.post("/api/v1/users/" + alice.id + "/deactivate", json::object(), owner.token);
  EXPECT_EQ(r.status, 200) << r.body;
  // The user's ETag, as every answer that shows the user gives it.
  EXPECT_EQ(r.header("etag"), "\"" + std::to_string(r.json()["user"]["version"].get<int>()) + "\"")
      << r.body;
}

// An email where a user's id goes is said to be one, in a path as in a body, to an
// administrator and to the user themself (a review read "does not exist in this
// company" of a colleague who does).
TEST(HttpFlows, AnEmailWhereAUsersIdGoesIsSaidToBeOne) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person bob = server.user("acme", owner, "bob");
  HttpClient client(server.port());
  const std::string said =
      "User is given as an email, not an id (a UUID): GET /api/v1/users?search= finds a "
      "user's id, GET /api/v1/me one's own.";
  for (const std::string& path :
       {"/api/v1/users/" + bob.email, "/api/v1/users/" + bob.email + "/resources"}) {
    for (const Person* caller : {&owner, &bob}) {
      Reply r = client.get(path, caller->token);
      EXPECT_EQ(r.status, 404) << path;
      EXPECT_EQ(r.json()["detail"], said) << path << ": " << r.body;
    }
  }
  Reply r =
      client.request("PATCH", "/api/v1/users/" + bob.email, R"({"jobTitle":"Lead"})", owner.token);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(r.json()["detail"], said) << r.body;
  r = client.post("/api/v1/admins", {{"userId", bob.email}}, owner.token);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(r.json()["detail"],
            "User is given as an email, not an id (a UUID): GET /api/v1/users?search= finds a "
            "user's id, GET /api/v1/me one's own.")
      << r.body;
  // A group given as an email is said to be one, without the way to a user's id (a
  // review read that of a group).
  r = client.request("PUT", "/api/v1/groups/a@b.example/members/" + bob.id, "", owner.token);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(r.json()["detail"], "Group is given as an email, not an id.") << r.body;
  for (const std::string& path : {std::string("/api/v1/groups/a@b.example"),
                                  std::string("/api/v1/groups/a@b.example/members")}) {
    r = client.get(path, owner.token);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.json()["detail"], "Group is given as an email, not an id.")
        << "as the command says it (a review found two wordings): " << path;
  }
}

TEST(HttpFlows, DeactivationTransfersResourcesEndsSessionsAndAnonymizationErases) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person leaver = server.user("acme", owner, "leaver");
  Person heir = server.user("acme", owner, "heir");
  HttpClient client(server.port());
  Reply r = client.post(
      "/api/v1/resources",
      {{"kind", "project"}, {"service", "modeler"}, {"name", "Apollo"}, {"ownerId", leaver.id}},
      owner.token);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string project = r.json()["id"];
  ASSERT_EQ(
      client
          .request("PUT", "/api/v1/users/" + leaver.id + "/roles/studio/designer", "", owner.token)
          .status,
      204);

  r = client.post("/api/v1/users/" + leaver.id + "/deactivate", json::object(), owner.token);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.json()["code"], "resources-must-be-transferred");
  EXPECT_EQ(r.json()["resources"], json::array({project}));
  ASSERT_EQ(r.json()["errors"].size(), 1u) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["field"], "transferTo");
  EXPECT_EQ(r.json()["errors"][0]["resourceId"], project);
  EXPECT_EQ(r.json()["errors"][0]["message"], "project 'Apollo' in modeler needs a recipient");
  // A recipient left unpicked in a form ("") is no recipient named.
  r = client.post("/api/v1/users/" + leaver.id + "/deactivate", {{"transferTo", ""}}, owner.token);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(r.json()["code"], "resources-must-be-transferred");

  r = client.post("/api/v1/users/" + leaver.id + "/deactivate", {{"transferTo", heir.id}},
                  owner.token);
  EXPECT_EQ(r.status, 422) << "the heir holds no role in the project's service";
  EXPECT_EQ(r.json()["code"], "transfer-refused");
  ASSERT_EQ(r.json()["errors"].size(), 1u) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["field"], "transferTo");
  EXPECT_EQ(r.json()["errors"][0]["resourceId"], project);
  EXPECT_EQ(r.json()["errors"][0]["message"],
            "project 'Apollo' in modeler: the recipient has no role in modeler");

  ASSERT_EQ(
      client.request("PUT", "/api/v1/users/" + heir.id + "/roles/modeler/editor", "", owner.token)
          .status,
      204);
  r = client.post("/api/v1/users/" + leaver.id + "/deactivate", {{"transferTo", heir.id}},
                  owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.json()["user"]["active"].get<bool>());
  EXPECT_EQ(r.json()["transferred"][0]["id"], project);
  EXPECT_EQ(client.get("/api/v1/me", leaver.token).status, 401) << "sessions end at once";
  EXPECT_EQ(server.signIn("acme", leaver.email, kPassword).status, 401);
  r = client.get("/api/v1/users/" + heir.id + "/resources", owner.token);
  ASSERT_EQ(r.json()["items"].size(), 1u);
  EXPECT_EQ(r.json()["items"][0]["name"], "Apollo");

  ASSERT_FALSE(server.mailsTo(leaver.email).empty()) << "the reset link the fixture used";
  const std::size_t heirsMails = server.mailsTo(heir.email).size();
  // The one irreversible command does not run on a body meant for another route.
  const std::string anonymizePath = "/api/v1/users/" + leaver.id + "/anonymize";
  r = client.request("POST", anonymizePath, "{oops", owner.token);
  EXPECT_EQ(r.status, 400) << r.body;
  r = client.post(anonymizePath, {{"transferTo", heir.id}}, owner.token);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("is not a field of this request: it takes no body"), std::string::npos)
      << r.body;
  EXPECT_FALSE(
      client.get("/api/v1/users/" + leaver.id, owner.token).json()["anonymized"].get<bool>())
      << "nothing was done";
  EXPECT_FALSE(server.mailsTo(leaver.email).empty()) << "nor any mail dropped";
  r = client.request("DELETE", "/api/v1/users/" + heir.id + "/roles/modeler/editor", "{\"x\":1}",
                     owner.token);
  EXPECT_EQ(r.status, 422) << "a role's path says it all: " << r.body;
  EXPECT_EQ(client.get("/api/v1/users/" + leaver.id + "/roles", owner.token).json()["items"].size(),
            1u)
      << "a deactivated user keeps their roles";
  r = client.post(anonymizePath, json::object(), owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(
      client.get("/api/v1/users/" + leaver.id + "/roles", owner.token).json()["items"].empty())
      << "an anonymized one holds none";
  EXPECT_TRUE(server.mailsTo(leaver.email).empty()) << "the mail drop keeps nothing of them";
  EXPECT_EQ(server.mailsTo(heir.email).size(), heirsMails) << "and all of the others'";
  EXPECT_TRUE(r.json()["anonymized"].get<bool>());
  EXPECT_TRUE(r.json()["email"].is_null());
  EXPECT_EQ(r.json()["givenName"], "Anonymized");
  r = client.get("/api/v1/users/" + leaver.id + "/history", owner.token);
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(r.json()["items"].size(), 3u) << "the history survives anonymization";
  EXPECT_EQ(r.body.find(leaver.email), std::string::npos);
}

// A deactivation's answer names what was handed over and to whom; its retry gives
// that answer again, even after the recipient left and passed it all on.
TEST(HttpFlows, ADeactivationsRetryGivesTheFirstAnswerWhoeverHoldsTheResourcesNow) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person leaver = server.user("acme", owner, "leaver");
  Person heir = server.user("acme", owner, "heir");
  Person third = server.user("acme", owner, "third");
  HttpClient client(server.port());
  auto resource = [&](const std::string& kind, const std::string& name, const Person& to) {
    Reply r = client.post(
        "/api/v1/resources",
        {{"kind", kind}, {"service", "modeler"}, {"name", name}, {"ownerId", to.id}}, owner.token);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["id"].get<std::string>();
  };
  for (const Person* p : {&heir, &third})
    ASSERT_EQ(
        client.request("PUT", "/api/v1/users/" + p->id + "/roles/modeler/editor", "", owner.token)
            .status,
        204);
  const std::string project = resource("project", "Apollo", leaver);
  const std::string mine = resource("permission", "Read all", leaver);
  const std::string heirs = resource("permission", "read ALL", heir);

  const std::vector<std::pair<std::string, std::string>> key = {{"Idempotency-Key", "leave-1"}};
  Reply first = client.post("/api/v1/users/" + leaver.id + "/deactivate", {{"transferTo", heir.id}},
                            owner.token, key);
  ASSERT_EQ(first.status, 200) << first.body;
  std::map<std::string, json> handed;
  const json firstAnswer = first.json();
  for (const auto& item : firstAnswer["transferred"]) handed[item["id"]] = item;
  ASSERT_EQ(handed.size(), 2u) << first.body;
  EXPECT_EQ(handed[project]["name"], "Apollo");
  EXPECT_EQ(handed[project]["service"], "modeler");
  EXPECT_EQ(handed[project]["ownerId"], heir.id);
  EXPECT_FALSE(handed[project].contains("mergedInto"));
  EXPECT_EQ(handed[mine]["name"], "Read all") << "the permission as the leaver held it";
  EXPECT_EQ(handed[mine]["ownerId"], heir.id);
  EXPECT_EQ(handed[mine]["mergedInto"], heirs) << "now one with the heir's own";

  // The heir leaves too and passes everything on to the third.
  Reply second = client.post("/api/v1/users/" + heir.id + "/deactivate", {{"transferTo", third.id}},
                             owner.token);
  ASSERT_EQ(second.status, 200) << second.body;
  Reply again = client.post("/api/v1/users/" + leaver.id + "/deactivate", {{"transferTo", heir.id}},
                            owner.token, key);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json()["transferred"], firstAnswer["transferred"]);

  // Releasing a resource is about the person who held it, as assigning it was.
  ASSERT_EQ(client.request("DELETE", "/api/v1/resources/" + project, "", owner.token).status, 204);
  Reply audit = client.get("/api/v1/audit?type=ResourceReleased", owner.token);
  ASSERT_EQ(audit.status, 200) << audit.body;
  ASSERT_EQ(audit.json()["items"].size(), 1u) << audit.body;
  EXPECT_EQ(audit.json()["items"][0]["subject"]["id"], third.id) << audit.body;
  Reply history = client.get("/api/v1/users/" + third.id + "/history", owner.token);
  EXPECT_NE(history.body.find("ResourceReleased"), std::string::npos) << history.body;
}

// Found by a review of the resource routes: each answer says what to put right.
TEST(HttpFlows, ResourceRoutesSayWhatToPutRight) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person leaver = server.user("acme", owner, "leaver");
  HttpClient client(server.port());
  Reply r = client.post("/api/v1/resources",
                        {{"kind", "permission"},
                         {"service", "modeler"},
                         {"name", "Read all"},
                         {"ownerId", leaver.id}},
                        owner.token);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string perm = r.json()["id"];

  // A recipient who can take nothing is said on transferTo, also when there is
  // something to hand over (and, as API.md has it, for each resource).
  r = client.post("/api/v1/users/" + leaver.id + "/deactivate",
                  {{"transferTo", "01a23270-e9b0-7000-8000-000000000000"}}, owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["code"], "transfer-refused");
  EXPECT_EQ(r.json()["detail"], "The recipient cannot take the user's resources.");
  ASSERT_GE(r.json()["errors"].size(), 2u) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["field"], "transferTo") << r.body;
  // Each resource's reason is on transferTo too, naming the resource (a review found
  // resource ids as fields, which a form cannot place).
  EXPECT_EQ(r.json()["errors"][1]["field"], "transferTo") << r.body;
  EXPECT_EQ(r.json()["errors"][1]["resourceId"], perm) << r.body;
  EXPECT_FALSE(r.json()["errors"][0].contains("resourceId")) << r.body;

  // ownerId is an id: anything else is 400 naming it, an email with the way to its id.
  r = client.get("/api/v1/resources?ownerId=bad", owner.token);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["field"], "ownerId") << r.body;
  r = client.get("/api/v1/resources?ownerId=" + leaver.email, owner.token);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("GET /api/v1/users?search= finds the id"), std::string::npos) << r.body;
  EXPECT_EQ(
      client.get("/api/v1/resources?ownerId=01a23270-e9b0-7000-8000-000000000000", owner.token)
          .status,
      404);

  // A resource shows no ETag: If-Match names none of its versions, but `*` any; and
  // If-None-Match: * asks that it not be there (a review: it was deleted).
  r = client.request("DELETE", "/api/v1/resources/" + perm, "", owner.token,
                     {{"If-Match", "\"1\""}});
  EXPECT_EQ(r.status, 412) << r.body;
  r = client.request("DELETE", "/api/v1/resources/" + perm, "", owner.token,
                     {{"If-None-Match", "*"}});
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_NE(r.body.find("If-None-Match: * asks for a resource that does not exist yet"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(client.get("/api/v1/resources/" + perm, owner.token).status, 200) << "nothing released";
  EXPECT_EQ(
      client.request("DELETE", "/api/v1/resources/" + perm, "", owner.token, {{"If-Match", "*"}})
          .status,
      204);
  EXPECT_EQ(
      client
          .request("DELETE", "/api/v1/resources/" + perm, "", owner.token, {{"If-Match", "\"1\""}})
          .status,
      404)
      << "gone: 404 before any tag is weighed";

  // A field of the wrong type does not hide what the others lack.
  r = client.post("/api/v1/resources",
                  {{"kind", 5}, {"service", "nosuch"}, {"name", ""}, {"ownerId", leaver.id}},
                  owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  std::map<std::string, std::string> problems;
  const json resourceErrors = r.json()["errors"];
  for (const auto& e : resourceErrors) problems[e["field"]] = e["message"];
  EXPECT_EQ(problems["kind"], "must be a string") << r.body;
  EXPECT_EQ(problems["service"],
            "is not a service this company holds: it holds modeler, automation and studio")
      << r.body;
  EXPECT_EQ(problems["name"], "is required") << r.body;
  r = client.post("/api/v1/groups", {{"name", ""}, {"description", 5}}, owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("\"field\":\"name\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"field\":\"description\""), std::string::npos) << r.body;

  // One title for one problem type (RFC 9457 3.1.3).
  r = client.request("POST", "/api/v1/groups", "{\"name\":", owner.token);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["title"], "The request cannot be understood");
}

TEST(HttpFlows, IdempotencyKeyReplaysTheFirstAnswerAndCreatesOnce) {
  ApiServer server;
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  const json body = {{"email", "once@acme.example"},
                     {"givenName", "Once"},
                     {"surname", "Only"},
                     {"jobTitle", "T"},
                     {"managerEmail", owner.email}};
  Reply first =
      client.post("/api/v1/users", body, owner.token, {{"Idempotency-Key", "create-once-1"}});
  Reply again =
      client.post("/api/v1/users", body, owner.token, {{"Idempotency-Key", "create-once-1"}});
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.json()["id"], first.json()["id"]);
  Reply third = client.post("/api/v1/users", body, owner.token);
  EXPECT_EQ(third.status, 409);
  EXPECT_EQ(third.json()["code"], "email-taken");
  EXPECT_EQ(client.get("/api/v1/users?search=once", owner.token).json()["items"].size(), 1u);
}

// A key answers for 24 hours by default (portal-server --idempotency-hours): a day
// later it is a new key, decided as any request, which the draft leaves to the
// server; the record it had is gone from the disk after the processor's next sweep.
TEST(HttpFlows, AnIdempotencyKeyIsANewKeyADayLater) {
  ApiServer server;
  Person owner = server.provision("acme");
  auto create = [&](const std::string& who, const std::string& token) {
    return HttpClient(server.port())
        .post("/api/v1/users",
              {{"email", who + "@acme.example"},
               {"givenName", who},
               {"surname", "Day"},
               {"jobTitle", "T"},
               {"managerEmail", owner.email}},
              token, {{"Idempotency-Key", "create-1"}});
  };
  Reply ann = create("ann", owner.token);
  ASSERT_EQ(ann.status, 201) << ann.body;
  server.clock().advance(23 * 60 * kMinute);
  std::string token = server.signIn("acme", owner.email, kPassword).json()["token"];
  EXPECT_EQ(create("bob", token).json()["code"], "idempotency-key-reused");
  EXPECT_EQ(create("ann", token).json()["id"], ann.json()["id"]);
  server.clock().advance(60 * kMinute);
  token = server.signIn("acme", owner.email, kPassword).json()["token"];
  Reply bob = create("bob", token);
  EXPECT_EQ(bob.status, 201) << bob.body;
  EXPECT_NE(bob.json()["id"], ann.json()["id"]);
  Reply annAgain = create("ann", token);
  EXPECT_EQ(annAgain.status, 422) << "bob's request is the key's first now: " << annAgain.body;
  EXPECT_EQ(annAgain.json()["code"], "idempotency-key-reused");

  // Bob's record is the one left; a day on, it goes (by this sweep, or by the
  // processor's own at the start's tenth second), and /metrics counts it.
  EXPECT_EQ(server.portal().processor().dropOutlivedRecords().value(), 0u);
  server.clock().advance(24 * 60 * kMinute);
  ASSERT_TRUE(server.portal().processor().dropOutlivedRecords());
  const std::string metrics = HttpClient(server.port()).get("/metrics").body;
  EXPECT_NE(metrics.find("\nportal_idempotency_records_deleted_total 1\n"), std::string::npos)
      << metrics;
}

// A client's key may hold personal data; the log, which no erasure rewrites, keeps
// only a hash of it: anonymized and compacted, the person is in no file, and the
// key still replays its first answer.
TEST(HttpFlows, AnIdempotencyKeyHoldingAnEmailLeavesNoTraceOnceThePersonIsAnonymized) {
  TempDir dir;
  const std::string data = dir.sub("data");
  auto server =
      std::make_unique<ApiServer>(ThrottlePolicy{}, nullptr, ThrottlePolicy{5, 100'000}, data);
  Person owner = server->provision("acme");
  HttpClient client(server->port());
  const std::vector<std::pair<std::string, std::string>> key = {
      {"Idempotency-Key", "create-zoe.quist@acme.example"}};
  const json body = {{"email", "zoe.quist@acme.example"},
                     {"givenName", "Zoe"},
                     {"surname", "Quist"},
                     {"jobTitle", "T"},
                     {"managerEmail", owner.email}};
  Reply first = client.post("/api/v1/users", body, owner.token, key);
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string id = first.json()["id"];
  EXPECT_EQ(client.post("/api/v1/users", body, owner.token, key).json()["id"], id);
  ASSERT_EQ(client.post("/api/v1/users/" + id + "/deactivate", json::object(), owner.token).status,
            200);
  ASSERT_EQ(client.post("/api/v1/users/" + id + "/anonymize", json::object(), owner.token).status,
            200);
  Reply events = client.get("/api/v1/events?after=0&limit=500", owner.token);
  ASSERT_EQ(events.status, 200);
  EXPECT_EQ(events.body.find("quist"), std::string::npos) << events.body;
  // The same key after the anonymization: still the first answer, nothing made.
  Reply replay = client.post("/api/v1/users", body, owner.token, key);
  EXPECT_EQ(replay.status, 201) << replay.body;
  EXPECT_EQ(replay.json()["id"], id);
  ASSERT_TRUE(server->portal().store().compact().ok());
  server.reset();
  EXPECT_EQ(test::filesContaining(data, "quist"), std::vector<std::string>{});
}

// "The same key ... returns the first answer again and changes nothing", even when
// the repeat names someone else: the answer is about whom the first one was.
// A form that returns the whole user as GET showed it: the read-only fields sent back
// as they are change nothing; sent with another value they are refused, saying
// where they are changed.
// Every problem of a patch at once, a changed email's too (a review: it hid a blank
// job title, and a field of the wrong type hid it).
TEST(HttpFlows, APatchChangingTheEmailIsToldEveryOtherProblemToo) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person ann = server.user("acme", owner, "ann");
  HttpClient client(server.port());
  auto problemsOf = [&](const json& patch, const std::string& code) {
    Reply r = client.request("PATCH", "/api/v1/users/" + ann.id, patch.dump(), owner.token);
    EXPECT_EQ(r.status, 422) << r.body;
    std::map<std::string, std::string> problems;
    const json refusal = r.json();
    EXPECT_EQ(refusal["code"], code) << r.body;
    for (const auto& e : refusal["errors"]) problems[e["field"]] = e["message"];
    return problems;
  };
  auto problems = problemsOf({{"email", "zz@acme.example"}, {"jobTitle", ""}, {"country", "QQ"}},
                             "email-immutable");
  EXPECT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems["email"], "cannot be changed");
  EXPECT_EQ(problems["jobTitle"], "is required and cannot be removed");
  EXPECT_TRUE(problems["country"].starts_with("is not a known ISO 3166-1 country"))
      << problems["country"];
  EXPECT_EQ(problemsOf({{"email", "zz@acme.example"}, {"givenName", 5}}, "validation-failed"),
            (std::map<std::string, std::string>{{"email", "cannot be changed"},
                                                {"givenName", "must be a string"}}));
  EXPECT_EQ(
      problemsOf({{"updatedAt", {{"a", json::array({1})}}}, {"country", 5}}, "validation-failed"),
      (std::map<std::string, std::string>{{"updatedAt", "is read-only"},
                                          {"country", "must be a string or null"}}));
  // The email as it is, in another case, is no change.
  Reply r =
      client.request("PATCH", "/api/v1/users/" + ann.id,
                     json{{"email", "ANN@acme.example"}, {"jobTitle", "Lead"}}.dump(), owner.token);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(client.get("/api/v1/users/" + ann.id, owner.token).json()["email"], "ann@acme.example");
}

TEST(HttpFlows, APatchMaySendTheWholeUserBackWithItsReadOnlyFieldsUnchanged) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person ann = server.user("acme", owner, "ann");
  HttpClient client(server.port());
  json whole = client.get("/api/v1/users/" + ann.id, owner.token).json();
  whole["jobTitle"] = "Lead";
  Reply r = client.request("PATCH", "/api/v1/users/" + ann.id, whole.dump(), owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["jobTitle"], "Lead");
  json changed = r.json();
  changed["active"] = false;
  changed["isAdmin"] = true;
  changed["Country"] = "DE";
  r = client.request("PATCH", "/api/v1/users/" + ann.id, changed.dump(), owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  std::map<std::string, std::string> problems;
  const json refusal = r.json();
  for (const auto& e : refusal["errors"]) problems[e["field"]] = e["message"];
  EXPECT_EQ(
      problems,
      (std::map<std::string, std::string>{
          {"Country", "is not a field of a user"},
          {"active", "is read-only: use POST /api/v1/users/{id}/deactivate or /reactivate"},
          {"isAdmin", "is read-only: use POST /api/v1/admins or DELETE /api/v1/admins/{id}"}}))
      << r.body;
  const json now = client.get("/api/v1/users/" + ann.id, owner.token).json();
  EXPECT_EQ(now["active"], true);
  EXPECT_EQ(now["isAdmin"], false);
  // A form's copy from before another edit: a version conflict, as with If-Match.
  json stale = whole;  // version 1, updatedAt of then
  stale["surname"] = "Stale";
  r = client.request("PATCH", "/api/v1/users/" + ann.id, stale.dump(), owner.token);
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_EQ(r.json()["code"], "version-mismatch") << r.body;
  // The version now, not the one read (it said "changed since it was read (version
  // N)" of the version now: a review).
  EXPECT_EQ(r.json()["detail"],
            "The user is at version " + std::to_string(now["version"].get<int>()) +
                " now, not at the version this request names (If-Match, or the form's "
                "version): read it again and send the ETag it shows.")
      << r.body;
  EXPECT_EQ(client.get("/api/v1/users/" + ann.id, owner.token).json()["surname"], "Tester");
  // A version is a whole number from 1: -1 is none, and 3.0 is 3 (a review: refused).
  r = client.request("PATCH", "/api/v1/users/" + ann.id, R"({"version":-1,"surname":"X"})",
                     owner.token);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("must be the version a read gave: a whole number from 1"),
            std::string::npos)
      << r.body;
  r = client.request("PATCH", "/api/v1/users/" + ann.id, R"({"version":0,"surname":"X"})",
                     owner.token);
  EXPECT_EQ(r.status, 422) << r.body;
  r = client.request("PATCH", "/api/v1/users/" + ann.id, R"({"version":1.0,"surname":"X"})",
                     owner.token);
  EXPECT_EQ(r.status, 412) << "1.0 is version 1, stale: " << r.body;
  const std::string asFloat = std::to_string(now["version"].get<int>()) + ".0";
  r = client.request("PATCH", "/api/v1/users/" + ann.id,
                     R"({"version":)" + asFloat + R"(,"jobTitle":"Lead"})", owner.token);
  EXPECT_EQ(r.status, 200) << r.body;
}

// An answer that joins views reads them at one moment: a review found GET /admins,
// read while ownership changed hands, showing no owner or two (the admins view read
// before the change, the users rows after it), and an entry whose user was no
// longer an administrator.
TEST(HttpFlows, TheAdminsListIsOfOneMomentWhileOwnershipChangesHands) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person ada = server.user("acme", owner, "ada", true);
  Person ben = server.user("acme", owner, "ben");
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::vector<std::string> torn;
  std::thread reader([&] {
    HttpClient client(server.port());
    while (!done.load()) {
      Reply r = client.get("/api/v1/admins?limit=500", owner.token);
      if (r.status != 200) {
        torn.push_back(std::to_string(r.status) + " " + r.body);
        continue;
      }
      int owners = 0;
      const json page = r.json();
      for (const auto& a : page["items"]) {
        owners += a["isOwner"].get<bool>() ? 1 : 0;
        if (!a["user"]["isAdmin"].get<bool>()) torn.push_back(r.body);
      }
      if (owners != 1) torn.push_back(r.body);
      ++reads;
    }
  });
  HttpClient client(server.port());
  // Ownership there and back, and ben in and out, until the reader has read enough
  // answers during the changes.
  for (int round = 0; round < 400 && (round < 40 || reads.load() < 100); ++round) {
    ASSERT_EQ(client.post("/api/v1/owner", {{"userId", ada.id}}, owner.token).status, 200);
    ASSERT_EQ(client.post("/api/v1/owner", {{"userId", owner.id}}, ada.token).status, 200);
    ASSERT_EQ(client.post("/api/v1/admins", {{"userId", ben.id}}, owner.token).status, 201);
    ASSERT_EQ(client.request("DELETE", "/api/v1/admins/" + ben.id, "", owner.token).status, 204);
  }
  done = true;
  reader.join();
  EXPECT_GE(reads.load(), 100);
  EXPECT_TRUE(torn.empty()) << torn.size() << " torn answers, the first: " << torn.front();
}

// A retry of a change the user made, whose answer was lost, after the change (or
// another) took the right to make it: the first answer's status and what it was
// about, not 403 for a change made, nor the record as it reads now.
TEST(HttpFlows, ARetryAfterTheRightToMakeTheChangeWentGetsTheFirstAnswer) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person ada = server.user("acme", owner, "ada", true);
  Person ben = server.user("acme", owner, "ben");
  HttpClient client(server.port());
  const std::vector<std::pair<std::string, std::string>> key = {{"Idempotency-Key", "hand-over"}};
  Reply first = client.post("/api/v1/owner", {{"userId", ada.id}}, owner.token, key);
  ASSERT_EQ(first.status, 200) << first.body;
  Reply again = client.post("/api/v1/owner", {{"userId", ada.id}}, owner.token, key);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json(), json({{"id", ada.id}}));
  // Without the key, or with another one, the old owner may not; told which right
  // it takes (a review: "may do this").
  Reply refused = client.post("/api/v1/owner", {{"userId", ada.id}}, owner.token);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.json()["detail"], "Only the company's owner may transfer ownership.");
  EXPECT_EQ(client.request("DELETE", "/api/v1/admins/" + ada.id, "", owner.token).json()["detail"],
            "Only the company's owner may remove an administrator.");
  EXPECT_EQ(
      client
          .post("/api/v1/owner", {{"userId", ada.id}}, owner.token, {{"Idempotency-Key", "other"}})
          .status,
      403);
  // An administrator removed since: the inclusion they made answers again, nothing more.
  const std::vector<std::pair<std::string, std::string>> include = {
      {"Idempotency-Key", "include-ben"}};
  Reply included = client.post("/api/v1/admins", {{"userId", ben.id}}, owner.token, include);
  ASSERT_EQ(included.status, 201) << included.body;
  ASSERT_EQ(client.request("DELETE", "/api/v1/admins/" + owner.id, "", ada.token).status, 204);
  EXPECT_EQ(client.post("/api/v1/admins", {{"userId", ben.id}}, owner.token, include).status, 201);
  EXPECT_EQ(client.post("/api/v1/admins", {{"userId", ben.id}}, owner.token, key).status, 403)
      << "the key of another route";
  EXPECT_EQ(client.post("/api/v1/admins", {{"userId", owner.id}}, owner.token, include).status, 403)
      << "another request under the key";
}

// A change retried by an administrator removed since shows nothing changed after the
// removal (a review read a job title and country set since).
TEST(HttpFlows, ARetryAfterTheRightWentShowsNothingChangedSince) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person ada = server.user("acme", owner, "ada", true);
  Person mia = server.user("acme", owner, "mia");
  Person zed = server.user("acme", owner, "zed");
  HttpClient client(server.port());
  const std::vector<std::pair<std::string, std::string>> key = {{"Idempotency-Key", "rr-1"}};
  const std::string patch = json{{"jobTitle", "Analyst"}}.dump();
  Reply first = client.request("PATCH", "/api/v1/users/" + mia.id, patch, ada.token, key);
  ASSERT_EQ(first.status, 200) << first.body;
  // An anonymization too, whose route answers apart (the diff review).
  ASSERT_EQ(
      client.post("/api/v1/users/" + zed.id + "/deactivate", json::object(), ada.token).status,
      200);
  const std::vector<std::pair<std::string, std::string>> erase = {{"Idempotency-Key", "an-1"}};
  ASSERT_EQ(
      client.request("POST", "/api/v1/users/" + zed.id + "/anonymize", "", ada.token, erase).status,
      200);
  ASSERT_EQ(client.request("DELETE", "/api/v1/admins/" + ada.id, "", owner.token).status, 204);
  Reply erased =
      client.request("POST", "/api/v1/users/" + zed.id + "/anonymize", "", ada.token, erase);
  EXPECT_EQ(erased.status, 200) << erased.body;
  EXPECT_EQ(erased.json(), json({{"id", zed.id}}));
  EXPECT_EQ(erased.header("etag"), "");
  ASSERT_EQ(client
                .request("PATCH", "/api/v1/users/" + mia.id,
                         json{{"jobTitle", "Head of M&A (confidential)"}}.dump(), owner.token)
                .status,
            200);
  EXPECT_EQ(client.get("/api/v1/users/" + mia.id, ada.token).status, 403);
  Reply again = client.request("PATCH", "/api/v1/users/" + mia.id, patch, ada.token, key);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json(), json({{"id", mia.id}}));
  EXPECT_EQ(again.header("etag"), "");
  EXPECT_EQ(client.get("/api/v1/users/" + mia.id, owner.token).json()["jobTitle"],
            "Head of M&A (confidential)")
      << "the retry changed nothing";
  // The same retry from someone who still has the right reads the user as now.
  const std::vector<std::pair<std::string, std::string>> own = {{"Idempotency-Key", "rr-2"}};
  const std::string mine = json{{"country", "FR"}}.dump();
  ASSERT_EQ(client.request("PATCH", "/api/v1/users/" + mia.id, mine, owner.token, own).status, 200);
  EXPECT_EQ(
      client.request("PATCH", "/api/v1/users/" + mia.id, mine, owner.token, own).json()["jobTitle"],
      "Head of M&A (confidential)");
}

// The same retry after the server restarted: the record keeps the request's keyed
// fingerprint and the first event its time, so within 10 minutes of the change the
// retry still gets its first answer; later it is 403 as any request of theirs.
TEST(HttpFlows, ARetryAfterTheRightWentGetsTheFirstAnswerAcrossARestartWithinTenMinutes) {
  RestartingServer server;
  Person owner = server->provision("acme");
  Person ada = server->user("acme", owner, "ada", true);
  const std::vector<std::pair<std::string, std::string>> key = {{"Idempotency-Key", "hand-over"}};
  Reply first =
      HttpClient(server->port()).post("/api/v1/owner", {{"userId", ada.id}}, owner.token, key);
  ASSERT_EQ(first.status, 200) << first.body;
  const Timestamp madeAt = server->clock().now();
  for (const auto& [after, status] : {std::pair{9 * kMinute, 200}, std::pair{11 * kMinute, 403}}) {
    server.restart(Timestamp{madeAt.micros + after});
    const std::string token = server->signIn("acme", owner.email, kPassword).json()["token"];
    HttpClient client(server->port());
    Reply again = client.post("/api/v1/owner", {{"userId", ada.id}}, token, key);
    EXPECT_EQ(again.status, status) << after / kMinute << " minutes after: " << again.body;
    if (status == 200) {
      EXPECT_EQ(again.json(), json({{"id", ada.id}}));
    }
    EXPECT_EQ(
        client.post("/api/v1/owner", {{"userId", ada.id}}, token, {{"Idempotency-Key", "other"}})
            .status,
        403);
    EXPECT_EQ(client.post("/api/v1/owner", {{"userId", owner.id}}, token, key).status, 403)
        << "another request under the key";
  }
}

// The sign-in throttle across a restart: the window's sign-ins in the log are counted
// again at the start, so that a restart (a deploy, a crash someone caused) gives no
// guesser a fresh count (an end-to-end review: five wrong, a restart, five more).
TEST(HttpFlows, FailedSignInsStillCountAfterARestart) {
  RestartingServer server;
  Person owner = server->provision("acme");
  Person ada = server->user("acme", owner, "ada");
  Person carl = server->user("acme", owner, "carl");
  auto failuresInLog = [&] {
    const auto events = server->portal().store().read(1, ~0ull);
    EXPECT_TRUE(events.ok());
    std::size_t n = 0;
    if (events)
      for (const auto& e : *events) n += std::holds_alternative<LoginFailed>(e.data) ? 1 : 0;
    return n;
  };
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(server->signIn("acme", owner.email, "wrong password!").status, 401);
  // Ada's four failures are cleared by her success, which the log has too.
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(server->signIn("acme", ada.email, "wrong password!").status, 401);
  EXPECT_EQ(server->signIn("acme", ada.email, kPassword).status, 201);
  // Carl's five are cleared by the reset he completes.
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(server->signIn("acme", carl.email, "wrong password!").status, 401);
  server->setPassword("acme", carl);
  ASSERT_TRUE(waitFor([&] { return failuresInLog() == 14; })) << "(recorded without waiting)";
  const Timestamp failedAt = server->clock().now();

  server.restart(Timestamp{failedAt.micros + kMinute});
  Reply r = server->signIn("acme", owner.email, kPassword);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_FALSE(r.header("retry-after").empty());
  EXPECT_EQ(server->signIn("acme", ada.email, "wrong password!").status, 401);
  EXPECT_EQ(server->signIn("acme", ada.email, kPassword).status, 201)
      << "one failure since her success, not five";
  EXPECT_EQ(server->signIn("acme", carl.email, kPassword).status, 201) << "reset since";

  // Once the window has passed, nothing of it is counted.
  server.restart(Timestamp{failedAt.micros + 16 * kMinute});
  EXPECT_EQ(server->signIn("acme", owner.email, kPassword).status, 201);
}

// A key sent again with another request (another subject, another body) is refused
// and changes nothing, as the IETF's Idempotency-Key draft has it: answered with the
// first request's outcome, "deactivate B" said 200 with B still active.
TEST(HttpFlows, AKeySentAgainWithAnotherRequestIsRefusedAndChangesNothing) {
  RestartingServer server;
  Person owner = server->provision("acme");
  Person ann = server->user("acme", owner, "ann");
  Person carl = server->user("acme", owner, "carl");
  auto client = std::make_unique<HttpClient>(server->port());
  auto reused = [](const Reply& r) {
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(r.json()["code"], "idempotency-key-reused") << r.body;
  };
  const std::vector<std::pair<std::string, std::string>> key = {{"Idempotency-Key", "admin-1"}};
  Reply first = client->post("/api/v1/admins", {{"userId", ann.id}}, owner.token, key);
  ASSERT_EQ(first.status, 201) << first.body;
  reused(client->post("/api/v1/admins", {{"userId", carl.id}}, owner.token, key));
  EXPECT_EQ(client->get("/api/v1/users/" + carl.id, owner.token).json()["isAdmin"], false);
  Reply again = client->post("/api/v1/admins", {{"userId", ann.id}}, owner.token, key);
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, first.body);

  const std::vector<std::pair<std::string, std::string>> patchKey = {
      {"Idempotency-Key", "patch-1"}};
  Reply patched = client->request("PATCH", "/api/v1/users/" + ann.id, R"({"jobTitle":"Lead"})",
                                  owner.token, patchKey);
  ASSERT_EQ(patched.status, 200) << patched.body;
  reused(client->request("PATCH", "/api/v1/users/" + carl.id, R"({"jobTitle":"Lead"})", owner.token,
                         patchKey));
  reused(client->request("PATCH", "/api/v1/users/" + ann.id, R"({"jobTitle":"Boss"})", owner.token,
                         patchKey));
  EXPECT_EQ(client->get("/api/v1/users/" + carl.id, owner.token).json()["jobTitle"], "Engineer");
  EXPECT_EQ(client->get("/api/v1/users/" + ann.id, owner.token).json()["jobTitle"], "Lead");

  // Creates of six people sent at once under one key: one is made, the others told.
  std::array<Reply, 6> creates;
  together(6, [&](int i) {
    HttpClient c(server->port());
    creates[static_cast<std::size_t>(i)] =
        c.post("/api/v1/users",
               {{"email", "twin" + std::to_string(i) + "@acme.example"},
                {"givenName", "Twin"},
                {"surname", std::to_string(i)},
                {"jobTitle", "Dev"},
                {"managerEmail", owner.email}},
               owner.token, {{"Idempotency-Key", "twins"}});
  });
  EXPECT_EQ(
      std::count_if(creates.begin(), creates.end(), [](const Reply& r) { return r.status == 201; }),
      1);
  for (const Reply& r : creates)
    if (r.status != 201) reused(r);

  // A repeated deactivation of someone reactivated since ends none of their sessions.
  const std::vector<std::pair<std::string, std::string>> offKey = {{"Idempotency-Key", "off-1"}};
  ASSERT_EQ(
      client->post("/api/v1/users/" + carl.id + "/deactivate", json::object(), owner.token, offKey)
          .status,
      200);
  ASSERT_EQ(
      client->post("/api/v1/users/" + carl.id + "/reactivate", json::object(), owner.token).status,
      200);
  const std::string carlsToken = server->signIn("acme", carl.email, kPassword).json()["token"];
  EXPECT_EQ(
      client->post("/api/v1/users/" + carl.id + "/deactivate", json::object(), owner.token, offKey)
          .status,
      200);
  EXPECT_EQ(client->get("/api/v1/me", carlsToken).status, 200);

  // An anonymization repeated with its key on someone else anonymizes nobody more.
  Person dora = server->user("acme", owner, "dora");
  Person eve = server->user("acme", owner, "eve");
  for (const Person& p : {dora, eve})
    ASSERT_EQ(
        client->post("/api/v1/users/" + p.id + "/deactivate", json::object(), owner.token).status,
        200);
  const std::vector<std::pair<std::string, std::string>> eraseKey = {
      {"Idempotency-Key", "erase-1"}};
  Reply erased = client->post("/api/v1/users/" + dora.id + "/anonymize", json::object(),
                              owner.token, eraseKey);
  ASSERT_EQ(erased.status, 200) << erased.body;
  reused(client->post("/api/v1/users/" + eve.id + "/anonymize", json::object(), owner.token,
                      eraseKey));
  json eveNow = client->get("/api/v1/users/" + eve.id, owner.token).json();
  EXPECT_EQ(eveNow["anonymized"], false);
  EXPECT_EQ(eveNow["email"], eve.email);

  // The record keeps the first request's fingerprint keyed by the data directory's
  // secret (a plain hash of a body could confirm a guess of the personal data in it):
  // after a restart a key sent with another request is still refused, and the same
  // request still gets its first answer.
  client.reset();
  server.restart();
  const std::string token = server->signIn("acme", owner.email, kPassword).json()["token"];
  client = std::make_unique<HttpClient>(server->port());
  reused(client->post("/api/v1/admins", {{"userId", carl.id}}, token, key));
  EXPECT_EQ(client->get("/api/v1/users/" + carl.id, token).json()["isAdmin"], false);
  Reply sameAfterRestart = client->post("/api/v1/admins", {{"userId", ann.id}}, token, key);
  EXPECT_EQ(sameAfterRestart.status, 201) << sameAfterRestart.body;
  EXPECT_EQ(sameAfterRestart.header("location"), "/api/v1/admins/" + ann.id);
  reused(client->post("/api/v1/users/" + eve.id + "/anonymize", json::object(), token, eraseKey));
  eveNow = client->get("/api/v1/users/" + eve.id, token).json();
  EXPECT_EQ(eveNow["anonymized"], false);
  EXPECT_EQ(eveNow["email"], eve.email);
}

// An address typed with a combining accent (NFD, as some macOS copies give it) is
// the address of one code point: one user, whom sign-in finds either way.
TEST(HttpFlows, AnEmailIsOneAddressInEitherNormalizationForm) {
  ApiServer server;
  Person owner = server.provision("acme");
  server.user("acme", owner, "zo\u00eb");  // NFC
  const std::string typedNfd = "zoe\u0308@acme.example";
  EXPECT_EQ(server.signIn("acme", typedNfd, kPassword).status, 201);
  HttpClient client(server.port());
  Reply r =
      client.post("/api/v1/users", userBody(typedNfd, "Zoe", "Other", owner.email), owner.token);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(r.json()["code"], "email-taken");
  // A domain's letters past ASCII in another case are the same domain (a review: a
  // second user was created for one mailbox), for sign-in too.
  ASSERT_EQ(client
                .post("/api/v1/users",
                      userBody("info@m\u00fcller.example", "In", "Fo", owner.email), owner.token)
                .status,
            201);
  r = client.post("/api/v1/users", userBody("info@M\u00dcLLER.example", "In", "Fo", owner.email),
                  owner.token);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(r.json()["code"], "email-taken");
  // On the field, so that a form marks it.
  EXPECT_EQ(r.json()["errors"],
            json::array({{{"field", "email"}, {"message", "is already in the pool"}}}));
}

// A retry whose first answer was lost, after the group or resource it created went
// again: still the first status and the id, nothing created twice.
TEST(HttpFlows, AKeyRepeatedAfterItsGroupOrResourceWentGivesTheFirstStatusAndId) {
  ApiServer server;
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  struct Case {
    std::string path;
    json body;
  };
  for (const Case& c :
       {Case{"/api/v1/groups", {{"name", "Night shift"}}}, Case{"/api/v1/resources",
                                                                {{"kind", "project"},
                                                                 {"service", "modeler"},
                                                                 {"name", "Apollo"},
                                                                 {"ownerId", owner.id}}}}) {
    const std::vector<std::pair<std::string, std::string>> key = {
        {"Idempotency-Key", "made-once-" + c.path}};
    Reply first = client.post(c.path, c.body, owner.token, key);
    ASSERT_EQ(first.status, 201) << first.body;
    const std::string id = first.json()["id"];
    ASSERT_EQ(client.request("DELETE", c.path + "/" + id, "", owner.token).status, 204);
    Reply again = client.post(c.path, c.body, owner.token, key);
    EXPECT_EQ(again.status, 201) << c.path << ": " << again.body;
    EXPECT_EQ(again.json()["id"], id) << c.path;
    EXPECT_EQ(again.header("location"), c.path + "/" + id);
    EXPECT_EQ(client.get(c.path, owner.token).json()["items"].size(), 0u) << "not made again";
  }
}

TEST(HttpFlows, KeysSentWithoutASessionNeverReplayAnAdministratorsCommand) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person user = server.user("acme", owner, "kept");
  HttpClient client(server.port());
  // A failed sign-in carrying a key, then an administrator's command with it.
  client.post("/api/v1/sessions",
              {{"company", "acme"}, {"email", owner.email}, {"password", "wrong password!!"}}, "",
              {{"Idempotency-Key", "k-1"}});
  Reply r = client.post("/api/v1/users/" + user.id + "/deactivate", json::object(), owner.token,
                        {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.json()["user"]["active"].get<bool>()) << "really deactivated, not a replay";
  // The same key on another route is another command.
  r = client.post("/api/v1/users/" + user.id + "/reactivate", json::object(), owner.token,
                  {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.json()["active"].get<bool>());
}

TEST(HttpFlows, IdsOfAnotherCompanyAre404EvenForAPlainUser) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person plain = server.user("acme", owner, "plain");
  Person colleague = server.user("acme", owner, "colleague");
  Person stranger = server.provision("other");
  HttpClient client(server.port());
  EXPECT_EQ(client.get("/api/v1/users/" + stranger.id, plain.token).status, 404);
  EXPECT_EQ(client.get("/api/v1/users/" + stranger.id + "/resources", plain.token).status, 404);
  EXPECT_EQ(client.get("/api/v1/users/" + colleague.id, plain.token).status, 403);
  Reply events = client.get("/api/v1/events?after=0&limit=500", stranger.token);
  ASSERT_EQ(events.status, 200);
  EXPECT_EQ(events.body.find(owner.id), std::string::npos) << "no event of acme";
  EXPECT_EQ(events.body.find("passwordHash"), std::string::npos)
      << "secrets' hashes are never shown";
  EXPECT_TRUE(events.json()["nextCursor"].is_string());
}

// Ids copied from a spreadsheet or another system often come in capitals; a UUID's
// digits have no case (RFC 9562 section 4).
TEST(HttpFlows, IdsAreTakenInAnyCaseAndAnEmailWhereAnIdGoesIsNotRepeated) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person ann = server.user("acme", owner, "ann");
  Person bob = server.user("acme", owner, "bob");
  HttpClient client(server.port());
  auto upper = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  };
  Reply r = client.get("/api/v1/users/" + upper(ann.id), owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["id"], ann.id);
  r = client.post("/api/v1/admins", {{"userId", upper(bob.id)}}, owner.token);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.header("location"), "/api/v1/admins/" + bob.id);
  r = client.post("/api/v1/resources",
                  {{"kind", "permission"},
                   {"service", "modeler"},
                   {"name", "Read all"},
                   {"ownerId", upper(ann.id)}},
                  owner.token);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json()["ownerId"], ann.id);
  r = client.get("/api/v1/resources?ownerId=" + upper(ann.id), owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["items"].size(), 1u);
  r = client.post("/api/v1/users/" + upper(ann.id) + "/deactivate", {{"transferTo", upper(bob.id)}},
                  owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  r = client.get("/api/v1/audit?subject=" + upper(ann.id) + "&type=UserDeactivated", owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["items"].size(), 1u) << r.body;
  // An email put where an id goes is not found, and not written back in the answer.
  for (const std::string& path :
       {"/api/v1/groups/alice.secret@corp.example/members/" + bob.id,
        "/api/v1/users/" + bob.id + "/roles/alice.secret@corp.example/editor"}) {
    r = client.request("PUT", path, "", owner.token);
    EXPECT_EQ(r.status, 404) << path << " " << r.body;
    EXPECT_EQ(r.body.find("alice.secret"), std::string::npos) << r.body;
  }
  r = client.get("/api/v1/audit?type=alice.secret@corp.example", owner.token);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.find("alice.secret"), std::string::npos) << r.body;
}

TEST(HttpFlows, UsersAreValidatedListedSearchedPatchedWithIfMatch) {
  ApiServer server;
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  Reply r =
      client.post("/api/v1/users", {{"email", "not an email"}, {"givenName", ""}}, owner.token);
  ASSERT_EQ(r.status, 422);
  EXPECT_GE(r.json()["errors"].size(), 3u);
  // Wrong types and missing fields in one answer, not the second after the first.
  r = client.request(
      "POST", "/api/v1/users",
      R"({"email":123,"givenName":true,"surname":null,"jobTitle":[],"managerEmail":{}})",
      owner.token);
  ASSERT_EQ(r.status, 422);
  std::map<std::string, std::string> problems;
  const json refusal = r.json();
  for (const auto& e : refusal["errors"]) problems[e["field"]] = e["message"];
  EXPECT_EQ(problems, (std::map<std::string, std::string>{{"email", "must be a string"},
                                                          {"givenName", "must be a string"},
                                                          {"jobTitle", "must be a string"},
                                                          {"managerEmail", "must be a string"},
                                                          {"surname", "is required"}}))
      << r.body;
  // A body cut short is told apart from JSON that is not an object.
  r = client.request("POST", "/api/v1/users", R"({"jobTitle":)", owner.token);
  ASSERT_EQ(r.status, 400);
  EXPECT_NE(r.json()["detail"].get<std::string>().find("not valid JSON"), std::string::npos)
      << r.body;
  r = client.request("POST", "/api/v1/users", R"({"email":1e400})", owner.token);
  EXPECT_EQ(r.status, 400) << r.body;
  r = client.request("POST", "/api/v1/users", "[1]", owner.token);
  ASSERT_EQ(r.status, 400);
  EXPECT_NE(r.json()["detail"].get<std::string>().find("must be a JSON object"), std::string::npos)
      << r.body;
  const json zoe = {
      {"email", "Zoe@Acme.example"}, {"givenName", "Zoë"},          {"surname", "Zed"},
      {"jobTitle", "Dev"},           {"managerEmail", owner.email}, {"country", "germany"}};
  // A misspelt field is named, not dropped: the country would be lost otherwise.
  json misspelt = zoe;
  misspelt.erase("country");
  misspelt["Country"] = "DE";
  r = client.post("/api/v1/users", misspelt, owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  ASSERT_EQ(r.json()["errors"].size(), 1u) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["field"], "Country");
  r = client.post("/api/v1/users", zoe, owner.token);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json()["country"], "DE");
  EXPECT_EQ(r.json()["managerEmail"], owner.email);
  EXPECT_EQ(r.header("location"), "/api/v1/users/" + r.json()["id"].get<std::string>());
  const std::string id = r.json()["id"];
  r = client.get("/api/v1/users/" + id, owner.token);
  const std::string etag = r.header("etag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(client.get("/api/v1/users?search=ZOE", owner.token).json()["items"].size(), 1u);
  // Case folds in any script ("zoË" finds "Zoë"), and accents are set aside ("zoe z").
  EXPECT_EQ(client.get("/api/v1/users?search=zo%C3%8B%20z", owner.token).json()["items"].size(),
            1u);
  EXPECT_EQ(client.get("/api/v1/users?search=zoe%20z", owner.token).json()["items"].size(), 1u);
  // Each word, in any order and however far apart ("zed zoe", "zoe  zed"), in the
  // users and the administrators lists alike (a review: the surname first, or two
  // spaces, found nobody); a word in nobody's name still finds nobody.
  for (const char* search : {"zed%20zoe", "zoe%20%20zed", "zed%20zoe%20acme"})
    EXPECT_EQ(client.get(std::string("/api/v1/users?search=") + search, owner.token)
                  .json()["items"]
                  .size(),
              1u)
        << search;
  EXPECT_EQ(client.get("/api/v1/users?search=zed%20xavier", owner.token).json()["items"].size(),
            0u);
  {
    const std::string given = owner.email.substr(0, owner.email.find('@'));
    Reply me = client.get("/api/v1/me", owner.token);
    const std::string surname = me.json()["surname"];
    EXPECT_EQ(client.get("/api/v1/admins?search=" + surname + "%20%20" + given, owner.token)
                  .json()["items"]
                  .size(),
              1u);
  }
  // Spaces around what was typed (or pasted, no-break) are not part of it.
  EXPECT_EQ(client.get("/api/v1/users?search=%20zoe%C2%A0", owner.token).json()["items"].size(),
            1u);
  EXPECT_EQ(client.get("/api/v1/admins?search=+" + owner.email.substr(0, 3) + "+", owner.token)
                .json()["items"]
                .size(),
            1u);
  EXPECT_EQ(client.get("/api/v1/users?status=inactive", owner.token).json()["items"].size(), 0u);
  EXPECT_EQ(client.get("/api/v1/users?status=bogus", owner.token).status, 400);
  // A search of a lone combining accent folds to nothing: it is in nobody's name,
  // so nobody is found (it listed everyone, as a blank search does).
  for (const char* list : {"/api/v1/users", "/api/v1/admins"}) {
    Reply accent = client.get(std::string(list) + "?search=%CC%81", owner.token);
    ASSERT_EQ(accent.status, 200) << accent.body;
    EXPECT_EQ(accent.json()["items"].size(), 0u) << list;
    EXPECT_TRUE(accent.json()["nextCursor"].is_null()) << list;
    EXPECT_FALSE(client.get(list, owner.token).json()["items"].empty()) << list;
  }

  r = client.request("PATCH", "/api/v1/users/" + id, R"({"jobTitle":"Lead"})", owner.token,
                     {{"If-Match", etag}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["jobTitle"], "Lead");
  r = client.request("PATCH", "/api/v1/users/" + id, R"({"jobTitle":"Boss"})", owner.token,
                     {{"If-Match", etag}});
  EXPECT_EQ(r.status, 412) << "the ETag is stale";
  const std::string current = client.get("/api/v1/users/" + id, owner.token).header("etag");
  EXPECT_EQ(r.header("etag"), current) << "the 412 names the tag now";
  r = client.request("PATCH", "/api/v1/users/" + id, R"({"jobTitle":"Boss"})", owner.token,
                     {{"If-Match", etag + ", " + current}});
  EXPECT_EQ(r.status, 200) << "one of the listed tags is current: " << r.body;
  r = client.request("PATCH", "/api/v1/users/" + id, R"({"jobTitle":"Chief"})", owner.token,
                     {{"If-Match", etag + ", " + current}});
  EXPECT_EQ(r.status, 412) << "none of them is any more";
  // A read's preconditions (RFC 9110 13.1): If-None-Match naming the tag shown is
  // 304 with it, no body; If-Match not naming it 412. On a change, If-None-Match
  // naming it (or "*") is 412 and changes nothing (a review: neither was looked at).
  const std::string now = client.get("/api/v1/users/" + id, owner.token).header("etag");
  for (const std::string& names : {now, "W/" + now, "\"0\", " + now, std::string("*")}) {
    r = client.request("GET", "/api/v1/users/" + id, "", owner.token, {{"If-None-Match", names}});
    EXPECT_EQ(r.status, 304) << names;
    EXPECT_EQ(r.header("etag"), now) << names;
    EXPECT_TRUE(r.body.empty()) << names;
    EXPECT_TRUE(r.header("content-type").empty()) << names;
  }
  r = client.request("GET", "/api/v1/users/" + id, "", owner.token, {{"If-None-Match", etag}});
  EXPECT_EQ(r.status, 200) << "an older tag: the user as now";
  r = client.request("GET", "/api/v1/users/" + id, "", owner.token, {{"If-Match", etag}});
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_EQ(r.header("etag"), now);
  EXPECT_EQ(
      client.request("GET", "/api/v1/users/" + id, "", owner.token, {{"If-Match", now}}).status,
      200);
  for (const std::string& names : {now, std::string("*")}) {
    r = client.request("PATCH", "/api/v1/users/" + id, R"({"jobTitle":"Never"})", owner.token,
                       {{"If-None-Match", names}});
    EXPECT_EQ(r.status, 412) << names << ": " << r.body;
    EXPECT_EQ(r.header("etag"), now) << names;
  }
  EXPECT_EQ(client.get("/api/v1/users/" + id, owner.token).header("etag"), now)
      << "nothing changed";
  // A form that sends back the email it shows changes nothing of it.
  const std::string email = client.get("/api/v1/users/" + id, owner.token).json()["email"];
  r = client.request("PATCH", "/api/v1/users/" + id,
                     json{{"email", email}, {"jobTitle", "Chief"}}.dump(), owner.token);
  EXPECT_EQ(r.status, 200) << r.body;
  r = client.request("PATCH", "/api/v1/users/" + id, R"({"email":"new@acme.example"})",
                     owner.token);
  EXPECT_EQ(r.status, 422);
  // A field of the wrong type, unknown or read-only hides no other field's problem.
  for (const char* wrong : {R"("surname":5)", R"("foo":1)", R"("active":false)"}) {
    r = client.request("PATCH", "/api/v1/users/" + id,
                       std::string("{") + wrong + R"(,"jobTitle":"","country":"ZZ"})", owner.token);
    ASSERT_EQ(r.status, 422) << r.body;
    std::set<std::string> named;
    const json errors = r.json()["errors"];
    for (const auto& e : errors) named.insert(e["field"].get<std::string>());
    EXPECT_EQ(named.count("jobTitle"), 1u) << wrong << ": " << r.body;
    EXPECT_EQ(named.count("country"), 1u) << wrong << ": " << r.body;
    EXPECT_EQ(named.size(), 3u) << wrong << ": " << r.body;
  }
  // Likewise a new user's email already in the pool is named beside the others.
  r = client.post("/api/v1/users",
                  {{"email", email},
                   {"givenName", "Zoe"},
                   {"surname", "Again"},
                   {"jobTitle", "T"},
                   {"managerEmail", owner.email},
                   {"country", "ZZ"}},
                  owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["errors"].size(), 2u) << r.body;
  EXPECT_EQ(r.json()["errors"][1]["field"], "email") << r.body;
  // A form that sends the user back whole, as it read them, changes nothing: the
  // same ETag (another editor's If-Match still holds) and nothing in the audit trail.
  const Reply read = client.get("/api/v1/users/" + id, owner.token);
  json back;
  for (const char* f : {"email", "givenName", "surname", "jobTitle", "managerEmail", "country"})
    back[f] = read.json()[f];
  const std::size_t audited =
      client.get("/api/v1/users/" + id + "/history", owner.token).json()["items"].size();
  r = client.request("PATCH", "/api/v1/users/" + id, back.dump(), owner.token,
                     {{"If-Match", read.header("etag")}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("etag"), read.header("etag"));
  EXPECT_EQ(r.json()["updatedAt"], read.json()["updatedAt"]);
  EXPECT_EQ(client.get("/api/v1/users/" + id + "/history", owner.token).json()["items"].size(),
            audited);
  // Pages.
  for (int i = 0; i < 3; ++i)
    client.post("/api/v1/users",
                {{"email", "p" + std::to_string(i) + "@acme.example"},
                 {"givenName", "P"},
                 {"surname", "Page"},
                 {"jobTitle", "T"},
                 {"managerEmail", owner.email}},
                owner.token);
  r = client.get("/api/v1/users?limit=2", owner.token);
  ASSERT_EQ(r.json()["items"].size(), 2u);
  ASSERT_TRUE(r.json()["nextCursor"].is_string());
  Reply next = client.get(
      "/api/v1/users?limit=2&cursor=" + r.json()["nextCursor"].get<std::string>(), owner.token);
  EXPECT_EQ(next.json()["items"].size(), 2u);
  EXPECT_NE(next.json()["items"][0]["id"], r.json()["items"][0]["id"]);
  EXPECT_EQ(client.get("/api/v1/users?limit=501", owner.token).status, 400);
  EXPECT_EQ(client.get("/api/v1/users?cursor=garbage", owner.token).status, 400);
  // A blank limit (a form's field left empty) is the default of 50.
  Reply blank = client.get("/api/v1/users?search=&limit=", owner.token);
  ASSERT_EQ(blank.status, 200) << blank.body;
  EXPECT_EQ(blank.json()["items"], client.get("/api/v1/users", owner.token).json()["items"]);
}

// The services list is a list like the others: items and nextCursor, paged.
// Names are found as people type them: without regard to case or accents, whether
// an accented letter was stored as one code point (NFC) or as a letter and a
// combining accent (NFD, as some macOS copies give), and listed in the order of
// their letters (an accented surname among the others, not after "z").
TEST(HttpFlows, NamesAreFoundAndSortedWhateverTheirAccentsAndHowTheyWereTyped) {
  ApiServer server;
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  auto create = [&](const std::string& email, const std::string& given,
                    const std::string& surname) {
    Reply r = client.post("/api/v1/users",
                          {{"email", email},
                           {"givenName", given},
                           {"surname", surname},
                           {"jobTitle", "Dev"},
                           {"managerEmail", owner.email}},
                          owner.token);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["id"].get<std::string>();
  };
  const std::string composed = create("one@acme.example", "\u00c9lodie", "Fabre");    // NFC
  const std::string decomposed = create("two@acme.example", "E\u0301lodie", "Zola");  // NFD
  const std::string accented = create("three@acme.example", "Ana", "\u00c9clair");
  create("four@acme.example", "Dan", "Dupont");
  auto found = [&](const std::string& query) {
    std::set<std::string> ids;
    Reply r = client.get("/api/v1/users?search=" + query, owner.token);
    EXPECT_EQ(r.status, 200) << r.body;
    const json page = r.json();
    for (const auto& u : page["items"]) ids.insert(u["id"].get<std::string>());
    return ids;
  };
  const std::set<std::string> both{composed, decomposed};
  EXPECT_EQ(found("elodie"), both);
  EXPECT_EQ(found("%C3%89LODIE"), both) << "typed composed";
  EXPECT_EQ(found("E%CC%81lodie"), both) << "typed decomposed";
  EXPECT_EQ(found("eclair"), std::set<std::string>{accented});
  const std::string stroked = create("five@acme.example", "\u0141ukasz", "\u00d8rsted");
  EXPECT_EQ(found("lukasz"), std::set<std::string>{stroked}) << "a stroke is no accent";
  EXPECT_EQ(found("orsted"), std::set<std::string>{stroked});
  EXPECT_EQ(found("%C5%81UKASZ"), std::set<std::string>{stroked}) << "typed with it";
  // Listed by surname: Dupont, Éclair, Fabre, then the owner's and Zola's places by
  // their letters.
  Reply all = client.get("/api/v1/users?limit=100", owner.token);
  ASSERT_EQ(all.status, 200) << all.body;
  const json listed = all.json();
  std::vector<std::string> surnames;
  for (const auto& u : listed["items"]) surnames.push_back(u["surname"]);
  auto at = [&](const std::string& s) {
    return std::find(surnames.begin(), surnames.end(), s) - surnames.begin();
  };
  EXPECT_LT(at("Dupont"), at("\u00c9clair"));
  EXPECT_LT(at("\u00c9clair"), at("Fabre"));
  EXPECT_LT(at("Fabre"), at("\u00d8rsted")) << "Ørsted among the O's";
  EXPECT_LT(at("\u00d8rsted"), at("Zola"));
  // The stored names are as typed: folding is for finding and ordering only.
  EXPECT_EQ(client.get("/api/v1/users/" + decomposed, owner.token).json()["givenName"],
            "E\u0301lodie");
}

TEST(HttpFlows, TheServicesListPagesLikeEveryList) {
  ApiServer server;
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  Reply all = client.get("/api/v1/services", owner.token);
  const json items = all.json()["items"];
  ASSERT_GE(items.size(), 2u);
  EXPECT_TRUE(all.json()["nextCursor"].is_null());
  EXPECT_EQ(items[0]["name"], "modeler");
  EXPECT_FALSE(items[0]["roles"].empty());
  json seen = json::array();
  std::string path = "/api/v1/services?limit=1";
  for (int pages = 0; pages < 10; ++pages) {
    Reply reply = client.get(path, owner.token);
    ASSERT_EQ(reply.status, 200) << reply.body;
    const json page = reply.json();
    ASSERT_LE(page["items"].size(), 1u);
    for (const auto& s : page["items"]) seen.push_back(s);
    if (page["nextCursor"].is_null()) break;
    path = "/api/v1/services?limit=1&cursor=" + page["nextCursor"].get<std::string>();
  }
  EXPECT_EQ(seen, items);
  EXPECT_EQ(client.get("/api/v1/services?cursor=garbage", owner.token).status, 400);
}

// The roles granted are read back, by an administrator and by the user themself.
TEST(HttpFlows, AUsersRolesAreListedAsGrantedAndRevoked) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person ann = server.user("acme", owner, "ann");
  HttpClient client(server.port());
  const std::string base = "/api/v1/users/" + ann.id + "/roles";
  auto roles = [&](const std::string& token) {
    std::vector<std::string> out;
    Reply r = client.get(base, token);
    EXPECT_EQ(r.status, 200) << r.body;
    const json body = r.json();
    for (const auto& item : body["items"])
      out.push_back(item["service"].get<std::string>() + "/" + item["role"].get<std::string>());
    return out;
  };
  EXPECT_EQ(roles(owner.token), std::vector<std::string>{});
  for (const char* role : {"/modeler/editor", "/automation/operator", "/modeler/viewer"})
    ASSERT_EQ(client.request("PUT", base + role, "", owner.token).status, 204) << role;
  EXPECT_EQ(roles(owner.token),
            (std::vector<std::string>{"automation/operator", "modeler/editor", "modeler/viewer"}));
  EXPECT_EQ(roles(ann.token), roles(owner.token)) << "the user reads their own";
  Reply first = client.get(base + "?limit=2", owner.token);
  ASSERT_EQ(first.json()["items"].size(), 2u);
  Reply rest = client.get(base + "?limit=2&cursor=" + first.json()["nextCursor"].get<std::string>(),
                          owner.token);
  ASSERT_EQ(rest.status, 200) << rest.body;
  EXPECT_EQ(rest.json()["items"][0]["role"], "viewer");
  EXPECT_TRUE(rest.json()["nextCursor"].is_null());
  ASSERT_EQ(client.request("DELETE", base + "/modeler/editor", "", owner.token).status, 204);
  EXPECT_EQ(roles(owner.token),
            (std::vector<std::string>{"automation/operator", "modeler/viewer"}));
  EXPECT_EQ(client.get("/api/v1/users/nobody/roles", owner.token).status, 404);
  // A role the service does not have is said of the service, with its roles (it
  // read "Role modeler/superuser is not in this company": a review).
  Reply none = client.request("PUT", base + "/modeler/superuser", "", owner.token);
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(none.json()["detail"],
            "The service modeler has no role 'superuser'; its roles are: viewer, editor, admin.");
  EXPECT_EQ(client.request("PUT", base + "/modeler/a@b.example", "", owner.token).json()["detail"],
            "The service modeler has no such role; its roles are: viewer, editor, admin.");
  // A service the company does not hold is said with those it holds (a review).
  EXPECT_EQ(client.request("PUT", base + "/analytics/viewer", "", owner.token).json()["detail"],
            "Service analytics is not in this company: it holds modeler, automation and studio.");
  EXPECT_EQ(client.request("PUT", base + "/a@b.example/viewer", "", owner.token).json()["detail"],
            "The service given is not in this company: it holds modeler, automation and studio.");
}

// A client that follows the Location of a 201 finds what was made there.
TEST(HttpFlows, EveryLocationACreationGivesAnswersAGetWithTheSameBody) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person ann = server.user("acme", owner, "ann");
  HttpClient client(server.port());
  const std::vector<std::pair<std::string, json>> creations = {
      {"/api/v1/users",
       {{"email", "bo@acme.example"},
        {"givenName", "Bo"},
        {"surname", "Berg"},
        {"jobTitle", "Clerk"},
        {"managerEmail", "m@acme.example"}}},
      {"/api/v1/admins", {{"userId", ann.id}}},
      {"/api/v1/resources",
       {{"kind", "project"}, {"service", "modeler"}, {"name", "Apollo"}, {"ownerId", ann.id}}},
      {"/api/v1/groups", {{"name", "Night shift"}}}};
  for (const auto& [path, body] : creations) {
    Reply made = client.post(path, body, owner.token);
    ASSERT_EQ(made.status, 201) << path << ": " << made.body;
    const std::string location = made.header("location");
    ASSERT_EQ(location.rfind(path + "/", 0), 0u) << path << " -> " << location;
    Reply got = client.get(location, owner.token);
    EXPECT_EQ(got.status, 200) << location << ": " << got.body;
    EXPECT_EQ(got.json(), made.json()) << location;
  }
  EXPECT_EQ(client.get("/api/v1/admins/" + owner.id, owner.token).json()["isOwner"], true);
  const std::string cy = server.user("acme", owner, "cy").id;
  Reply plain = client.get("/api/v1/admins/" + cy, owner.token);
  EXPECT_EQ(plain.status, 404) << "not an administrator: " << plain.body;
  EXPECT_EQ(plain.json()["detail"],
            "User " + cy + " is not an administrator: POST /api/v1/admins makes them one.")
      << "said as DELETE says it, not \"does not exist\" (a review)";
  EXPECT_EQ(client.get("/api/v1/admins/nobody", owner.token).json()["detail"],
            "User nobody does not exist in this company.");
  plain = client.request("DELETE", "/api/v1/admins/" + cy, "", owner.token);
  EXPECT_EQ(plain.status, 404) << plain.body;
  EXPECT_NE(plain.body.find("User " + cy + " is not an administrator."), std::string::npos)
      << "a user of the company, not an administrator: " << plain.body;
  EXPECT_EQ(client.get("/api/v1/resources/nothing-here", owner.token).status, 404);
}

// A form sends the user back as it read them: a manager who was anonymized reads
// "anonymized", which sent back unchanged is no change, not a malformed address.
TEST(HttpFlows, AReportOfAnAnonymizedManagerCanBeEditedByAFormThatSendsEverythingBack) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person mgr = server.user("acme", owner, "mgr");
  HttpClient client(server.port());
  Reply made = client.post("/api/v1/users",
                           {{"email", "rep@acme.example"},
                            {"givenName", "Rep"},
                            {"surname", "Ort"},
                            {"jobTitle", "Clerk"},
                            {"managerEmail", mgr.email}},
                           owner.token);
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string path = "/api/v1/users/" + made.json()["id"].get<std::string>();
  const std::string tagBefore = client.get(path, owner.token).header("etag");
  ASSERT_EQ(
      client.post("/api/v1/users/" + mgr.id + "/deactivate", json::object(), owner.token).status,
      200);
  ASSERT_EQ(
      client.post("/api/v1/users/" + mgr.id + "/anonymize", json::object(), owner.token).status,
      200);
  const Reply reread = client.get(path, owner.token);
  json form = reread.json();
  ASSERT_EQ(form["managerEmail"], "anonymized");
  // What the user shows changed, so its ETag did (its version did not: the user was
  // not edited): a form read before, sending the erased manager's old address
  // (someone else's by now), is 412, its If-Match strong or weak.
  EXPECT_EQ(form["version"], made.json()["version"]);
  EXPECT_NE(reread.header("etag"), tagBefore);
  ASSERT_EQ(
      client.post("/api/v1/users", userBody(mgr.email, "New", "Comer", owner.email), owner.token)
          .status,
      201);
  // (Also a tag of another version without the mark: the detail names the tag to
  // send, not the bare version, which would be 412 again: a review.)
  for (const std::string& stale :
       {tagBefore, "W/" + tagBefore, std::string("\"7\""), "\"0-a\", " + tagBefore}) {
    const Reply refused = client.request("PATCH", path, json{{"managerEmail", mgr.email}}.dump(),
                                         owner.token, {{"If-Match", stale}});
    EXPECT_EQ(refused.status, 412) << stale;
    EXPECT_NE(refused.json()["detail"].get<std::string>().find(reread.header("etag")),
              std::string::npos)
        << "it names the ETag, which is more than the version now: " << refused.body;
  }
  EXPECT_EQ(client.get(path, owner.token).json()["managerEmail"], "anonymized");
  EXPECT_EQ(client
                .request("PATCH", path, R"({"country":null})", owner.token,
                         {{"If-Match", tagBefore + ", " + reread.header("etag")}})
                .status,
            200)
      << "the tag shown now is listed";
  form = client.get(path, owner.token).json();
  form["jobTitle"] = "Lead";
  json patch;
  for (const char* f : {"givenName", "surname", "jobTitle", "managerEmail", "country"})
    patch[f] = form[f];
  Reply r = client.request("PATCH", path, patch.dump(), owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["jobTitle"], "Lead");
  EXPECT_EQ(r.json()["managerEmail"], "anonymized");
  // Sent back so beside a field the user has not, the refusal names that field alone:
  // what is sent back as read is no change, and not judged (a review got a
  // managerEmail problem beside it).
  patch["department"] = "Ops";
  r = client.request("PATCH", path, patch.dump(), owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  ASSERT_EQ(r.json()["errors"].size(), 1u) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["field"], "department") << r.body;
  // Another address that is not one is still refused.
  r = client.request("PATCH", path, R"({"managerEmail":"not-an-address"})", owner.token);
  EXPECT_EQ(r.status, 422) << r.body;
  // The anonymized manager sent back whole as read (its email null) is told that an
  // anonymized user cannot change, not that its email cannot (a review); another
  // user's null email is still a change refused.
  json erased = client.get("/api/v1/users/" + mgr.id, owner.token).json();
  ASSERT_TRUE(erased["email"].is_null());
  erased["jobTitle"] = "Lead";
  r = client.request("PATCH", "/api/v1/users/" + mgr.id, erased.dump(), owner.token);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(r.json()["code"], "user-anonymized") << r.body;
  r = client.request("PATCH", path, R"({"email":null})", owner.token);
  EXPECT_EQ(r.status, 422) << r.body;
}

// A member added writes one small row, whatever the group's size: the group's own
// row holds no list of members (a review: adding one to a group of 30,000 rewrote
// 1.3 MB), and a deleted group leaves no member rows. A group shows its count, not
// its members (30,000 ids were 1.2 MB, more than a form may send back: a review);
// the members are read a page at a time, sorted, each as GET /users/{id} shows
// them; a user's groups likewise.
TEST(HttpFlows, AMemberAddedWritesOneSmallRowWhateverTheGroupsSize) {
  ApiServer server;
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  Reply made = client.post("/api/v1/groups", {{"name", "Everyone"}}, owner.token);
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_FALSE(made.json().contains("members")) << made.body;
  EXPECT_EQ(made.json()["memberCount"], 0);
  const std::string id = made.json()["id"];
  std::vector<std::string> ids = {owner.id};
  for (int i = 0; i < 40; ++i) {
    Reply u = client.post("/api/v1/users",
                          {{"email", "m" + std::to_string(i) + "@acme.example"},
                           {"givenName", "M"},
                           {"surname", std::to_string(i)},
                           {"jobTitle", "Staff"},
                           {"managerEmail", owner.email}},
                          owner.token);
    ASSERT_EQ(u.status, 201) << u.body;
    ids.push_back(u.json()["id"]);
  }
  for (const std::string& user : ids)
    ASSERT_EQ(
        client.request("PUT", "/api/v1/groups/" + id + "/members/" + user, "", owner.token).status,
        204);
  std::sort(ids.begin(), ids.end());
  Reply group = client.get("/api/v1/groups/" + id, owner.token);
  ASSERT_EQ(group.status, 200);
  EXPECT_FALSE(group.json().contains("members")) << "read a page at a time: " << group.body;
  EXPECT_EQ(group.json()["version"], 1 + ids.size());
  EXPECT_EQ(group.json()["memberCount"], ids.size());
  const json listed = client.get("/api/v1/groups", owner.token).json()["items"][0];
  EXPECT_EQ(listed["memberCount"], ids.size());
  EXPECT_FALSE(listed.contains("members")) << listed;
  // Every item of the list at `path`, `limit` a page, in `pages` pages at most.
  const auto walk = [&](const std::string& path, int limit, int pages) {
    std::vector<json> items;
    const std::string first = path + "?limit=" + std::to_string(limit);
    std::string next = first;
    for (int n = 0; !next.empty(); ++n) {
      EXPECT_LT(n, pages) << path << ": more pages than " << pages;
      if (n == pages) break;
      Reply page = client.get(next, owner.token);
      EXPECT_EQ(page.status, 200) << page.body;
      const json body = page.json();
      for (const json& item : body["items"]) items.push_back(item);
      next = body["nextCursor"].is_string()
                 ? first + "&cursor=" + body["nextCursor"].get<std::string>()
                 : "";
    }
    return items;
  };
  // The members a page at a time, in the order of their ids, each as a user (41
  // members are 3 pages of 15).
  std::vector<std::string> paged;
  for (const json& user : walk("/api/v1/groups/" + id + "/members", 15, 3)) {
    paged.push_back(user["id"]);
    EXPECT_TRUE(user.contains("email") && user.contains("version")) << user;
  }
  EXPECT_EQ(paged, ids);
  Reply first = client.get("/api/v1/groups/" + id + "/members?limit=2", owner.token);
  ASSERT_EQ(first.json()["items"].size(), 2u) << first.body;
  ASSERT_TRUE(first.json()["nextCursor"].is_string()) << first.body;
  // A cursor holds its place among one group's members only.
  Reply other = client.post("/api/v1/groups", {{"name", "Others"}}, owner.token);
  ASSERT_EQ(other.status, 201) << other.body;
  Reply crossed = client.get("/api/v1/groups/" + other.json()["id"].get<std::string>() +
                                 "/members?cursor=" + first.json()["nextCursor"].get<std::string>(),
                             owner.token);
  EXPECT_EQ(crossed.status, 400) << crossed.body;
  EXPECT_EQ(client.get("/api/v1/groups/" + id + "/members?limit=0", owner.token).status, 400);
  // A user's groups, as the list of groups shows them.
  const std::string otherId = other.json()["id"];
  ASSERT_EQ(
      client.request("PUT", "/api/v1/groups/" + otherId + "/members/" + ids[1], "", owner.token)
          .status,
      204);
  const auto groupsOf = [&](const std::string& user) {
    std::vector<std::string> found;
    for (const json& g : walk("/api/v1/users/" + user + "/groups", 1, 3)) {
      EXPECT_FALSE(g.contains("members")) << g;
      EXPECT_TRUE(g.contains("memberCount")) << g;
      found.push_back(g["id"]);
    }
    return found;
  };
  EXPECT_EQ(groupsOf(ids[1]),
            (std::vector<std::string>{std::min(id, otherId), std::max(id, otherId)}));
  EXPECT_EQ(groupsOf(ids[2]), std::vector<std::string>{id});
  EXPECT_EQ(client.get("/api/v1/users/nobody/groups", owner.token).status, 404);
  // A member removed is counted out.
  ASSERT_EQ(client.request("DELETE", "/api/v1/groups/" + id + "/members/" + ids[0], "", owner.token)
                .status,
            204);
  EXPECT_EQ(client.get("/api/v1/groups/" + id, owner.token).json()["memberCount"], ids.size() - 1);
  EXPECT_TRUE(groupsOf(ids[0]).empty());
  ASSERT_EQ(client
                .request("DELETE", "/api/v1/groups/" + other.json()["id"].get<std::string>(), "",
                         owner.token)
                .status,
            204);
  const auto raw = [&](int family) {
    Projector::Reading reading(server.portal().projector());
    std::unique_ptr<rocksdb::Iterator> it(server.portal().store().db()->NewIterator(
        rocksdb::ReadOptions(),
        server.portal().projector().handle(GroupsProjection::kName, family)));
    std::vector<std::string> values;
    for (it->SeekToFirst(); it->Valid(); it->Next()) values.push_back(it->value().ToString());
    return values;
  };
  const auto rows = raw(GroupsProjection::kGroups);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_LT(rows[0].size(), 300u) << rows[0];
  EXPECT_EQ(rows[0].find(ids[0]), std::string::npos) << "no list of members in it";
  EXPECT_EQ(raw(GroupsProjection::kMembers).size(), ids.size() - 1);
  EXPECT_EQ(raw(GroupsProjection::kByMember).size(), ids.size() - 1);
  ASSERT_EQ(client.request("DELETE", "/api/v1/groups/" + id, "", owner.token).status, 204);
  EXPECT_EQ(client.get("/api/v1/groups/" + id + "/members", owner.token).status, 404);
  EXPECT_TRUE(raw(GroupsProjection::kGroups).empty());
  EXPECT_TRUE(raw(GroupsProjection::kMembers).empty());
  EXPECT_TRUE(raw(GroupsProjection::kByMember).empty());
  EXPECT_TRUE(groupsOf(ids[1]).empty());
}

// RFC 9110 13.1.1: If-Match is evaluated wherever it is sent on a group or on the
// commands that change a user, so that one administrator's stale page does not undo
// or outrun another's change (a review found it passed over there).
TEST(HttpFlows, GroupsAndUserCommandsHonourIfMatch) {
  ApiServer server;
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  const std::vector<std::pair<std::string, std::string>> type = {
      {"Content-Type", "application/json"}};
  Reply made = client.post("/api/v1/groups", {{"name", "Ops"}}, owner.token);
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(made.header("etag"), "\"1\"");
  EXPECT_EQ(made.json()["version"], 1);
  const std::string path = "/api/v1/groups/" + made.json()["id"].get<std::string>();
  const std::string first = client.get(path, owner.token).header("etag");
  ASSERT_EQ(first, "\"1\"");
  Reply r = client.request("PUT", path + "/members/" + owner.id, "", owner.token);
  ASSERT_EQ(r.status, 204) << r.body;
  const std::string second = client.get(path, owner.token).header("etag");
  EXPECT_EQ(second, "\"2\"") << "a member added changes what the group shows";
  // A read's preconditions, as a user's (a review: a group's were not looked at).
  r = client.request("GET", path, "", owner.token, {{"If-None-Match", second}});
  EXPECT_EQ(r.status, 304) << r.body;
  EXPECT_EQ(r.header("etag"), second);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(client.request("GET", path, "", owner.token, {{"If-None-Match", first}}).status, 200);
  r = client.request("GET", path, "", owner.token, {{"If-Match", first}});
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_EQ(r.header("etag"), second);
  auto with = [&](const std::string& tag) {
    auto headers = type;
    headers.emplace_back("If-Match", tag);
    return headers;
  };
  // Each 412, the write model's too (a version the view showed once), names the tag
  // to read the group again by in ETag.
  r = client.request("PATCH", path, R"({"name":"Operations"})", owner.token, with(first));
  ASSERT_EQ(r.status, 412) << r.body;
  EXPECT_EQ(r.json()["code"], "version-mismatch");
  EXPECT_EQ(r.header("etag"), second);
  r = client.request("PATCH", path, R"({"name":"Operations"})", owner.token, with("\"nonsense\""));
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_NE(r.json()["detail"].get<std::string>().find("\"2\""), std::string::npos) << r.body;
  EXPECT_EQ(r.header("etag"), second);
  r = client.request("PATCH", path, R"({"name":"Operations","version":1})", owner.token, type);
  EXPECT_EQ(r.status, 412) << "a form's version from before: " << r.body;
  EXPECT_EQ(r.header("etag"), second);
  r = client.request("PATCH", path, R"({"name":"Operations"})", owner.token, with("2"));
  EXPECT_EQ(r.status, 412) << "an unquoted 2 is no entity-tag, and names no version: " << r.body;
  EXPECT_EQ(r.header("etag"), second);
  r = client.request("DELETE", path, "", owner.token, with(first));
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_EQ(r.header("etag"), second);
  EXPECT_EQ(client.get(path, owner.token).json()["name"], "Ops");
  r = client.request("PATCH", path, R"({"name":"Operations"})", owner.token, with("W/" + second));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("etag"), "\"3\"");
  {
    // A list sent on two lines is one list (RFC 9110 5.3): the second line's tag counts.
    RawConnection raw(server.port());
    const std::string body = R"({"description":"twice"})";
    raw.send("PATCH " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + owner.token +
             "\r\nContent-Type: application/json\r\nIf-Match: " + first +
             "\r\nIf-Match: \"3\"\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\nConnection: close\r\n\r\n" + body);
    const std::string answer = raw.readToEnd();
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  }
  r = client.request("DELETE", path, "", owner.token, with(second + ", \"4\""));
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(client.get(path, owner.token).status, 404);

  const std::string ada = client
                              .post("/api/v1/users",
                                    {{"email", "ada@acme.example"},
                                     {"givenName", "Ada"},
                                     {"surname", "L"},
                                     {"jobTitle", "Dev"},
                                     {"managerEmail", owner.email}},
                                    owner.token)
                              .json()["id"];
  const std::string user = "/api/v1/users/" + ada;
  const std::string created = client.get(user, owner.token).header("etag");
  ASSERT_EQ(client.request("PATCH", user, R"({"jobTitle":"Lead"})", owner.token, type).status, 200);
  r = client.request("POST", user + "/deactivate", "{}", owner.token, with(created));
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_EQ(client.get(user, owner.token).json()["active"], true);
  const std::string current = client.get(user, owner.token).header("etag");
  r = client.request("POST", user + "/deactivate", "{}", owner.token, with(current));
  ASSERT_EQ(r.status, 200) << r.body;
  r = client.request("POST", user + "/reactivate", "", owner.token, with(current));
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_EQ(client.get(user, owner.token).json()["active"], false);
  // Anonymizing cannot be undone: a page read before the deactivation does not do it,
  // not even naming a version the view might not show yet.
  r = client.request("POST", user + "/anonymize", "", owner.token, with(current));
  EXPECT_EQ(r.status, 412) << r.body;
  r = client.request("POST", user + "/anonymize", "", owner.token, with(current + ", \"99\""));
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_EQ(client.get(user, owner.token).json()["givenName"], "Ada");
  const std::string deactivated = client.get(user, owner.token).header("etag");
  r = client.request("POST", user + "/anonymize", "", owner.token, with(deactivated));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["anonymized"], true);

  // What is not there is 404 before any If-Match is weighed (RFC 9110 13.2.1).
  const std::string nobody = "/api/v1/users/00000000-0000-4000-8000-000000000000";
  EXPECT_EQ(client.request("POST", nobody + "/anonymize", "", owner.token, with("\"1\"")).status,
            404);
  EXPECT_EQ(client.request("POST", nobody + "/deactivate", "{}", owner.token, with("\"x\"")).status,
            404);
  EXPECT_EQ(client.request("DELETE", path, "", owner.token, with("\"x\"")).status, 404);
  r = client.request("PATCH", path, R"({"name":"Back"})", owner.token, with("\"3\""));
  EXPECT_EQ(r.status, 404) << r.body;

  // A group form read before a member was added, sent back whole with a new name:
  // stale (412), not a member list refused as read-only (422).
  const std::string other =
      "/api/v1/groups/" + client.post("/api/v1/groups", {{"name", "Sales"}}, owner.token)
                              .json()["id"]
                              .get<std::string>();
  json form = client.get(other, owner.token).json();
  ASSERT_EQ(client.request("PUT", other + "/members/" + owner.id, "", owner.token).status, 204);
  form["name"] = "Sales team";
  r = client.request("PATCH", other, form.dump(), owner.token, type);
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_EQ(client.get(other, owner.token).json()["name"], "Sales");

  // If-Match is part of what an Idempotency-Key stands for: the same key with another
  // tag is another request, not the first one's answer again.
  const std::string tag = client.get(other, owner.token).header("etag");
  auto keyed = [&](const std::string& match) {
    auto headers = with(match);
    headers.emplace_back("Idempotency-Key", "rename-sales-1");
    return headers;
  };
  r = client.request("PATCH", other, R"({"name":"Sales EMEA"})", owner.token, keyed("\"1\""));
  EXPECT_EQ(r.status, 412) << r.body;
  r = client.request("PATCH", other, R"({"name":"Sales EMEA"})", owner.token, keyed(tag));
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["code"], "idempotency-key-reused");
  EXPECT_NE(r.json()["detail"].get<std::string>().find("(another path, body or If-Match)"),
            std::string::npos)
      << "the If-Match is what differs here (a review): " << r.body;
}

// A misspelt field of a merge patch is refused, not dropped with a 200.
TEST(HttpFlows, AGroupPatchNamingAFieldItDoesNotHaveIsRefused) {
  ApiServer server;
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  Reply made = client.post("/api/v1/groups", {{"name", "Ops"}}, owner.token);
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string path = "/api/v1/groups/" + made.json()["id"].get<std::string>();
  Reply r = client.request("PATCH", path, json{{"Name", "Operations"}}.dump(), owner.token,
                           {{"Content-Type", "application/json"}});
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["field"], "Name");
  EXPECT_EQ(r.json()["errors"][0]["message"], "is not a field of a group");
  r = client.request("PATCH", path, json{{"members", json::array({owner.id})}}.dump(), owner.token,
                     {{"Content-Type", "application/json"}});
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["message"],
            "is read-only: use PUT or DELETE /api/v1/groups/{id}/members/{userId}")
      << "where members are changed";
  r = client.post("/api/v1/groups", {{"name", "Night"}, {"members", json::array({owner.id})}},
                  owner.token);
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["message"],
            "is not taken when a group is made: add each member with PUT "
            "/api/v1/groups/{id}/members/{userId} once it is")
      << "a create is told too (a review)";
  r = client.request("PATCH", path, json{{"memberCount", 7}}.dump(), owner.token,
                     {{"Content-Type", "application/json"}});
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["message"],
            "is read-only: use PUT or DELETE /api/v1/groups/{id}/members/{userId}");
  r = client.request("PATCH", path, json{{"createdAt", "2020-01-01T00:00:00Z"}}.dump(), owner.token,
                     {{"Content-Type", "application/json"}});
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["errors"][0]["message"], "is read-only");
  EXPECT_EQ(client.get(path, owner.token).json()["name"], "Ops");
  // The group sent back whole, as read, with a new name: only the name changes.
  json whole = client.get(path, owner.token).json();
  whole["name"] = "Ops team";
  r = client.request("PATCH", path, whole.dump(), owner.token,
                     {{"Content-Type", "application/json"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["name"], "Ops team");
  r = client.request("PATCH", path, json{{"name", "Operations"}}.dump(), owner.token,
                     {{"Content-Type", "application/json"}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["name"], "Operations");
  // So do the other commands' bodies: a misspelt field is named, and nothing happens.
  const std::string ada = client
                              .post("/api/v1/users",
                                    {{"email", "ada@acme.example"},
                                     {"givenName", "Ada"},
                                     {"surname", "L"},
                                     {"jobTitle", "Dev"},
                                     {"managerEmail", owner.email}},
                                    owner.token)
                              .json()["id"];
  for (const auto& [target, body] : std::vector<std::pair<std::string, json>>{
           {"/api/v1/groups", {{"name", "Ops2"}, {"Description", "x"}}},
           {"/api/v1/resources",
            {{"kind", "project"},
             {"service", "modeler"},
             {"name", "P"},
             {"ownerId", ada},
             {"owner", ada}}},
           {"/api/v1/users/" + ada + "/deactivate", {{"transferto", owner.id}}}}) {
    r = client.post(target, body, owner.token);
    ASSERT_EQ(r.status, 422) << target << ": " << r.body;
    ASSERT_EQ(r.json()["errors"].size(), 1u) << r.body;
    EXPECT_TRUE(r.json()["errors"][0]["field"] == "Description" ||
                r.json()["errors"][0]["field"] == "owner" ||
                r.json()["errors"][0]["field"] == "transferto")
        << r.body;
  }
  EXPECT_EQ(client.get("/api/v1/users/" + ada, owner.token).json()["active"], true);
  EXPECT_EQ(client.get("/api/v1/groups?limit=10", owner.token).json()["items"].size(), 1u);
}

// A client paging through a restart (a deployment) goes on from its cursor: cursors
// that hold ids and positions are sealed under a key of the data directory, not of
// the process. The users list's cursor holds a name (its place) and its search, so it
// is sealed under the process's own key and ends with it: one kept on disk would let
// a cursor a client kept be read after that person's erasure. Another directory's
// server refuses them.
TEST(HttpFlows, ACursorOfIdsStillPagesAfterTheServerRestartsOneHoldingANameDoesNot) {
  RestartingServer server;
  Person owner = server->provision("acme");
  for (const char* name : {"ann", "bob", "cid"}) server->user("acme", owner, name);
  auto client = std::make_unique<HttpClient>(server->port());
  Reply first = client->get("/api/v1/users?limit=2", owner.token);
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string users = first.json()["nextCursor"];
  Reply trail = client->get("/api/v1/audit?limit=2", owner.token);
  ASSERT_EQ(trail.status, 200) << trail.body;
  const std::string audit = trail.json()["nextCursor"];
  Reply auditBefore = client->get("/api/v1/audit?limit=2&cursor=" + audit, owner.token);
  ASSERT_EQ(auditBefore.status, 200) << auditBefore.body;
  ASSERT_EQ(client->get("/api/v1/users?limit=2&cursor=" + users, owner.token).status, 200);

  client.reset();
  server.restart();
  const std::string token = server->signIn("acme", owner.email, kPassword).json()["token"];
  client = std::make_unique<HttpClient>(server->port());
  Reply auditAfter = client->get("/api/v1/audit?limit=2&cursor=" + audit, token);
  EXPECT_EQ(auditAfter.status, 200) << auditAfter.body;
  EXPECT_EQ(auditAfter.json()["items"], auditBefore.json()["items"]);
  Reply usersAfter = client->get("/api/v1/users?limit=2&cursor=" + users, token);
  EXPECT_EQ(usersAfter.status, 400) << usersAfter.body;
  EXPECT_EQ(usersAfter.json()["code"], "invalid-cursor");

  ApiServer other;
  Person otherOwner = other.provision("acme");
  HttpClient otherClient(other.port());
  Reply elsewhere = otherClient.get("/api/v1/audit?limit=2&cursor=" + audit, otherOwner.token);
  EXPECT_EQ(elsewhere.status, 400) << elsewhere.body;
  EXPECT_EQ(elsewhere.json()["code"], "invalid-cursor");
}

// A client following nextCursor sees every user once, even when the last user of a
// page is renamed or anonymized before the next page; the cursor shows no name.
TEST(HttpFlows, TheUsersListCarriesOnAfterItsCursorWhateverHappensToThatUser) {
  ApiServer server;
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  std::vector<std::string> ids;
  for (const char* surname : {"Adams", "Brown", "Clark", "Davis", "Evans"}) {
    Reply r = client.post("/api/v1/users",
                          {{"email", asciiLower(surname) + "@acme.example"},
                           {"givenName", "Pat"},
                           {"surname", surname},
                           {"jobTitle", "T"},
                           {"managerEmail", owner.email}},
                          owner.token);
    ASSERT_EQ(r.status, 201) << r.body;
    ids.push_back(r.json()["id"]);
  }
  auto surnames = [](const Reply& page) {
    std::vector<std::string> out;
    const json body = page.json();
    for (const auto& u : body["items"]) out.push_back(u["surname"]);
    return out;
  };
  Reply first = client.get("/api/v1/users?limit=2", owner.token);
  ASSERT_EQ(surnames(first), (std::vector<std::string>{"Adams", "Brown"})) << first.body;
  const std::string cursor = first.json()["nextCursor"];
  EXPECT_EQ(asciiLower(cursor).find("brown"), std::string::npos) << cursor;
  // Brown is renamed to the end of the list, then anonymized.
  ASSERT_EQ(
      client.request("PATCH", "/api/v1/users/" + ids[1], R"({"surname":"Zimmer"})", owner.token)
          .status,
      200);
  Reply second = client.get("/api/v1/users?limit=2&cursor=" + cursor, owner.token);
  EXPECT_EQ(surnames(second), (std::vector<std::string>{"Clark", "Davis"}));
  ASSERT_EQ(
      client.post("/api/v1/users/" + ids[3] + "/deactivate", json::object(), owner.token).status,
      200);
  ASSERT_EQ(
      client.post("/api/v1/users/" + ids[3] + "/anonymize", json::object(), owner.token).status,
      200);
  Reply third =
      client.get("/api/v1/users?limit=2&cursor=" + second.json()["nextCursor"].get<std::string>(),
                 owner.token);
  EXPECT_EQ(surnames(third), (std::vector<std::string>{"Evans", "Owner"}));
  // A cursor changed by one character is refused, not taken as the start.
  std::string forged = cursor;
  forged[forged.size() / 2] = forged[forged.size() / 2] == 'A' ? 'B' : 'A';
  Reply bad = client.get("/api/v1/users?limit=2&cursor=" + forged, owner.token);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json()["code"], "invalid-cursor");
  // A cursor belongs to its status and search: taken to another, it would skip the
  // users that sort before its place (Adams, Brown) without a word.
  for (const char* other : {"status=inactive", "status=active", "search=pat", "search=e"}) {
    Reply moved = client.get("/api/v1/users?limit=2&" + std::string(other) + "&cursor=" + cursor,
                             owner.token);
    EXPECT_EQ(moved.status, 400) << other << ": " << moved.body;
    EXPECT_EQ(moved.json()["code"], "invalid-cursor") << other;
  }
  Reply active = client.get("/api/v1/users?status=active&search=pat&limit=1", owner.token);
  ASSERT_EQ(active.status, 200) << active.body;
  Reply onward = client.get("/api/v1/users?status=active&search=pat&limit=1&cursor=" +
                                active.json()["nextCursor"].get<std::string>(),
                            owner.token);
  EXPECT_EQ(onward.status, 200) << onward.body;
  EXPECT_EQ(surnames(onward), (std::vector<std::string>{"Clark"}));
  // The search matches without regard to case: in another case it is the same query.
  Reply shouted = client.get("/api/v1/users?status=active&search=PAT&limit=1&cursor=" +
                                 active.json()["nextCursor"].get<std::string>(),
                             owner.token);
  EXPECT_EQ(shouted.status, 200) << shouted.body;
  EXPECT_EQ(surnames(shouted), (std::vector<std::string>{"Clark"}));
}

// The administrators', groups' and resources' lists page with their own cursors:
// followed, they show every row once; one not given by that list (forged, another
// list's, another company's) is refused.
TEST(HttpFlows, TheSmallListsPageThroughEveryRowOnceAndRefuseCursorsTheyDidNotGive) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person other = server.provision("beta");
  HttpClient client(server.port());
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(
        client.post("/api/v1/groups", {{"name", "Group " + std::to_string(i)}}, owner.token).status,
        201);
    ASSERT_EQ(client
                  .post("/api/v1/resources",
                        {{"kind", "permission"},
                         {"service", "modeler"},
                         {"name", "p" + std::to_string(i)},
                         {"ownerId", owner.id}},
                        owner.token)
                  .status,
              201);
    server.user("acme", owner, "admin" + std::to_string(i), true);
  }
  ASSERT_EQ(client.post("/api/v1/groups", {{"name", "Theirs"}}, other.token).status, 201);
  std::map<std::string, std::string> lastCursor;
  for (const std::string& list :
       std::vector<std::string>{"/api/v1/groups", "/api/v1/resources", "/api/v1/admins",
                                "/api/v1/users/" + owner.id + "/resources"}) {
    std::set<std::string> seen;
    std::string cursor;
    int pages = 0;
    do {
      Reply r =
          client.get(list + "?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), owner.token);
      ASSERT_EQ(r.status, 200) << list << ": " << r.body;
      const json body = r.json();
      for (const auto& item : body["items"]) {
        const std::string id = item.contains("id") ? item["id"].get<std::string>()
                                                   : item["user"]["id"].get<std::string>();
        EXPECT_TRUE(seen.insert(id).second) << list << " shows " << id << " twice";
      }
      cursor = body["nextCursor"].is_string() ? body["nextCursor"].get<std::string>() : "";
      if (!cursor.empty()) lastCursor[list] = cursor;
      ++pages;
    } while (!cursor.empty() && pages < 10);
    EXPECT_EQ(seen.size(), list == "/api/v1/admins" ? 6u : 5u) << list;
  }
  auto refused = [&](const std::string& path, const std::string& token) {
    Reply r = client.get(path, token);
    EXPECT_EQ(r.status, 400) << path << ": " << r.body;
    EXPECT_EQ(r.json()["code"], "invalid-cursor") << path;
  };
  refused("/api/v1/resources?cursor=zzz", owner.token);
  refused("/api/v1/admins?cursor=0", owner.token);
  refused("/api/v1/groups?cursor=" + lastCursor["/api/v1/resources"], owner.token);
  refused("/api/v1/groups?cursor=" + lastCursor["/api/v1/groups"], other.token);
}

TEST(HttpFlows, NotifyMailsTheNewUserAndWithoutItNothingIsSent) {
  ApiServer server;
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  auto create = [&](const std::string& email, bool notify, bool active = true) {
    return client.post("/api/v1/users",
                       {{"email", email},
                        {"givenName", "Nia"},
                        {"surname", "New"},
                        {"jobTitle", "T"},
                        {"managerEmail", owner.email},
                        {"notify", notify},
                        {"active", active}},
                       owner.token);
  };
  ASSERT_EQ(create("quiet@acme.example", false).status, 201);
  // Someone created inactive gets no welcome, even when reactivated before it went.
  const Reply later = create("later@acme.example", true, false);
  ASSERT_EQ(later.status, 201) << later.body;
  ASSERT_EQ(client
                .post("/api/v1/users/" + later.json()["id"].get<std::string>() + "/reactivate",
                      json::object(), owner.token)
                .status,
            200);
  ASSERT_EQ(create("told@acme.example", true).status, 201);
  ASSERT_TRUE(waitFor([&] { return !server.mailsTo("told@acme.example").empty(); }));
  const std::string mail = server.mailsTo("told@acme.example")[0];
  EXPECT_NE(mail.find("acme"), std::string::npos) << "it says which company to sign in to";
  EXPECT_NE(mail.find("http://127.0.0.1:" + std::to_string(server.port())), std::string::npos)
      << mail;
  // The welcome mail went out after the quiet and the inactive user's commands (the
  // outbox goes in log order): none is coming for them.
  EXPECT_TRUE(server.mailsTo("quiet@acme.example").empty());
  EXPECT_TRUE(server.mailsTo("later@acme.example").empty())
      << server.mailsTo("later@acme.example")[0];
}

// One Idempotency-Key sent at once with the anonymizations of two users: one is
// anonymized, the other request answers as its repeat and touches nothing of the
// other user's (their mail was deleted, and the import logs dropped, before).
TEST(HttpFlows, AKeyRepeatedAtOnceForAnotherUsersAnonymizationLeavesThatUserAlone) {
  ApiServer server;
  Person owner = server.provision("acme");
  const std::array<Person, 2> people{server.user("acme", owner, "xena"),
                                     server.user("acme", owner, "yuri")};
  HttpClient client(server.port());
  for (const Person& p : people) {
    ASSERT_EQ(
        client.post("/api/v1/users/" + p.id + "/deactivate", json::object(), owner.token).status,
        200);
    ASSERT_FALSE(server.mailsTo(p.email).empty()) << "their reset mail is in the drop";
  }
  std::array<Reply, 2> replies;
  together(2, [&](int i) {
    HttpClient c(server.port());
    replies[i] = c.post("/api/v1/users/" + people[i].id + "/anonymize", json::object(), owner.token,
                        {{"Idempotency-Key", "erase-1"}});
  });
  // One is made; the other is refused as the key's reuse for another request.
  const std::size_t made = replies[0].status == 200 ? 0 : 1;
  ASSERT_EQ(replies[made].status, 200) << replies[made].body;
  EXPECT_EQ(replies[1 - made].status, 422) << replies[1 - made].body;
  EXPECT_EQ(replies[1 - made].json()["code"], "idempotency-key-reused");
  const std::string erased = replies[made].json()["id"];
  EXPECT_EQ(erased, people[made].id);
  const Person& kept = people[1 - made];
  EXPECT_EQ(client.get("/api/v1/users/" + kept.id, owner.token).json()["anonymized"], false);
  EXPECT_FALSE(server.mailsTo(kept.email).empty()) << "the other user's mail stays";
}

// A repeated inclusion answers the first 201 about the user as they are now: once no
// longer an administrator, without a time and an id of an inclusion that is gone.
TEST(HttpFlows, ARepeatedInclusionOfAnAdministratorRemovedSinceAnswersNullsNotEmptyStrings) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person bob = server.user("acme", owner, "bob");
  HttpClient client(server.port());
  Reply first = client.post("/api/v1/admins", {{"userId", bob.id}}, owner.token,
                            {{"Idempotency-Key", "inc-bob"}});
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_TRUE(first.json()["since"].is_string());
  EXPECT_EQ(first.json()["includedBy"], owner.id);
  ASSERT_EQ(client.request("DELETE", "/api/v1/admins/" + bob.id, "", owner.token).status, 204);
  Reply again = client.post("/api/v1/admins", {{"userId", bob.id}}, owner.token,
                            {{"Idempotency-Key", "inc-bob"}});
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_TRUE(again.json()["since"].is_null()) << again.body;
  EXPECT_TRUE(again.json()["includedBy"].is_null()) << again.body;
  EXPECT_EQ(again.json()["user"]["isAdmin"], false);
}

}  // namespace
}  // namespace portal::test
