// The command processor, the projections and the wiring, on a real log in a
// temporary directory: concurrency, idempotency, rebuilds, anonymization.

#include "src/app/portal.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "events/log.h"
#include "projections/admins_projection.h"
#include "projections/groups_projection.h"
#include "projections/resources_projection.h"
#include "src/app/idempotency.h"
#include "src/app/system.h"
#include "src/publish/log_publisher.h"
#include "src/store/key_vault.h"
#include "src/store/sha256.h"
#include "tests/api_server.h"
#include "tests/domain_fixtures.h"
#include "tests/nats_server.h"
#include "tests/store_fixtures.h"
#include "tests/test_support.h"

namespace portal {
namespace {

using nlohmann::json;
using test::TempDir;
using test::World;

// A portal on a temporary data directory with a company "acme".
class PortalHarness {
 public:
  // `recordLifetime`: the idempotency records' (ProcessorOptions).
  explicit PortalHarness(const std::string& dir,
                         std::chrono::seconds recordLifetime = ProcessorOptions{}.recordLifetime)
      : dir_(dir), recordLifetime_(recordLifetime) {
    reopen();
  }

  void reopen() {
    portal_.reset();
    PortalOptions o;
    o.dataDir = dir_;
    // As tests/api_server.h: under the sanitizers on a loaded machine the views can
    // take longer than the default to show a command's events.
    o.readYourWritesTimeout = std::chrono::seconds(30);
    o.processor.recordLifetime = recordLifetime_;
    // Only the sweeps a test asks for (dropOutlivedRecords), unless it sets them: a
    // sweep of its own at the start's tenth second would take the records a test
    // counts on a slow machine.
    o.processor.sweepEvery = sweepEvery_.value_or(std::chrono::milliseconds(0));
    if (startProgressEvery_) o.processor.startProgressEvery = *startProgressEvery_;
    o.onDurable = [this](std::uint64_t position) {
      std::lock_guard lock(followerMu_);
      if (follower_) follower_(position);
    };
    auto p = Portal::open(o, test::testCountries(), clock_, ids_);
    if (!p) throw std::runtime_error(p.error().message);
    portal_ = std::move(*p);
  }
  void close() { portal_.reset(); }
  // Called after each durable write (PortalOptions::onDurable) from now on; empty:
  // no more.
  void follow(std::function<void(std::uint64_t)> follower) {
    std::lock_guard lock(followerMu_);
    follower_ = std::move(follower);
  }
  // The idempotency records' sweeps (ProcessorOptions), from the next reopen().
  void sweepEvery(std::chrono::milliseconds every) { sweepEvery_ = every; }
  // How often a start says how far it read the log (ProcessorOptions), from the next
  // reopen().
  void startProgressEvery(std::chrono::milliseconds every) { startProgressEvery_ = every; }

  std::string provision(const std::string& slug) {
    ProvisionCompany p{slug, slug + " Inc", {}, World::details("owner-" + slug), "$argon2id$x"};
    auto r = portal_->execute(Command{"", std::string(kSystem), p});
    if (!r.accepted()) throw std::runtime_error("provision failed: " + r.rejection.code);
    owner_ = r.decision.ids.at(0);
    company_ = r.decision.companyId;
    return company_;
  }

  CommandReply run(CommandBody body, const std::string& actor = "") {
    return portal_->execute(Command{company_, actor.empty() ? owner_ : actor, std::move(body)});
  }

  std::optional<json> user(const std::string& id) {
    auto text = portal_->users().get(company_, id);
    if (!text) return std::nullopt;
    return json::parse(*text);
  }

  Portal& portal() { return *portal_; }
  ManualClock& clock() { return clock_; }
  const std::string& company() const { return company_; }
  const std::string& owner() const { return owner_; }

 private:
  std::string dir_;
  std::chrono::seconds recordLifetime_;
  std::optional<std::chrono::milliseconds> sweepEvery_, startProgressEvery_;
  ManualClock clock_{Timestamp{1'795'000'000'000'000}};
  RandomIds ids_;
  std::unique_ptr<Portal> portal_;
  std::string company_, owner_;
  std::mutex followerMu_;
  std::function<void(std::uint64_t)> follower_;
};

NewUserDetails person(const std::string& tag) { return World::details(tag); }

// The subjects of the company's audit entries of `type` within [from, to], newest first.
std::vector<std::string> auditSubjects(Portal& portal, const std::string& company,
                                       std::optional<Timestamp> from, std::optional<Timestamp> to,
                                       const std::string& type = "UserCreated") {
  AuditQuery q;
  q.type = type;
  q.from = from;
  q.to = to;
  q.limit = 500;
  auto page = portal.audit().list(company, q);
  if (!page) throw std::runtime_error(page.error().message);
  std::vector<std::string> out;
  for (const auto& item : page->items) out.push_back(json::parse(item)["subject"]["id"]);
  return out;
}

// The processor never stamps an event before one already in the log, so a search by
// time stops at its window's edges; in a log written before that rule, with times out
// of order, the search looks at every entry and still finds exactly the window's.
TEST(Portal, AuditSearchesByTimeFindExactlyTheirWindow) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  constexpr std::int64_t kHour = 3'600'000'000;
  const Timestamp t0 = h.clock().now();
  auto at = [&](double hours) { return Timestamp{t0.micros + static_cast<std::int64_t>(hours * kHour)}; };
  std::vector<std::string> ids;
  for (int i = 1; i <= 4; ++i) {  // made at t0 + 1 h, … + 4 h
    h.clock().advance(kHour);
    ids.push_back(h.run(CreateUser{person("p" + std::to_string(i)), false}).decision.id);
  }
  h.clock().advance(-2 * 60'000'000);  // the clock set back two minutes: stamped at + 4 h still
  const std::string late = h.run(CreateUser{person("late"), false}).decision.id;
  for (int pass = 0; pass < 2; ++pass) {
    ASSERT_TRUE(h.portal().processor().timesOrdered());
    EXPECT_EQ(auditSubjects(h.portal(), h.company(), at(1.5), at(3.5)),
              (std::vector<std::string>{ids[2], ids[1]}));
    EXPECT_EQ(auditSubjects(h.portal(), h.company(), at(3.5), std::nullopt),
              (std::vector<std::string>{late, ids[3]}));
    EXPECT_EQ(auditSubjects(h.portal(), h.company(), std::nullopt, at(1)),
              (std::vector<std::string>{ids[0], h.owner()}));  // the owner, made at t0
    EXPECT_EQ(auditSubjects(h.portal(), h.company(), at(4), at(4)),
              (std::vector<std::string>{late, ids[3]}));
    EXPECT_TRUE(auditSubjects(h.portal(), h.company(), std::nullopt, at(-1)).empty());
    EXPECT_TRUE(auditSubjects(h.portal(), h.company(), at(5), std::nullopt).empty());
    h.reopen();  // the order is found again from the log
  }
  // Set back further (an hour): not waited out. The event takes the clock's time, and
  // searches look at every entry from then on, still finding exactly their window.
  h.clock().advance(-kHour);
  const std::string back = h.run(CreateUser{person("back"), false}).decision.id;
  EXPECT_FALSE(h.portal().processor().timesOrdered());
  EXPECT_EQ(auditSubjects(h.portal(), h.company(), at(2.5), at(3.5)),
            (std::vector<std::string>{back, ids[2]}));
  EXPECT_EQ(auditSubjects(h.portal(), h.company(), at(3.5), std::nullopt),
            (std::vector<std::string>{late, ids[3]}));
  h.reopen();
  EXPECT_FALSE(h.portal().processor().timesOrdered());
}

TEST(Portal, AuditSearchesByTimeInALogWithTimesOutOfOrderLookAtEveryEntry) {
  TempDir dir;
  const Timestamp t0{1'790'000'000'000'000};
  constexpr std::int64_t kHour = 3'600'000'000;
  {
    // Stamped + 2 h, + 1 h, + 3 h: a clock set back between the first two.
    auto store = test::openStore(dir.path());
    ASSERT_TRUE(store);
    AppendRequest request;
    for (auto [id, hours] : {std::pair{"u-a", 2}, std::pair{"u-b", 1}, std::pair{"u-c", 3}}) {
      NewEvent e = test::userCreated(id, id);
      e.occurredAt = Timestamp{t0.micros + hours * kHour};
      request.events.push_back(std::move(e));
    }
    ASSERT_TRUE(store->append(std::move(request)).ok());
  }
  PortalHarness h(dir.path());
  EXPECT_FALSE(h.portal().processor().timesOrdered());
  auto at = [&](std::int64_t hours) { return Timestamp{t0.micros + hours * kHour}; };
  EXPECT_EQ(auditSubjects(h.portal(), "c-1", at(1), at(1)), std::vector<std::string>{"u-b"});
  EXPECT_EQ(auditSubjects(h.portal(), "c-1", std::nullopt, at(2)),
            (std::vector<std::string>{"u-b", "u-a"}));
  EXPECT_EQ(auditSubjects(h.portal(), "c-1", at(2), std::nullopt),
            (std::vector<std::string>{"u-c", "u-a"}));
}

// A log from before emails were compared in NFC may hold two users whose addresses
// have one key now: sign-in finds the later one, and anonymizing the earlier one
// leaves the later one's login alone (it removed it, and they could not sign in).
TEST(Portal, AnonymizingOneOfTwoUsersWhoseAddressesHaveOneKeyLeavesTheOthersLogin) {
  TempDir dir;
  {
    auto store = test::openStore(dir.path());
    ASSERT_TRUE(store);
    AppendRequest request;
    request.events.push_back(test::userCreated("u-nfd", "zoe\u0308"));
    request.events.push_back(test::userCreated("u-nfc", "zo\u00eb"));
    ASSERT_TRUE(store->append(std::move(request)).ok());
  }
  { PortalHarness projected(dir.path()); }  // the views hold both users
  {
    auto store = test::openStore(dir.path());
    ASSERT_TRUE(store);
    AppendRequest request;
    request.events.push_back(NewEvent{userStream("u-nfd"), UserAnonymized{"u-nfd"}, Timestamp{1},
                                      "system", "c-1", "cmd", "corr"});
    request.shred.push_back("u-nfd");
    ASSERT_TRUE(store->append(std::move(request)).ok());
  }
  PortalHarness h(dir.path());
  for (const char* typed : {"zo\u00eb@example.org", "zoe\u0308@example.org"}) {
    auto account = h.portal().credentials().accountByEmail("c-1", typed);
    ASSERT_TRUE(account) << typed;
    EXPECT_EQ(account->userId, "u-nfc");
  }
}

// Anonymizing the later one gives the login to the earlier one, whose address it
// still is, as the write model holds the address taken for them (a review: the
// address stayed taken, and nobody could sign in with it); anonymizing both frees
// it. Alike when the views applied the events as they came and when built anew.
TEST(Portal, AnonymizingTheUserALoginOfTwoLeadsToGivesItToTheOther) {
  for (const bool projectedBefore : {true, false}) {
    TempDir dir;
    auto append = [&](std::vector<NewEvent> events, std::vector<std::string> shred) {
      auto store = test::openStore(dir.path());
      ASSERT_TRUE(store);
      AppendRequest request;
      request.events = std::move(events);
      request.shred = std::move(shred);
      ASSERT_TRUE(store->append(std::move(request)).ok());
    };
    auto anonymized = [](const std::string& id) {
      return NewEvent{userStream(id), UserAnonymized{id}, Timestamp{1}, "system", "c-1", "cmd",
                      "corr"};
    };
    std::vector<NewEvent> made;
    made.push_back(test::userCreated("u-nfd", "zoe\u0308"));
    made.push_back(test::userCreated("u-nfc", "zo\u00eb"));
    append(std::move(made), {});
    if (projectedBefore) PortalHarness projected(dir.path());
    std::vector<NewEvent> gone;
    gone.push_back(anonymized("u-nfc"));
    append(std::move(gone), {"u-nfc"});
    {
      PortalHarness h(dir.path());
      for (const char* typed : {"zo\u00eb@example.org", "zoe\u0308@example.org"}) {
        auto account = h.portal().credentials().accountByEmail("c-1", typed);
        ASSERT_TRUE(account) << projectedBefore << " " << typed;
        EXPECT_EQ(account->userId, "u-nfd") << projectedBefore;
      }
    }
    std::vector<NewEvent> last;
    last.push_back(anonymized("u-nfd"));
    append(std::move(last), {"u-nfd"});
    PortalHarness h(dir.path());
    EXPECT_FALSE(h.portal().credentials().accountByEmail("c-1", "zo\u00eb@example.org"))
        << projectedBefore;
  }
}

// A sign-in's stronger hash replaces only the hash it was made beside: a password
// set between the sign-in's check and its event stays.
TEST(Portal, ASignInsStrongerHashReplacesOnlyTheHashItMatched) {
  TempDir dir;
  auto event = [](auto data) {
    return NewEvent{
        userStream("u-1"), std::move(data), Timestamp{1}, "system", "c-1", "cmd", "corr"};
  };
  auto signedIn = [&](const std::string& replaced) {
    LoginSucceeded e;
    e.userId = "u-1";
    e.sessionHash = std::string(64, 'a');
    e.expiresAt = "2026-12-04T00:00:00Z";
    e.passwordHash = Personal("$stronger");
    e.replacesHash = toHex(sha256(replaced));
    return event(std::move(e));
  };
  {
    auto store = test::openStore(dir.path());
    ASSERT_TRUE(store);
    AppendRequest request;
    request.events.push_back(test::userCreated("u-1", "zoe"));
    request.events.push_back(event(PasswordSet{"u-1", Personal("$first"), false, "created"}));
    request.events.push_back(event(PasswordSet{"u-1", Personal("$changed"), false, "changed"}));
    request.events.push_back(signedIn("$first"));  // checked before the change
    ASSERT_TRUE(store->append(std::move(request)).ok());
  }
  {
    PortalHarness h(dir.path());
    EXPECT_EQ(h.portal().credentials().account("c-1", "u-1")->passwordHash, "$changed");
  }
  {
    auto store = test::openStore(dir.path());
    ASSERT_TRUE(store);
    AppendRequest request;
    request.events.push_back(signedIn("$changed"));
    ASSERT_TRUE(store->append(std::move(request)).ok());
  }
  PortalHarness h(dir.path());
  EXPECT_EQ(h.portal().credentials().account("c-1", "u-1")->passwordHash, "$stronger");
}

// 16 threads give 1,000 mixed commands each; every accepted one is still visible
// after the portal is closed and opened again.
TEST(Portal, EveryAcceptedCommandOfSixteenThreadsIsVisibleAfterReopen) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  constexpr int kThreads = 16, kPerThread = 1000;
  std::mutex mu;
  std::map<std::string, std::string> createdEmails;  // user id -> email
  std::map<std::string, std::string> groups;         // group id -> name
  std::map<std::string, std::string> surnames;       // user id -> last surname set
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::string> mine;
      for (int i = 0; i < kPerThread; ++i) {
        const std::string tag = "t" + std::to_string(t) + "-" + std::to_string(i);
        CommandReply r;
        switch (i % 4) {
          case 0:
          case 1: {
            r = h.run(CreateUser{person(tag), false});
            if (r.accepted()) {
              mine.push_back(r.decision.id);
              std::lock_guard lock(mu);
              createdEmails[r.decision.id] = tag + "@acme.test";
            }
            break;
          }
          case 2: {
            r = h.run(CreateGroup{"Group " + tag, std::nullopt});
            if (r.accepted()) {
              std::lock_guard lock(mu);
              groups[r.decision.id] = "Group " + tag;
            }
            break;
          }
          case 3: {
            UpdateUser u;
            u.userId = mine.empty() ? "nobody" : mine.back();
            u.surname = std::optional<std::string>("Renamed-" + tag);
            r = h.run(u);
            if (r.accepted()) {
              std::lock_guard lock(mu);
              surnames[u.userId] = "Renamed-" + tag;
            }
            break;
          }
        }
        if (r.accepted()) ++accepted;
        else if (r.status == CommandReply::Status::kFailed) ADD_FAILURE() << r.failure;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(accepted.load(), kThreads * kPerThread);

  h.reopen();
  for (const auto& [id, email] : createdEmails) {
    auto u = h.user(id);
    ASSERT_TRUE(u) << id;
    EXPECT_EQ((*u)["email"], email);
  }
  for (const auto& [id, surname] : surnames) EXPECT_EQ((*h.user(id))["surname"], surname);
  auto dump = h.portal().projector().dump(GroupsProjection::kName);
  ASSERT_EQ(dump.size(), 3u) << "groups, their members and the members' groups";
  EXPECT_EQ(dump[GroupsProjection::kGroups].size(), groups.size());
  std::size_t events = 0;
  ASSERT_TRUE(h.portal().store().scan(1, ~0ull, [&](const RawEvent&) { return ++events, true; }).ok());
  EXPECT_EQ(events, 4u + kThreads * kPerThread) << "provisioning plus one event per command";
  EXPECT_EQ(h.portal().store().verify()->firstBad, 0u);
}

TEST(Portal, TheSameNewEmailFromSixteenThreadsAtOnceIsAcceptedExactlyOnce) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  std::atomic<int> accepted{0}, taken{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      auto r = h.run(CreateUser{person("same"), false});
      if (r.accepted()) ++accepted;
      else if (r.rejection.code == "email-taken") ++taken;
    });
  go = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(accepted.load(), 1);
  EXPECT_EQ(taken.load(), 15);
}

TEST(Portal, AnIdempotencyKeyReturnsTheFirstAnswerAndAppendsNothingAlsoAfterRestart) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  auto submission = [&] {
    Submission s;
    s.command = Command{h.company(), h.owner(), CreateUser{person("ada"), false}};
    s.keyScope = "POST /api/v1/users";
    s.commandId = h.portal().processor().commandIdOfKey(s.command.companyId, s.command.actor,
                                                        s.keyScope, "key-1");
    s.clientKey = true;
    s.correlationId = "corr";
    return s;
  };
  auto first = h.portal().execute(submission());
  ASSERT_TRUE(first.accepted());
  EXPECT_FALSE(first.replayed);
  const std::uint64_t head = h.portal().store().lastPosition();
  auto again = h.portal().execute(submission());
  EXPECT_TRUE(again.accepted());
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(again.decision.id, first.decision.id);
  EXPECT_EQ(again.firstPosition, first.firstPosition);
  EXPECT_EQ(h.portal().store().lastPosition(), head);

  h.reopen();
  auto afterRestart = h.portal().execute(submission());
  EXPECT_TRUE(afterRestart.replayed);
  EXPECT_EQ(afterRestart.decision.id, first.decision.id);
  EXPECT_EQ(h.portal().store().lastPosition(), head);

  // The same key in another company is another command.
  h.provision("beta");
  Submission other = submission();
  other.command.companyId = h.company();
  other.command.actor = h.owner();
  EXPECT_FALSE(h.portal().execute(other).replayed);
}

// Records of older versions are keyed by the key as sent (the oldest) or by its plain
// hash (the next, with a mark): moved under the keyed id at start, so that a retry
// across the upgrade still gets the first answer. (The events of those commands keep
// their command id: the log is not rewritten.)
TEST(Portal, AnIdempotencyRecordOfAnOlderVersionStillAnswersItsKeyAfterTheUpgrade) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  const std::string scope = "POST /api/v1/users";
  const std::string secretKey("\0keys-secret", 12);
  auto commands = [&] { return h.portal().store().columnFamily("commands"); };
  // The directory as an older version left it: no secret, `marker` when it hashed.
  const std::string hashedMark("\0keys-hashed", 12);
  auto downgrade = [&](bool hashed) {
    rocksdb::DB* db = h.portal().store().db();
    for (const std::string& k : {secretKey, std::string("\0keys-keyed", 11), hashedMark})
      ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), commands(), k).ok());
    if (hashed) {
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), commands(), hashedMark, "").ok());
    }
  };

  // The oldest: the key as sent is the command id.
  Submission older;
  older.command = Command{h.company(), h.owner(), CreateUser{person("ada"), false}};
  older.keyScope = scope;
  older.commandId = "create-ada.lovelace";
  older.clientKey = true;
  auto first = h.portal().execute(older);
  ASSERT_TRUE(first.accepted());
  std::uint64_t head = h.portal().store().lastPosition();
  downgrade(false);
  h.reopen();
  Submission retry = older;
  retry.commandId =
      h.portal().processor().commandIdOfKey(h.company(), h.owner(), scope, "create-ada.lovelace");
  auto again = h.portal().execute(retry);
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(again.decision.id, first.decision.id);
  EXPECT_EQ(h.portal().store().lastPosition(), head);
  h.reopen();  // moved once: nothing left to move
  EXPECT_TRUE(h.portal().execute(retry).replayed);
  older.command = Command{h.company(), h.owner(), CreateUser{person("bob"), false}};
  EXPECT_FALSE(h.portal().execute(older).replayed) << "the key as sent names no record now";

  // The next: "key-" and the plain SHA-256 of the scope and key, with a mark.
  Submission hashed;
  hashed.command = Command{h.company(), h.owner(), CreateUser{person("cleo"), false}};
  hashed.keyScope = scope;
  hashed.commandId =
      "key-" + toHex(sha256(h.company() + "\n" + h.owner() + "\n" + scope + "\n", "create-cleo"));
  hashed.clientKey = true;
  first = h.portal().execute(hashed);
  ASSERT_TRUE(first.accepted());
  head = h.portal().store().lastPosition();
  downgrade(true);
  h.reopen();
  retry = hashed;
  retry.commandId =
      h.portal().processor().commandIdOfKey(h.company(), h.owner(), scope, "create-cleo");
  EXPECT_NE(retry.commandId, hashed.commandId) << "the plain hash is no longer the id";
  again = h.portal().execute(retry);
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(again.decision.id, first.decision.id);
  EXPECT_EQ(h.portal().store().lastPosition(), head);
  // The mark of the hashing version stays: that version, run again on the directory,
  // takes the records for its own and moves none of them away.
  std::string marker;
  EXPECT_TRUE(
      h.portal().store().db()->Get(rocksdb::ReadOptions(), commands(), hashedMark, &marker).ok());
}

// The secret gone from a directory whose records were keyed by it (or damaged) stops
// the start with a reason: new keys would find none of the first answers, and a retry
// would run its command again.
TEST(Portal, AMissingOrDamagedSecretOfTheIdempotencyRecordsStopsTheStart) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  h.close();
  for (const char* value : {"", "short"}) {
    test::editBehindTheProgramsBack(dir.path(), [&](rocksdb::DB* db, auto& families) {
      const std::string secret("\0keys-secret", 12);
      if (*value == '\0') {
        ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), families.at("commands"), secret).ok());
      } else {
        ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), families.at("commands"), secret, value).ok());
      }
    });
    try {
      h.reopen();
      ADD_FAILURE() << "opened without its secret (" << value << ")";
    } catch (const std::runtime_error& e) {
      const std::string why = e.what();
      EXPECT_NE(why.find(*value == '\0' ? "secret is missing" : "secret is damaged"),
                std::string::npos)
          << why;
    }
  }
}

// The command id of a key, which every event of its command carries and /events
// shows, cannot be recomputed from the key, company, actor and route alone: each data
// directory keys it with a secret of its own, kept across restarts.
TEST(Portal, AnIdempotencyKeysCommandIdIsKeyedByASecretOfTheDataDirectory) {
  TempDir one, two;
  PortalHarness a(one.path()), b(two.path());
  const std::string id =
      a.portal().processor().commandIdOfKey("c", "u", "POST /api/v1/users", "ann@acme.example");
  EXPECT_EQ(id.substr(0, 4), "key-");
  EXPECT_EQ(id.size(), 4u + 64u);
  EXPECT_NE(id, "key-" + toHex(sha256("c\nu\nPOST /api/v1/users\n", "ann@acme.example")));
  EXPECT_NE(id, b.portal().processor().commandIdOfKey("c", "u", "POST /api/v1/users",
                                                      "ann@acme.example"));
  EXPECT_NE(id, a.portal().processor().commandIdOfKey("c", "u", "POST /api/v1/users",
                                                      "bob@acme.example"));
  a.reopen();
  EXPECT_EQ(id, a.portal().processor().commandIdOfKey("c", "u", "POST /api/v1/users",
                                                      "ann@acme.example"));
}

// The idempotency records as they are on disk: key and JSON value (the secret and
// the marks, whose keys begin with a zero byte, left out).
std::map<std::string, json> idempotencyRecords(Portal& portal) {
  std::map<std::string, json> out;
  std::unique_ptr<rocksdb::Iterator> it(portal.store().db()->NewIterator(
      rocksdb::ReadOptions(), portal.store().columnFamily("commands")));
  for (it->SeekToFirst(); it->Valid(); it->Next())
    if (isRecordKey(std::string_view(it->key().data(), it->key().size())))
      out[it->key().ToString()] = json::parse(it->value().ToString());
  return out;
}

// A key gives its first answer for the records' lifetime, by the processor's clock:
// past it the key is a new one (decided as any command), and the record goes from
// the disk (it grew for good, and let anyone with the key confirm a guess of an
// erased person's details through the first answer).
TEST(Portal, AnIdempotencyKeyAnswersForItsLifetimeThenIsANewKeyAndItsRecordGoes) {
  TempDir dir;
  PortalHarness h(dir.path(), std::chrono::hours(1));
  h.provision("acme");
  auto submission = [&](const std::string& key, const std::string& who) {
    Submission s;
    s.command = Command{h.company(), h.owner(), CreateUser{person(who), false}};
    s.keyScope = "POST /api/v1/users";
    s.commandId = h.portal().processor().commandIdOfKey(s.command.companyId, s.command.actor,
                                                        s.keyScope, key);
    s.clientKey = true;
    s.fingerprint = requestDigest("/api/v1/users", who);
    return s;
  };
  const std::int64_t minute = 60'000'000;
  auto ada = h.portal().execute(submission("k1", "ada"));
  ASSERT_TRUE(ada.accepted());
  auto cleo = h.portal().execute(submission("k2", "cleo"));
  ASSERT_TRUE(cleo.accepted());
  ASSERT_EQ(idempotencyRecords(h.portal()).size(), 2u);

  h.clock().advance(59 * minute);
  auto retry = h.portal().execute(submission("k1", "ada"));
  EXPECT_TRUE(retry.replayed);
  EXPECT_EQ(retry.decision.id, ada.decision.id);
  EXPECT_EQ(h.portal().execute(submission("k1", "bob")).rejection.code, "idempotency-key-reused");
  EXPECT_EQ(h.portal().processor().dropOutlivedRecords().value(), 0u);

  h.clock().advance(1 * minute);  // an hour since the first answers
  const std::uint64_t head = h.portal().store().lastPosition();
  auto bob = h.portal().execute(submission("k1", "bob"));
  ASSERT_TRUE(bob.accepted()) << bob.rejection.code;
  EXPECT_FALSE(bob.replayed);
  EXPECT_NE(bob.decision.id, ada.decision.id);
  EXPECT_GT(h.portal().store().lastPosition(), head);
  EXPECT_TRUE(h.portal().firstAnswer(submission("k1", "bob"))->replayed) << "the new first answer";
  EXPECT_FALSE(h.portal().firstAnswer(submission("k2", "cleo")).has_value());
  auto cleoAgain = h.portal().execute(submission("k2", "cleo"));
  EXPECT_FALSE(cleoAgain.replayed);
  EXPECT_EQ(cleoAgain.rejection.code, "email-taken") << "decided anew: she exists";

  // k2's refusal is a new record (refusals are answered again too); k1's is bob's.
  auto records = idempotencyRecords(h.portal());
  ASSERT_EQ(records.size(), 2u);
  h.clock().advance(61 * minute);
  auto fresh = h.portal().execute(submission("k3", "dora"));
  ASSERT_TRUE(fresh.accepted());
  EXPECT_EQ(h.portal().processor().dropOutlivedRecords().value(), 2u);
  records = idempotencyRecords(h.portal());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records.begin()->second["id"], fresh.decision.id);
  EXPECT_EQ(records.begin()->second["at"], h.clock().now().micros);

  // Across a restart the record keeps its time.
  h.reopen();
  EXPECT_TRUE(h.portal().execute(submission("k3", "dora")).replayed);
  h.clock().advance(60 * minute);
  EXPECT_EQ(h.portal().execute(submission("k3", "dora")).rejection.code, "email-taken");
}

// A record of an older version has no time of its own: it is as old as its first
// event, and one without an event (a refusal) goes at the first sweep. With no
// lifetime (0) records stay for good.
TEST(Portal, OlderRecordsGoByTheirFirstEventsTimeAndNoLifetimeKeepsThemAll) {
  TempDir dir;
  PortalHarness h(dir.path(), std::chrono::hours(1));
  h.provision("acme");
  auto keyed = [&](const std::string& key, CommandBody body) {
    Submission s;
    s.command = Command{h.company(), h.owner(), std::move(body)};
    s.keyScope = "test";
    s.commandId = h.portal().processor().commandIdOfKey(h.company(), h.owner(), "test", key);
    s.clientKey = true;
    return s;
  };
  ASSERT_TRUE(h.portal().execute(keyed("made", CreateUser{person("ada"), false})).accepted());
  ASSERT_FALSE(h.portal().execute(keyed("refused", AnonymizeUser{h.owner()})).accepted());
  h.close();
  // As an older version wrote them: without "at".
  test::editBehindTheProgramsBack(dir.path(), [&](rocksdb::DB* db, auto& families) {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions(), families.at("commands")));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (!isRecordKey(std::string_view(it->key().data(), it->key().size()))) continue;
      json record = json::parse(it->value().ToString());
      ASSERT_TRUE(record.contains("at"));
      record.erase("at");
      ASSERT_TRUE(
          db->Put(rocksdb::WriteOptions(), families.at("commands"), it->key(), record.dump()).ok());
    }
  });
  h.reopen();
  h.clock().advance(30 * 60'000'000LL);
  EXPECT_TRUE(h.portal().execute(keyed("made", CreateUser{person("ada"), false})).replayed);
  EXPECT_TRUE(h.portal().execute(keyed("refused", AnonymizeUser{h.owner()})).replayed);
  EXPECT_EQ(h.portal().processor().dropOutlivedRecords().value(), 1u) << "the refusal";
  EXPECT_TRUE(h.portal().execute(keyed("made", CreateUser{person("ada"), false})).replayed);
  h.clock().advance(30 * 60'000'000LL);
  EXPECT_EQ(h.portal().processor().dropOutlivedRecords().value(), 1u) << "an hour after its event";
  EXPECT_EQ(h.portal().execute(keyed("made", CreateUser{person("ada"), false})).rejection.code,
            "email-taken");

  // The processor sweeps by itself, a slice every sweepEvery.
  h.close();
  h.sweepEvery(std::chrono::milliseconds(20));
  h.reopen();
  ASSERT_TRUE(h.portal().execute(keyed("later", CreateUser{person("bob"), false})).accepted());
  h.clock().advance(60 * 60'000'000LL);
  EXPECT_TRUE(test::waitFor([&] { return idempotencyRecords(h.portal()).empty(); }));

  TempDir other;
  PortalHarness forGood(other.path(), std::chrono::seconds(0));
  forGood.provision("acme");
  Submission s;
  s.command = Command{forGood.company(), forGood.owner(), CreateUser{person("ada"), false}};
  s.commandId =
      forGood.portal().processor().commandIdOfKey(forGood.company(), forGood.owner(), "", "k");
  s.clientKey = true;
  ASSERT_TRUE(forGood.portal().execute(s).accepted());
  forGood.clock().advance(10LL * 365 * 24 * 3600 * 1'000'000);
  EXPECT_EQ(forGood.portal().processor().dropOutlivedRecords().value(), 0u);
  EXPECT_TRUE(forGood.portal().execute(s).replayed);
}

TEST(Portal, ARefusalIsAlsoAnsweredAgainForItsKey) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  Submission s;
  s.command = Command{h.company(), h.owner(), AnonymizeUser{h.owner()}};
  s.commandId = h.portal().processor().commandIdOfKey(h.company(), h.owner(), "", "key-2");
  s.clientKey = true;
  auto first = h.portal().execute(s);
  ASSERT_EQ(first.rejection.code, "must-deactivate-first");
  h.reopen();
  auto again = h.portal().execute(s);
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(again.rejection.code, "must-deactivate-first");
  EXPECT_EQ(again.rejection.kind, RejectionKind::kConflict);
}

// A first answer that cannot be read is no "no first answer": a route that looks it
// up before its command (an anonymization's drops) would do again what the first
// request did. firstAnswer fails as the processor does.
TEST(Portal, AFirstAnswerThatCannotBeReadIsAFailureNotNone) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  Submission s;
  s.command = Command{h.company(), h.owner(), CreateUser{person("ada"), false}};
  s.commandId = h.portal().processor().commandIdOfKey(h.company(), h.owner(), "", "key-3");
  s.clientKey = true;
  ASSERT_TRUE(h.portal().execute(s).accepted());
  h.reopen();  // the processor's memory of recent answers goes
  {
    rocksdb::DB* db = h.portal().store().db();
    rocksdb::ColumnFamilyHandle* commands = h.portal().store().columnFamily("commands");
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), commands));
    int damaged = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next())
      if (!it->key().empty() && it->key()[0] != '\0')  // past the secret and the marks
        damaged += db->Put(rocksdb::WriteOptions(), commands, it->key(), "not a reply").ok();
    ASSERT_GT(damaged, 0);
  }
  auto first = h.portal().firstAnswer(s);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, CommandReply::Status::kFailed);
  EXPECT_NE(first->failure.find("it is malformed"), std::string::npos) << first->failure;
  const std::uint64_t head = h.portal().store().lastPosition();
  auto again = h.portal().execute(s);
  EXPECT_EQ(again.status, CommandReply::Status::kFailed) << "not decided again";
  EXPECT_EQ(h.portal().store().lastPosition(), head);
}

TEST(Portal, ListsUsersBySearchStatusAndCursor) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  std::vector<std::string> ids;
  for (const char* name : {"anna", "bert", "carla", "dora", "emil"})
    ids.push_back(h.run(CreateUser{person(name), false}).decision.id);
  ASSERT_TRUE(h.run(DeactivateUser{ids[1], std::nullopt}).accepted());
  UsersReader users = h.portal().users();

  auto names = [](const UserPage& p) {
    std::vector<std::string> out;
    for (const auto& item : p.items) out.push_back(json::parse(item)["givenName"]);
    return out;
  };
  UserListQuery q;
  q.search = "ARL";
  EXPECT_EQ(names(users.list(h.company(), q)), std::vector<std::string>{"Givencarla"});
  q.search = "dora@ACME";
  EXPECT_EQ(names(users.list(h.company(), q)), std::vector<std::string>{"Givendora"});
  q = {};
  q.status = UserStatus::kInactive;
  EXPECT_EQ(names(users.list(h.company(), q)), std::vector<std::string>{"Givenbert"});
  q = {};
  q.limit = 2;
  auto page1 = users.list(h.company(), q);
  ASSERT_EQ(page1.items.size(), 2u);
  EXPECT_FALSE(page1.nextCursor.empty());
  q.cursor = page1.nextCursor;
  auto page2 = users.list(h.company(), q);
  q.cursor = page2.nextCursor;
  auto page3 = users.list(h.company(), q);
  EXPECT_TRUE(page3.nextCursor.empty());
  std::vector<std::string> all = names(page1);
  for (auto& p : {page2, page3})
    for (auto& n : names(p)) all.push_back(n);
  EXPECT_EQ(all, (std::vector<std::string>{"Givenanna", "Givenbert", "Givencarla", "Givendora",
                                           "Givenemil", "Givenowner-acme"}));
  // An address's internationalized domain found in either of its forms, as the
  // email's uniqueness takes them to be one (a review: refused as taken, then not
  // found by the address typed).
  NewUserDetails info = person("info");
  info.email = "info@b\u00fccher.test";
  NewUserDetails mueller = person("mueller");
  mueller.email = "a@xn--mller-kva.test";
  ASSERT_TRUE(h.run(CreateUser{info, false}).accepted());
  ASSERT_TRUE(h.run(CreateUser{mueller, false}).accepted());
  users = h.portal().users();
  // Also as one word of several, in any place (a review: only where the whole
  // search made one domain).
  for (const char* search : {"INFO@xn--bcher-kva.test", "xn--bcher-kva", "b\u00fccher",
                             "giveninfo b\u00fccher.test", "xn--bcher-kva.test\u3000giveninfo"}) {
    q = {};
    q.search = search;
    EXPECT_EQ(names(users.list(h.company(), q)), std::vector<std::string>{"Giveninfo"}) << search;
  }
  for (const char* search :
       {"m\u00fcller.test", "M\u00dcLLER", "xn--mller-kva", "givenmueller xn--mller-kva", "muller",
        "MULLER.test givenmueller"}) {  // (without its accent: a review)
    q = {};
    q.search = search;
    EXPECT_EQ(names(users.list(h.company(), q)), std::vector<std::string>{"Givenmueller"})
        << search;
  }
}

// A view new to the data directory (a new version after an upgrade) is built from
// the log before the portal serves, and the start says so, before and after (a
// review: an upgrade's start said nothing while it built them); a plain restart
// says nothing.
TEST(Portal, AViewNewToTheDataDirectoryIsBuiltFromTheLogAndSaidSo) {
  TempDir dir;
  {
    PortalHarness h(dir.path());
    h.provision("acme");
  }
  {
    StoreOptions o;
    o.path = dir.path();
    auto store = EventStore::open(o);
    ASSERT_TRUE(store) << store.error().message;
    const std::string name = GroupsProjection::kName;
    for (const std::string& key : {name + "#g1", "gen/" + name})
      ASSERT_TRUE(
          (*store)->db()->Delete(rocksdb::WriteOptions(), (*store)->checkpoints(), key).ok());
  }
  ::testing::internal::CaptureStderr();
  PortalHarness h(dir.path());
  EXPECT_TRUE(flushLog(30'000));
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(
      log.find(std::string("portal: building ") + GroupsProjection::kName + " from the log's "),
      std::string::npos)
      << log;
  EXPECT_NE(log.find(std::string("portal: built ") + GroupsProjection::kName + " in "),
            std::string::npos)
      << log;
  ::testing::internal::CaptureStderr();
  h.reopen();
  EXPECT_TRUE(flushLog(30'000));
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(log.find("portal: build"), std::string::npos) << log;
}

// A long start says how far it read the log, and when it is done (a start of
// millions of events said nothing until the server listened); a quick one says
// nothing. Here every chunk of the start counts as long.
TEST(Portal, ALongStartSaysHowFarItReadTheLog) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  for (int i = 0; i < 300; ++i)
    ASSERT_TRUE(h.run(CreateUser{World::details("p" + std::to_string(i)), false}).accepted());
  const std::uint64_t head = h.portal().store().lastPosition();
  ASSERT_GT(head, 256u);  // two chunks of the start at least
  EXPECT_TRUE(flushLog(30'000));
  ::testing::internal::CaptureStderr();
  h.reopen();
  EXPECT_TRUE(flushLog(30'000));
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(log.find("portal: reading the log"), std::string::npos) << "a quick start: " << log;
  EXPECT_EQ(log.find("events read in"), std::string::npos) << log;
  h.startProgressEvery(std::chrono::milliseconds(0));
  ::testing::internal::CaptureStderr();
  h.reopen();
  EXPECT_TRUE(flushLog(30'000));
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("portal: reading the log before serving: 256 of " + std::to_string(head) +
                     " events (" + std::to_string(256 * 100 / head) + "%), "),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("portal: the log's " + std::to_string(head) + " events read in "),
            std::string::npos)
      << log;
}

// A line of the log is one line whatever it repeats, and nothing a terminal would
// run: a control character (C0, DEL, C1) or a byte that is not UTF-8 is written as
// \xHH, letters of any script as they are (an end-to-end review).
TEST(ProgramLog, ControlCharactersAndBytesNotUtf8AreWrittenAsEscapes) {
  EXPECT_TRUE(flushLog(30'000));  // what earlier tests left waiting goes first
  ::testing::internal::CaptureStderr();
  logLine(
      "operator: unknown projection 'a\x1b[31mred\nnext\r\tz\x7f' \xc3\xa9 \xc2\x9b"
      "1m \x9b"
      "2m \xe2\x82 \xe6\x97\xa5 back\\slash");
  EXPECT_TRUE(flushLog(30'000));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("Z operator: unknown projection 'a\\x1b[31mred\\x0anext\\x0d\\x09z\\x7f' "
                     "\xc3\xa9 \\xc2\\x9b1m \\x9b2m \\xe2\\x82 \xe6\x97\xa5 back\\slash\n"),
            std::string::npos)
      << log;
}

// A seeded mix of every kind of command; the projections built as the log grew
// equal, row for row, the projections rebuilt from the log.
TEST(Portal, ProjectionsBuiltIncrementallyEqualProjectionsRebuiltFromTheLog) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  std::mt19937 rng(20261123);
  std::vector<std::string> users{h.owner()}, groups, resources;
  auto pick = [&](const std::vector<std::string>& v) {
    return v.empty() ? std::string("none") : v[rng() % v.size()];
  };
  const char* kinds[] = {"project", "subscription", "model", "permission"};
  const char* services[] = {"modeler", "automation", "studio"};
  int accepted = 0;
  for (int i = 0; i < 10'000; ++i) {
    const std::string tag = "r" + std::to_string(i);
    CommandBody body;
    switch (rng() % 14) {
      case 0: case 1: case 2: body = CreateUser{person(tag), false}; break;
      case 3: {
        UpdateUser u;
        u.userId = pick(users);
        u.surname = std::optional<std::string>("S" + tag);
        if (rng() % 2) u.country = std::optional<std::string>();
        body = u;
        break;
      }
      case 4: body = DeactivateUser{pick(users), rng() % 2 ? std::optional<std::string>(pick(users)) : std::nullopt}; break;
      case 5: body = ReactivateUser{pick(users)}; break;
      case 6: body = AnonymizeUser{pick(users)}; break;
      case 7: body = IncludeAdmin{pick(users)}; break;
      case 8: body = RemoveAdmin{pick(users)}; break;
      case 9: body = RegisterResource{kinds[rng() % 4], services[rng() % 3], "Res " + tag, pick(users)}; break;
      case 10: body = GrantRole{pick(users), services[rng() % 3], "admin"}; break;
      case 11: body = CreateGroup{"G" + tag, std::nullopt}; break;
      case 12: body = AddGroupMember{pick(groups), pick(users)}; break;
      case 13:
        switch (rng() % 5) {
          case 0:
            body = DeleteGroup{pick(groups), std::nullopt};
            break;  // its members' rows too
          case 1:
          case 2:
            body = RemoveGroupMember{pick(groups), pick(users)};
            break;
          default:
            body = ReleaseResource{pick(resources)};
            break;
        }
        break;
    }
    auto r = h.run(body);
    if (!r.accepted()) continue;
    ++accepted;
    if (std::holds_alternative<CreateUser>(body)) users.push_back(r.decision.id);
    if (std::holds_alternative<CreateGroup>(body)) groups.push_back(r.decision.id);
    if (std::holds_alternative<RegisterResource>(body)) resources.push_back(r.decision.id);
    if (const auto* d = std::get_if<DeleteGroup>(&body)) std::erase(groups, d->groupId);
  }
  EXPECT_GT(accepted, 5000);
  // An answer waits for the projections only so long (a loaded machine can outlast
  // it): compare once every event is projected.
  ASSERT_TRUE(h.portal().projector().waitFor(h.portal().store().lastPosition(),
                                             std::chrono::minutes(2)));
  std::map<std::string, std::vector<std::vector<std::pair<std::string, std::string>>>> before;
  for (const auto& s : h.portal().projector().status()) {
    EXPECT_FALSE(s.failed) << s.name << ": " << s.error;
    before[s.name] = h.portal().projector().dump(s.name);
  }
  // Every projection's rows equal those built incrementally; else the first row of
  // each family that differs, to see why.
  auto expectSameRows = [&](std::uint64_t generation) {
    for (const auto& s : h.portal().projector().status()) {
      EXPECT_EQ(s.generation, generation) << s.name;
      const auto after = h.portal().projector().dump(s.name);
      ASSERT_EQ(after.size(), before[s.name].size()) << s.name;
      for (std::size_t f = 0; f < after.size(); ++f) {
        const auto& was = before[s.name][f];
        EXPECT_EQ(after[f].size(), was.size()) << s.name << " family " << f;
        auto [a, b] = std::mismatch(after[f].begin(), after[f].end(), was.begin(), was.end());
        EXPECT_TRUE(a == after[f].end() && b == was.end())
            << s.name << " family " << f << " differs: rebuilt "
            << (a == after[f].end() ? std::string("(end)") : a->first + " = " + a->second)
            << ", incremental " << (b == was.end() ? std::string("(end)") : b->first + " = " + b->second);
      }
    }
  };
  ASSERT_TRUE(h.portal().projector().rebuild("all", nullptr).ok());
  expectSameRows(2);
  // A rebuild short of memory writes its rows out many times (later table files
  // override earlier rows, deletions included): the same rows.
  h.portal().projector().setRebuildMemory(64 * 1024);
  ASSERT_TRUE(h.portal().projector().rebuild("all", nullptr).ok());
  expectSameRows(3);
  // And the rebuilt generation survives a restart.
  h.reopen();
  for (const auto& s : h.portal().projector().status()) {
    EXPECT_EQ(s.generation, 3u);
    EXPECT_EQ(h.portal().projector().dump(s.name), before[s.name]) << s.name;
  }
}

// The write model as one thread builds it: every event of the log decoded and
// applied in order.
std::string writeModelOneByOne(EventStore& store) {
  WriteModel model;
  std::optional<Error> failure;
  auto r = store.scan(1, ~0ull, [&](const RawEvent& raw) {
    auto ev = store.decode(raw);
    if (!ev) return failure = ev.error(), false;
    model.apply(ev->envelope, ev->data);
    return true;
  });
  if (!r) failure = r.error();
  if (failure) throw std::runtime_error(failure->message);
  return model.dump();
}

// A start reads the log on two threads, in chunks that either thread decodes and
// one applies in order: the model equals the one-thread build of a log of many
// chunks (more than the reader may hold ahead); of two bad events the earlier is
// named, whichever thread found it; and a bad event early in a long log ends the
// start while the reader is far ahead.
TEST(Portal, TheStartRebuildsTheWriteModelAsOneThreadWouldAndNamesTheFirstBadEvent) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  ImportUsers batch;
  batch.importId = "imp-start";
  for (int i = 0; i < 12'000; ++i) {
    NewUserDetails d = person("p" + std::to_string(i));
    if (i % 7 == 0) d.managerEmail = "owner-acme@acme.test";  // one of the pool
    batch.rows.push_back(std::move(d));
  }
  auto imported = h.run(batch);
  ASSERT_TRUE(imported.accepted());
  ASSERT_EQ(imported.decision.ids.size(), 12'000u);
  const std::string someone = imported.decision.ids[4321];
  ASSERT_TRUE(h.run(GrantRole{someone, "modeler", "editor"}).accepted());
  ASSERT_TRUE(h.run(IncludeAdmin{someone}).accepted());
  auto group = h.run(CreateGroup{"Platform", std::string("the platform team")});
  ASSERT_TRUE(group.accepted());
  ASSERT_TRUE(h.run(AddGroupMember{group.decision.id, someone}).accepted());
  ASSERT_TRUE(h.run(RequestPasswordReset{someone, "token-hash", Timestamp{1'795'000'300'000'000}},
                    std::string(kSystem))
                  .accepted());
  auto other = h.run(CreateUser{person("leaver"), false});
  ASSERT_TRUE(other.accepted());
  ASSERT_TRUE(h.run(DeactivateUser{other.decision.id, std::nullopt}).accepted());
  ASSERT_TRUE(h.run(AnonymizeUser{other.decision.id}).accepted());
  h.close();

  const std::string original = dir.path() + "-original";
  std::filesystem::copy(dir.path(), original, std::filesystem::copy_options::recursive);
  {
    auto store = test::openStore(dir.path());
    ASSERT_TRUE(store);
    EXPECT_GT(store->lastPosition(), 256u * 32u);
    const std::string expected = writeModelOneByOne(*store);
    SystemClock clock;
    RandomIds ids;
    auto processor = CommandProcessor::start(*store, test::testCountries(), clock, ids);
    ASSERT_TRUE(processor) << processor.error().message;
    const std::string built = (*processor)->writeModelAtStart().dump();
    // (The first line that differs: a diff of the whole would take minutes.)
    auto [a, b] = std::mismatch(built.begin(), built.end(), expected.begin(), expected.end());
    EXPECT_TRUE(a == built.end() && b == expected.end())
        << "at start: " << built.substr(built.rfind('\n', a - built.begin()) + 1, 300)
        << "\none by one: " << expected.substr(expected.rfind('\n', b - expected.begin()) + 1, 300);
    EXPECT_EQ((*processor)->writeModelAtStart().userCount(), 12'002u);
  }

  auto startFails = [&](const std::string& path) -> std::string {
    PortalOptions o;
    o.dataDir = path;
    SystemClock clock;
    RandomIds ids;
    auto p = Portal::open(o, test::testCountries(), clock, ids);
    if (p) return "(started)";
    return p.error().message;
  };
  // A changed byte (the reader's to find) before an event of an unknown type.
  const std::string edited = dir.path() + "-edited";
  std::filesystem::copy(original, edited, std::filesystem::copy_options::recursive);
  test::editBehindTheProgramsBack(edited, [](rocksdb::DB* db, auto& families) {
    std::string value;
    ASSERT_TRUE(
        db->Get(rocksdb::ReadOptions(), families.at("events"), positionBytes(3000), &value).ok());
    value[value.find("\"correlationId\":\"") + 17] ^= 1;
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), families.at("events"), positionBytes(3000), value).ok());
  });
  test::rewriteEvent(edited, 6000, "\"type\":\"", "\"type\":\"Future");
  const std::string first = startFails(edited);
  EXPECT_EQ(first.rfind("event 3000: its bytes hash to", 0), 0u) << first;
  // An event of an unknown type (a decoder's to find) before the broken link it
  // leaves (its hash made anew, the next event's link no longer matches).
  const std::string typed = dir.path() + "-typed";
  std::filesystem::copy(original, typed, std::filesystem::copy_options::recursive);
  test::rewriteEvent(typed, 5000, "\"type\":\"", "\"type\":\"Future");
  const std::string second = startFails(typed);
  EXPECT_EQ(second.rfind("event 5000 has unknown type 'Future", 0), 0u) << second;
  // The same early in the log with every later event linked again: the chain holds,
  // the reader reads on and fills its window while the applier stops at the bad
  // event, and the start ends with it (not waiting for the reader).
  const std::string early = dir.path() + "-early";
  std::filesystem::copy(original, early, std::filesystem::copy_options::recursive);
  test::rewriteEvent(early, 300, "\"type\":\"", "\"type\":\"Future");
  test::rechainFrom(early, 301);
  const std::string third = startFails(early);
  EXPECT_EQ(third.rfind("event 300 has unknown type 'Future", 0), 0u) << third;
  for (const auto& path : {original, edited, typed, early}) std::filesystem::remove_all(path);
}

// A data key deleted from the key vault of a user never anonymized: the write model
// cannot tell their email, and gave it to a second person (an audit review). The
// start refuses the directory, naming the user; an anonymized user's key, gone by
// design, does not stop it.
TEST(Portal, AStartRefusesAKeyVaultThatLostTheKeyOfAUserNeverAnonymized) {
  TempDir dir;
  std::string bob, gone;
  {
    PortalHarness h(dir.path());
    h.provision("acme");
    bob = h.run(CreateUser{person("bob"), false}).decision.id;
    gone = h.run(CreateUser{person("gone"), false}).decision.id;
    ASSERT_TRUE(h.run(DeactivateUser{gone, std::nullopt}).accepted());
    ASSERT_TRUE(h.run(AnonymizeUser{gone}).accepted());
  }
  const std::string copy = dir.path() + "-copy";
  std::filesystem::copy(dir.path(), copy, std::filesystem::copy_options::recursive);
  {
    PortalHarness again(copy);  // an anonymized user's missing key is no problem
  }
  test::editBehindTheProgramsBack(copy, [&](rocksdb::DB* db, auto& families) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), families.at("keys"), bob).ok());
  });
  PortalOptions o;
  o.dataDir = copy;
  SystemClock clock;
  RandomIds ids;
  auto p = Portal::open(o, test::testCountries(), clock, ids);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message,
            "the key vault has no data key for user " + bob +
                ", who was never anonymized: their details cannot be read, so the key vault was "
                "edited; restore a backup");
  std::filesystem::remove_all(copy);
}

TEST(Portal, AnonymizationReadsAsAnonymizedEverywhereAndLeavesNoTraceOnDisk) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  NewUserDetails zelda = person("x");
  zelda.email = "zelda.quirinius@acme.test";
  zelda.givenName = "Zelda";
  zelda.surname = "Quirinius";
  const std::string zid = h.run(CreateUser{zelda, false}).decision.id;
  NewUserDetails report = person("report");
  report.managerEmail = "zelda.quirinius@acme.test";
  const std::string rid = h.run(CreateUser{report, false}).decision.id;
  EXPECT_EQ((*h.user(rid))["managerEmail"], "zelda.quirinius@acme.test");
  // A report whose manager joins the pool after them.
  NewUserDetails early = person("early");
  early.managerEmail = "yorick.later@acme.test";
  const std::string eid = h.run(CreateUser{early, false}).decision.id;
  h.reopen();  // the write model, rebuilt from the log, still knows who waits for whom
  NewUserDetails yorick = person("y");
  yorick.email = "yorick.later@acme.test";
  yorick.givenName = "Yorick";
  yorick.surname = "Latecomer";
  const std::string yid = h.run(CreateUser{yorick, false}).decision.id;
  EXPECT_EQ((*h.user(eid))["managerEmail"], "yorick.later@acme.test");
  ASSERT_TRUE(h.run(DeactivateUser{yid, std::nullopt}).accepted());
  ASSERT_TRUE(h.run(AnonymizeUser{yid}).accepted());
  EXPECT_EQ((*h.user(eid))["managerEmail"], "anonymized");
  {
    // The report's own record of the copy went with Yorick's key too.
    AuditQuery byReport;
    byReport.subject = eid;
    auto trail = h.portal().audit().list(h.company(), byReport);
    ASSERT_TRUE(trail.ok()) << trail.error().message;
    const json made = json::parse(trail->items.back());
    ASSERT_EQ(made["type"], "UserCreated");
    EXPECT_EQ(made["data"]["managerEmail"], "anonymized");
    EXPECT_EQ(made["data"]["email"], early.email);
  }
  // Their rows in table files before the erasure, as on any server that ran a while.
  ASSERT_TRUE(h.portal().store().compact().ok());
  ASSERT_TRUE(h.run(GrantRole{zid, "modeler", "editor"}).accepted());
  ASSERT_TRUE(h.run(DeactivateUser{zid, std::nullopt}).accepted());
  ASSERT_TRUE(h.run(AnonymizeUser{zid}).accepted());

  auto row = *h.user(zid);
  EXPECT_TRUE(row["email"].is_null());
  EXPECT_EQ(row["givenName"], "Anonymized");
  EXPECT_EQ(row["surname"], "User");
  EXPECT_EQ(row["anonymized"], true);
  EXPECT_EQ((*h.user(rid))["managerEmail"], "anonymized");

  AuditQuery q;
  q.subject = zid;
  auto audit = h.portal().audit().list(h.company(), q);
  ASSERT_TRUE(audit.ok()) << audit.error().message;
  ASSERT_EQ(audit->items.size(), 5u) << "created, role, deactivated, role revoked, anonymized";
  EXPECT_EQ(json::parse(audit->items.front())["type"], "UserAnonymized");
  const json created = json::parse(audit->items.back());
  EXPECT_EQ(created["type"], "UserCreated");
  EXPECT_EQ(created["data"]["email"], "anonymized");
  EXPECT_EQ(created["data"]["surname"], "anonymized");
  EXPECT_EQ(created["subject"]["name"], "anonymized")
      << "as the entry's personal fields read, and portal-replay's timeline names them";
  for (const auto& item : audit->items) EXPECT_EQ(item.find("Quirinius"), std::string::npos);
  EXPECT_EQ(h.portal().store().verify()->firstBad, 0u);

  // A backup taken after the erasure holds none of it, though the live directory was
  // not compacted since (its table files would otherwise be linked into the copy).
  TempDir backups;
  ASSERT_TRUE(h.portal().store().backup(backups.sub("after")).ok());
  ASSERT_TRUE(h.portal().store().compact().ok());
  h.close();
  // The search index keys users by their lower-cased names, and RocksDB's MANIFEST
  // records table files' first and last keys: no file may hold them either.
  for (const char* secret : {"zelda.quirinius", "Zelda", "Quirinius", "zelda", "quirinius",
                             "yorick.later", "latecomer"}) {
    EXPECT_EQ(test::filesContaining(dir.path(), secret), std::vector<std::string>{}) << secret;
    EXPECT_EQ(test::filesContaining(backups.path(), secret), std::vector<std::string>{}) << secret;
  }
  EXPECT_FALSE(test::filesContaining(backups.path(), "surnameearly").empty()) << "the backup is whole";
  // The search sees into the compressed table files: a user who stays is found there.
  EXPECT_FALSE(test::filesContaining(dir.path(), "surnameearly").empty());
  h.reopen();
  EXPECT_EQ(h.portal().store().verify()->firstBad, 0u);
  EXPECT_EQ((*h.user(zid))["givenName"], "Anonymized");
}

// users_v1 became users_v2: the old version's families and checkpoints go at open.
TEST(Projector, AProjectionsOldVersionIsDroppedWithItsCheckpoints) {
  TempDir dir;
  auto store = test::openStore(dir.path());
  ASSERT_TRUE(store);
  auto old = store->createColumnFamily("users_v1.rows.g3");
  ASSERT_TRUE(old.ok());
  rocksdb::WriteBatch batch;
  batch.Put(*old, "company-someone", "{\"email\":\"kept.forever@acme.test\"}");
  batch.Put(store->checkpoints(), "gen/users_v1", "x");
  batch.Put(store->checkpoints(), "users_v1#g3", "y");
  batch.Put(store->checkpoints(), "users_v10#g1", "z");    // a version without families left
  batch.Put(store->checkpoints(), "users_vip_v1#g1", "k");  // another projection's: kept
  ASSERT_TRUE(store->db()->Write(rocksdb::WriteOptions(), &batch).ok());
  auto projector = Projector::open(*store, allProjections());
  ASSERT_TRUE(projector.ok()) << projector.error().message;
  for (const auto& cf : store->columnFamilyNames()) EXPECT_NE(cf.rfind("users_v1.", 0), 0u) << cf;
  std::string value;
  EXPECT_TRUE(store->db()->Get({}, store->checkpoints(), "gen/users_v1", &value).IsNotFound());
  EXPECT_TRUE(store->db()->Get({}, store->checkpoints(), "users_v1#g3", &value).IsNotFound());
  EXPECT_TRUE(store->db()->Get({}, store->checkpoints(), "users_v10#g1", &value).IsNotFound());
  EXPECT_TRUE(store->db()->Get({}, store->checkpoints(), "users_vip_v1#g1", &value).ok());
}

// A rebuild killed while writing its table files leaves them in the scratch
// directory, rows in clear (names, emails) that no compaction reaches: the writer's
// next start removes them.
TEST(Projector, TheScratchFilesOfARebuildACrashCutShortGoAtTheNextStart) {
  TempDir dir;
  auto store = test::openStore(dir.path());
  ASSERT_TRUE(store);
  std::filesystem::create_directories(dir.path() + "/rebuild.tmp/users_v4.0");
  std::ofstream(dir.path() + "/rebuild.tmp/users_v4.0/2.sst") << "zelda.quirinius@acme.test";
  // The checkpoint its next generation had written as it caught up.
  ASSERT_TRUE(
      store->db()->Put(rocksdb::WriteOptions(), store->checkpoints(), "users_v4#g2", "x").ok());
  auto projector = Projector::open(*store, allProjections());
  ASSERT_TRUE(projector.ok()) << projector.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/rebuild.tmp"));
  EXPECT_EQ(test::filesContaining(dir.path(), "quirinius"), std::vector<std::string>{});
  std::string value;
  EXPECT_TRUE(store->db()
                  ->Get(rocksdb::ReadOptions(), store->checkpoints(), "users_v4#g2", &value)
                  .IsNotFound());
}

// A chunk that fails half-way is dropped whole for the projection that refused an
// event, checkpoint included: no event is counted as applied whose rows were not
// written. The events before the refused one are then applied again alone, so the
// view stops where it says it stopped (a review found it up to 1,999 events back).
TEST(Projector, AFailureInAChunkKeepsTheCheckpointWithTheRowsWritten) {
  TempDir dir;
  auto store = test::openStore(dir.path());
  ASSERT_TRUE(store);
  auto group = [](const std::string& id, EventData data) {
    return NewEvent{groupStream(id), std::move(data), Timestamp{1}, "a", "c-1", "cmd", "corr"};
  };
  AppendRequest first;
  first.events.push_back(group("g1", GroupCreated{"g1", "One", std::nullopt}));
  ASSERT_TRUE(store->append(first).ok());
  auto projector = std::move(*Projector::open(*store, allProjections()));
  ASSERT_TRUE(projector->catchUp().ok());
  {
    Projector::Reading reading(*projector);
    ASSERT_TRUE(store->db()->Put(rocksdb::WriteOptions(), projector->handle(GroupsProjection::kName, 0),
                                 companyPrefix("c-1") + "g1", "not json").ok());
  }
  AppendRequest next;  // one chunk: a good event, then one that cannot be applied
  next.events.push_back(group("g2", GroupCreated{"g2", "Two", std::nullopt}));
  next.events.push_back(group("g1", GroupMemberAdded{"g1", "u", "One"}));
  ASSERT_TRUE(store->append(next).ok());
  (void)projector->catchUp();
  for (const auto& s : projector->status()) {
    if (s.name != GroupsProjection::kName) {
      EXPECT_FALSE(s.failed) << s.name;
      EXPECT_EQ(s.checkpoint, 3u) << s.name;
      continue;
    }
    EXPECT_TRUE(s.failed);
    EXPECT_EQ(s.checkpoint, 2u) << "g2's event, before the refused one, is applied";
    EXPECT_EQ(s.error.rfind("stopped at event 3: ", 0), 0u) << s.error;
  }
  const auto rows = projector->dump(GroupsProjection::kName);
  EXPECT_EQ(rows[0].size(), 2u) << "g1's (damaged) row and g2's";
}

// A long stretch of the log (an import's, a catch-up after a restart) is decoded a
// chunk ahead on a second thread while the chunk before is applied: the views come
// out as short catch-ups build them, and an event that cannot be decoded stops
// every projection at it, with the rows before it written.
TEST(Projector, ALongStretchDecodedAheadBuildsWhatShortCatchUpsBuildAndStopsAtAnUndecodableEvent) {
  // 9,000 group events: a group's later events read the row its first wrote, in
  // the same chunk of 2,000 or an earlier one.
  std::vector<NewEvent> events;
  auto group = [&](const std::string& id, EventData data) {
    events.push_back(
        NewEvent{groupStream(id), std::move(data), Timestamp{1}, "a", "c-1", "cmd", "corr"});
  };
  for (int i = 0; i < 3000; ++i)
    group("g" + std::to_string(i),
          GroupCreated{"g" + std::to_string(i), "Group " + std::to_string(i), std::nullopt});
  for (int i = 0; i < 3000; ++i) {
    const std::string id = "g" + std::to_string(i * 7 % 3000);
    group(id, GroupMemberAdded{id, "u" + std::to_string(i), "Group"});
  }
  for (int i = 0; i < 3000; ++i) {
    const std::string id = "g" + std::to_string(i * 11 % 3000);
    group(id, GroupRenamed{id, "Renamed " + std::to_string(i), std::nullopt, std::nullopt,
                           std::nullopt});
  }
  TempDir dir;
  const std::string whole = dir.sub("whole"), damaged = dir.sub("damaged"),
                    short_ = dir.sub("short");
  std::vector<std::string> names;
  for (const auto& p : allProjections()) names.push_back(p->name());
  // The log in one append, copied before any view is built; one copy damaged.
  {
    auto store = test::openStore(whole);
    AppendRequest r;
    r.events = events;
    ASSERT_TRUE(store->append(r).ok());
  }
  std::filesystem::copy(whole, damaged, std::filesystem::copy_options::recursive);
  test::rewriteEvent(damaged, 6000, "\"type\":\"", "\"type\":\"Future");
  // An event missing (a read error) in the chunk after the one being applied, and
  // before it an event in mid-chunk that cannot be decoded.
  auto removeEvent = [](const std::string& path, std::uint64_t position) {
    test::editBehindTheProgramsBack(path, [&](rocksdb::DB* db, auto& families) {
      ASSERT_TRUE(
          db->Delete(rocksdb::WriteOptions(), families.at("events"), positionBytes(position)).ok());
    });
  };
  const std::string gap = dir.sub("gap"), both = dir.sub("both");
  std::filesystem::copy(whole, gap, std::filesystem::copy_options::recursive);
  removeEvent(gap, 7000);
  std::filesystem::copy(gap, both, std::filesystem::copy_options::recursive);
  test::rewriteEvent(both, 5000, "\"type\":\"", "\"type\":\"Future");
  // Short catch-ups: the same events appended 1,000 at a time, followed after each.
  std::map<std::string, std::vector<std::vector<std::pair<std::string, std::string>>>> expected;
  {
    auto store = test::openStore(short_);
    auto projector = std::move(*Projector::open(*store, allProjections()));
    for (std::size_t at = 0; at < events.size(); at += 1000) {
      AppendRequest r;
      r.events.assign(events.begin() + static_cast<std::ptrdiff_t>(at),
                      events.begin() + static_cast<std::ptrdiff_t>(at + 1000));
      ASSERT_TRUE(store->append(r).ok());
      ASSERT_TRUE(projector->catchUp().ok());
    }
    for (const auto& name : names) expected[name] = projector->dump(name);
  }
  {
    auto store = test::openStore(whole);
    auto projector = std::move(*Projector::open(*store, allProjections()));
    char before[16] = {}, after[16] = {};
    pthread_getname_np(pthread_self(), before, sizeof before);
    ASSERT_TRUE(projector->catchUp().ok());
    pthread_getname_np(pthread_self(), after, sizeof after);
    EXPECT_STREQ(after, before) << "the caller's thread keeps its name";
    for (const auto& s : projector->status()) {
      EXPECT_FALSE(s.failed) << s.name << ": " << s.error;
      EXPECT_EQ(s.checkpoint, 9000u) << s.name;
    }
    for (const auto& name : names) EXPECT_EQ(projector->dump(name), expected[name]) << name;
    EXPECT_EQ(projector->dump(GroupsProjection::kName)[0].size(), 3000u);
  }
  {
    auto store = test::openStore(damaged);
    auto projector = std::move(*Projector::open(*store, allProjections()));
    EXPECT_FALSE(projector->catchUp().ok());
    for (const auto& s : projector->status()) {
      EXPECT_TRUE(s.failed) << s.name;
      EXPECT_NE(s.error.find("cannot decode event 6000"), std::string::npos)
          << s.name << ": " << s.error;
      EXPECT_EQ(s.checkpoint, 5999u) << s.name;
    }
    EXPECT_EQ(projector->dump(GroupsProjection::kName)[0].size(), 3000u);
  }
  // As one thread reading and applying would: the read error stops the views with
  // the chunks before it written; the bad event before it stops them first.
  auto stoppedAt = [](const std::string& path, const std::string& why, std::uint64_t checkpoint) {
    auto store = test::openStore(path);
    auto projector = std::move(*Projector::open(*store, allProjections()));
    EXPECT_FALSE(projector->catchUp().ok());
    for (const auto& s : projector->status()) {
      EXPECT_TRUE(s.failed) << path << " " << s.name;
      EXPECT_NE(s.error.find(why), std::string::npos) << path << " " << s.name << ": " << s.error;
      EXPECT_EQ(s.checkpoint, checkpoint) << path << " " << s.name;
    }
  };
  stoppedAt(gap, "cannot read the log", 6000);
  stoppedAt(both, "cannot decode event 5000", 4999);
}

TEST(Portal, AProjectionThatCannotApplyAnEventStopsThereAndTheOthersGoOn) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  const std::string group = h.run(CreateGroup{"Ops", std::nullopt}).decision.id;
  // Damage the group's row so that the next group event cannot be applied.
  {
    Projector::Reading reading(h.portal().projector());
    auto* cf = h.portal().projector().handle(GroupsProjection::kName, 0);
    ASSERT_TRUE(h.portal().store().db()->Put(rocksdb::WriteOptions(), cf,
                                             companyPrefix(h.company()) + group, "not json").ok());
  }
  auto r = h.run(AddGroupMember{group, h.owner()});
  ASSERT_TRUE(r.accepted());
  const std::string ada = h.run(CreateUser{person("ada"), false}).decision.id;
  EXPECT_TRUE(h.user(ada)) << "the users view goes on";
  bool groupsStopped = false;
  for (const auto& s : h.portal().projector().status())
    if (s.name == GroupsProjection::kName) {
      groupsStopped = s.failed;
      EXPECT_EQ(s.checkpoint, r.lastPosition - 1);
      EXPECT_NE(s.error.find(std::to_string(r.lastPosition)), std::string::npos) << s.error;
    }
  EXPECT_TRUE(groupsStopped);
}

// A server stops its portal before its connections and its API go (a request that
// outlived the drain is answered through them): stop() returns once every command
// submitted is answered, each once, those it took durable; later ones are refused at
// once; the views still read.
TEST(Portal, StopAnswersEveryCommandSubmittedBeforeItReturns) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  constexpr int kCommands = 200;
  std::mutex mu;
  std::vector<CommandReply> replies;
  for (int i = 0; i < kCommands; ++i) {
    Submission s;
    s.command = Command{h.company(), h.owner(), CreateUser{person("u" + std::to_string(i)), false}};
    s.commandId = "stop-" + std::to_string(i);
    s.correlationId = s.commandId;
    h.portal().submit(std::move(s), [&](CommandReply r) {
      std::lock_guard lock(mu);
      replies.push_back(std::move(r));
    });
  }
  h.portal().stop();
  std::vector<CommandReply> answered;
  {
    std::lock_guard lock(mu);
    answered = replies;
  }
  ASSERT_EQ(answered.size(), static_cast<std::size_t>(kCommands));
  for (const CommandReply& r : answered) {
    ASSERT_TRUE(r.accepted()) << r.failure;
    EXPECT_TRUE(h.portal().store().lastPosition() >= r.lastPosition);
  }
  Submission late;
  late.command = Command{h.company(), h.owner(), CreateUser{person("late"), false}};
  late.commandId = late.correlationId = "stop-late";
  std::optional<CommandReply> refused;
  h.portal().submit(std::move(late), [&](CommandReply r) { refused = std::move(r); });
  ASSERT_TRUE(refused);
  EXPECT_FALSE(refused->accepted());
  EXPECT_EQ(refused->failure, "the command processor is stopped");
  // The views still read: the owner, and every user answered as projected (on a busy
  // machine the follower may have been stopped before it reached the others).
  EXPECT_TRUE(h.user(h.owner()));
  for (const CommandReply& r : answered) {
    if (r.projected) {
      EXPECT_TRUE(h.user(r.decision.id)) << r.decision.id;
    }
  }
  h.portal().stop();  // a second stop is no harm
}

// A rebuild's switch waits for readers of the old generation; a reader may itself
// wait for the follower (a request that reads a view, then runs a command and waits
// for it to be projected). The switch lets the follower go on meanwhile: every
// command is projected, none waits out its time.
TEST(Portal, ARebuildSwitchesWhileReadersWaitForTheirCommandsToBeProjected) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(h.run(CreateUser{person("p" + std::to_string(i)), false}).accepted());
  std::atomic<bool> rebuilding{true};
  std::atomic<int> made{0}, unprojected{0};
  std::thread reader([&] {
    for (int i = 0; rebuilding.load() || i < 20; ++i) {
      // Every other command is run while the views' generation is held, as a
      // request that read a view and then waits for its command to be projected.
      std::optional<CredentialsReader> pinned;
      if (i % 2 == 0) pinned.emplace(h.portal().credentials());
      CommandReply r = h.run(CreateUser{person("r" + std::to_string(i)), false});
      pinned.reset();
      if (!r.accepted()) return;
      ++made;
      if (!r.projected) ++unprojected;
    }
  });
  for (int round = 0; round < 3; ++round) {
    auto rebuilt = h.portal().projector().rebuild("all", nullptr);
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  }
  rebuilding = false;
  reader.join();
  EXPECT_GE(made.load(), 20);
  EXPECT_EQ(unprojected.load(), 0) << "a command waited out its time for the follower";
  for (const auto& s : h.portal().projector().status()) EXPECT_FALSE(s.failed) << s.name;
}

// Readers that come and go without pause, each short, hold the generation at every
// moment between them: the switch still comes (new readers wait at the gate while
// those inside drain out), and the readers go on reading meanwhile.
TEST(Portal, ARebuildSwitchesUnderReadersThatNeverPause) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(h.run(CreateUser{person("p" + std::to_string(i)), false}).accepted());
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&] {
      while (!stop.load()) {
        const CredentialsReader credentials = h.portal().credentials();
        if (credentials.accountByEmail(h.company(), "p1@acme.test")) ++reads;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a reader's work
      }
    });
  ASSERT_TRUE(test::waitFor([&] { return reads.load() > 30; }));
  std::map<std::string, std::uint64_t> before;
  for (const auto& s : h.portal().projector().status()) before[s.name] = s.generation;
  auto rebuilt = std::async(std::launch::async,
                            [&] { return h.portal().projector().rebuild("all", nullptr); });
  const bool ended = rebuilt.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  stop = true;  // lets a rebuild that never found its moment switch, so the test ends
  for (auto& t : readers) t.join();
  EXPECT_TRUE(ended) << "the switch waited for a moment without readers that never came";
  auto r = rebuilt.get();
  ASSERT_TRUE(r.ok()) << r.error().message;
  for (const auto& s : h.portal().projector().status()) {
    EXPECT_FALSE(s.failed) << s.name;
    EXPECT_GT(s.generation, before[s.name]) << s.name << " was not switched to its rebuild";
  }
  EXPECT_TRUE(h.portal().credentials().accountByEmail(h.company(), "p1@acme.test"));
}

// A rebuild waiting to switch until no reader holds the old generation still hears
// its caller's cancellation (portalctl's Ctrl-C reaches it through the progress
// callback) when nothing is appended meanwhile: it ends, keeping the old one.
TEST(Portal, ARebuildWaitingForItsSwitchIsCancelledWithNothingAppended) {
  TempDir dir;
  PortalHarness h(dir.path());
  h.provision("acme");
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(h.run(CreateUser{person("p" + std::to_string(i)), false}).accepted());
  std::map<std::string, std::uint64_t> before;
  for (const auto& s : h.portal().projector().status()) before[s.name] = s.generation;
  std::optional<Projector::Reading> held;
  held.emplace(h.portal().projector());
  std::atomic<bool> caughtUp{false}, wanted{false}, stop{false};
  std::atomic<std::uint64_t> done{0};
  auto rebuilt = std::async(std::launch::async, [&] {
    return h.portal().projector().rebuild(
        "all",
        [&](const RebuildProgress& p) {
          done = p.done;
          if (p.done >= p.total) caughtUp = true;
          if (wanted) stop = true;  // as the operator's callback does
        },
        &stop);
  });
  ASSERT_TRUE(test::waitFor([&] { return caughtUp.load(); }));
  // One more command, which the waiting rebuild applies to its generation (writing
  // that generation's checkpoint); then nothing.
  ASSERT_TRUE(h.run(CreateUser{person("late"), false}).accepted());
  ASSERT_TRUE(test::waitFor([&] { return done.load() == h.portal().store().lastPosition(); }));
  wanted = true;  // the operator's Ctrl-C, after the last event was applied
  const bool ended = rebuilt.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  held.reset();  // lets a rebuild that did not hear it switch, so the test ends
  EXPECT_TRUE(ended) << "the rebuild waited for its switch without hearing the cancellation";
  auto r = rebuilt.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "rebuild cancelled; the old projection is kept");
  for (const auto& s : h.portal().projector().status()) {
    EXPECT_FALSE(s.failed) << s.name;
    EXPECT_EQ(s.generation, before[s.name]) << s.name << " was switched to its rebuild";
    // Nor is its checkpoint left behind.
    std::string value;
    EXPECT_TRUE(h.portal()
                    .store()
                    .db()
                    ->Get(rocksdb::ReadOptions(), h.portal().store().checkpoints(),
                          s.name + "#g" + std::to_string(s.generation + 1), &value)
                    .IsNotFound())
        << s.name;
  }
}

// A stopped users view may not show a user that exists: it says so (503), not 404.
TEST(Portal, AStoppedUsersViewIsNotTakenForAMissingUser) {
  test::ApiServer server;
  test::Person owner = server.provision("acme");
  test::Person bob = server.user("acme", owner, "bob");
  auto company = server.portal().credentials().companyBySlug("acme");
  ASSERT_TRUE(company);
  server.stopViewAt(UsersProjection::kName, company->id, owner, bob);
  test::HttpClient client(server.port());
  test::Reply r = client.post("/api/v1/users",
                  {{"email", "new@acme.example"}, {"givenName", "New"}, {"surname", "User"},
                   {"jobTitle", "Clerk"}, {"managerEmail", owner.email}},
                  owner.token);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.json()["code"], "view-unavailable");
  EXPECT_EQ(client.get("/readyz").status, 503);
}

// A stopped users view shows people as they were: what cannot be undone is not
// decided on it. An anonymization, which removes the person's mail and the
// company's import logs by what it shows before its command, is 503; a mail waits
// rather than going to someone deactivated since, and once the view is rebuilt it
// is dropped as that person's is.
TEST(Portal, AStoppedUsersViewHoldsMailAndAnonymizations) {
  test::ApiServer server;
  test::Person owner = server.provision("acme");
  test::Person bob = server.user("acme", owner, "bob");
  test::Person carol = server.user("acme", owner, "carol");
  test::Person dave = server.user("acme", owner, "dave");
  test::HttpClient client(server.port());
  ASSERT_EQ(
      client
          .post("/api/v1/users/" + carol.id + "/deactivate", nlohmann::json::object(), owner.token)
          .status,
      200);
  auto company = server.portal().credentials().companyBySlug("acme");
  ASSERT_TRUE(company);
  server.stopViewAt(UsersProjection::kName, company->id, owner, dave);

  const std::size_t carolMails = server.mailsTo(carol.email).size();
  ASSERT_GT(carolMails, 0u);
  test::Reply r = client.post("/api/v1/users/" + carol.id + "/anonymize", nlohmann::json::object(),
                              owner.token);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.json()["code"], "view-unavailable");
  EXPECT_EQ(server.mailsTo(carol.email).size(), carolMails) << "her mail was removed";

  // Bob changes his password (a mail tells him), then is deactivated: the stopped
  // view still shows him active.
  Mailer& mailer = server.mailer();
  const std::size_t bobMails = server.mailsTo(bob.email).size();
  const std::uint64_t gone = mailer.dropped(Mailer::DropReason::kRecipientGone);
  r = client.post(
      "/api/v1/me/password",
      {{"currentPassword", test::kPassword}, {"newPassword", "a quite different passphrase 42"}},
      bob.token);
  ASSERT_EQ(r.status, 204) << r.body;
  const std::uint64_t scans = mailer.scansCompleted();
  ASSERT_TRUE(server.portal()
                  .execute(Command{company->id, owner.id, DeactivateUser{bob.id, {}}})
                  .accepted());
  // The mail waits: passes over the outbox keep it.
  ASSERT_TRUE(
      test::waitFor([&] { return mailer.scansCompleted() >= scans + 2 && mailer.pending() >= 1; }));
  EXPECT_EQ(server.mailsTo(bob.email).size(), bobMails) << "mail went by a stopped view";

  auto rebuilt = server.portal().projector().rebuild(UsersProjection::kName, nullptr);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  server.mailer().notify();
  ASSERT_TRUE(
      test::waitFor([&] { return mailer.dropped(Mailer::DropReason::kRecipientGone) > gone; }));
  EXPECT_EQ(server.mailsTo(bob.email).size(), bobMails) << "mail went to a deactivated user";
}

// A stopped users view shows who was an administrator when it stopped: it grants
// nothing to one removed since and refuses nothing to one included since (503 for
// both, and for everything that rests on a role, commands included, since most
// answer from the views before the write model decides), nor does it end the
// session of someone it shows inactive. A read of one's own and a sign-out need no
// role.
TEST(Portal, AStoppedUsersViewNeitherGrantsNorRefusesARole) {
  test::ApiServer server;
  test::Person owner = server.provision("acme");
  test::Person bob = server.user("acme", owner, "bob", true);
  test::Person carol = server.user("acme", owner, "carol");
  test::Person dave = server.user("acme", owner, "dave");
  test::Person erin = server.user("acme", owner, "erin");
  auto company = server.portal().credentials().companyBySlug("acme");
  ASSERT_TRUE(company);
  ASSERT_TRUE(server.portal()
                  .execute(Command{company->id, owner.id, DeactivateUser{erin.id, {}}})
                  .accepted());
  server.stopViewAt(UsersProjection::kName, company->id, owner, dave);
  // In the log, not in the view: Bob is no administrator now, Carol is one, and
  // Erin is active again.
  ASSERT_TRUE(
      server.portal().execute(Command{company->id, owner.id, ReactivateUser{erin.id}}).accepted());
  ASSERT_TRUE(
      server.portal().execute(Command{company->id, owner.id, RemoveAdmin{bob.id}}).accepted());
  ASSERT_TRUE(
      server.portal().execute(Command{company->id, owner.id, IncludeAdmin{carol.id}}).accepted());

  test::HttpClient client(server.port());
  auto expectUnavailable = [](const test::Reply& r, const std::string& what) {
    EXPECT_EQ(r.status, 503) << what << ": " << r.body;
    if (r.status == 503) {
      EXPECT_EQ(r.json()["code"], "view-unavailable") << what;
    }
  };
  for (const auto& [who, token] : {std::pair{"bob", bob.token}, std::pair{"carol", carol.token},
                                   std::pair{"the owner", owner.token}}) {
    expectUnavailable(client.get("/api/v1/users", token), std::string(who) + "'s user list");
    expectUnavailable(client.get("/api/v1/users/" + erin.id, token),
                      std::string(who) + "'s read of Erin");
    expectUnavailable(client.get("/api/v1/admins", token), std::string(who) + "'s admin list");
  }
  // Commands: nothing is done.
  for (const auto& [who, token] : {std::pair{"carol", carol.token}, std::pair{"bob", bob.token}}) {
    expectUnavailable(client.post("/api/v1/users",
                                  {{"email", std::string(who) + ".made@acme.example"},
                                   {"givenName", "New"},
                                   {"surname", "User"},
                                   {"jobTitle", "Clerk"},
                                   {"managerEmail", owner.email}},
                                  token),
                      std::string(who) + "'s create");
    expectUnavailable(
        client.request("PATCH", "/api/v1/users/" + erin.id, R"({"jobTitle":"Boss"})", token),
        std::string(who) + "'s change of Erin");
  }
  EXPECT_EQ(client.get("/api/v1/users/" + carol.id, carol.token).status, 200) << "her own row";
  EXPECT_EQ(client.get("/api/v1/me", bob.token).status, 200);

  // Erin signs in (the credentials view runs); the users view shows her inactive,
  // which neither refuses her nor ends her session.
  test::Reply signedIn = server.signIn("acme", erin.email, test::kPassword);
  ASSERT_EQ(signedIn.status, 201) << signedIn.body;
  const std::string erinToken = signedIn.json()["token"];
  expectUnavailable(client.get("/api/v1/me", erinToken), "erin's own read");
  EXPECT_EQ(client.request("DELETE", "/api/v1/sessions/current", "", dave.token).status, 204)
      << "a sign-out";

  auto rebuilt = server.portal().projector().rebuild(UsersProjection::kName, nullptr);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  EXPECT_EQ(client.get("/api/v1/users", bob.token).status, 403);
  EXPECT_EQ(client.get("/api/v1/users", carol.token).status, 200);
  test::Reply erinNow = client.get("/api/v1/users/" + erin.id, owner.token);
  EXPECT_EQ(erinNow.json()["active"], true);
  EXPECT_EQ(erinNow.json()["jobTitle"], "Engineer");
  EXPECT_EQ(client.get("/api/v1/users?search=made", owner.token).json()["items"].size(), 0u);
  EXPECT_EQ(client.get("/api/v1/me", erinToken).status, 200) << "her session was kept";
  EXPECT_EQ(client.get("/api/v1/me", dave.token).status, 401);
}

// A stopped credentials view shows accounts as they were when it stopped: a user
// deactivated since, or a password changed since, would still sign in. So nothing
// that proves who someone is is decided on it (503) until a rebuild brings it back.
TEST(Portal, AStoppedCredentialsViewDecidesNoSignInPasswordChangeOrReset) {
  test::ApiServer server;
  test::Person owner = server.provision("acme");
  test::Person bob = server.user("acme", owner, "bob");
  test::Person carol = server.user("acme", owner, "carol");
  auto company = server.portal().credentials().companyBySlug("acme");
  ASSERT_TRUE(company);
  // Carol's deactivation cannot be applied to her row: the view stops there, and
  // Bob's deactivation after it is in the log but not in the view.
  server.stopViewAt(CredentialsProjection::kName, company->id, owner, carol);
  ASSERT_TRUE(server.portal()
                  .execute(Command{company->id, owner.id, DeactivateUser{bob.id, {}}})
                  .accepted());

  test::HttpClient client(server.port());
  auto expectUnavailable = [](const test::Reply& r, const char* what) {
    EXPECT_EQ(r.status, 503) << what << ": " << r.body;
    if (r.status == 503) {
      EXPECT_EQ(r.json()["code"], "view-unavailable") << what;
      EXPECT_EQ(r.json()["title"], "The credentials view is not available") << what;
    }
  };
  expectUnavailable(server.signIn("acme", bob.email, test::kPassword), "bob's sign-in");
  expectUnavailable(server.signIn("acme", owner.email, test::kPassword), "the owner's sign-in");
  expectUnavailable(client.post("/api/v1/me/password",
                                {{"currentPassword", test::kPassword},
                                 {"newPassword", "a quite different passphrase 42"}},
                                owner.token),
                    "a password change");
  expectUnavailable(
      client.post("/api/v1/password-resets", {{"company", "acme"}, {"email", owner.email}}),
      "a reset request");
  expectUnavailable(client.post("/api/v1/password-resets/confirm",
                                {{"token", std::string(43, 'A')},
                                 {"newPassword", "a quite different passphrase 42"}}),
                    "a reset's confirmation");
  EXPECT_EQ(client.get("/readyz").status, 503);

  // Rebuilt from the log, the view shows both deactivations: Bob is refused as a
  // wrong password would be, the owner signs in.
  auto rebuilt = server.portal().projector().rebuild(CredentialsProjection::kName, nullptr);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  EXPECT_EQ(server.signIn("acme", bob.email, test::kPassword).status, 401);
  EXPECT_EQ(server.signIn("acme", owner.email, test::kPassword).status, 201);
}

// The log published to NATS JetStream (src/publish/log_publisher.h), to a real
// nats-server.

// A nats-server of the test's own, and the lines a publisher logs.
class Publish : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(nats.ready()) << nats.log(); }

  // Users made in `h`, named `prefix`0, `prefix`1, ...
  static void createUsers(PortalHarness& h, const std::string& prefix, int count) {
    for (int i = 0; i < count; ++i)
      ASSERT_TRUE(h.run(CreateUser{person(prefix + std::to_string(i))}).accepted());
  }
  // A user whose UserCreated is twice the size of the others' (every text field as
  // long as it may be).
  static void createBigUser(PortalHarness& h) {
    NewUserDetails big = person("big");
    big.givenName = big.surname = big.jobTitle = std::string(256, 'x');
    ASSERT_TRUE(h.run(CreateUser{big}).accepted());
  }
  // A PublisherOptions::log that keeps its lines for logged().
  std::function<void(const std::string&)> keepLines() {
    return [this](const std::string& line) {
      std::lock_guard lock(linesMu_);
      lines_.push_back(line);
    };
  }
  std::vector<std::string> logged() {
    std::lock_guard lock(linesMu_);
    return lines_;
  }

  TempDir dir;
  test::NatsServer nats{dir.sub("nats")};

 private:
  std::mutex linesMu_;
  std::vector<std::string> lines_;
};

PublisherOptions publishTo(const std::string& url, const std::string& stream) {
  PublisherOptions o;
  o.url = url;
  o.stream = stream;
  o.retryFirst = std::chrono::milliseconds(50);
  o.retryMost = std::chrono::milliseconds(200);
  return o;
}

Hash hashFromHex(const std::string& hex) {
  Hash h{};
  for (std::size_t i = 0; i < h.size() && 2 * i + 1 < hex.size(); ++i)
    h[i] = static_cast<std::uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return h;
}

// The stream holds the log from its first event, each once, in order: the stored
// bytes, on the company's subject, with the chain's links a follower checks.
// (`upTo`: its first events only.)
void expectTheLog(const std::vector<test::StreamMessage>& messages, EventStore& store,
                  const std::string& subject, std::uint64_t upTo = 0) {
  ASSERT_EQ(messages.size(), upTo != 0 ? upTo : store.lastPosition());
  Hash prev{};
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const test::StreamMessage& m = messages[i];
    const std::string position = std::to_string(i + 1);
    EXPECT_EQ(m.subject, subject) << position;
    EXPECT_EQ(m.headers.at("Nats-Msg-Id"), position + "." + m.headers.at("Portal-Hash"));
    EXPECT_EQ(m.headers.at("Portal-Position"), position);
    EXPECT_EQ(m.data, *store.readJson(i + 1)) << position;
    EXPECT_EQ(m.headers.at("Portal-Type"), std::string(*peekEventType(m.data)));
    EXPECT_EQ(m.headers.at("Portal-Prev-Hash"), toHex(prev)) << position;
    const Hash hash = hashFromHex(m.headers.at("Portal-Hash"));
    EXPECT_EQ(chainProblem(prev, RawEvent{i + 1, &prev, &hash, m.data}), std::nullopt) << position;
    prev = hash;
  }
}

TEST_F(Publish, TheLogGoesToTheStreamInOrderOnceAndChecksAsAChain) {
  PortalHarness h(dir.sub("data"));
  const std::string company = h.provision("acme");
  createUsers(h, "p", 20);
  EventStore& store = h.portal().store();
  PublisherOptions options = publishTo(nats.url(), "portal");
  options.log = keepLines();
  LogPublisher publisher(store, options);
  h.follow([&](std::uint64_t) { publisher.notify(); });
  test::AtEnd unfollow{[&] { h.follow(nullptr); }};
  publisher.start();
  // What was there before it started, then what comes after, as it comes.
  ASSERT_TRUE(publisher.waitPublished(store.lastPosition(), std::chrono::seconds(30)))
      << publisher.refused();
  EXPECT_TRUE(publisher.connected());
  for (int i = 20; i < 25; ++i)
    ASSERT_TRUE(h.run(CreateUser{person("p" + std::to_string(i))}).accepted());
  ASSERT_TRUE(publisher.waitPublished(store.lastPosition(), std::chrono::seconds(30)))
      << publisher.refused();
  const auto messages = test::streamMessages(nats.url(), "portal");
  expectTheLog(messages, store, "portal." + company);
  EXPECT_EQ(messages.back().headers.at("Portal-Type"), "UserCreated");
  // Nobody's data in clear: sealed as in the log.
  for (const auto& m : messages)
    for (const char* clear : {"p3@acme.test", "Givenp3", "Surnamep3", "owner-acme@acme.test"})
      EXPECT_EQ(m.data.find(clear), std::string::npos) << clear;
  const std::vector<std::string> lines = logged();
  // (First the warning of NATS's default max_payload, 1 MB.)
  ASSERT_EQ(lines.size(), 3u) << ::testing::PrintToString(lines);
  EXPECT_TRUE(
      lines[0].starts_with("publish: warning: the NATS server takes messages of 1048576 "
                           "bytes at most (its max_payload): an import of more than about "
                           "26000 users"))
      << lines[0];
  EXPECT_EQ(lines[1], "publish: created the stream portal (subjects portal.>)");
  EXPECT_EQ(lines[2],
            "publish: connected to " + nats.url() + ", stream portal; going on after position 0");
}

TEST_F(Publish, AnOutageOrARestartNeitherLosesNorRepeatsAnEvent) {
  PortalHarness h(dir.sub("data"));
  EventStore& store = h.portal().store();
  PublisherOptions options = publishTo(nats.url(), "portal");
  options.log = keepLines();
  auto publisher = std::make_unique<LogPublisher>(store, options);
  std::mutex publisherMu;
  h.follow([&](std::uint64_t) {
    std::lock_guard lock(publisherMu);
    if (publisher) publisher->notify();
  });
  test::AtEnd unfollow{[&] { h.follow(nullptr); }};
  publisher->start();
  const std::string company = h.provision("acme");
  createUsers(h, "a", 5);
  ASSERT_TRUE(publisher->waitPublished(store.lastPosition(), std::chrono::seconds(30)))
      << publisher->refused();

  // NATS goes away: commands go on; what they wrote goes out once it is back.
  nats.stop();
  ASSERT_TRUE(test::waitFor([&] { return !publisher->connected(); }));
  createUsers(h, "b", 10);
  EXPECT_LT(publisher->published(), store.lastPosition());
  ASSERT_TRUE(test::waitFor([&] { return publisher->failures() >= 4; }));
  ASSERT_TRUE(nats.start()) << nats.log();
  ASSERT_TRUE(publisher->waitPublished(store.lastPosition(), std::chrono::seconds(30)))
      << publisher->refused();
  {
    // The outage said once, and its end (a review: the tries that failed alike
    // silenced the line of the connection that ended them).
    const std::vector<std::string> lines = logged();
    const std::string cannot = "publish: " + nats.url() + ": cannot connect: ";
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                            [&](const std::string& l) { return l.starts_with(cannot); }),
              1)
        << ::testing::PrintToString(lines);
    EXPECT_TRUE(lines.back().starts_with("publish: connected to " + nats.url()))
        << ::testing::PrintToString(lines);
  }

  // The server restarts: the new publisher goes on after the stream's last event.
  {
    std::lock_guard lock(publisherMu);
    publisher.reset();
  }
  createUsers(h, "c", 3);
  {
    std::lock_guard lock(publisherMu);
    publisher = std::make_unique<LogPublisher>(store, publishTo(nats.url(), "portal"));
    publisher->start();
  }
  ASSERT_TRUE(publisher->waitPublished(store.lastPosition(), std::chrono::seconds(30)))
      << publisher->refused();
  expectTheLog(test::streamMessages(nats.url(), "portal"), store, "portal." + company);
}

// A message the stream refuses (too big for its limit) stops the publishing there:
// none after it is stored, so the stream never holds a gap (a code review found
// the first 512 messages into an empty stream sent without the check).
TEST_F(Publish, AMessageTheStreamRefusesLeavesNoGap) {
  PortalHarness h(dir.sub("data"));
  const std::string company = h.provision("acme");
  createUsers(h, "a", 2);
  createBigUser(h);
  EventStore& store = h.portal().store();
  const std::uint64_t refused = store.lastPosition();
  createUsers(h, "b", 3);
  // A limit between the other events and that one (the headers take about 350 bytes).
  std::size_t others = 0;
  for (std::uint64_t p = 1; p <= store.lastPosition(); ++p)
    if (p != refused) others = std::max(others, store.readJson(p)->size());
  const std::size_t bigSize = store.readJson(refused)->size();
  ASSERT_GT(bigSize, others + 500);
  test::makeStream(nats.url(), "portal", "portal.>",
                   static_cast<std::int32_t>((others + bigSize) / 2 + 350));
  LogPublisher publisher(store, publishTo(nats.url(), "portal"));
  publisher.start();
  ASSERT_TRUE(test::waitFor([&] { return publisher.failures() >= 3; }));
  EXPECT_EQ(publisher.published(), refused - 1);
  EXPECT_TRUE(publisher.refused().empty());
  expectTheLog(test::streamMessages(nats.url(), "portal"), store, "portal." + company, refused - 1);
}

// Two servers started on one stream at the same moment (their operators named the
// same): one log is in it, whole and in order, and the other is refused with none
// of its events in it (an end to end review saw them take turns in the stream,
// each told its events were stored).
// An event past the NATS server's max_payload (an import of more users than fit) is
// said with the setting to change, as the server's small max_payload is at the
// connection; nothing after it is published (an import of 100,000 rows would have
// stopped the publishing without a word of why).
TEST_F(Publish, AnEventPastTheServersMaxPayloadIsNamed) {
  test::NatsServer small(dir.sub("small"), "max_payload: 2048");
  ASSERT_TRUE(small.ready()) << small.log();
  PortalHarness h(dir.sub("data"));
  h.provision("acme");
  createBigUser(h);
  EventStore& store = h.portal().store();
  const std::uint64_t past = store.lastPosition();
  createUsers(h, "a", 2);
  PublisherOptions options = publishTo(small.url(), "portal");
  options.log = keepLines();
  LogPublisher publisher(store, options);
  publisher.start();
  const std::string why = "event " + std::to_string(past) + " (" +
                          std::to_string(store.readJson(past)->size()) +
                          " bytes) is past the NATS server's max_payload (2048 bytes): set "
                          "max_payload: 8MB in its configuration";
  ASSERT_TRUE(test::waitFor([&] {
    const auto lines = logged();
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(why) != std::string::npos; });
  })) << ::testing::PrintToString(logged());
  const std::vector<std::string> lines = logged();
  EXPECT_EQ(lines.front(),
            "publish: warning: the NATS server takes messages of 2048 bytes at most (its "
            "max_payload): an import of more than about 0 users makes an event past it, which "
            "stops the publishing there; set max_payload: 8MB in its configuration");
  // (What went before it in its batch is stored, and read back at the next try.)
  EXPECT_TRUE(test::waitFor([&] { return publisher.published() == past - 1; }));
  EXPECT_EQ(test::streamMessages(small.url(), "portal").size(), past - 1);
}

// A stream an operator made with limits is taken, and its limits said as what they
// do: one drops its oldest messages; one that refuses new messages past them
// (discard new) stops the publishing there (a review saw only an outage in that).
TEST_F(Publish, AStreamWithLimitsIsTakenAndWhatTheyDoIsSaid) {
  PortalHarness h(dir.sub("data"));
  const std::string company = h.provision("acme");
  createUsers(h, "a", 3);
  EventStore& store = h.portal().store();
  ASSERT_GT(store.lastPosition(), 3u);
  test::makeStream(nats.url(), "dropping", "dropping.>", -1, 3);
  test::makeStream(nats.url(), "stalling", "stalling.>", -1, 3, true);
  auto saysAtFirst = [&](const char* stream, const std::string& warning) {
    PublisherOptions options = publishTo(nats.url(), stream);
    options.log = keepLines();
    LogPublisher publisher(store, options);
    publisher.start();
    return ::testing::AssertionResult(test::waitFor([&] {
             const std::vector<std::string> lines = logged();
             return std::find(lines.begin(), lines.end(), warning) != lines.end() &&
                    publisher.published() >= 3 &&
                    (std::string(stream) == "stalling"
                         ? publisher.failures() >= 1
                         : publisher.published() == store.lastPosition());
           }))
           << ::testing::PrintToString(logged()) << " published " << publisher.published();
  };
  EXPECT_TRUE(saysAtFirst("dropping",
                          "publish: warning: the stream dropping drops messages (3 messages at "
                          "most): a follower that starts later misses the events dropped, and "
                          "once its last message is dropped this server publishes no more"));
  EXPECT_EQ(test::streamMessages(nats.url(), "dropping").size(), 3u);
  EXPECT_TRUE(saysAtFirst("stalling",
                          "publish: warning: the stream stalling has limits (3 messages at most) "
                          "and refuses new messages past them (discard new): publishing stops "
                          "there until they are raised"));
  const std::vector<test::StreamMessage> held = test::streamMessages(nats.url(), "stalling");
  ASSERT_EQ(held.size(), 3u);
  expectTheLog(held, store, "stalling." + company, 3);
}

// A NATS server that asks for TLS and a sign-in, as production's do: the log goes to
// it with the CA and the user and password it is given; a certificate the system
// does not trust, one of another host, or a wrong password stop the connection,
// and why is said. (A token, and the flags, in ServerProcess's test.)
TEST_F(Publish, ASecuredNatsServerTakesTheLogOverTlsWithItsCredentials) {
  const std::string certs = dir.sub("certs");
  test::makeCertificate(certs);
  test::NatsServer secured(dir.sub("secured"), test::tlsConfig(certs) +
                                                   "\nauthorization { user: portal, password: "
                                                   "\"pass word\" }");
  ASSERT_TRUE(secured.ready()) << secured.log();
  const std::string url = "tls://127.0.0.1:" + secured.url().substr(secured.url().rfind(':') + 1);
  PortalHarness h(dir.sub("data"));
  h.provision("acme");
  createUsers(h, "a", 3);
  const EventStore& store = h.portal().store();
  auto attempt = [&](const std::string& to, const std::string& ca, const std::string& password,
                     const std::string& said) {
    PublisherOptions options = publishTo(to, "portal");
    options.caPem = ca.empty() ? "" : test::readFile(ca);
    options.user = "portal";
    options.password = password;
    options.log = keepLines();
    LogPublisher publisher(store, options);
    publisher.start();
    const bool ok = test::waitFor([&] {
      const std::vector<std::string> lines = logged();
      return std::any_of(lines.begin(), lines.end(),
                         [&](const std::string& l) { return l.find(said) != std::string::npos; });
    });
    return ::testing::AssertionResult(ok && publisher.published() == 0)
           << said << " in " << ::testing::PrintToString(logged());
  };
  EXPECT_TRUE(attempt(url, "", "pass word", "cannot connect: SSL handshake error: 18:self-signed"));
  const std::string elsewhere = "tls://localhost" + url.substr(url.rfind(':'));
  EXPECT_TRUE(attempt(elsewhere, certs + "/cert.pem", "pass word",
                      "cannot connect: SSL handshake error: 62:hostname mismatch"));
  EXPECT_TRUE(
      attempt(url, certs + "/cert.pem", "password", "cannot connect: Authorization Violation"));
  PublisherOptions options = publishTo(url, "portal");
  options.caPem = test::readFile(certs + "/cert.pem");
  options.user = "portal";
  options.password = "pass word";
  LogPublisher publisher(store, options);
  publisher.start();
  EXPECT_TRUE(publisher.waitPublished(store.lastPosition(), std::chrono::seconds(20)))
      << publisher.published();
  publisher.stop();

  // One that verifies its clients' certificates (mutual TLS): this server's, its own
  // CA here, is asked for.
  const std::string client = dir.sub("client");
  test::makeCertificate(client);
  test::NatsServer verifying(dir.sub("verifying"),
                             test::tlsConfig(certs, client + "/cert.pem") +
                                 "\nauthorization { user: portal, password: \"pass word\" }");
  ASSERT_TRUE(verifying.ready()) << verifying.log();
  const std::string to =
      "tls://127.0.0.1:" + verifying.url().substr(verifying.url().rfind(':') + 1);
  EXPECT_TRUE(attempt(to, certs + "/cert.pem", "pass word",
                      "cannot connect: the server closed the connection during the handshake "
                      "(nats.c: Expected 'PONG', got ''); one that verifies its clients' "
                      "certificates does so to a client without one: give --nats-cert and "
                      "--nats-key"));
  options.url = to;
  options.certPem = test::readFile(client + "/cert.pem");
  options.keyPem = test::readFile(client + "/key.pem");
  LogPublisher proven(store, options);
  proven.start();
  EXPECT_TRUE(proven.waitPublished(store.lastPosition(), std::chrono::seconds(20)))
      << proven.published();
}

TEST_F(Publish, TwoLogsSentToOneStreamAtOnceDoNotMix) {
  PortalHarness a(dir.sub("a")), b(dir.sub("b"));
  a.provision("acme");
  b.provision("beta");
  createUsers(a, "a", 30);
  createUsers(b, "b", 30);
  // Both connect while NATS is frozen, and go on together when it thaws.
  nats.pause();
  test::AtEnd thaw{[&] { nats.resume(); }};
  LogPublisher toA(a.portal().store(), publishTo(nats.url(), "portal"));
  LogPublisher toB(b.portal().store(), publishTo(nats.url(), "portal"));
  toA.start();
  toB.start();
  ASSERT_TRUE(test::waitFor([&] { return nats.connections() == 2; }));
  nats.resume();
  auto settled = [](LogPublisher& p, PortalHarness& h) {
    return !p.refused().empty() || p.published() == h.portal().store().lastPosition();
  };
  ASSERT_TRUE(test::waitFor([&] { return settled(toA, a) && settled(toB, b); }));
  ASSERT_NE(toA.refused().empty(), toB.refused().empty())
      << toA.refused() << " / " << toB.refused();
  PortalHarness& winner = toA.refused().empty() ? a : b;
  expectTheLog(test::streamMessages(nats.url(), "portal"), winner.portal().store(),
               "portal." + winner.company());
}

TEST_F(Publish, AStreamThatIsNotThisLogsIsRefusedNotWrittenInto) {
  // One log published...
  PortalHarness a(dir.sub("a"));
  a.provision("acme");
  createUsers(a, "a", 3);
  const std::uint64_t held = a.portal().store().lastPosition();
  {
    LogPublisher publisher(a.portal().store(), publishTo(nats.url(), "portal"));
    publisher.start();
    ASSERT_TRUE(publisher.waitPublished(held, std::chrono::seconds(30))) << publisher.refused();
  }
  auto refusal = [&](PortalHarness& h, const std::string& stream) {
    LogPublisher publisher(h.portal().store(), publishTo(nats.url(), stream));
    publisher.start();
    EXPECT_TRUE(test::waitFor([&] { return !publisher.refused().empty(); }));
    EXPECT_EQ(publisher.published(), 0u);
    return publisher.refused();
  };
  // ...then another, longer: its event where the stream ends is not that one.
  PortalHarness b(dir.sub("b"));
  b.provision("beta");
  createUsers(b, "b", 6);
  ASSERT_GT(b.portal().store().lastPosition(), held);
  EXPECT_EQ(refusal(b, "portal"), "the stream portal's event " + std::to_string(held) +
                                      " is not this log's (its hash differs): it is another "
                                      "log's stream, or this log has gone another way since (a "
                                      "backup restored)");
  // A shorter one: another's, or an older copy of this one (a backup restored).
  PortalHarness c(dir.sub("c"));
  c.provision("gamma");
  ASSERT_LT(c.portal().store().lastPosition(), held);
  EXPECT_EQ(refusal(c, "portal"),
            "the stream portal holds events up to position " + std::to_string(held) +
                ", and this log ends at " + std::to_string(c.portal().store().lastPosition()) +
                ": it is another log's, or this log is an older copy of its own");
  // A stream an operator made for something else.
  test::makeStream(nats.url(), "orders", "shop.orders.>");
  EXPECT_EQ(refusal(b, "orders"),
            "the stream orders does not take the subjects orders.> alone (it was made otherwise); "
            "name another with --nats-stream");
  // A stream whose sequence is not the position its last message holds: one was
  // lost from it (a gap) or put in by someone else.
  const std::vector<test::StreamMessage> published = test::streamMessages(nats.url(), "portal");
  test::makeStream(nats.url(), "gappy", "gappy.>");
  test::StreamMessage second = published.at(1);
  second.subject = "gappy." + a.company();
  test::publishByHand(nats.url(), second);
  EXPECT_EQ(refusal(a, "gappy"),
            "the stream gappy's last message, sequence 1, holds event 2: messages were lost from "
            "it or added to it; publish to a new stream (--nats-stream), or delete this one to "
            "publish the log into it anew");
  // The streams hold what they held.
  expectTheLog(test::streamMessages(nats.url(), "portal"), a.portal().store(),
               "portal." + a.company());
  EXPECT_TRUE(test::streamMessages(nats.url(), "orders").empty());
  EXPECT_EQ(test::streamMessages(nats.url(), "gappy").size(), 1u);
}

}  // namespace
}  // namespace portal
