// portal-replay and portalctl's maintenance commands as an auditor and an operator
// run them: real processes on a data directory made by a scripted scenario, on a
// stopped directory and beside a running server that keeps taking commands.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "events/text.h"
#include "projections/admins_projection.h"
#include "projections/credentials_projection.h"
#include "projections/projector.h"
#include "projections/users_projection.h"
#include "src/app/operator.h"
#include "src/app/portal.h"
#include "src/app/system.h"
#include "src/store/sha256.h"
#include "tests/domain_fixtures.h"
#include "tests/http_client.h"
#include "tests/programs.h"
#include "tests/store_fixtures.h"
#include "tests/test_support.h"

namespace portal::test {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

ProgramRun replay(std::vector<std::string> args) {
  args.insert(args.begin(), PORTAL_REPLAY_BIN);
  return runProgram(args);
}
ProgramRun portalctl(std::vector<std::string> args) {
  args.insert(args.begin(), PORTALCTL_BIN);
  return runProgram(args);
}

// The scripted scenario: company acme; alice (an administrator, who creates dave),
// bob, carol; alice's two projects; alice deactivated with her projects going to
// bob, then anonymized; carol renamed, given a project and that project released.
// Each command one second after the last.
struct Scenario {
  std::string company, owner, alice, bob, carol, dave;

  explicit Scenario(const std::string& dir) {
    ManualClock clock{Timestamp{1'795'000'000'000'000}};
    RandomIds ids;
    PortalOptions o;
    o.dataDir = dir;
    auto p = Portal::open(o, testCountries(), clock, ids);
    if (!p) throw std::runtime_error(p.error().message);
    Portal& portal = **p;
    auto run = [&](const std::string& actor, CommandBody body) {
      clock.advance(1'000'000);
      CommandReply r = portal.execute(Command{company, actor, std::move(body)});
      if (!r.accepted()) throw std::runtime_error("scenario: " + r.rejection.code);
      return r;
    };
    ProvisionCompany provision{"acme", "Acme Corp", {}, World::details("owner"), "$argon2id$x"};
    CommandReply r = run(std::string(kSystem), provision);
    owner = r.decision.ids.at(0);
    company = r.decision.companyId;
    auto person = [](const std::string& given, const std::string& surname) {
      NewUserDetails d = World::details(asciiLower(given));
      d.givenName = given;
      d.surname = surname;
      return d;
    };
    alice = run(owner, CreateUser{person("Alice", "Adams"), false}).decision.id;
    bob = run(owner, CreateUser{person("Bob", "Builder"), false}).decision.id;
    carol = run(owner, CreateUser{person("Carol", "Clark"), false}).decision.id;
    run(owner, IncludeAdmin{alice});
    dave = run(alice, CreateUser{person("Dave", "Dunn"), false}).decision.id;
    run(owner, GrantRole{bob, "modeler", "editor"});
    run(owner, GrantRole{alice, "modeler", "editor"});
    run(owner, RegisterResource{"project", "modeler", "Payroll", alice});
    run(owner, RegisterResource{"project", "modeler", "Onboarding", alice});
    run(owner, DeactivateUser{alice, bob});
    run(owner, AnonymizeUser{alice});
    UpdateUser rename;
    rename.userId = carol;
    rename.surname = std::optional<std::string>("Clark-Smith");
    rename.managerEmail = std::optional<std::string>("bob@acme.test");
    run(owner, rename);
    const std::string archive =
        run(owner, RegisterResource{"project", "modeler", "Archive", carol}).decision.id;
    run(owner, ReleaseResource{archive});
  }
};

// Each test gets a fresh copy of the scenario's directory.
class ToolsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scenarioDir_ = new TempDir();
    scenario_ = new Scenario(scenarioDir_->sub("data"));
  }
  static void TearDownTestSuite() {
    delete scenario_;
    delete scenarioDir_;
  }
  void SetUp() override {
    fs::copy(scenarioDir_->sub("data"), data(), fs::copy_options::recursive);
  }
  std::string data() const { return dir_.sub("data"); }
  const Scenario& s() const { return *scenario_; }

  TempDir dir_;
  static TempDir* scenarioDir_;
  static Scenario* scenario_;
};
TempDir* ToolsTest::scenarioDir_ = nullptr;
Scenario* ToolsTest::scenario_ = nullptr;

// Changes the stored log directly, as someone editing the files would.
void tamper(const std::string& dir, const std::function<void(rocksdb::DB*, rocksdb::ColumnFamilyHandle*)>& edit) {
  editBehindTheProgramsBack(dir, [&](rocksdb::DB* db, auto& families) { edit(db, families.at("events")); });
}

// Changes one character of the correlation id of the event at `position` and leaves
// its recorded hash: an edit that still decodes, which only the hash tells.
void editCorrelationId(const std::string& dir, std::uint64_t position) {
  tamper(dir, [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events) {
    const std::string key = positionBytes(position);
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), events, key, &value).ok());
    const std::string field = "\"correlationId\":\"";
    const auto at = value.find(field);
    ASSERT_NE(at, std::string::npos);
    char& c = value[at + field.size()];
    c = c == 'x' ? 'y' : 'x';
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), events, key, value).ok());
  });
}

TEST_F(ToolsTest, VerifyPrintsTheCountAndTheHeadHash) {
  ProgramRun r = replay({"verify", "--data", data()});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("^ok: [0-9]+ events, head [0-9a-f]{64}\n$"))) << r.out;
}

// The procedure of the README: the head printed once, kept elsewhere, is found
// again at its position later (`--anchor POS:HASH`), or verify says it is not.
TEST_F(ToolsTest, VerifyFindsAnAnchorKeptFromAnEarlierRun) {
  ProgramRun first = replay({"verify", "--data", data()});
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(first.out, m, std::regex("^ok: ([0-9]+) events, head ([0-9a-f]{64})")))
      << first.out;
  const std::string count = m[1], head = m[2];
  ProgramRun r = replay({"verify", "--data", data(), "--anchor", count + ":" + head});
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "ok: " + count + " events, head " + head + "; event " + count +
                       "'s hash is the anchor's\n");
  std::string other = head;
  other[0] = other[0] == '0' ? '1' : '0';
  r = replay({"verify", "--data", data(), "--anchor", count + ":" + other});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.out, "anchor not found: event " + count + "'s hash is " + head +
                       ", not the anchor's " + other + "\n");
  const std::string later = std::to_string(std::stoull(count) + 5);
  r = replay({"verify", "--data", data(), "--anchor", later + ":" + head});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.out.find("anchor not found: the log holds " + count + " events"), std::string::npos)
      << r.out;
  // An anchor before the head: the chain up to it and on from it are one pass.
  r = replay({"verify", "--data", data(), "--anchor", "3:" + head});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.out.find("anchor not found: event 3's hash is "), std::string::npos) << r.out;
  for (const std::string& bad : {head, "x:" + head, count + ":abc"}) {
    r = replay({"verify", "--data", data(), "--anchor", bad});
    EXPECT_EQ(r.exitCode, 2) << bad;
    EXPECT_NE(r.err.find("--anchor"), std::string::npos) << r.err;
  }
}

std::map<std::string, std::pair<std::uintmax_t, std::int64_t>> snapshot(const std::string& dir);

// Root running portalctl on a portal whose files are the service account's: the
// files it would make would be root's and unreadable to the server, so it is
// refused and names the owner (a review: the next start failed).
TEST_F(ToolsTest, PortalctlAsRootRefusesAnotherUsersPortal) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  const uid_t nobody = 65534;
  for (const auto& f : std::filesystem::recursive_directory_iterator(data()))
    ASSERT_EQ(::lchown(f.path().c_str(), nobody, nobody), 0) << f.path();
  ASSERT_EQ(::chown(data().c_str(), nobody, nobody), 0);
  // A socket file left by a server that was killed is no server.
  { std::ofstream touch(operatorSocketPath(data())); }
  ASSERT_EQ(::lchown(operatorSocketPath(data()).c_str(), nobody, nobody), 0);
  const auto before = snapshot(data());
  ProgramRun r = runProgram({PORTALCTL_BIN, "compact", "--data", data()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("run portalctl as "), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(snapshot(data()), before) << "nothing made or changed";
  // The server says so (it started silently, and the service account's next start
  // failed on the files it made as root), but serves: a container may always run as
  // root on a volume the host's user owns. (Here its port is taken, so that it ends
  // before it opens the log.)
  const int taken = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  ASSERT_EQ(::getsockname(taken, reinterpret_cast<sockaddr*>(&address), &size), 0);
  r = runProgram({PORTAL_SERVER_BIN, "--data", data(), "--quiet", "--listen",
                  "127.0.0.1:" + std::to_string(ntohs(address.sin_port))});
  ::close(taken);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("portal-server: warning: the portal in " + data() +
                       " is nobody's; running as root, the files this server makes are root's"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(snapshot(data()), before) << "nothing made or changed";
  // A first install: a directory made for the service account, provisioned by root.
  const std::string fresh = dir_.sub("fresh");
  ASSERT_TRUE(std::filesystem::create_directory(fresh));
  ASSERT_EQ(::chown(fresh.c_str(), nobody, nobody), 0);
  r = runProgram({PORTALCTL_BIN, "provision", "--data", fresh, "--company", "x", "--name", "X",
                  "--owner-email", "a@x.example", "--owner-given-name", "A", "--owner-surname", "B",
                  "--owner-job-title", "C", "--owner-manager-email", "a@x.example"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("run portalctl as "), std::string::npos) << r.err;
  EXPECT_TRUE(std::filesystem::is_empty(fresh)) << "no portal made as root";
}

TEST_F(ToolsTest, VerifyNamesTheEventWhoseByteWasChanged) {
  tamper(data(), [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events) {
    const std::string key = positionBytes(5);
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), events, key, &value).ok());
    value[value.size() - 3] ^= 0x01;  // one bit of the JSON's tail
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), events, key, value).ok());
  });
  ProgramRun r = replay({"verify", "--data", data()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.out.find("broken at event 5: its bytes hash to"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(4 events before it verified)"), std::string::npos) << r.out;
}

// An edit that still decodes (another character in an id): the exports and views
// refuse the edited event instead of showing it as the record.
TEST_F(ToolsTest, EventsAndAsOfRefuseAnEventEditedAfterItWasWritten) {
  editCorrelationId(data(), 5);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"events", "--data", data()},
        // Filtered by a type the event is not: still refused, not left out.
        std::vector<std::string>{"events", "--data", data(), "--type", "OwnershipTransferred"},
        std::vector<std::string>{"as-of", "--data", data(), "--company", "acme", "--at",
                                 "2100-01-01T00:00:00Z"}}) {
    ProgramRun r = replay(args);
    EXPECT_EQ(r.exitCode, 1) << args[0] << ": " << r.out;
    EXPECT_NE(r.err.find("event 5 was changed after it was written"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

// The server read every event at its start without checking the chain: it started
// on an edited log and served the edit as the record (a review). It refuses it now,
// as the tools do, naming the event; and a point read (the audit trail's) refuses an
// edited event whatever the store was opened with.
TEST_F(ToolsTest, TheServerDoesNotStartOnAnEditedLog) {
  const std::string relinked = dir_.sub("relinked");
  fs::copy(data(), relinked, fs::copy_options::recursive);
  editCorrelationId(data(), 5);
  ProgramRun r =
      runProgram({PORTAL_SERVER_BIN, "--data", data(), "--listen", "127.0.0.1:0", "--quiet"});
  EXPECT_EQ(r.exitCode, 1);
  // One line, stamped with its time.
  EXPECT_TRUE(std::regex_match(
      r.err, std::regex("[0-9T:.Z-]{24} portal-server: event 5: its bytes hash to [^\\n]*\\n")))
      << r.err;
  EXPECT_NE(r.err.find("; run portal-replay verify\n"), std::string::npos) << r.err;
  {
    StoreOptions so;
    so.path = data();
    auto store = EventStore::open(so);
    ASSERT_TRUE(store.ok()) << store.error().message;
    auto read = (*store)->readAt(5);
    ASSERT_FALSE(read.ok());
    EXPECT_NE(read.error().message.find("event 5 was changed after it was written"),
              std::string::npos)
        << read.error().message;
  }

  // Its hash made anew: the next event's link tells.
  rewriteEvent(relinked, 5, "\"occurredAt\":\"2", "\"occurredAt\":\"1");
  r = runProgram({PORTAL_SERVER_BIN, "--data", relinked, "--listen", "127.0.0.1:0", "--quiet"});
  EXPECT_EQ(r.exitCode, 1);
  // One line, stamped with its time.
  EXPECT_TRUE(std::regex_match(
      r.err, std::regex("[0-9T:.Z-]{24} portal-server: event 6: its prevHash [^\\n]*\\n")))
      << r.err;
}

// An edited event was built into the views, compacted and backed up (exit 0), and
// an event of a type this program does not know was passed over as one no view
// takes: its user missing from every view. Both stop the operator's commands now.
TEST_F(ToolsTest, RebuildCompactAndBackupStopAtAnEditedEventOrOneOfAnUnknownType) {
  const std::string original = dir_.sub("original");
  fs::copy(data(), original, fs::copy_options::recursive);
  editCorrelationId(data(), 5);
  ProgramRun r = portalctl({"rebuild", "--data", data(), "--projection", "all"});
  EXPECT_EQ(r.exitCode, 1);
  // One line: not one a projection, and no progress line that read "100%" before
  // the edited event stopped it.
  EXPECT_EQ(r.err.rfind("portalctl: event 5 was changed after it was written", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"compact", "--data", data()},
        std::vector<std::string>{"backup", "--data", data(), "--to", dir_.sub("backup")}}) {
    r = portalctl(args);
    EXPECT_EQ(r.exitCode, 1) << args[0];
    EXPECT_EQ(r.err.rfind("portalctl: event 5: its bytes hash to", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("; run portal-replay verify\n"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_FALSE(fs::exists(dir_.sub("backup")));

  // A type this program does not know, with its hash made anew (a newer program's
  // event would be such): the rebuild stops at it and names it.
  const std::string typed = dir_.sub("typed");
  fs::copy(original, typed, fs::copy_options::recursive);
  rewriteEvent(typed, 5, "\"type\":\"", "\"type\":\"Future");
  r = portalctl({"rebuild", "--data", typed, "--projection", "all"});
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_NE(r.err.find("event 5 has unknown type 'Future"), std::string::npos) << r.err;
}

// An event rewritten to name another position (as a swap of two events writes it)
// or a type this program does not know, the whole chain made anew after it: verify
// reads what the server's start reads, and so do compact and backup, which check the
// chain first (a review: verify said ok, and a backup was made, of logs the server
// refused).
TEST_F(ToolsTest, VerifyRefusesARechainedEventThatNamesAnotherPositionOrAnUnknownType) {
  const std::string original = dir_.sub("original");
  fs::copy(data(), original, fs::copy_options::recursive);
  // A copy of the log with event 5 rewritten and the chain made anew after it.
  auto rechained = [&](const std::string& name, const std::string& from, const std::string& to) {
    const std::string copy = dir_.sub(name);
    fs::copy(original, copy, fs::copy_options::recursive);
    rewriteEvent(copy, 5, from, to);
    rechainFrom(copy, 6);
    return copy;
  };
  ProgramRun r =
      replay({"verify", "--data", rechained("moved", "{\"position\":5,", "{\"position\":6,")});
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_NE(r.out.find("broken at event 5: it says it is event 6 (4 events before it verified)"),
            std::string::npos)
      << r.out;
  const std::string typed = rechained("typed", "\"type\":\"", "\"type\":\"Future");
  r = replay({"verify", "--data", typed});
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_NE(r.out.find("broken at event 5: its type 'Future"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("' is none this program knows (written by hand, or by a newer program)"),
            std::string::npos)
      << r.out;
  r = portalctl({"backup", "--data", typed, "--to", dir_.sub("backup")});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_EQ(r.err.rfind("portalctl: event 5: its type 'Future", 0), 0u) << r.err;
  EXPECT_FALSE(fs::exists(dir_.sub("backup")));
  // A schema newer than this program knows (the diff review: it passed).
  r = replay({"verify", "--data", rechained("newer", ",\"schema\":", ",\"schema\":9")});
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_NE(r.out.find("broken at event 5: its schema 9"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" is none this program knows (it knows "), std::string::npos) << r.out;
  EXPECT_EQ(replay({"verify", "--data", original}).exitCode, 0);
}

TEST_F(ToolsTest, VerifyNamesTheEventThatWasRemoved) {
  tamper(data(), [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), events, positionBytes(7)).ok());
  });
  ProgramRun r = replay({"verify", "--data", data()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.out.find("broken at event 7: event 7 is missing"), std::string::npos) << r.out;
}

// Runs a program whose standard output is a pipe nobody reads any more (its reading
// end closed before the program starts: every write fails with EPIPE), as `| head`
// that has finished does, without a race. Python starts it with SIGPIPE's default.
ProgramRun runIntoAClosedPipe(const std::vector<std::string>& args) {
  std::vector<std::string> all = {"/usr/bin/python3", "-c",
                                  "import os, subprocess, sys\n"
                                  "r, w = os.pipe()\n"
                                  "os.close(r)\n"
                                  "code = subprocess.run(sys.argv[1:], stdout=w).returncode\n"
                                  "sys.exit(128 - code if code < 0 else code)\n"};
  all.insert(all.end(), args.begin(), args.end());
  return runProgram(all);
}

// An event added past the head the portal recorded, its chain made right (as
// someone who knows the format would): verify said "ok" where the server refuses
// the log. And a broken chain exits 1 even when the reader of its output has gone.
TEST_F(ToolsTest, VerifyRefusesAnEventPastTheRecordedHeadAndExitsOneIntoAClosedPipe) {
  std::uint64_t last = 0;
  tamper(data(), [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), events));
    it->SeekToLast();
    ASSERT_TRUE(it->Valid());
    last = positionFromBytes(it->key().ToStringView());
    std::string value = it->value().ToString();
    constexpr std::size_t kHeader = 1 + 32 + 32;  // format, prevHash, hash
    value.replace(1, 32, value.substr(33, 32));   // linked to the newest event
    // Naming its new position, as a forger who knows the format writes it.
    const std::string named = "{\"position\":" + std::to_string(last) + ",";
    ASSERT_EQ(value.compare(kHeader, named.size(), named), 0);
    value.replace(kHeader, named.size(), "{\"position\":" + std::to_string(last + 1) + ",");
    const Hash h =
        sha256(std::string_view(value).substr(1, 32), std::string_view(value).substr(kHeader));
    value.replace(33, 32, reinterpret_cast<const char*>(h.data()), h.size());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), events, positionBytes(last + 1), value).ok());
  });
  ProgramRun r = replay({"verify", "--data", data()});
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_NE(r.out.find("broken at event " + std::to_string(last + 1) + ": event " +
                       std::to_string(last + 1) + " is past the log's recorded head of " +
                       std::to_string(last) + " events"),
            std::string::npos)
      << r.out;
  // Its hash holds: not counted as "before it" (a review read "broken at event 6
  // … (63369 events before it verified)").
  EXPECT_NE(r.out.find("(the hashes of all " + std::to_string(last + 1) + " events hold)"),
            std::string::npos)
      << r.out;
  r = runIntoAClosedPipe({PORTAL_REPLAY_BIN, "verify", "--data", data()});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_EQ(r.err, "") << "a closed pipe is no error of its own";
}

// portalctl whose output pipe was closed died of SIGPIPE (141, nothing said) after
// its work was done: it says that the answer could not be written, and exits 1.
TEST_F(ToolsTest, PortalctlSaysSoWhenItsAnswerCannotBeWrittenIntoAClosedPipe) {
  ProgramRun r = runIntoAClosedPipe({PORTALCTL_BIN, "compact", "--data", data()});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_EQ(r.err, "portalctl: compact done, but its answer could not be written to the output\n");
}

// A log with an event cut out of its middle: every program that builds on the log
// stops and names it (the server started and took the removed user's email again;
// rebuild, compact and backup went on; events printed the rest and exited 0).
TEST_F(ToolsTest, EveryProgramRefusesALogWithAMissingEvent) {
  tamper(data(), [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), events, positionBytes(7)).ok());
  });
  const std::string said = "event 7 is missing (the next stored is 8); run portal-replay verify";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"events", "--data", data()},
        // Filtered by a type the event is not: still refused, not left out.
        std::vector<std::string>{"events", "--data", data(), "--type", "OwnershipTransferred"},
        std::vector<std::string>{"as-of", "--data", data(), "--company", "acme", "--at",
                                 "2100-01-01T00:00:00Z"}}) {
    ProgramRun r = replay(args);
    EXPECT_EQ(r.exitCode, 1) << args[0] << ": " << r.out;
    EXPECT_NE(r.err.find("event 7"), std::string::npos) << args[0] << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"rebuild", "--data", data(), "--projection", "all"},
        std::vector<std::string>{"compact", "--data", data()},
        std::vector<std::string>{"backup", "--data", data(), "--to", dir_.sub("backup")}}) {
    ProgramRun r = portalctl(args);
    EXPECT_EQ(r.exitCode, 1) << args[0] << ": " << r.out;
    EXPECT_NE(r.err.find(said), std::string::npos) << args[0] << ": " << r.err;
  }
  EXPECT_FALSE(fs::exists(dir_.sub("backup"))) << "no backup of a log with a hole";
  ProgramRun r = runProgram({PORTAL_SERVER_BIN, "--data", data(), "--listen", "127.0.0.1:0", "--quiet"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find(said), std::string::npos) << r.err;
}

// The newest event gone (its head record left): the auditor's export says so rather
// than ending early with exit 0 (a read-only reader's last position is what is stored).
TEST_F(ToolsTest, EventsRefusesALogWhoseNewestEventIsGone) {
  std::uint64_t last = 0;
  tamper(data(), [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), events));
    it->SeekToLast();
    ASSERT_TRUE(it->Valid());
    last = positionFromBytes(it->key().ToStringView());
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), events, it->key()).ok());
  });
  ProgramRun r = replay({"events", "--data", data()});
  EXPECT_EQ(r.exitCode, 1) << r.out.substr(0, 300);
  EXPECT_NE(r.err.find("event " + std::to_string(last) + " is missing (the log's head is " + std::to_string(last) + ")"),
            std::string::npos)
      << r.err;
}

TEST_F(ToolsTest, TimelineTellsWhatHappenedToAUserInWordsOldestFirst) {
  ProgramRun r = replay({"timeline", "--data", data(), "--company", "acme", "--user", s().alice});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto l = lines(r.out);
  ASSERT_GE(l.size(), 7u) << r.out;
  // Her own personal data is shredded: her creation says so once.
  EXPECT_NE(l[0].find("Givenowner Surnameowner  created (details anonymized)"), std::string::npos) << l[0];
  EXPECT_EQ(l[0].find("anonymized anonymized"), std::string::npos) << l[0];
  EXPECT_NE(r.out.find("Givenowner Surnameowner  made an administrator"), std::string::npos);
  EXPECT_NE(r.out.find("Givenowner Surnameowner  deactivated; 2 resources transferred to Bob Builder"),
            std::string::npos)
      << r.out;
  // The transfer itself, just before, names what went rather than counting it again.
  const std::size_t handed =
      r.out.find("Givenowner Surnameowner  handed over to Bob Builder: the project '");
  ASSERT_NE(handed, std::string::npos) << r.out;
  const std::string handedLine = r.out.substr(handed, r.out.find('\n', handed) - handed);
  EXPECT_NE(handedLine.find("the project 'Payroll' in modeler"), std::string::npos) << handedLine;
  EXPECT_NE(handedLine.find("the project 'Onboarding' in modeler"), std::string::npos)
      << handedLine;
  EXPECT_EQ(r.out.find("2 resources transferred to Bob Builder\n"),
            r.out.rfind("2 resources transferred to Bob Builder\n"))
      << "the transfer told once with its count";
  EXPECT_NE(l.back().find("anonymized (personal data erased)"), std::string::npos) << l.back();
  std::string previous;
  for (const auto& line : l) {
    EXPECT_GE(line.substr(0, 27), previous) << "oldest first";
    previous = line.substr(0, 27);
  }

  // Dave was created by alice, who is anonymized now; bob by email.
  r = replay({"timeline", "--data", data(), "--company", "acme", "--user", s().dave});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("Z  anonymized  created as Dave Dunn <dave@acme.test>, Engineer, reporting to "
                       "<manager@elsewhere.test>\n"),
            std::string::npos)
      << r.out;
  // The slug in any case, as the API reads it.
  r = replay({"timeline", "--data", data(), "--company", "ACME", "--user", "BOB@acme.test"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("received from anonymized: the project '"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("the project 'Payroll' in modeler"), std::string::npos) << r.out;
  // Carol's manager became a user of the pool: one change, not a manager removed.
  r = replay({"timeline", "--data", data(), "--company", "acme", "--user", s().carol});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("details changed: surname 'Clark-Smith', manager (Bob Builder)\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("cleared"), std::string::npos) << r.out;
  // A resource released is in the history of whoever held it, by its name.
  EXPECT_NE(r.out.find("given the project 'Archive' in modeler\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Givenowner Surnameowner  the project 'Archive' in modeler released\n"),
            std::string::npos)
      << r.out;
}

// Runs `commands` on the scenario's directory as its owner, each a second after the
// last, later than the scenario; the ids they made.
std::vector<std::string> runOnScenario(const std::string& dir, const std::string& company,
                                       const std::string& owner, std::vector<CommandBody> commands) {
  static std::int64_t at = 1'796'000'000'000'000;
  ManualClock clock{Timestamp{at += 1'000'000'000}};
  RandomIds ids;
  PortalOptions o;
  o.dataDir = dir;
  auto p = Portal::open(o, testCountries(), clock, ids);
  if (!p) throw std::runtime_error(p.error().message);
  std::vector<std::string> made;
  for (auto& body : commands) {
    clock.advance(1'000'000);
    CommandReply r = (*p)->execute(Command{company, owner, std::move(body)});
    if (!r.accepted()) throw std::runtime_error("command refused: " + r.rejection.code);
    made.push_back(r.decision.id);
  }
  return made;
}

// The credentials view (emails to ids) behind the log, here not built at all: a user
// named by email is found in the log, as a company named by slug is; an anonymized
// person's email is not.
TEST_F(ToolsTest, AUserIsFoundByEmailInTheLogWhenTheCredentialsViewLacksThem) {
  editBehindTheProgramsBack(data(), [](rocksdb::DB* db, auto& families) {
    for (auto& [name, family] : families) {
      if (name.starts_with(CredentialsProjection::kName)) {
        ASSERT_TRUE(db->DropColumnFamily(family).ok()) << name;
      }
    }
  });
  ProgramRun r =
      replay({"timeline", "--data", data(), "--company", "acme", "--user", "Carol@ACME.test"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("Carol Clark"), std::string::npos) << r.out;
  r = replay({"timeline", "--data", data(), "--company", "acme", "--user", "alice@acme.test"});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(
      r.err.find(
          "there is no user with the email alice@acme.test in this company (an anonymized user is "
          "found by id only)"),
      std::string::npos)
      << r.err;
}

// A group's name at each entry is the one it had then: a rename changes the entries
// after it, not those before, and a deletion none (the groups view holds the group's
// name now, or nothing once it is deleted: the entries showed its id then).
TEST_F(ToolsTest, TimelineNamesAGroupAsItWasNamedAtTheEntryAlsoOnceItIsDeleted) {
  const std::string group =
      runOnScenario(data(), s().company, s().owner, {CreateGroup{"Orchestra", std::nullopt}}).at(0);
  UpdateGroup rename;
  rename.groupId = group;
  rename.name = "Big Orchestra";
  runOnScenario(data(), s().company, s().owner,
                {AddGroupMember{group, s().bob}, rename, RemoveGroupMember{group, s().bob},
                 AddGroupMember{group, s().bob}});
  const auto timeline = [&] {
    ProgramRun r = replay({"timeline", "--data", data(), "--company", "acme", "--user", "bob@acme.test"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return r.out;
  };
  const std::string before = timeline();
  EXPECT_NE(before.find("  added to the group 'Orchestra'\n"), std::string::npos) << before;
  // Renamed between two entries: the second links the names.
  EXPECT_NE(before.find("  removed from the group 'Big Orchestra' (renamed from 'Orchestra')\n"),
            std::string::npos)
      << before;
  EXPECT_NE(before.find("  added to the group 'Big Orchestra'\n"), std::string::npos) << before;

  runOnScenario(data(), s().company, s().owner, {DeleteGroup{group}});
  const std::string after = timeline();
  EXPECT_EQ(after.substr(0, before.size()), before) << "the deletion changed no earlier entry";
  const std::string deleted = after.substr(before.size());
  EXPECT_EQ(std::count(deleted.begin(), deleted.end(), '\n'), 1) << deleted;
  EXPECT_TRUE(deleted.ends_with("  group 'Big Orchestra' deleted\n")) << after;
  EXPECT_EQ(after.find(group), std::string::npos) << "no entry names the group by its id: " << after;
}

// A transfer names what went; a permission the recipient held already is merged
// into theirs, and the timeline says so.
TEST_F(ToolsTest, TimelineNamesWhatATransferMovedAndWhatItMerged) {
  runOnScenario(data(), s().company, s().owner,
                {RegisterResource{"permission", "modeler", "Read all", s().carol},
                 RegisterResource{"permission", "modeler", "read ALL", s().bob},
                 DeactivateUser{s().carol, s().bob}});
  ProgramRun r = replay({"timeline", "--data", data(), "--company", "acme", "--user", s().bob});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("  received from Carol Clark-Smith: the permission 'Read all' in modeler "
                       "(merged into the one Bob Builder held)\n"),
            std::string::npos)
      << r.out;
  r = replay({"timeline", "--data", data(), "--company", "acme", "--user", s().carol});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(
      r.out.find("  handed over to Bob Builder: the permission 'Read all' in modeler (merged"),
      std::string::npos)
      << r.out;
}

// Past ten resources a transfer is counted by kind, and its merges are counted too
// (a review: the merge went unsaid there).
TEST_F(ToolsTest, ATransferOfManyResourcesCountsWhatItMerged) {
  std::vector<CommandBody> commands;
  for (int i = 0; i < 11; ++i)
    commands.push_back(RegisterResource{"project", "modeler", "P" + std::to_string(i), s().dave});
  commands.push_back(RegisterResource{"permission", "modeler", "Write all", s().dave});
  commands.push_back(RegisterResource{"permission", "modeler", "write ALL", s().bob});
  commands.push_back(DeactivateUser{s().dave, s().bob});
  runOnScenario(data(), s().company, s().owner, commands);
  ProgramRun r = replay({"timeline", "--data", data(), "--company", "acme", "--user", s().dave});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("  handed over to Bob Builder: 11 projects, 1 permission (1 merged into "
                       "the one Bob Builder held)\n"),
            std::string::npos)
      << r.out;
}

// Ids are UUIDs, whose hexadecimal digits are the same in either case (RFC 9562):
// an id typed in upper case finds what it finds in lower case.
TEST_F(ToolsTest, AnIdIsReadInAnyCase) {
  std::string upper = s().alice;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  ASSERT_NE(upper, s().alice);
  ProgramRun lower = replay({"events", "--data", data(), "--actor", s().alice});
  ASSERT_EQ(lower.exitCode, 0) << lower.err;
  ASSERT_EQ(lines(lower.out).size(), 1u) << "alice created dave: " << lower.out;
  ProgramRun r = replay({"events", "--data", data(), "--company", "acme", "--actor", upper});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, lower.out);

  std::string bob = s().bob;
  std::transform(bob.begin(), bob.end(), bob.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  lower = replay({"timeline", "--data", data(), "--company", "acme", "--user", s().bob});
  ASSERT_EQ(lower.exitCode, 0) << lower.err;
  r = replay({"timeline", "--data", data(), "--company", "acme", "--user", bob});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, lower.out);
  EXPECT_FALSE(r.out.empty());

  // The server's own events are the actor system's.
  r = replay({"events", "--data", data(), "--actor", "system"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
}

TEST_F(ToolsTest, TimelineAsJsonLinesForMachines) {
  ProgramRun r = replay({"timeline", "--data", data(), "--company", "acme", "--user", s().alice,
                         "--format", "jsonl"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::uint64_t last = 0;
  bool deactivated = false;
  for (const auto& line : lines(r.out)) {
    json j = json::parse(line);
    EXPECT_GT(j["position"].get<std::uint64_t>(), last);
    last = j["position"];
    EXPECT_TRUE(j["actor"]["name"].is_string());
    if (j["type"] == "UserDeactivated") {
      deactivated = true;
      EXPECT_EQ(j["summary"], "deactivated; 2 resources transferred to Bob Builder");
      EXPECT_EQ(j["data"]["transferredTo"], s().bob);
    }
  }
  EXPECT_TRUE(deactivated);
}

TEST_F(ToolsTest, EventsStreamsTheLogAsJsonLinesWithItsFilters) {
  ProgramRun all = replay({"events", "--data", data()});
  ASSERT_EQ(all.exitCode, 0) << all.err;
  const auto everything = lines(all.out);
  std::uint64_t position = 0;
  for (const auto& l : everything) EXPECT_EQ(json::parse(l)["position"], ++position);

  ProgramRun typed = replay({"events", "--data", data(), "--company", "acme", "--type", "UserCreated",
                             "--actor", s().alice});
  ASSERT_EQ(typed.exitCode, 0) << typed.err;
  ASSERT_EQ(lines(typed.out).size(), 1u) << typed.out;
  EXPECT_EQ(json::parse(typed.out)["data"]["userId"], s().dave);

  ProgramRun range = replay({"events", "--data", data(), "--from", "3", "--to", "5"});
  ASSERT_EQ(lines(range.out).size(), 3u);
  const std::string t4 = json::parse(everything[3])["occurredAt"];
  const std::string t6 = json::parse(everything[5])["occurredAt"];
  ProgramRun timed = replay({"events", "--data", data(), "--since", t4, "--until", t6});
  for (const auto& l : lines(timed.out)) {
    const std::string at = json::parse(l)["occurredAt"];
    EXPECT_TRUE(at >= t4 && at <= t6) << at;
  }
  EXPECT_FALSE(timed.out.empty());
  // A date alone: --since from its first moment, --until to its last.
  const std::string day = t6.substr(0, 10);
  ProgramRun daily = replay({"events", "--data", data(), "--since", day, "--until", day});
  ASSERT_EQ(daily.exitCode, 0) << daily.err;
  std::size_t thatDay = 0;
  for (const auto& l : everything) thatDay += json::parse(l)["occurredAt"].get<std::string>().substr(0, 10) == day;
  EXPECT_EQ(lines(daily.out).size(), thatDay);
  EXPECT_GT(thatDay, 0u);

  // What came after the last event: nothing yet, and no error; past that, an error.
  const std::string next = std::to_string(everything.size() + 1);
  ProgramRun after = replay({"events", "--data", data(), "--from", next});
  EXPECT_EQ(after.exitCode, 0) << after.err;
  EXPECT_TRUE(after.out.empty()) << after.out;
  after = replay({"events", "--data", data(), "--from", std::to_string(everything.size() + 2)});
  EXPECT_EQ(after.exitCode, 2) << after.err;
  // A range within one microsecond, its start rounded up past its end, is no
  // reversed one: an empty answer.
  const std::string second = t4.substr(0, 19);
  ProgramRun narrow = replay({"events", "--data", data(), "--since", second + ".0000001Z",
                              "--until", second + ".0000005Z"});
  EXPECT_EQ(narrow.exitCode, 0) << narrow.err;
  // Reversed within it, as typed, it is one (a review: it printed nothing, exit 0).
  for (const auto& [since, until] :
       {std::pair{".0000005Z", ".0000001Z"}, std::pair{".0000005Z", ".000000Z"},
        std::pair{".00000051Z", ".0000005Z"}}) {
    narrow =
        replay({"events", "--data", data(), "--since", second + since, "--until", second + until});
    EXPECT_EQ(narrow.exitCode, 2) << since << " " << until << ": " << narrow.err;
    EXPECT_NE(narrow.err.find("is after --until"), std::string::npos) << narrow.err;
  }
  narrow = replay({"events", "--data", data(), "--since", second + ".0000005Z", "--until",
                   second + ".00000050Z"});
  EXPECT_EQ(narrow.exitCode, 0) << "the same time, typed two ways: " << narrow.err;
}

// What the users and administrators views show after the events up to each moment:
// for each, a copy of the directory whose log is cut after that moment's last
// event (as RocksDB rows, so shredded data stays shredded), its projections
// rebuilt by a Projector and read as the server reads them.
std::map<std::string, std::pair<json, json>> viewsAtEachTime(const std::string& from,
                                                             const std::string& scratch,
                                                             const std::string& companyId) {
  std::map<std::string, std::uint64_t> lastAt;  // time -> the last position at it
  {
    StoreOptions ro;
    ro.path = from;
    ro.readOnly = true;
    auto source = EventStore::open(ro);
    if (!source) throw std::runtime_error(source.error().message);
    auto events = (*source)->read(1, ~std::uint64_t{0});
    if (!events) throw std::runtime_error(events.error().message);
    for (const auto& e : *events) lastAt[formatRfc3339(e.envelope.occurredAt)] = e.envelope.position;
  }
  std::map<std::string, std::pair<json, json>> out;
  fs::create_directories(scratch);
  for (const auto& [at, position] : lastAt) {
    const std::string copy = scratch + "/" + std::to_string(position);
    fs::copy(from, copy, fs::copy_options::recursive);
    // The log cut after `position` as if it had ended there: its head record and the
    // views' checkpoints with it (a writer refuses a log shorter than either).
    editBehindTheProgramsBack(copy, [p = position](rocksdb::DB* db, auto& families) {
      ASSERT_TRUE(db->DeleteRange(rocksdb::WriteOptions(), families.at("events"), positionBytes(p + 1),
                                  positionBytes(~std::uint64_t{0}))
                      .ok());
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), families.at("meta"), "head", positionBytes(p)).ok());
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), families.at("checkpoints")));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        if (it->key().ToStringView().find("#g") == std::string_view::npos ||
            positionFromBytes(it->value().ToStringView()) <= p)
          continue;
        ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), families.at("checkpoints"), it->key(), positionBytes(p)).ok());
      }
    });
    StoreOptions wo;
    wo.path = copy;
    auto store = EventStore::open(wo);
    if (!store) throw std::runtime_error(store.error().message);
    auto projector = Projector::open(**store, allProjections());
    if (!projector || !(*projector)->rebuild("all", nullptr)) throw std::runtime_error("rebuild");
    Projector& p = **projector;
    UsersReader users((*store)->db(), p.handle(UsersProjection::kName, UsersProjection::kRows),
                      p.handle(UsersProjection::kName, UsersProjection::kSearch));
    json u = json::array(), admins = json::array();
    UserListQuery q;
    q.limit = 500;
    for (const auto& item : users.list(companyId, q).items) u.push_back(json::parse(item));
    ListReader adminRows((*store)->db(), p.handle(AdminsProjection::kName, 0), nullptr);
    for (const auto& row : adminRows.list(companyId, 500, "").items) {
      const std::string id = json::parse(row)["userId"];
      admins.push_back(json::parse(adminEntryJson(users.get(companyId, id).value_or("null"), row)));
    }
    out[at] = {u, admins};
  }
  return out;
}

TEST_F(ToolsTest, AsOfAtEveryEventsTimeEqualsTheViewsAfterReplayingTheEventsUpToIt) {
  const auto expected = viewsAtEachTime(data(), dir_.sub("copy"), s().company);
  ASSERT_GE(expected.size(), 10u);
  for (const auto& [at, views] : expected) {
    for (const char* view : {"users", "admins"}) {
      ProgramRun r = replay({"as-of", "--data", data(), "--company", "acme", "--at", at, "--view", view});
      ASSERT_EQ(r.exitCode, 0) << r.err;
      json got = json::parse(r.out);
      EXPECT_EQ(got["at"], at);
      EXPECT_EQ(got["items"], std::string(view) == "users" ? views.first : views.second)
          << view << " at " << at;
    }
    // In the users list's order of the names as shown: alice, erased since, is
    // "Anonymized User" at every time and sorts as such (a review found her first).
    const json& items = views.first;
    auto shown = [](const json& u) {
      return asciiLower(u["surname"].get<std::string>()) + '\x01' +
             asciiLower(u["givenName"].get<std::string>());
    };
    for (std::size_t i = 1; i < items.size(); ++i)
      EXPECT_LE(shown(items[i - 1]), shown(items[i])) << "at " << at << ": " << items.dump();
    for (const json& u : items) {
      if (u["id"] == s().alice) {
        EXPECT_EQ(u["surname"], "User") << at;
      }
    }
  }
  // Before the company existed there is nothing to show.
  ProgramRun before = replay({"as-of", "--data", data(), "--company", "acme", "--at", "2020-01-01"});
  EXPECT_EQ(json::parse(before.out)["items"], json::array());
  // Said so, as a mistyped year would be (stdout stays the view).
  EXPECT_EQ(before.exitCode, 0);
  EXPECT_NE(before.err.find("note: 2020-01-01T00:00:00.000000Z is before acme's first event ("),
            std::string::npos)
      << before.err;
  EXPECT_NE(before.err.find("): the view is empty\n"), std::string::npos) << before.err;
}

// A row replayed from events whose key is shredded since (as-of before the person's
// UserAnonymized) reads with the details API.md shows of an anonymized user, and so
// does its manager for those who report to them; `anonymized` is as it was then,
// with erasedLater (an audit review read `true` of a time before the deactivation).
TEST(AsOfRows, APersonErasedSinceReadsAsAnAnonymizedUser) {
  const std::string erased =
      R"({"active":true,"anonymized":false,"country":"DE","createdAt":"2026-01-01T00:00:00Z",)"
      R"("email":"anonymized","givenName":"anonymized","id":"u1","isAdmin":false,"isOwner":false,)"
      R"("jobTitle":"anonymized","managerEmail":null,"managerUserId":null,"surname":"anonymized",)"
      R"("updatedAt":"2026-01-01T00:00:00Z","version":1})";
  const std::string report =
      R"({"active":true,"anonymized":false,"email":"bo@acme.test","givenName":"Bo","id":"u2",)"
      R"("managerEmail":null,"managerUserId":"u1","surname":"Berg"})";
  auto rowOf = [&](const std::string& id) -> std::optional<std::string> {
    if (id == "u1") return erased;
    return std::nullopt;
  };
  const json shown = json::parse(renderUserRow(erased, rowOf));
  EXPECT_EQ(shown["email"], nullptr);
  EXPECT_EQ(shown["givenName"], "Anonymized");
  EXPECT_EQ(shown["surname"], "User");
  EXPECT_EQ(shown["jobTitle"], nullptr);
  EXPECT_EQ(shown["anonymized"], false);
  EXPECT_EQ(shown["erasedLater"], true);
  EXPECT_EQ(shown["country"], "DE");
  EXPECT_EQ(json::parse(renderUserRow(report, rowOf))["managerEmail"], "anonymized");
}

// Names, sizes and modification times of every file under `dir`.
std::map<std::string, std::pair<std::uintmax_t, std::int64_t>> snapshot(const std::string& dir) {
  std::map<std::string, std::pair<std::uintmax_t, std::int64_t>> out;
  for (const auto& f : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    ::stat(f.path().c_str(), &st);
    out[f.path().string()] = {static_cast<std::uintmax_t>(st.st_size),
                              st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
  }
  return out;
}

TEST_F(ToolsTest, ReplayNeverWritesToTheDataDirectory) {
  const auto before = snapshot(data());
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"verify", "--data", data()},
           {"timeline", "--data", data(), "--company", "acme", "--user", s().bob},
           {"as-of", "--data", data(), "--company", "acme", "--at", "2030-01-01", "--view", "admins"},
           {"events", "--data", data(), "--company", "acme"}})
    EXPECT_EQ(replay(args).exitCode, 0) << args[0];
  EXPECT_EQ(snapshot(data()), before);
}

// A reader killed before it could remove its scratch directory in /tmp (Ctrl-C,
// kill -9) leaves it behind, its lock file no longer locked; the next reader removes
// it, and leaves alone one whose lock is held. A reader cut short by a closed pipe
// stops at once, removing its own.
TEST_F(ToolsTest, ScratchDirectoriesOfReadersThatDiedGoAtTheNextOpen) {
  TempDir names;  // unique names for this test's directories in $TMPDIR or /tmp
  const std::string tag = fs::path(names.path()).filename().string();
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string scratch = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  const std::string stale = scratch + "/portal-secondary-1-" + tag + "-stale";
  const std::string live = scratch + "/portal-secondary-1-" + tag + "-live";
  for (const auto& d : {stale, live}) {
    fs::create_directories(d + "/inside");
    std::ofstream(d + "/reader.lock") << "";
  }
  const int held = ::open((live + "/reader.lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(held, 0);
  ASSERT_EQ(flock(held, LOCK_EX), 0);
  EXPECT_EQ(replay({"verify", "--data", data()}).exitCode, 0);
  EXPECT_FALSE(fs::exists(stale)) << "its reader is gone";
  EXPECT_TRUE(fs::exists(live + "/inside")) << "its reader still holds the lock";
  ::close(held);
  fs::remove_all(live);

  ProgramRun cut = runProgram({"/bin/sh", "-c", "\"$0\" events --data \"$1\" | head -c 10 > /dev/null",
                               PORTAL_REPLAY_BIN, data()});
  EXPECT_EQ(cut.exitCode, 0);
  EXPECT_EQ(cut.err, "") << "a closed pipe is no error";
  // The scratch directory goes where TMPDIR says (a review ran it where /tmp was
  // read-only).
  const std::string nowhere = names.sub("nowhere");
  ProgramRun elsewhere = runProgram(
      {"/usr/bin/env", "TMPDIR=" + nowhere, PORTAL_REPLAY_BIN, "verify", "--data", data()});
  EXPECT_EQ(elsewhere.exitCode, 1);
  EXPECT_NE(
      elsewhere.err.find("cannot create a scratch directory in " + nowhere + ": No such file"),
      std::string::npos)
      << elsewhere.err;
  // Nor inside the data directory, which it only reads (through a path with "..").
  const std::string inside = data() + "/outbox/..";
  ProgramRun within = runProgram(
      {"/usr/bin/env", "TMPDIR=" + inside, PORTAL_REPLAY_BIN, "verify", "--data", data()});
  EXPECT_EQ(within.exitCode, 1);
  EXPECT_EQ(within.err, "portal-replay: TMPDIR (" + inside + ") is inside the data directory " +
                            data() + ", which is only read; set TMPDIR to another directory\n");
}

TEST_F(ToolsTest, BadInputIsOneLineOnStderrAndANonZeroExit) {
  TempDir other;
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string says;
  };
  const std::string missing = other.sub("missing");
  fs::create_directories(other.sub("empty"));
  const std::string empty = other.sub("empty");
  const std::string afile = other.sub("afile");
  { std::ofstream(afile) << "not a directory"; }
  const std::vector<Case> cases = {
      {{PORTAL_REPLAY_BIN, "verify", "--data", missing}, 1, "does not exist"},
      {{PORTAL_REPLAY_BIN, "verify", "--data", empty}, 1, "holds no portal data"},
      {{PORTAL_REPLAY_BIN, "verify"}, 2, "--data is required"},
      {{PORTAL_REPLAY_BIN, "verify", "--data", data(), "--bogus", "1"},
       2,
       "unknown flag '--bogus'"},
      {{PORTAL_REPLAY_BIN, "frobnicate"}, 2, "unknown command"},
      {{PORTAL_REPLAY_BIN, "as-of", "--data", data(), "--company", "acme", "--at", "yesterday"},
       2,
       "RFC 3339"},
      {{PORTAL_REPLAY_BIN, "as-of", "--data", data(), "--company", "acme", "--at", "2030-01-01",
        "--view", "x"},
       2,
       "users or admins"},
      {{PORTAL_REPLAY_BIN, "timeline", "--data", data(), "--company", "nope", "--user", s().bob},
       1,
       "no company 'nope'"},
      // A value that is not an id names nobody: said, rather than print nothing.
      {{PORTAL_REPLAY_BIN, "timeline", "--data", data(), "--company", "acme", "--user", "notanid"},
       2,
       "--user takes a user's email or id (a UUID), not 'notanid'"},
      {{PORTAL_REPLAY_BIN, "events", "--data", data(), "--actor", "bob@acme.test"},
       2,
       "--actor takes a user's id (a UUID) or system, not an email ('bob@acme.test')"},
      {{PORTAL_REPLAY_BIN, "events", "--data", data(), "--actor", "notanid"},
       2,
       "--actor takes a user's id (a UUID) or system, not 'notanid'"},
      {{PORTAL_REPLAY_BIN, "events", "--data", data(), "--actor", s().bob + "0"},
       2,
       "not '" + s().bob + "0'"},
      {{PORTAL_REPLAY_BIN, "events", "--data", data(), "--actor",
        "01a23270-e9b0-7000-8000-000000000000"},
       1,
       "there is no user '01a23270-e9b0-7000-8000-000000000000' in the log"},
      {{PORTAL_REPLAY_BIN, "events", "--data", data(), "--company", "acme", "--actor",
        "01A23270-E9B0-7000-8000-000000000000"},
       1,
       "there is no user '01a23270-e9b0-7000-8000-000000000000' in this company"},
      {{PORTAL_REPLAY_BIN, "timeline", "--data", data(), "--company", "acme", "--user",
        "x@y.example"},
       1,
       "no user with the email"},
      {{PORTAL_REPLAY_BIN, "timeline", "--data", data(), "--company", "acme", "--user", "bob@"},
       2,
       "--user takes a user's email or id (a UUID): 'bob@' "},
      {{PORTAL_REPLAY_BIN, "events", "--data", data(), "--from", "x"}, 2, "log position"},
      {{PORTAL_REPLAY_BIN, "events", "--data", data(), "--from", "100000"},
       2,
       "--from 100000 is past the log's end: it holds "},
      {{PORTAL_REPLAY_BIN, "as-of", "--data", data(), "--company", "acme", "--at",
        "2026-11-23T10:15:60Z"},
       2,
       "--at must be an RFC 3339 time"},
      {{PORTAL_REPLAY_BIN, "events", "--data", data(), "--to", "0"}, 2, "a whole number from 1"},
      {{PORTAL_REPLAY_BIN, "events", "--data", data(), "--from", "5", "--to", "4"},
       2,
       "is past --to"},
      {{PORTAL_REPLAY_BIN, "events", "--data", data(), "--since", "2030-01-02T00:00:00Z", "--until",
        "2030-01-01T00:00:00Z"},
       2,
       "is after --until"},
      {{PORTAL_REPLAY_BIN, "events", "--data", data(), "--type", "userCreated"},
       2,
       "not an event type; one of"},
      {{PORTALCTL_BIN, "rebuild", "--data", missing},
       1,
       "data directory " + missing + " does not exist"},
      // A file where the directory should be is said as such, as by every program.
      {{PORTAL_REPLAY_BIN, "verify", "--data", afile}, 1, afile + " is not a directory"},
      {{PORTALCTL_BIN, "compact", "--data", afile},
       1,
       "portalctl: " + afile + " is not a directory\n"},
      {{PORTALCTL_BIN, "rebuild", "--data", afile},
       1,
       "portalctl: " + afile + " is not a directory\n"},
      {{PORTALCTL_BIN, "backup", "--data", afile, "--to", other.sub("backup")},
       1,
       "portalctl: " + afile + " is not a directory\n"},
      {{PORTALCTL_BIN, "provision", "--data", afile, "--company", "x", "--name", "X",
        "--owner-email", "o@x.test", "--owner-given-name", "O", "--owner-surname", "S",
        "--owner-job-title", "T", "--owner-manager-email", "m@x.test"},
       1,
       "portalctl: " + afile + " is not a directory\n"},
      {{PORTALCTL_BIN, "compact", "--data", empty}, 1, "holds no portal data"},
      {{PORTALCTL_BIN, "rebuild", "--data", data(), "--projection", "nope"},
       2,
       "no projection named 'nope' (there are: all, users (users_v"},
      {{PORTALCTL_BIN, "backup", "--data", data()}, 2, "--to DIR is required"},
      {{PORTALCTL_BIN, "backup", "--data", data(), "--to", data()},
       1,
       "must go outside the data directory"},
      {{PORTALCTL_BIN, "backup", "--data", data(), "--to", data() + "/inside"},
       1,
       "must go outside the data directory"},
      {{PORTALCTL_BIN, "compact", "--data", data(), "--fast", "1"}, 2, "unknown flag '--fast'"},
      // The --flag=value form other programs take is said how to write (a review).
      {{PORTALCTL_BIN, "compact", "--data=/srv/portal"},
       2,
       "unknown flag '--data=/srv/portal' for compact (write --data /srv/portal: a flag and its "
       "value are two arguments)"},
      {{PORTAL_REPLAY_BIN, "verify", "--data=x"}, 2, "(write --data x: a flag and its value"},
      {{PORTAL_SERVER_BIN, "--data=x"}, 2, "(write --data x: a flag and its value"},
      {{PORTALCTL_BIN, "provision", "--data", data(), "--services", ""},
       2,
       "--services needs at least one service"},
      {{PORTAL_REPLAY_BIN, "events", "--data", data(), "--actor", ""}, 2, "--actor needs a value"},
      {{PORTALCTL_BIN, "provision", "--data", data(), "--company", ""},
       2,
       "--company needs a value"},
      {{PORTAL_REPLAY_BIN, "events", "--data", data(), "--type", "UserCreated", "--type",
        "UserAnonymized"},
       2,
       "--type is given twice"},
      {{PORTALCTL_BIN, "compact", "--data", data(), "--data", empty}, 2, "--data is given twice"},
      {{PORTALCTL_BIN, "rebuild", "--data", ""}, 2, "--data needs a value"},
      // A value left out takes no flag for it (`--to --data` was "unknown flag" of
      // the path after it, a review).
      {{PORTALCTL_BIN, "backup", "--to", "--data", data()},
       2,
       "--to needs a value: '--data' after it is a flag"},
      {{PORTAL_REPLAY_BIN, "timeline", "--data", data(), "--company", "--user", "x"},
       2,
       "--company needs a value: '--user' after it is a flag"},
      {{PORTALCTL_BIN, "provision", "--data", missing, "--company", "x", "--name", "X",
        "--owner-email", "o@x.test", "--owner-given-name", "O", "--owner-surname", "S",
        "--owner-job-title", "T", "--owner-manager-email", "m@x.test"},
       1,
       "data directory " + missing + " does not exist (a new portal is made in an empty directory"},
      // An answer that cannot be written: one line and exit 1 (no abort with the log open).
      {{"/bin/sh", "-c",
        std::string("exec ") + PORTAL_REPLAY_BIN + " events --data " + data() + " > /dev/full"},
       1,
       "portal-replay: cannot write the output: No space left on device"},
      // Started without a standard output (>&-): said so, not written into the first
      // file it opens, which took that number (its scratch lock file, a review found).
      {{"/bin/sh", "-c",
        std::string("exec ") + PORTAL_REPLAY_BIN + " events --data " + data() + " >&-"},
       1,
       "portal-replay: cannot write the output: Bad file descriptor"},
      {{"/bin/sh", "-c",
        std::string("exec ") + PORTAL_REPLAY_BIN + " verify --data " + data() + " >&-"},
       1,
       "portal-replay: cannot write the output: Bad file descriptor"},
      {{"/bin/sh", "-c",
        std::string("exec ") + PORTALCTL_BIN + " compact --data " + data() + " >&-"},
       1,
       "portalctl: compact done, but its answer could not be written to the output"},
  };
  for (const auto& c : cases) {
    ProgramRun r = runProgram(c.args);
    EXPECT_EQ(r.exitCode, c.code) << c.args[1] << " " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  }
}

// A data directory the user may not read is said as such, in one line, by every
// program: not as one that holds no portal data, nor with RocksDB's own lines. As
// root, who reads everything, the programs run as nobody (setpriv) on directories
// of root's; otherwise as the test's user, with its own permissions taken away.
TEST_F(ToolsTest, ADirectoryTheUserMayNotReadIsSaidAsSuch) {
  std::vector<std::string> as;  // what the programs' command lines start with
  const bool root = ::geteuid() == 0;
  if (root) {
    const std::string setpriv = fs::exists("/usr/bin/setpriv") ? "/usr/bin/setpriv" : "/bin/setpriv";
    as = {setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"};
    ProgramRun probe = runProgram({setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                                   "/bin/true"});
    if (probe.exitCode != 0) GTEST_SKIP() << "cannot run a program as nobody: " << probe.err;
    fs::permissions(dir_.path(),
                    fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  }
  const std::string empty = dir_.sub("empty");
  fs::create_directories(empty);
  // The directory itself closed (root's 0700 to nobody, 000 to its owner).
  const fs::perms closed = root ? fs::perms::owner_all : fs::perms::none;
  for (const auto& d : {data(), empty}) fs::permissions(d, closed);
  struct Restore {
    std::vector<std::string> dirs;
    ~Restore() {
      for (const auto& d : dirs) fs::permissions(d, fs::perms::owner_all);
    }
  } restore{{data(), empty}};

  const auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), as.begin(), as.end());
    return runProgram(args);
  };
  const std::vector<std::vector<std::string>> commands = {
      {PORTAL_REPLAY_BIN, "verify", "--data", data()},
      {PORTAL_REPLAY_BIN, "events", "--data", data()},
      {PORTAL_REPLAY_BIN, "timeline", "--data", data(), "--company", "acme", "--user", s().bob},
      {PORTALCTL_BIN, "compact", "--data", data()},
      {PORTALCTL_BIN, "rebuild", "--data", data()},
      {PORTALCTL_BIN, "backup", "--data", data(), "--to", dir_.sub("backup")},
      {PORTALCTL_BIN, "provision", "--data", empty, "--company", "x", "--name", "X", "--owner-email",
       "a@x.example", "--owner-given-name", "A", "--owner-surname", "B", "--owner-job-title", "C",
       "--owner-manager-email", "a@x.example"},
  };
  for (const auto& c : commands) {
    ProgramRun r = run(c);
    const std::string program = fs::path(c[0]).filename().string();
    EXPECT_EQ(r.exitCode, 1) << c[1] << ": " << r.err;
    EXPECT_EQ(r.err, program + ": cannot read " + c[3] + ": permission denied\n") << c[1];
  }

  // The directory open but its files not: RocksDB's refusal to read CURRENT is said
  // the same way.
  if (root) {
    fs::permissions(data(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec);
    for (const auto& f : fs::recursive_directory_iterator(data()))
      if (f.is_regular_file())
        fs::permissions(f.path(), fs::perms::owner_read | fs::perms::owner_write);
  } else {
    fs::permissions(data(), fs::perms::owner_all);
    fs::permissions(data() + "/CURRENT", fs::perms::none);
  }
  for (const auto& c : {commands[0], commands[3]}) {
    ProgramRun r = run(c);
    const std::string program = fs::path(c[0]).filename().string();
    EXPECT_EQ(r.exitCode, 1) << c[1] << ": " << r.err;
    EXPECT_EQ(r.err, program + ": cannot read " + data() + ": permission denied\n") << c[1];
  }
  if (!root) fs::permissions(data() + "/CURRENT", fs::perms::owner_read | fs::perms::owner_write);

  // Its directory listing and CURRENT readable, its logs not: the writer's jobs,
  // refused its LOCK first, say so as the reader does, not "cannot write ...;
  // portal-replay reads it all the same" (a review).
  if (root) {
    for (const auto& f : fs::recursive_directory_iterator(data()))
      if (f.is_regular_file() && f.path().extension() != ".log")
        fs::permissions(f.path(), fs::perms::owner_read | fs::perms::owner_write |
                                      fs::perms::group_read | fs::perms::others_read);
    // A file of somebody's own beside RocksDB's, which no reader minds, is no
    // reason (a review got "cannot read" of an operator's notes).
    {
      std::ofstream(data() + "/operator-notes.txt") << "notes\n";
      fs::permissions(data() + "/operator-notes.txt",
                      fs::perms::owner_read | fs::perms::owner_write);
      std::vector<fs::path> logs;
      for (const auto& f : fs::directory_iterator(data()))
        if (f.path().extension() == ".log") logs.push_back(f.path());
      for (const auto& log : logs)
        fs::permissions(log, fs::perms::owner_read | fs::perms::owner_write |
                                 fs::perms::group_read | fs::perms::others_read);
      ProgramRun r = run(commands[3]);
      EXPECT_EQ(r.exitCode, 1) << r.err;
      EXPECT_NE(r.err.find("portalctl: cannot write in data directory " + data()),
                std::string::npos)
          << r.err;
      for (const auto& log : logs)
        fs::permissions(log, fs::perms::owner_read | fs::perms::owner_write);
      fs::remove(data() + "/operator-notes.txt");
    }
    for (const auto& c : {commands[0], commands[3]}) {
      ProgramRun r = run(c);
      const std::string program = fs::path(c[0]).filename().string();
      EXPECT_EQ(r.exitCode, 1) << c[1] << ": " << r.err;
      EXPECT_EQ(r.err, program + ": cannot read " + data() + ": permission denied\n") << c[1];
    }
  }
}

// Directories that are not the portal's are refused before anything is written to
// them: another program's RocksDB (opening it for writing would add our families to
// it), and a non-empty directory that a new log would litter.
TEST(ToolsOnOthersDirectories, AreRefusedAndLeftAsTheyWere) {
  TempDir dir;
  const std::string foreign = dir.sub("foreign");
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, foreign, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "theirs", "value").ok());
  }
  const auto files = [](const std::string& path) {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.insert(e.path().filename().string());
    return names;
  };
  const auto before = files(foreign);
  for (const char* command : {"compact", "rebuild"}) {
    ProgramRun r = runProgram({PORTALCTL_BIN, command, "--data", foreign});
    EXPECT_EQ(r.exitCode, 1) << command;
    EXPECT_NE(r.err.find("holds no portal data"), std::string::npos) << r.err;
  }
  EXPECT_EQ(files(foreign), before);
  std::vector<std::string> families;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), foreign, &families).ok());
  EXPECT_EQ(families, std::vector<std::string>{"default"});

  const std::string notes = dir.sub("notes");
  fs::create_directories(notes);
  { std::ofstream(notes + "/notes.txt") << "mine"; }
  ProgramRun r = runProgram({PORTALCTL_BIN, "provision", "--data", notes, "--company", "x", "--name", "X",
                             "--owner-email", "a@x.example", "--owner-given-name", "A", "--owner-surname",
                             "B", "--owner-job-title", "C", "--owner-manager-email", "a@x.example"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("holds no portal data and is not empty"), std::string::npos) << r.err;
  EXPECT_EQ(files(notes), std::set<std::string>{"notes.txt"});

  const auto provisionIn = [](const std::string& data, const std::string& slug) {
    return runProgram({PORTALCTL_BIN, "provision", "--data", data, "--company", slug, "--name", "X",
                       "--owner-email", "a@x.example", "--owner-given-name", "A", "--owner-surname",
                       "B", "--owner-job-title", "C", "--owner-manager-email", "a@x.example",
                       "--password-hash-cost", "minimum"});
  };
  // A provisioning refused in an empty directory leaves it empty.
  const std::string empty = dir.sub("empty");
  fs::create_directories(empty);
  r = provisionIn(empty, "Bad Slug");
  EXPECT_EQ(r.exitCode, 2) << "a bad flag's value, as every bad flag";
  EXPECT_NE(r.err.find("company"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(files(empty).empty()) << "left behind: " << *files(empty).begin();
  // A slug refused for a hyphen at its end is told why (a review was told the letters
  // it holds are not allowed).
  r = provisionIn(empty, "demo-");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("not beginning or ending with a hyphen"), std::string::npos) << r.err;
  // So in a volume's root, which holds its lost+found (a review found a log left).
  const std::string volume = dir.sub("volume");
  fs::create_directories(volume + "/lost+found");
  r = provisionIn(volume, "Bad Slug");
  EXPECT_EQ(r.exitCode, 2);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(volume)) left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"lost+found"});

  // A backup target refused is refused before the log is opened: nothing in it changes.
  const std::string data = dir.sub("data");
  fs::create_directories(data);
  r = provisionIn(data, "xy");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto logFiles = files(data);
  // (/proc takes no directory, root's or anyone's: found before the compaction that
  // comes first, not after it in RocksDB's words.)
  // A symbolic link to a directory not there yet stays (a review: RocksDB's rename
  // failed on it and the cleanup after removed the operator's link).
  const std::string dangling = dir.sub("link");
  fs::create_symlink(dir.sub("not-yet"), dangling);
  // A DIR.tmp there (where a new DIR is made first) is not emptied, nor is the
  // directory a symbolic link of that name points to (a review lost files so).
  const std::string staged = dir.sub("staged"), linked = dir.sub("linked");
  fs::create_directories(staged + ".tmp");
  { std::ofstream(staged + ".tmp/report.pdf") << "mine"; }
  fs::create_symlink(notes, linked + ".tmp");
  for (const std::string& to : {notes, data + "/inside", dir.sub("nowhere") + "/backup",
                                std::string("/proc/backup"), dangling, staged, linked}) {
    r = runProgram({PORTALCTL_BIN, "backup", "--data", data, "--to", to});
    EXPECT_EQ(r.exitCode, 1) << to;
    if (to == "/proc/backup") {
      EXPECT_NE(r.err.find("cannot write in /proc ("), std::string::npos) << r.err;
    }
    if (to == dangling) {
      EXPECT_EQ(r.err, "portalctl: " + dangling + " is a symbolic link to " + dir.sub("not-yet") +
                           ", which does not exist: make that directory, or name another\n");
      EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dangling)));
    }
    if (to == staged) {
      EXPECT_EQ(r.err, "portalctl: " + staged +
                           ".tmp exists: the backup is made there first and then renamed; "
                           "remove it if a backup cut short left it, or name another directory\n");
    }
    if (to == linked) {
      EXPECT_NE(r.err.find(linked + ".tmp exists"), std::string::npos) << r.err;
    }
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(files(data), logFiles) << to << ": " << r.err;
  }
  EXPECT_EQ(files(staged + ".tmp"), std::set<std::string>{"report.pdf"});
  EXPECT_EQ(files(notes), std::set<std::string>{"notes.txt"});
  // An existing empty directory named with a trailing separator (as a shell
  // completes it) takes the backup.
  const std::string backup = dir.sub("backup");
  fs::create_directories(backup);
  r = runProgram({PORTALCTL_BIN, "backup", "--data", data, "--to", backup + "/"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(runProgram({PORTAL_REPLAY_BIN, "verify", "--data", backup}).exitCode, 0);
}

// Sets or clears a directory's immutable attribute (chattr +i); false where the file
// system or the user cannot (overlayfs, tmpfs, no CAP_LINUX_IMMUTABLE).
bool setImmutable(const std::string& dir, bool on) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  int flags = 0;
  bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (ok) {
    flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  ::close(fd);
  return ok;
}

// A directory that cannot be written (immutable here; read-only or another user's
// alike) is said to be one, beside RocksDB's words naming one file of it (a review
// read only those); portal-replay reads it.
TEST(ToolsOnOthersDirectories, ADirectoryThatCannotBeWrittenIsSaidSo) {
  TempDir dir;
  const std::string data = dir.sub("data");
  fs::create_directories(data);
  ProgramRun r = runProgram({PORTALCTL_BIN,
                             "provision",
                             "--data",
                             data,
                             "--company",
                             "xy",
                             "--name",
                             "X",
                             "--owner-email",
                             "a@x.example",
                             "--owner-given-name",
                             "A",
                             "--owner-surname",
                             "B",
                             "--owner-job-title",
                             "C",
                             "--owner-manager-email",
                             "a@x.example",
                             "--password-hash-cost",
                             "minimum"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  if (!setImmutable(data, true))
    GTEST_SKIP() << "this file system or user cannot make a directory immutable";
  struct Writable {
    std::string dir;
    ~Writable() { setImmutable(dir, false); }
  } writable{data};
  r = runProgram({PORTALCTL_BIN, "compact", "--data", data});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.err.rfind("portalctl: cannot write in data directory " + data + " (IO error: ", 0),
            0u)
      << r.err;
  EXPECT_TRUE(
      r.err.ends_with("): make it and its files writable for this user (not read-only, "
                      "not immutable); portal-replay reads it all the same\n"))
      << r.err;
  r = runProgram({PORTAL_REPLAY_BIN, "verify", "--data", data});
  EXPECT_EQ(r.exitCode, 0) << r.err;
}

// A log whose newest events were removed (the head record lowered too, so the
// store itself cannot tell): the views have seen more than the log holds, and a
// writer refuses it rather than append at the removed positions.
TEST_F(ToolsTest, AWriterRefusesALogShorterThanItsViewsHaveSeen) {
  std::uint64_t last = 0;
  editBehindTheProgramsBack(data(), [&](rocksdb::DB* db, auto& families) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), families.at("events")));
    it->SeekToLast();
    ASSERT_TRUE(it->Valid());
    last = positionFromBytes(it->key().ToStringView());
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), families.at("events"), it->key()).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), families.at("meta"), "head", positionBytes(last - 1)).ok());
  });
  ProgramRun r = portalctl({"rebuild", "--data", data(), "--projection", "users"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("view has seen " + std::to_string(last) + " events but the log holds " +
                       std::to_string(last - 1)),
            std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// A provisioning whose answer (the owner's temporary password) cannot be written
// says so and exits 1.
TEST(ToolsOnOthersDirectories, AnAnswerThatCannotBeWrittenIsAFailure) {
  TempDir dir;
  fs::create_directories(dir.sub("data"));
  ProgramRun r = runProgram(
      {"/bin/sh", "-c",
       std::string("exec \"$0\" provision --data \"$1\" --company xy --name X --owner-email a@x.example "
                   "--owner-given-name A --owner-surname B --owner-job-title C "
                   "--owner-manager-email a@x.example --password-hash-cost minimum > /dev/full"),
       PORTALCTL_BIN, dir.sub("data")});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("provisioning done, but its answer could not be written"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("temporary password is in the mail"), std::string::npos) << r.err;
}

// A directory whose CURRENT or MANIFEST is damaged or gone is said to be so, by
// every program, not as "no portal data" (which reads as a wrong path, and invites
// provisioning anew: a review).
TEST(ToolsOnOthersDirectories, ADirectoryWhoseCurrentOrManifestIsDamagedIsSaidToBeSo) {
  TempDir dir;
  const std::string data = dir.sub("data");
  {
    ServerProcess server(data);
    const std::string token = signInDemoOwner(server);
    HttpClient client(server.port());
    ASSERT_EQ(client
                  .post("/api/v1/users",
                        userBody("ann@demo.example", "Ann", "Lee", "owner@demo.example"), token)
                  .status,
              201);
    ASSERT_EQ(server.terminate(), 0);
  }
  auto saysDamaged = [](const ProgramRun& r, const std::string& what) {
    EXPECT_EQ(r.exitCode, 1) << what << ": " << r.out << r.err;
    EXPECT_NE(r.err.find(" are damaged ("), std::string::npos) << what << ": " << r.err;
    EXPECT_NE(r.err.find("restore the data directory from a backup"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  const std::string garbled = dir.sub("garbled");
  fs::copy(data, garbled, fs::copy_options::recursive);
  std::ofstream(fs::path(garbled) / "CURRENT") << "garbage\n";
  saysDamaged(replay({"verify", "--data", garbled}), "CURRENT");
  saysDamaged(portalctl({"compact", "--data", garbled}), "CURRENT");
  const std::string withoutManifest = dir.sub("without-manifest");
  fs::copy(data, withoutManifest, fs::copy_options::recursive);
  for (const auto& e : fs::directory_iterator(withoutManifest))
    if (e.path().filename().string().rfind("MANIFEST-", 0) == 0) fs::remove(e.path());
  saysDamaged(replay({"timeline", "--data", withoutManifest, "--company", "demo", "--user",
                      "ann@demo.example"}),
              "MANIFEST");
  saysDamaged(runProgram({PORTAL_SERVER_BIN, "--data", withoutManifest, "--listen", "127.0.0.1:0"}),
              "MANIFEST");
  // CURRENT removed, or a MANIFEST cut short (it then lists the default family
  // alone): a review got "holds no portal data" from every program, and a server
  // given --demo must not make a new portal over what is left.
  const std::string withoutCurrent = dir.sub("without-current");
  fs::copy(data, withoutCurrent, fs::copy_options::recursive);
  fs::remove(fs::path(withoutCurrent) / "CURRENT");
  saysDamaged(replay({"verify", "--data", withoutCurrent}), "CURRENT removed");
  saysDamaged(portalctl({"compact", "--data", withoutCurrent}), "CURRENT removed");
  saysDamaged(runProgram({PORTAL_SERVER_BIN, "--data", withoutCurrent, "--listen", "127.0.0.1:0",
                          "--demo"}),
              "CURRENT removed");
  EXPECT_FALSE(fs::exists(fs::path(withoutCurrent) / "CURRENT")) << "no new log made over it";
  // Cut at several lengths: before the log's families, and among them (a second
  // review: cut after events and meta, readers said "no portal data").
  for (const std::uintmax_t length : {100, 250, 300, 350, 400}) {
    const std::string shortManifest = dir.sub("short-manifest-" + std::to_string(length));
    fs::copy(data, shortManifest, fs::copy_options::recursive);
    for (const auto& e : fs::directory_iterator(shortManifest))
      if (e.path().filename().string().rfind("MANIFEST-", 0) == 0)
        fs::resize_file(e.path(), length);
    saysDamaged(replay({"verify", "--data", shortManifest}),
                "MANIFEST cut at " + std::to_string(length));
    saysDamaged(runProgram({PORTAL_SERVER_BIN, "--data", shortManifest, "--listen", "127.0.0.1:0",
                            "--demo"}),
                "MANIFEST cut at " + std::to_string(length));
  }
  // An old options file alone, in a directory emptied by hand, is no log to restore.
  const std::string optionsAlone = dir.sub("options-alone");
  fs::create_directories(optionsAlone);
  for (const auto& e : fs::directory_iterator(data))
    if (e.path().filename().string().rfind("OPTIONS-", 0) == 0)
      fs::copy(e.path(), fs::path(optionsAlone) / e.path().filename());
  const ProgramRun alone = replay({"verify", "--data", optionsAlone});
  EXPECT_NE(alone.err.find("holds no portal data"), std::string::npos) << alone.err;
  EXPECT_EQ(replay({"verify", "--data", data}).exitCode, 0);
}

// Another process holds the directory and no server answers its socket (a portalctl
// working offline): said in one sentence an operator can act on.
TEST(ToolsOnOthersDirectories, PortalctlBesideAnotherWriterThatIsNoServerSaysSo) {
  TempDir dir;
  StoreOptions options;
  options.path = dir.sub("data");
  options.createIfMissing = true;
  auto holder = EventStore::open(options);
  ASSERT_TRUE(holder) << holder.error().message;
  ProgramRun r = portalctl({"compact", "--data", options.path});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_EQ(r.err,
            "portalctl: data directory " + options.path +
                " is in use by another process, and no server answers on its operator socket "
                "(another portalctl working on it, or a server starting); try again once it is "
                "done\n");
}

// Every projection's rows, by name.
std::map<std::string, std::vector<std::vector<std::pair<std::string, std::string>>>> dumpAll(Projector& p) {
  std::map<std::string, std::vector<std::vector<std::pair<std::string, std::string>>>> out;
  for (const auto& projection : allProjections()) out[projection->name()] = p.dump(projection->name());
  return out;
}

// Opens a stopped directory's projections, and checks that they equal a rebuild
// from the log (the rows a clean build makes).
void expectProjectionsEqualACleanRebuild(const std::string& dir) {
  StoreOptions o;
  o.path = dir;
  auto store = EventStore::open(o);
  ASSERT_TRUE(store) << store.error().message;
  auto projector = Projector::open(**store, allProjections());
  ASSERT_TRUE(projector);
  ASSERT_TRUE((*projector)->catchUp());
  const auto served = dumpAll(**projector);
  ASSERT_TRUE((*projector)->rebuild("all", nullptr));
  EXPECT_TRUE(served == dumpAll(**projector));
}

TEST_F(ToolsTest, PortalctlRebuildsCompactsAndBacksUpAStoppedDirectory) {
  ProgramRun r = portalctl({"rebuild", "--data", data(), "--projection", "users"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["projection"], "users_v4");
  EXPECT_NE(r.err.find("rebuild users_v4: "), std::string::npos) << "a progress line: " << r.err;
  EXPECT_NE(r.err.find("events/s"), std::string::npos) << r.err;
  std::size_t ends = 0;
  for (std::size_t at = r.err.find("(100%)"); at != std::string::npos; at = r.err.find("(100%)", at + 1)) ++ends;
  EXPECT_EQ(ends, 1u) << "the end is told once: " << r.err;
  r = portalctl({"rebuild", "--data", data()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = portalctl({"compact", "--data", data()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  // Alice's key is gone from the disk, her email with it.
  EXPECT_TRUE(filesContaining(data(), "alice@acme.test").empty());
  r = portalctl({"backup", "--data", data(), "--to", dir_.sub("backup")});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const std::string verified = replay({"verify", "--data", dir_.sub("backup")}).out;
  EXPECT_EQ(verified, replay({"verify", "--data", data()}).out);
  // The count it reports is what the copy holds, read from it.
  EXPECT_NE(r.out.find("\"events\":" + verified.substr(4, verified.find(' ', 4) - 4)),
            std::string::npos)
      << r.out << " / " << verified;
  EXPECT_FALSE(fs::exists(dir_.sub("backup") + "/LOG")) << "reading it back wrote nothing into it";
  // Into an empty directory that is there already (a mounted volume, whose parent
  // the operator may not write): the backup is made in it, nothing else left.
  fs::create_directory(dir_.sub("volume"));
  r = portalctl({"backup", "--data", data(), "--to", dir_.sub("volume")});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_FALSE(fs::exists(dir_.sub("volume") + "/.portal-backup"));
  // What such a backup cut short left is no content: the next one clears it.
  fs::create_directories(dir_.sub("volume2") + "/.portal-backup.tmp");
  r = portalctl({"backup", "--data", data(), "--to", dir_.sub("volume2")});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_FALSE(fs::exists(dir_.sub("volume2") + "/.portal-backup.tmp"));
  EXPECT_EQ(replay({"verify", "--data", dir_.sub("volume")}).out, replay({"verify", "--data", data()}).out);
  expectProjectionsEqualACleanRebuild(data());
  // A server starts from the backup and shows what was there.
  ServerProcess server(dir_.sub("backup"), false);  // (a portal already: no demo company is added)
  HttpClient client(server.port());
  EXPECT_EQ(client.get("/healthz").status, 200);
  EXPECT_EQ(server.terminate(), 0);
  ProgramRun timeline = replay({"timeline", "--data", dir_.sub("backup"), "--company", "acme", "--user", s().alice});
  EXPECT_NE(timeline.out.find("deactivated; 2 resources transferred to Bob Builder"), std::string::npos);
}

// A log of `users` UserCreated events with its projections caught up; their status.
std::vector<ProjectionStatus> logOfNewUsers(const std::string& data, int users) {
  auto store = openStore(data);
  for (int first = 0; first < users; first += 1000) {
    AppendRequest r;
    for (int i = first; i < std::min(users, first + 1000); ++i)
      r.events.push_back(userCreated("u" + std::to_string(i), "u" + std::to_string(i)));
    if (!store->append(r)) throw std::runtime_error("append");
  }
  auto projector = Projector::open(*store, allProjections());
  if (!projector || !(*projector)->catchUp()) throw std::runtime_error("catch up");
  return (*projector)->status();
}

TEST(ToolsOnALargerLog, RebuildStoppedWithCtrlCLeavesTheOldProjectionServing) {
  TempDir dir;
  const std::string data = dir.sub("data");
  const std::uint64_t generation = logOfNewUsers(data, 60'000).front().generation;
  RunningProgram rebuild({PORTALCTL_BIN, "rebuild", "--data", data, "--projection", "users"});
  ASSERT_TRUE(rebuild.waitForError("rebuild users_v4: ")) << "a first progress line";
  rebuild.signal(SIGINT);
  ProgramRun r = rebuild.finish();
  EXPECT_EQ(r.exitCode, 130) << "as through a server, and as any program Ctrl-C ends: " << r.err;
  EXPECT_NE(r.err.find("portalctl: rebuild cancelled; the old projection is kept"),
            std::string::npos)
      << r.err;

  auto store = openStore(data);
  auto projector = Projector::open(*store, allProjections());
  ASSERT_TRUE(projector);
  const ProjectionStatus users = (*projector)->status().front();
  EXPECT_EQ(users.name, "users_v4");
  EXPECT_EQ(users.generation, generation) << "the old generation serves";
  EXPECT_EQ(users.checkpoint, 60'000u);
  for (const auto& cf : store->columnFamilyNames())
    EXPECT_EQ(cf.find("users_v4.rows.g" + std::to_string(generation + 1)), std::string::npos) << cf;
}

// Through a server, Ctrl-C ends portalctl before the server answers: it says what it
// knows, and the server's log says the rebuild was cancelled, not that it failed
// (an end-to-end review read "refused or failed" there).
TEST(ToolsOnALargerLog, RebuildStoppedWithCtrlCThroughAServerIsLoggedAsCancelled) {
  TempDir dir;
  const std::string data = dir.sub("data");
  logOfNewUsers(data, 60'000);
  const std::string log = dir.sub("server.log");
  ServerProcess server(data, false, 0, {}, false, false, log);
  RunningProgram rebuild({PORTALCTL_BIN, "rebuild", "--data", data, "--projection", "users"});
  ASSERT_TRUE(rebuild.waitForError("rebuild users_v4: ")) << "a first progress line";
  rebuild.signal(SIGINT);
  ProgramRun r = rebuild.finish();
  EXPECT_EQ(r.exitCode, 130) << r.err;
  EXPECT_NE(r.err.find("portalctl: rebuild interrupted; the server stops it and keeps the old "
                       "projection"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(waitFor([&] {
    return readFile(log).find("operator: rebuild users_v4 cancelled in ") != std::string::npos;
  })) << readFile(log);
  EXPECT_EQ(readFile(log).find("refused or failed"), std::string::npos) << readFile(log);
  HttpClient client(server.port());
  EXPECT_EQ(client.get("/healthz").status, 200);
  EXPECT_EQ(server.terminate(), 0);
}

// The rebuild decodes chunks of the log on both of its threads: an event deep in
// the log that cannot be decoded stops it with that event's position, and the old
// projections keep serving.
TEST(ToolsOnALargerLog, RebuildStopsAtAnEventThatCannotBeDecodedAndTheOldProjectionsServe) {
  TempDir dir;
  const std::string data = dir.sub("data");
  const std::vector<ProjectionStatus> before = logOfNewUsers(data, 20'000);
  // Two, in chunks far apart (either thread may decode either): the first is named.
  for (std::uint64_t position : {15'123, 19'001}) rewriteEvent(data, position, "\"data\":", "\"atad\":");
  ProgramRun r = runProgram({PORTALCTL_BIN, "rebuild", "--data", data, "--projection", "all"});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("\nportalctl: event 15123 has no data object\n"), std::string::npos) << r.err;

  auto store = openStore(data);
  auto projector = Projector::open(*store, allProjections());
  ASSERT_TRUE(projector);
  const auto after = (*projector)->status();
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].generation, before[i].generation) << after[i].name;
    EXPECT_EQ(after[i].checkpoint, 20'000u) << after[i].name;
    EXPECT_FALSE(after[i].failed) << after[i].name << ": " << after[i].error;
  }
  for (const auto& cf : store->columnFamilyNames())
    EXPECT_EQ(cf.find(".g" + std::to_string(before.front().generation + 1)), std::string::npos) << cf;
  UsersReader users(store->db(), (*projector)->handle(UsersProjection::kName, UsersProjection::kRows),
                    (*projector)->handle(UsersProjection::kName, UsersProjection::kSearch));
  EXPECT_TRUE(users.get("c-1", "u19999").has_value()) << "the old rows serve";
}

// Creates users through the server until stopped; counts what failed.
class Load {
 public:
  Load(std::uint16_t port, std::string token) {
    thread_ = std::thread([this, port, token] {
      HttpClient client(port);
      for (int i = 0; !stop_; ++i) {
        Reply r = client.post("/api/v1/users",
                              {{"email", "load" + std::to_string(i) + "@demo.example"},
                               {"givenName", "Load"},
                               {"surname", "User" + std::to_string(i)},
                               {"jobTitle", "T"},
                               {"managerEmail", "owner@demo.example"}},
                              token);
        (r.status == 201 ? created_ : failed_)++;
        if (r.status != 201) lastFailure_ = r.body;
      }
    });
  }
  ~Load() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int created() const { return created_; }
  int failed() const { return failed_; }
  const std::string& lastFailure() const { return lastFailure_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> created_{0}, failed_{0};
  std::string lastFailure_;
  std::thread thread_;
};

// A reader beside the server sees the views as of the last command, not the one
// before: a user just created is found by email with nothing after them.
TEST(ToolsBesideAServer, ATimelineFindsAUserJustCreated) {
  TempDir dir;
  const std::string data = dir.sub("data");
  ServerProcess server(data);
  const std::string token = signInDemoOwner(server);
  HttpClient client(server.port());
  Reply made = client.post("/api/v1/users",
                           {{"email", "fresh@demo.example"}, {"givenName", "Fay"}, {"surname", "Fresh"},
                            {"jobTitle", "Clerk"}, {"managerEmail", "owner@demo.example"}},
                           token);
  ASSERT_EQ(made.status, 201) << made.body;
  ProgramRun r = replay({"timeline", "--data", data, "--company", "demo", "--user", "fresh@demo.example"});
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Fay Fresh"), std::string::npos) << r.out;
}

TEST(ToolsBesideAServer, EveryCommandWorksWhileTheServerKeepsTakingCommands) {
  TempDir dir;
  const std::string data = dir.sub("data");
  ServerProcess server(data);
  const std::string token = signInDemoOwner(server);
  Load load(server.port(), token);
  ASSERT_TRUE(waitFor([&] { return load.created() >= 50; }));

  ProgramRun r = replay({"verify", "--data", data});
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  r = replay({"events", "--data", data, "--company", "demo", "--type", "UserCreated"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_GE(lines(r.out).size(), 50u);
  r = replay({"timeline", "--data", data, "--company", "demo", "--user", "owner@demo.example"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("made an administrator"), std::string::npos) << r.out;
  r = replay({"as-of", "--data", data, "--company", "demo", "--at", "2100-01-01"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_GE(json::parse(r.out)["items"].size(), 50u);
  EXPECT_EQ(r.err,
            "portal-replay: note: 2100-01-01T00:00:00.000000Z is in the future: the view is as it "
            "stands now\n");

  // A rebuild of every projection under load: through the operator socket.
  const int before = load.created();
  r = portalctl({"rebuild", "--data", data, "--projection", "all"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("rebuild all: "), std::string::npos) << r.err;
  // Its last progress line counts what the answer counts: the catch-up beside the
  // load included (a review saw "51 of 51" above an answer of 68).
  const std::size_t lastLine = r.err.rfind("rebuild all: ");
  ASSERT_NE(lastLine, std::string::npos);
  const std::string counted = std::to_string(json::parse(r.out)["events"].get<std::uint64_t>());
  EXPECT_EQ(r.err.compare(lastLine + 13, counted.size() + 4, counted + " of "), 0)
      << r.err << r.out;
  ASSERT_TRUE(waitFor([&] { return load.created() >= before + 50; })) << "serving went on";
  r = portalctl({"compact", "--data", data});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  r = portalctl({"backup", "--data", data, "--to", dir.sub("backup")});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  load.stop();
  EXPECT_EQ(load.failed(), 0) << load.lastFailure();

  // Every user created is shown by the rebuilt views.
  HttpClient client(server.port());
  Reply users = client.get("/api/v1/users?limit=500", token);
  std::size_t shown = users.json()["items"].size();
  for (std::string cursor = users.json()["nextCursor"].is_string() ? users.json()["nextCursor"].get<std::string>() : "";
       !cursor.empty();) {
    users = client.get("/api/v1/users?limit=500&cursor=" + cursor, token);
    shown += users.json()["items"].size();
    cursor = users.json()["nextCursor"].is_string() ? users.json()["nextCursor"].get<std::string>() : "";
  }
  EXPECT_EQ(shown, static_cast<std::size_t>(load.created()) + 1) << "the owner and every user created";
  EXPECT_EQ(server.terminate(), 0);
  expectProjectionsEqualACleanRebuild(data);
  EXPECT_EQ(replay({"verify", "--data", dir.sub("backup")}).exitCode, 0);
}

// A reader opened while the server's compaction replaced the files aborted inside
// RocksDB in about one run of ten, or said the company, a user or a view was not
// there. It answers as it would without: the server holds its file deletions while
// the reader opens (a compaction every few milliseconds here, each a new MANIFEST).
TEST(ToolsBesideAServer, ReadersBesideBackToBackCompactionsAnswerAsWithout) {
  TempDir dir;
  const std::string data = dir.sub("data");
  ServerProcess server(data);
  const std::string token = signInDemoOwner(server);
  {
    Load load(server.port(), token);
    ASSERT_TRUE(waitFor([&] { return load.created() >= 200; }));
  }
  // What a reader answers with the files still, before the compactions begin.
  const ProgramRun before =
      replay({"timeline", "--data", data, "--company", "demo", "--user", "owner@demo.example"});
  ASSERT_EQ(before.exitCode, 0) << before.err;
  const std::string expected = before.out;
  std::atomic<bool> stop{false};
  std::atomic<int> compactions{0};
  std::thread compacting([&] {
    while (!stop) {
      ProgramRun c = portalctl({"compact", "--data", data});
      if (c.exitCode != 0) ADD_FAILURE() << c.err;
      ++compactions;
      // A moment between compactions, as an operator's script would leave: this
      // one's files change every few milliseconds while it runs.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  for (int i = 0; i < 12 || compactions < 3; ++i) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"timeline", "--data", data, "--company", "demo", "--user", "owner@demo.example"},
          std::vector<std::string>{"as-of", "--data", data, "--company", "demo", "--at", "2100-01-01"}}) {
      // (EXPECT, not ASSERT: a return here would leave the compacting thread
      // joinable, and end the whole test program with the server orphaned.)
      ProgramRun r = replay(args);
      EXPECT_EQ(r.exitCode, 0) << "run " << i << ": " << r.err;
      if (r.exitCode != 0) break;
      if (args[0] == "timeline")
        EXPECT_EQ(r.out, expected) << "run " << i;
      else
        EXPECT_GE(json::parse(r.out)["items"].size(), 200u) << "run " << i;
    }
    if (::testing::Test::HasFailure()) break;
  }
  stop = true;
  compacting.join();
  // Once the files stay still, every reader answers.
  const ProgramRun still =
      replay({"timeline", "--data", data, "--company", "demo", "--user", "owner@demo.example"});
  EXPECT_EQ(still.out, expected) << still.err;
  EXPECT_EQ(server.terminate(), 0);
}

}  // namespace
// The operator socket takes one request at a time. A client that waits gets its answer
// however long the request before it took; one that left while its request waited
// is not run (a provisioning whose temporary password nobody would see).
// A data directory deep in a mount: its socket's path is past the 107 bytes of a
// socket address, and the server and portalctl still meet there.
TEST(OperatorSocketTest, APathLongerThanASocketAddressStillServes) {
  TempDir dir;
  const std::string deep = dir.sub(std::string(60, 'a') + "/" + std::string(60, 'b'));
  std::filesystem::create_directories(deep);
  const std::string path = deep + "/portal.sock";
  ASSERT_GT(path.size(), 108u);
  auto socket = OperatorSocket::listen(path, [](std::string_view line, const OperatorProgress&) {
    return "done " + std::string(line);
  });
  ASSERT_TRUE(socket.ok()) << socket.error().message;
  EXPECT_TRUE(std::filesystem::exists(path));
  auto r = callOperatorSocket(path, "ping", kNoTimeout);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "done ping");
}

// A directory where the socket goes is said to be in the way (it was "Address
// already in use", which sent a review looking for another server).
TEST(OperatorSocketTest, ADirectoryInTheSocketsPlaceIsSaidToBeInTheWay) {
  TempDir dir;
  const std::string path = dir.sub("portal.sock");
  std::filesystem::create_directories(path + "/inside");
  auto socket = OperatorSocket::listen(
      path, [](std::string_view, const OperatorProgress&) { return std::string(); });
  ASSERT_FALSE(socket.ok());
  EXPECT_EQ(
      socket.error().message,
      "cannot listen on " + path + ": a directory of that name is in the way; move it elsewhere");
  EXPECT_TRUE(std::filesystem::exists(path + "/inside"));
}

TEST(OperatorSocketTest, ARequestWhoseClientLeftWhileItWaitedIsNotRun) {
  TempDir dir;
  const std::string path = dir.sub("op.sock");
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::mutex mu;
  std::vector<std::string> ran;
  auto socket = OperatorSocket::listen(path, [&](std::string_view line, const OperatorProgress&) {
    {
      std::lock_guard lock(mu);
      ran.emplace_back(line);
    }
    if (line == "first") released.wait();
    return "done " + std::string(line);
  });
  ASSERT_TRUE(socket.ok()) << socket.error().message;
  auto call = [&](const std::string& line) {
    return std::async(std::launch::async, [&path, line] {
      auto r = callOperatorSocket(path, line, kNoTimeout);
      return r ? *r : "error: " + r.error().message;
    });
  };
  auto first = call("first");
  ASSERT_TRUE(waitFor([&] {
    std::lock_guard lock(mu);
    return ran.size() == 1;
  }));
  // A client that gives up at once (1 ms), while "first" runs.
  EXPECT_FALSE(callOperatorSocket(path, "left", std::chrono::milliseconds(1)).ok());
  auto third = call("third");
  release.set_value();
  EXPECT_EQ(first.get(), "done first");
  EXPECT_EQ(third.get(), "done third");
  std::lock_guard lock(mu);
  EXPECT_EQ(ran, (std::vector<std::string>{"first", "third"}));
}

// A reader's hold of the files is answered at once, also while a long request (a
// rebuild, a compaction) runs, and lasts as long as the reader keeps it; past the
// most holds at once, or refused by the store, there is none, and the reader opens
// without.
TEST(OperatorSocketTest, AHoldOfTheFilesIsAnsweredBesideARunningRequestAndEndsWithTheReader) {
  TempDir dir;
  const std::string path = dir.sub("op.sock");
  std::promise<void> finish;
  std::shared_future<void> finished = finish.get_future().share();
  std::atomic<bool> running{false};
  std::atomic<int> held{0};
  std::atomic<bool> refuse{false};
  auto socket = OperatorSocket::listen(
      path,
      [&](std::string_view line, const OperatorProgress&) {
        running = true;
        finished.wait();
        return "done " + std::string(line);
      },
      [&]() -> Result<std::function<void()>> {
        if (refuse) return makeError(ErrorCode::kIoError, "the disk is gone");
        ++held;
        return std::function<void()>([&] { --held; });
      });
  ASSERT_TRUE(socket.ok()) << socket.error().message;
  auto compaction = std::async(std::launch::async, [&path] {
    auto r = callOperatorSocket(path, "{\"command\":\"compact\"}", kNoTimeout);
    return r ? *r : "error: " + r.error().message;
  });
  // The request ends however the test does (a failed ASSERT returns, and the
  // future's end would wait for it).
  bool finishSet = false;
  auto finishNow = [&] {
    if (!std::exchange(finishSet, true)) finish.set_value();
  };
  AtEnd atEnd{finishNow};
  ASSERT_TRUE(waitFor([&] { return running.load(); }));
  // A client that connects and says nothing (its line is waited for 10 s) holds up
  // no hold.
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  auto connectSilently = [&] {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    return fd;
  };
  const int silent = connectSilently();
  {
    auto first = holdServerFiles(path, std::chrono::seconds(2));
    ASSERT_NE(first, nullptr);
    EXPECT_TRUE(first->held());
    auto second = holdServerFiles(path, std::chrono::seconds(10));
    ASSERT_NE(second, nullptr);
    EXPECT_EQ(held.load(), 2);
    second.reset();
    EXPECT_TRUE(waitFor([&] { return held.load() == 1; })) << "released when the reader closed";
    EXPECT_TRUE(first->held());
  }
  EXPECT_TRUE(waitFor([&] { return held.load() == 0; }));
  // At most kMaxHolds at once.
  std::vector<std::unique_ptr<FileHold>> holds;
  for (std::size_t i = 0; i < OperatorSocket::kMaxHolds; ++i) {
    holds.push_back(holdServerFiles(path, std::chrono::seconds(10)));
    ASSERT_NE(holds.back(), nullptr) << i;
  }
  EXPECT_EQ(holdServerFiles(path, std::chrono::seconds(10)), nullptr);
  holds.clear();
  ASSERT_TRUE(waitFor([&] { return held.load() == 0; }));
  refuse = true;
  EXPECT_EQ(holdServerFiles(path, std::chrono::seconds(10)), nullptr);
  // Nobody there: no hold, at once.
  EXPECT_EQ(holdServerFiles(dir.sub("nobody.sock"), std::chrono::seconds(10)), nullptr);
  // Past the most connections being read at once (the silent one and these), a
  // request is answered so, not closed as if the server had stopped.
  std::vector<int> more;
  for (std::size_t i = 1; i < OperatorSocket::kMaxIncoming; ++i) more.push_back(connectSilently());
  auto past = callOperatorSocket(path, "{\"command\":\"compact\"}", std::chrono::seconds(10));
  ASSERT_TRUE(past.ok()) << past.error().message;
  EXPECT_NE(past->find("reading 64 requests already; try again shortly"), std::string::npos)
      << *past;
  for (int fd : more) ::close(fd);
  refuse = false;
  auto kept = holdServerFiles(path, std::chrono::seconds(10));
  ASSERT_NE(kept, nullptr);
  finishNow();
  EXPECT_EQ(compaction.get(), "done {\"command\":\"compact\"}");
  // The socket's end (the server's stop) releases what is still held.
  socket->reset();
  EXPECT_EQ(held.load(), 0);
  EXPECT_FALSE(kept->held());
  ::close(silent);
}

// The server stopping (SIGTERM) closes the socket: a long request that reports
// progress (a rebuild) learns that nobody listens any more and stops, so that the
// socket's end does not wait for it.
TEST(OperatorSocketTest, ClosingTheSocketStopsTheRunningRequestAtItsNextProgressLine) {
  TempDir dir;
  const std::string path = dir.sub("op.sock");
  std::atomic<int> lines{0};
  std::atomic<bool> stoppedByProgress{false};
  auto socket = OperatorSocket::listen(path, [&](std::string_view, const OperatorProgress& progress) {
    while (progress("{\"progress\":{}}")) ++lines;  // a rebuild that would never end
    stoppedByProgress = true;
    return std::string("{\"ok\":false,\"error\":\"rebuild cancelled\"}");
  });
  ASSERT_TRUE(socket.ok()) << socket.error().message;
  auto client = std::async(std::launch::async, [&path] {
    auto r = callOperatorSocket(path, "{\"command\":\"rebuild\"}", kNoTimeout);
    return r ? *r : "error: " + r.error().message;
  });
  ASSERT_TRUE(waitFor([&] { return lines.load() > 0; }));
  socket->reset();  // returns: the request stopped
  EXPECT_TRUE(stoppedByProgress.load());
  EXPECT_NE(client.get().find("cancelled"), std::string::npos);
}

}  // namespace portal::test
