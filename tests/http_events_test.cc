// The HTTP API end to end: the events feed and its long polls, the audit trail,
// readiness and metrics.

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <sys/socket.h>

#include <filesystem>
#include <future>
#include <regex>

#include "src/http/lag_watch.h"
#include "tests/api_server.h"

namespace portal::test {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// A waiting poll is answered as its caller's rights are now: signed out meanwhile,
// it gets 401 at once rather than the company's next events.
TEST(HttpFlows, AWaitingPollEndsWithItsCallersSession) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person ada = server.user("acme", owner, "ada", /*makeAdmin=*/true);
  const std::string path =
      "/api/v1/events?waitMs=30000&after=" + std::to_string(server.portal().store().lastPosition());
  auto poll = std::async(std::launch::async,
                         [&] { return HttpClient(server.port()).get(path, ada.token); });
  HttpClient client(server.port());
  ASSERT_TRUE(waitFor([&] {
    return client.get("/metrics").body.find("\nportal_event_polls_waiting 1\n") !=
           std::string::npos;
  }));
  ASSERT_EQ(client.request("DELETE", "/api/v1/sessions/current", "", ada.token).status, 204);
  Reply r = poll.get();
  EXPECT_EQ(r.status, 401) << r.body;
}

// A waiting poll whose client closed its connection (a proxy that gave up, a consumer
// stopped) lets its slot go within a look, not at its deadline 30 s later.
TEST(HttpFlows, AWaitingPollWhoseClientLeftLetsItsSlotGo) {
  ApiServer server;
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  auto waiting = [&](int n) {
    return client.get("/metrics")
               .body.find("\nportal_event_polls_waiting " + std::to_string(n) + "\n") !=
           std::string::npos;
  };
  const std::string path =
      "/api/v1/events?waitMs=30000&after=" + std::to_string(server.portal().store().lastPosition());
  {
    RawConnection gone(server.port());
    gone.send("GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + owner.token +
              "\r\n\r\n");
    ASSERT_TRUE(waitFor([&] { return waiting(1); }));
  }  // closed while it waits
  ASSERT_TRUE(waitFor([&] { return waiting(0); })) << "well before the poll's 30 s";
  // A client that stays gets its answer as before, on a connection that goes on.
  auto poll = std::async(std::launch::async, [&] {
    HttpClient mine(server.port());
    Reply r = mine.get(path, owner.token);
    return std::make_pair(r, mine.get("/healthz").status);
  });
  ASSERT_TRUE(waitFor([&] { return waiting(1); }));
  server.user("acme", owner, "newcomer");
  auto [r, next] = poll.get();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_GE(r.json()["items"].size(), 1u) << r.body;
  EXPECT_EQ(next, 200) << "the connection serves its next request";
}

// /readyz takes a projection far behind as a moment's (an import's) until it lasts.
TEST(HttpLimits, ReadinessToleratesALagThatDoesNotLast) {
  LagWatch watch;
  const Timestamp t0{1'800'000'000'000'000};
  auto at = [&](double seconds) {
    return Timestamp{t0.micros + static_cast<std::int64_t>(seconds * 1e6)};
  };
  EXPECT_TRUE(watch.tolerable(false, at(0)));
  EXPECT_TRUE(watch.tolerable(true, at(1))) << "far behind since now";
  EXPECT_TRUE(watch.tolerable(true, at(10.9)));
  EXPECT_FALSE(watch.tolerable(true, at(11))) << "10 s far behind";
  EXPECT_TRUE(watch.tolerable(false, at(12))) << "caught up";
  EXPECT_TRUE(watch.tolerable(true, at(13))) << "a new lag starts anew";
  EXPECT_FALSE(watch.tolerable(true, at(23.5)));
  EXPECT_TRUE(watch.tolerable(true, at(5))) << "a clock set back starts the wait anew";
  EXPECT_FALSE(watch.tolerable(true, at(15)));
}

// A waiting poll holds a worker thread, which sign-ins share: three quarters of the
// workers stay free of polls (a review: with --workers 4, four polls held sign-ins of
// every company for their whole wait), and with fewer than 4 no poll waits.
TEST(HttpLimits, WaitingPollsLeaveThreeQuartersOfTheWorkersFree) {
  EXPECT_EQ(waitingPolls(1), 0u);
  EXPECT_EQ(waitingPolls(3), 0u);
  EXPECT_EQ(waitingPolls(4), 1u);
  EXPECT_EQ(waitingPolls(16), 4u);
  EXPECT_EQ(waitingPolls(64), 16u);
  EXPECT_EQ(waitingPolls(1024), 16u);
  ApiServer server({}, [](ServerOptions& o) { o.workerThreads = 2; });
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  Reply r = client.get(
      "/api/v1/events?waitMs=30000&after=" + std::to_string(server.portal().store().lastPosition()),
      owner.token);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.json()["code"], "too-many-polls");
  EXPECT_NE(r.json()["detail"].get<std::string>().find("too few worker threads"), std::string::npos)
      << r.body;
  EXPECT_EQ(r.header("retry-after"), "1");
  EXPECT_EQ(client.get("/api/v1/events?after=0&limit=2&waitMs=30000", owner.token).status, 200)
      << "a poll with events to answer needs no slot";
  // With 16 workers 4 polls wait, one of a company: one company's consumers never
  // take every slot.
  ApiServer sixteen;
  Person other = sixteen.provision("acme");
  HttpClient otherClient(sixteen.port());
  const std::string wait = "/api/v1/events?waitMs=30000&after=" +
                           std::to_string(sixteen.portal().store().lastPosition());
  auto first = std::async(std::launch::async,
                          [&] { return HttpClient(sixteen.port()).get(wait, other.token); });
  ASSERT_TRUE(waitFor([&] {
    return otherClient.get("/metrics").body.find("\nportal_event_polls_waiting 1\n") !=
           std::string::npos;
  }));
  Reply second = otherClient.get(wait, other.token);
  EXPECT_EQ(second.status, 429) << second.body;
  EXPECT_NE(second.json()["detail"].get<std::string>().find(
                "At most 1 request of a company waits for events"),
            std::string::npos)
      << second.body;
  sixteen.server().stop();  // the waiting poll answers at once
  EXPECT_EQ(first.get().status, 200);
}

// A long poll waits for the company's next event. Past four waiting polls of one
// company a poll is 429 with Retry-After, so that polls never hold every worker
// thread that sign-ins of all companies share.
TEST(HttpFlows, EventPollsWaitForTheNextEventAndAreCappedPerCompany) {
  // portal-server's 64 workers: 16 polls wait in all, 4 of one company.
  ApiServer server({}, [](ServerOptions& o) { o.workerThreads = 64; });
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  const std::string path =
      "/api/v1/events?waitMs=30000&after=" + std::to_string(server.portal().store().lastPosition());
  auto waitingPolls = [&] {
    std::smatch m;
    const std::string text = client.get("/metrics").body;
    return std::regex_search(text, m, std::regex("\nportal_event_polls_waiting ([0-9]+)\n"))
               ? std::stoi(m[1])
               : -1;
  };
  std::vector<std::future<Reply>> waiting;
  for (int i = 0; i < 4; ++i)
    waiting.push_back(std::async(std::launch::async,
                                 [&] { return HttpClient(server.port()).get(path, owner.token); }));
  ASSERT_TRUE(waitFor([&] { return waitingPolls() == 4; })) << waitingPolls();
  Reply fifth = client.get(path, owner.token);
  EXPECT_EQ(fifth.status, 429) << fifth.body;
  EXPECT_EQ(fifth.json()["code"], "too-many-polls");
  EXPECT_EQ(fifth.header("retry-after"), "1");
  EXPECT_EQ(client.get("/api/v1/events?after=0&limit=5", owner.token).status, 200)
      << "a poll that does not wait is served";
  Reply behind = client.get("/api/v1/events?after=0&limit=2&waitMs=30000", owner.token);
  EXPECT_EQ(behind.status, 200) << "a poll with events waiting for it needs no slot: "
                                << behind.body;
  EXPECT_EQ(behind.json()["items"].size(), 2u);
  Reply ahead = client.get(
      "/api/v1/events?after=" + std::to_string(server.portal().store().lastPosition() + 100),
      owner.token);
  EXPECT_EQ(ahead.status, 409) << ahead.body;
  EXPECT_EQ(ahead.json()["code"], "position-ahead");
  // However many digits, and named as sent; a cursor that is no position is an
  // invalid cursor, as every list's (a review).
  for (const std::string given : {"after=18446744073709551615", "cursor=99999999999999999999"}) {
    ahead = client.get("/api/v1/events?" + given, owner.token);
    EXPECT_EQ(ahead.status, 409) << given << ": " << ahead.body;
    EXPECT_EQ(
        ahead.json()["detail"].get<std::string>().rfind(given + " is past the log's last event", 0),
        0u)
        << ahead.body;
  }
  EXPECT_EQ(client.get("/api/v1/events?cursor=abc", owner.token).json()["code"], "invalid-cursor");
  EXPECT_EQ(client.get("/api/v1/events?after=00000000000000000001", owner.token).status, 200)
      << "zeros before a position are no digits of it";
  EXPECT_EQ(client.get("/api/v1/events?after=abc", owner.token).status, 400);
  EXPECT_EQ(waitingPolls(), 4) << "the others still wait";
  EXPECT_EQ(server.signIn("acme", owner.email, kPassword).status, 201);

  server.user("acme", owner, "newcomer");
  for (auto& w : waiting) {
    Reply r = w.get();
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_GE(r.json()["items"].size(), 1u) << r.body;
  }
  EXPECT_EQ(waitingPolls(), 0);
}

// The log's position and the counters move with each failed sign-in and each reset
// link: read before and after a reset request, they told anyone which emails are
// users. Only this host (and --metrics-from) reads them; /readyz says ready to all.
TEST(HttpFlows, MetricsAndTheDetailsOfReadinessAreForTheOperatorsAddressesOnly) {
  ApiServer server({}, [](ServerOptions& o) { o.trustedProxies = {"127.0.0.1"}; });
  HttpClient client(server.port());
  const std::vector<std::pair<std::string, std::string>> outside = {
      {"X-Forwarded-For", "203.0.113.9"}};
  Reply r = client.request("GET", "/metrics", "", "", outside);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/problem+json");
  // A client the proxy could not name is not the proxy's host (a review).
  for (const char* forwarded : {"unknown", "8.8.8.8, garbage"})
    EXPECT_EQ(client.request("GET", "/metrics", "", "", {{"X-Forwarded-For", forwarded}}).status,
              403)
        << forwarded;
  r = client.request("GET", "/readyz", "", "", outside);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json(), json({{"status", "ready"}}));
  r = client.get("/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.json().contains("log")) << r.body;
  EXPECT_TRUE(r.json().contains("projections")) << r.body;
  EXPECT_EQ(client.get("/metrics").status, 200);
}

// What an auditor reads of groups and resources: a group's description as meant, a
// deleted group in its members' histories by name, a merged permission in the
// history of the one it was merged into; and the filters take what people type.
TEST(HttpFlows, GroupsAndResourcesReadInTheAuditTrailAsTheyWere) {
  ApiServer server;
  Person owner = server.provision("acme");
  Person ann = server.user("acme", owner, "ann");
  Person bob = server.user("acme", owner, "bob");
  HttpClient client(server.port());
  // Descriptions lose their surrounding spaces; a blank one is none; control
  // characters are refused (tabs and line breaks are text).
  Reply r = client.post("/api/v1/groups", {{"name", "Blank"}, {"description", "   "}}, owner.token);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_TRUE(r.json()["description"].is_null()) << r.body;
  r = client.post("/api/v1/groups",
                  {{"name", "Bell"},
                   {"description", std::string("a\x07"
                                               "b")}},
                  owner.token);
  EXPECT_EQ(r.status, 422) << r.body;
  r = client.post("/api/v1/groups", {{"name", "Ops"}, {"description", "  On call\n\tnights  "}},
                  owner.token);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json()["description"], "On call\n\tnights");
  const std::string ops = r.json()["id"];
  ASSERT_EQ(
      client.request("PUT", "/api/v1/groups/" + ops + "/members/" + ann.id, "", owner.token).status,
      204);
  // A rename keeps the name before, so that the trail says what it was called (a
  // review: only the timeline could); a change of the description alone has none.
  ASSERT_EQ(client
                .request("PATCH", "/api/v1/groups/" + ops, R"({"name":"Operations"})", owner.token,
                         {{"Content-Type", "application/json"}})
                .status,
            200);
  ASSERT_EQ(client
                .request("PATCH", "/api/v1/groups/" + ops, R"({"description":"Days"})", owner.token,
                         {{"Content-Type", "application/json"}})
                .status,
            200);
  const json renames = client.get("/api/v1/audit?type=GroupRenamed", owner.token).json()["items"];
  ASSERT_EQ(renames.size(), 2u) << renames.dump();
  EXPECT_EQ(renames[1]["data"]["previousName"], "Ops") << "newest first: " << renames.dump();
  EXPECT_EQ(renames[1]["data"]["name"], "Operations") << renames.dump();
  EXPECT_FALSE(renames[0]["data"].contains("previousName")) << renames.dump();
  // The description's change says what it was (a review: its removal read as a
  // rename to the same name); the name's alone says nothing of it.
  EXPECT_EQ(renames[0]["data"]["previousDescription"], "On call\n\tnights") << renames.dump();
  EXPECT_FALSE(renames[1]["data"].contains("previousDescription")) << renames.dump();
  ASSERT_EQ(client
                .request("PATCH", "/api/v1/groups/" + ops, R"({"description":null})", owner.token,
                         {{"Content-Type", "application/json"}})
                .status,
            200);
  const json removed =
      client.get("/api/v1/audit?type=GroupRenamed&limit=1", owner.token).json()["items"];
  ASSERT_EQ(removed.size(), 1u) << removed.dump();
  EXPECT_EQ(removed[0]["data"]["previousDescription"], "Days") << removed.dump();
  EXPECT_FALSE(removed[0]["data"].contains("description")) << removed.dump();
  // Ann's joining names the group as it was then, which the next rename does not change.
  const json joined =
      client.get("/api/v1/users/" + ann.id + "/history?limit=50", owner.token).json()["items"];
  const auto added = std::find_if(joined.begin(), joined.end(),
                                  [](const json& e) { return e["type"] == "GroupMemberAdded"; });
  ASSERT_NE(added, joined.end()) << joined.dump();
  EXPECT_EQ((*added)["data"]["groupName"], "Ops") << joined.dump();
  ASSERT_EQ(client
                .request("PATCH", "/api/v1/groups/" + ops, R"({"name":"Ops"})", owner.token,
                         {{"Content-Type", "application/json"}})
                .status,
            200);
  ASSERT_EQ(client.request("DELETE", "/api/v1/groups/" + ops, "", owner.token).status, 204);
  const json history =
      client.get("/api/v1/users/" + ann.id + "/history", owner.token).json()["items"];
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history[0]["type"], "GroupDeleted") << history.dump();
  const json deleted = client.get("/api/v1/audit?type=GroupDeleted", owner.token).json()["items"];
  ASSERT_EQ(deleted.size(), 1u);
  EXPECT_EQ(deleted[0]["subject"]["name"], "Ops") << "the group is gone; the event names it";

  // Ann's permission merged into Bob's: in the history of Bob's permission too.
  for (const Person* p : {&ann, &bob})
    ASSERT_EQ(
        client.request("PUT", "/api/v1/users/" + p->id + "/roles/modeler/editor", "", owner.token)
            .status,
        204);
  auto permission = [&](const Person& p, const char* title) {
    Reply made = client.post(
        "/api/v1/resources",
        {{"kind", "permission"}, {"service", "modeler"}, {"name", title}, {"ownerId", p.id}},
        owner.token);
    EXPECT_EQ(made.status, 201) << made.body;
    return made.json()["id"].get<std::string>();
  };
  permission(ann, "Read all");
  const std::string bobs = permission(bob, "read ALL");
  r = client.post("/api/v1/users/" + ann.id + "/deactivate", {{"transferTo", bob.id}}, owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  const json merged = client.get("/api/v1/audit?subject=" + bobs, owner.token).json()["items"];
  ASSERT_EQ(merged.size(), 2u) << merged.dump();
  EXPECT_EQ(merged[0]["type"], "ResourcesTransferred");

  r = client.post("/api/v1/admins", {{"userId", bob.id}, {"role", "super"}}, owner.token);
  ASSERT_EQ(r.status, 422) << "a field an inclusion does not have: " << r.body;
  EXPECT_EQ(r.json()["errors"][0]["field"], "role");

  // A date alone as `to` takes in that day; an unknown type, a range the wrong way
  // round and a cursor that is not a position are refused.
  const std::string today = formatRfc3339(server.clock().now()).substr(0, 10);
  EXPECT_FALSE(client.get("/api/v1/audit?to=" + today, owner.token).json()["items"].empty());
  // An offset's '+' typed into the URL unencoded arrives as a space: read as the '+'.
  Reply plusTyped = client.get("/api/v1/audit?to=" + today + "T23:59:59+01:00", owner.token);
  ASSERT_EQ(plusTyped.status, 200) << plusTyped.body;
  EXPECT_FALSE(plusTyped.json()["items"].empty());
  EXPECT_EQ(
      plusTyped.json()["items"],
      client.get("/api/v1/audit?to=" + today + "T23:59:59%2B01:00", owner.token).json()["items"]);
  EXPECT_EQ(client.get("/api/v1/audit?type=userCreated", owner.token).status, 400);
  EXPECT_EQ(client.get("/api/v1/audit?from=2026-12-02&to=2026-12-01", owner.token).status, 400);
  // Within one microsecond, as typed: the wrong way round is refused too, the same
  // time typed two ways is none.
  EXPECT_EQ(client
                .get("/api/v1/audit?from=2026-12-01T10:00:00.0000005Z&to=2026-12-01T10:00:00Z",
                     owner.token)
                .status,
            400);
  EXPECT_EQ(client
                .get("/api/v1/audit?from=2026-12-01T10:00:00.0000005Z&to=2026-12-01T10:00:00."
                     "00000050Z",
                     owner.token)
                .status,
            200);
  // A date alone as `to` is its whole day, to every digit (a review).
  EXPECT_EQ(client.get("/api/v1/audit?from=2026-12-01T23:59:59.9999995Z&to=2026-12-01", owner.token)
                .status,
            200);
  for (const char* cursor : {"-1", "99999999999999999999", "+5", "3", "007"})
    EXPECT_EQ(client.get(std::string("/api/v1/audit?cursor=") + cursor, owner.token).json()["code"],
              "invalid-cursor")
        << cursor;
  // A cursor goes on with the filters it was given for, and with no others (a review:
  // a bare position paged any filter, another company's from wherever it pointed).
  const json page1 = client.get("/api/v1/audit?limit=2&actor=" + owner.id, owner.token).json();
  ASSERT_TRUE(page1["nextCursor"].is_string()) << page1.dump();
  const std::string auditCursor = page1["nextCursor"];
  r = client.get("/api/v1/audit?limit=2&actor=" + owner.id + "&cursor=" + auditCursor, owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_FALSE(r.json()["items"].empty());
  EXPECT_LT(r.json()["items"][0]["position"], page1["items"][1]["position"]);
  for (const std::string& other : std::vector<std::string>{
           "/api/v1/audit?limit=2&cursor=", "/api/v1/audit?type=UserUpdated&cursor=",
           "/api/v1/users/" + bob.id + "/history?cursor="}) {
    r = client.get(other + auditCursor, owner.token);
    EXPECT_EQ(r.json()["code"], "invalid-cursor") << other << " " << r.body;
  }
  // Filters that are not ids are said so, with the parameter in `errors`.
  for (const std::string query :
       {"actor=owner@acme.example", "subject=not-an-id", "actor=nobody"}) {
    r = client.get("/api/v1/audit?" + query, owner.token);
    EXPECT_EQ(r.status, 400) << query;
    EXPECT_EQ(r.json()["errors"][0]["field"], query.substr(0, query.find('='))) << r.body;
    EXPECT_EQ(r.body.find("owner@"), std::string::npos) << r.body;
  }
  // The server's own commands have `system` as their actor, in any case.
  r = client.get("/api/v1/audit?actor=SYSTEM", owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_FALSE(r.json()["items"].empty()) << "the company's provisioning";
  EXPECT_EQ(r.json()["items"][0]["actor"]["id"], "system");
  EXPECT_EQ(client.get("/api/v1/audit?limit=0", owner.token).json()["errors"][0]["field"], "limit");
  // The events feed pages with `cursor` as every list does.
  const json first = client.get("/api/v1/events?limit=2", owner.token).json();
  const std::string next = first["nextCursor"];
  const json second = client.get("/api/v1/events?limit=2&cursor=" + next, owner.token).json();
  ASSERT_FALSE(second["items"].empty());
  EXPECT_GT(second["items"][0]["position"].get<std::uint64_t>(),
            first["items"][1]["position"].get<std::uint64_t>());
  EXPECT_EQ(client.get("/api/v1/events?after=%2B5", owner.token).status, 400);
  EXPECT_EQ(client.get("/api/v1/events?after=1&cursor=2", owner.token).status, 400);
}

// Another company's events are passed over without being decoded: a damaged one of
// theirs does not stop this company's feed.
TEST(HttpFlows, TheEventFeedPassesOverAnotherCompanysDamagedRecord) {
  ApiServer server;
  Person owner = server.provision("acme");
  EventStore& store = server.portal().store();
  const std::uint64_t ours = store.lastPosition();
  server.provision("beta");
  const std::uint64_t theirs = store.lastPosition();
  ASSERT_GT(theirs, ours);
  rocksdb::ColumnFamilyHandle* events = store.columnFamily("events");
  std::string value;
  ASSERT_TRUE(store.db()->Get(rocksdb::ReadOptions(), events, positionBytes(theirs), &value).ok());
  ASSERT_NE(value.find("\"companyId\":\""), std::string::npos);
  value.replace(value.size() - 12, 12, "}}}}}}}}}}}}");  // its data broken, its envelope whole
  ASSERT_TRUE(store.db()->Put(rocksdb::WriteOptions(), events, positionBytes(theirs), value).ok());
  HttpClient client(server.port());
  Reply r =
      client.get("/api/v1/events?after=" + std::to_string(ours - 1) + "&limit=100", owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["items"].size(), 1u);
  EXPECT_EQ(r.json()["nextCursor"], std::to_string(theirs)) << "past their events";
}

// A consumer of the feed never loses an event without knowing: a record that does
// not decode stops the feed with 503 (as the audit trail does), it is not skipped.
TEST(HttpFlows, TheEventFeedStopsAtARecordThatDoesNotDecodeInsteadOfSkippingIt) {
  ApiServer server;
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  EventStore& store = server.portal().store();
  const std::uint64_t last = store.lastPosition();
  rocksdb::ColumnFamilyHandle* events = store.columnFamily("events");
  ASSERT_NE(events, nullptr);
  std::string value;
  ASSERT_TRUE(store.db()->Get(rocksdb::ReadOptions(), events, positionBytes(last), &value).ok());
  value.resize(value.size() / 2);  // cut in the middle of its JSON
  ASSERT_TRUE(store.db()->Put(rocksdb::WriteOptions(), events, positionBytes(last), value).ok());

  Reply r = client.get("/api/v1/events?after=" + std::to_string(last - 1), owner.token);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.json()["code"], "log-unavailable");
  EXPECT_NE(r.json()["detail"].get<std::string>().find("event " + std::to_string(last)),
            std::string::npos)
      << r.body;
  // The events before it are served, up to it; the poll from there gets the 503.
  r = client.get("/api/v1/events?after=" + std::to_string(last - 3) + "&limit=100", owner.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["items"].size(), 2u);
  EXPECT_EQ(r.json()["nextCursor"], std::to_string(last - 1));
  r = client.get("/api/v1/events?after=" + r.json()["nextCursor"].get<std::string>(), owner.token);
  EXPECT_EQ(r.status, 503);

  // An edit that still decodes (another character in an id) is not served as the
  // record either, and the audit trail's read of it refuses it too.
  const std::uint64_t edited = last - 1;
  ASSERT_TRUE(store.db()->Get(rocksdb::ReadOptions(), events, positionBytes(edited), &value).ok());
  const std::string field = "\"correlationId\":\"";
  ASSERT_NE(value.find(field), std::string::npos);
  char& c = value[value.find(field) + field.size()];
  c = c == 'x' ? 'y' : 'x';
  ASSERT_TRUE(store.db()->Put(rocksdb::WriteOptions(), events, positionBytes(edited), value).ok());
  r = client.get("/api/v1/events?after=" + std::to_string(edited - 1), owner.token);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.json()["detail"].get<std::string>().rfind(
                "event " + std::to_string(edited) +
                    " was changed after it was written: its bytes hash to",
                0),
            0u)
      << r.body;
  auto read = store.readAt(edited);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.error().message.find("was changed after it was written"), std::string::npos);
}

}  // namespace
}  // namespace portal::test
