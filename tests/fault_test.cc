// Faults: the data directory's file system fills up while the server takes commands.
// The test mounts a small tmpfs of its own (root, or CAP_SYS_ADMIN, is needed; without
// it the test is skipped and says why).

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "tests/api_server.h"
#include "tests/programs.h"

namespace portal::test {
namespace {

using json = nlohmann::json;

// A tmpfs of `bytes` mounted on `path` while it lives.
class SmallFileSystem {
 public:
  SmallFileSystem(const std::string& path, std::size_t bytes) : path_(path) {
    std::filesystem::create_directories(path);
    const std::string options = "size=" + std::to_string(bytes);
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) != 0)
      error_ = std::strerror(errno);
  }
  ~SmallFileSystem() {
    if (error_.empty()) ::umount2(path_.c_str(), MNT_DETACH);
  }
  // Empty when mounted, else why not.
  const std::string& error() const { return error_; }
  std::uint64_t freeBytes() const {
    struct statvfs s{};
    if (::statvfs(path_.c_str(), &s) != 0) return 0;
    return static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize;
  }

 private:
  std::string path_;
  std::string error_;
};

json newUser(int n, const std::string& domain = "acme.example") {
  return {{"email", "filler" + std::to_string(n) + "@" + domain},
          {"givenName", "Fill"},
          {"surname", "Er " + std::to_string(n)},
          {"jobTitle", std::string(200, 'j')},
          {"managerEmail", "owner@" + domain}};
}

// Fills `fs` with the file `filler` but for `room` bytes.
void fillUpTo(const SmallFileSystem& fs, const std::string& filler, std::uint64_t room) {
  std::ofstream out(filler, std::ios::binary);
  std::string block(1 << 20, 'x');
  for (std::uint64_t left = fs.freeBytes() - room; left > 0;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, block.size()));
    out.write(block.data(), static_cast<std::streamsize>(n));
    if (!out) break;
    left -= n;
  }
}

// Each test's data directory is on a 64 MiB tmpfs of its own: `data`, and `filler`
// beside it to fill the disk with.
class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_.emplace(mountPoint_, 64u << 20);
    if (!fs_->error().empty())
      GTEST_SKIP() << "cannot mount a tmpfs for the data directory (" << fs_->error()
                   << "); this test needs root or CAP_SYS_ADMIN";
  }

  TempDir dir_;
  const std::string mountPoint_ = dir_.sub("fs");
  std::optional<SmallFileSystem> fs_;
  const std::string data = mountPoint_ + "/data";
  const std::string filler = mountPoint_ + "/filler";
};

TEST_F(Faults, AFullDiskRefusesCommandsKeepsQueriesAndLosesNothingAcknowledged) {

  std::vector<std::string> acknowledged;
  int refused = 0;
  {
    ApiServer server({}, nullptr, {5, 100'000}, data);
    Person owner = server.provision("acme");
    HttpClient client(server.port());
    // Leave a little room, then create users until the disk is full.
    fillUpTo(*fs_, filler, 256u << 10);
    for (int n = 0; n < 20'000 && refused < 5; ++n) {
      Reply r = client.post("/api/v1/users", newUser(n), owner.token);
      if (r.status == 201) {
        ASSERT_EQ(refused, 0) << "a command was acknowledged after the log stopped";
        acknowledged.push_back(r.json()["id"]);
      } else {
        ASSERT_EQ(r.status, 503) << r.body;
        EXPECT_EQ(r.json()["code"], "log-unavailable");
        ++refused;
      }
    }
    ASSERT_EQ(refused, 5) << "the disk never filled up";
    // Queries are still answered.
    ASSERT_FALSE(acknowledged.empty());
    EXPECT_EQ(client.get("/api/v1/users/" + acknowledged.front(), owner.token).status, 200);
    EXPECT_EQ(client.get("/api/v1/users/" + acknowledged.back(), owner.token).status, 200);
    EXPECT_EQ(client.get("/api/v1/users?limit=5", owner.token).status, 200);
    Reply ready = client.get("/readyz");
    EXPECT_EQ(ready.status, 503);
    EXPECT_EQ(ready.json()["log"]["open"], false);
    // RocksDB's own word: it takes no write while the disk is full.
    EXPECT_NE(ready.json()["log"].value("storeError", ""), "") << ready.body;
    EXPECT_NE(client.get("/metrics").body.find("portal_store_background_error 1"),
              std::string::npos);
    // A sign-out that cannot be recorded says so, and the session stays (ended in
    // memory only, it would come back at the next restart while a retry got 401).
    Reply out = client.request("DELETE", "/api/v1/sessions/current", "", owner.token);
    EXPECT_EQ(out.status, 503) << out.body;
    EXPECT_EQ(out.json()["code"], "sessions-unavailable");
    EXPECT_EQ(client.get("/api/v1/me", owner.token).status, 200);
  }

  // Space freed, the server restarted: everything acknowledged is there, and it
  // takes commands again.
  std::filesystem::remove(filler);
  ApiServer server({}, nullptr, {5, 100'000}, data);
  Reply signIn = server.signIn("acme", "owner@acme.example", kPassword);
  ASSERT_EQ(signIn.status, 201) << signIn.body;
  const std::string token = signIn.json()["token"];
  HttpClient client(server.port());
  for (const std::string& id : acknowledged)
    ASSERT_EQ(client.get("/api/v1/users/" + id, token).status, 200) << id;
  Reply r = client.post("/api/v1/users", newUser(99'999), token);
  EXPECT_EQ(r.status, 201) << r.body;
  auto report = server.portal().store().verify();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->firstBad, 0u) << report->problem;
  EXPECT_EQ(report->checked, server.portal().store().lastPosition());
}

// A compaction (portalctl compact or backup through the server) that fails on a full
// disk leaves RocksDB refusing every write: said in its error, not found by the
// server's next command minutes later (an operator review).
TEST_F(Faults, ACompactionThatFailsOnAFullDiskSaysTheLogTakesNoWriteSince) {
  ApiServer server({}, nullptr, {5, 100'000}, data);
  Person owner = server.provision("acme");
  HttpClient client(server.port());
  for (int n = 0; n < 20; ++n)
    ASSERT_EQ(client.post("/api/v1/users", newUser(n), owner.token).status, 201);
  fillUpTo(*fs_, filler, 0);
  auto compacted = server.portal().store().compact();
  ASSERT_FALSE(compacted);
  EXPECT_NE(compacted.error().message.find(
                "; the event log refuses every write since: a server on it stops at its next "
                "command; mend the cause and start it again"),
            std::string::npos)
      << compacted.error().message;
  EXPECT_EQ(client.get("/readyz").status, 503);
}

// DESIGN.md: "A failed write stops the writer (fail-stop): the process refuses
// commands and exits non-zero". portal-server itself, on a disk that fills up.
TEST_F(Faults, TheServerExitsNonZeroWhenAWriteFailsAndARestartRecovers) {

  std::vector<std::string> acknowledged;
  {
    ServerProcess server(data);
    const std::string token = signInDemoOwner(server);
    fillUpTo(*fs_, filler, 256u << 10);
    HttpClient client(server.port());
    bool refused = false;
    for (int n = 0; n < 20'000 && !refused; ++n) {
      try {
        Reply r = client.post("/api/v1/users", newUser(n, "demo.example"), token);
        if (r.status == 201) {
          acknowledged.push_back(r.json()["id"]);
        } else if (r.status == 202) {
          // Durable, but the views' write failed first (it stops the server too).
          acknowledged.push_back(r.json()["id"]);
          refused = true;
        } else {
          EXPECT_EQ(r.status, 503) << r.body;
          refused = true;
        }
      } catch (const std::exception&) {
        refused = true;  // it stopped between two requests
      }
    }
    ASSERT_TRUE(refused) << "the disk never filled up";
    const std::optional<int> code = server.waitForExit(60);
    ASSERT_TRUE(code.has_value()) << "portal-server kept running after a failed write";
    EXPECT_EQ(*code, 1);
  }

  std::filesystem::remove(filler);
  ServerProcess server(data, false);
  HttpClient client(server.port());
  const std::string token =
      client.post("/api/v1/sessions", {{"company", "demo"},
                                       {"email", "owner@demo.example"},
                                       {"password", "a demo passphrase!"}})
          .json()["token"];
  for (const std::string& id : acknowledged)
    ASSERT_EQ(client.get("/api/v1/users/" + id, token).status, 200) << id;
  EXPECT_EQ(client.post("/api/v1/users", newUser(99'999, "demo.example"), token).status, 201);
}

}  // namespace
}  // namespace portal::test
