// portal_crash: durability under SIGKILL. Starts portal-server on a data directory,
// drives it with concurrent clients whose commands carry idempotency keys, kills it
// with SIGKILL at a random moment, restarts it and retries every command that was not
// answered. After each cycle it checks, with the real tools:
// - `portal-replay verify` passes and positions are gapless from 1;
// - every acknowledged command is in the log exactly once, and no retried command
//   is there twice (commands are found by their id, which is the idempotency key);
// - once restarted, every projection answers as a fresh rebuild does
//   (`portalctl rebuild --projection all`, offline, then the same reads compared).
//
//   portal_crash [--cycles N] [--seed S] [--keep DIR]
//
// CI runs 5 cycles (ctest: CrashHarness); more by hand, e.g. --cycles 200. It prints
// one line a cycle and exits 1 at the first broken promise, saying which.

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <limits>
#include <algorithm>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/http_client.h"
#include "tests/programs.h"
#include "tests/test_support.h"

namespace portal::test {
namespace {

using json = nlohmann::json;

constexpr const char* kOwnerEmail = "owner@demo.example";
constexpr const char* kPassword = "a demo passphrase!";  // set by signInDemoOwner
constexpr int kClients = 8;

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "portal_crash: BROKEN: %s\n", what.c_str());
  std::exit(1);
}

std::string signIn(std::uint16_t port) {
  HttpClient client(port);
  Reply r = client.post("/api/v1/sessions",
                        {{"company", "demo"}, {"email", kOwnerEmail}, {"password", kPassword}});
  if (r.status != 201) broken("the owner cannot sign in after a restart: " + r.body);
  return r.json()["token"];
}

json newUser(const std::string& key) {
  return {{"email", key + "@crash.example"},
          {"givenName", "Crash"},
          {"surname", key},
          {"jobTitle", "Tester"},
          {"managerEmail", kOwnerEmail}};
}

// The commands of the run: sent, answered, or neither (the server died first).
class Ledger {
 public:
  void sending(const std::string& key) {
    std::lock_guard lock(mu_);
    pending_.insert(key);
  }
  void answered(const std::string& key, const std::string& id) {
    std::lock_guard lock(mu_);
    pending_.erase(key);
    acknowledged_[key] = id;
    ++answeredThisCycle_;
    changed_.notify_all();
  }
  std::set<std::string> pending() {
    std::lock_guard lock(mu_);
    return pending_;
  }
  std::map<std::string, std::string> acknowledged() {
    std::lock_guard lock(mu_);
    return acknowledged_;
  }
  void newCycle() {
    std::lock_guard lock(mu_);
    answeredThisCycle_ = 0;
  }
  // Waits until `n` commands were answered in this cycle, or the clients stopped.
  void waitForAnswers(std::size_t n, const std::atomic<int>& running) {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, std::chrono::seconds(60),
                      [&] { return answeredThisCycle_ >= n || running.load() == 0; });
  }
  void clientStopped() { changed_.notify_all(); }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::set<std::string> pending_;
  std::map<std::string, std::string> acknowledged_;  // key -> user id
  std::size_t answeredThisCycle_ = 0;
};

// The id a create-user answer acknowledges: 201 with the new user, or 202 when the
// views had not shown it within the server's wait (a loaded machine under the
// sanitizers): durable all the same, with its id.
std::string acknowledgedId(const Reply& r, const std::string& what) {
  if (r.status == 201 || (r.status == 202 && r.json().contains("id"))) return r.json()["id"];
  broken(what + " was answered " + std::to_string(r.status) + ": " + r.body);
}

// Sends create-user commands back to back until the server stops answering.
void client(std::uint16_t port, const std::string& token, int cycle, int n, Ledger& ledger,
            std::atomic<int>& running) {
  try {
    HttpClient http(port);
    for (int i = 0;; ++i) {
      // Shaped as a request id the server keeps (hex digits and hyphens).
      char key[40];
      std::snprintf(key, sizeof key, "%08x-cafe-%04x-%08x", static_cast<unsigned>(cycle),
                    static_cast<unsigned>(n), static_cast<unsigned>(i));
      ledger.sending(key);
      Reply r = http.post("/api/v1/users", newUser(key), token,
                        {{"Idempotency-Key", key}, {"X-Request-Id", key}});
      ledger.answered(key, acknowledgedId(r, "a command"));
    }
  } catch (const std::exception&) {
    // The server was killed: what was sent stays pending.
  }
  --running;
  ledger.clientStopped();
}

// Retries every pending command with its key: each must be answered as created
// (acknowledgedId), as the first answer when it had been applied, or applied now.
void retryPending(std::uint16_t port, const std::string& token, Ledger& ledger) {
  HttpClient http(port);
  for (const std::string& key : ledger.pending()) {
    Reply r = http.post("/api/v1/users", newUser(key), token,
                        {{"Idempotency-Key", key}, {"X-Request-Id", key}});
    ledger.answered(key, acknowledgedId(r, "retrying " + key));
  }
}

// The log as portal-replay sees it: the chain verifies, positions are gapless, and
// each command's UserCreated count, by its key.
std::map<std::string, int> checkLog(const std::string& data) {
  ProgramRun verify = runProgram({PORTAL_REPLAY_BIN, "verify", "--data", data});
  if (verify.exitCode != 0) broken("portal-replay verify: " + verify.out + verify.err);
  ProgramRun events = runProgram({PORTAL_REPLAY_BIN, "events", "--data", data});
  if (events.exitCode != 0) broken("portal-replay events: " + events.err);
  std::map<std::string, int> created;
  std::istringstream lines(events.out);
  std::string line;
  std::uint64_t expected = 1;
  while (std::getline(lines, line)) {
    json e = json::parse(line, nullptr, false);
    if (!e.is_object()) broken("portal-replay events printed a line that is not JSON: " + line);
    const std::uint64_t position = e.value("position", std::uint64_t{0});
    if (position != expected)
      broken("a gap in the log: position " + std::to_string(position) + " where " +
             std::to_string(expected) + " was expected");
    ++expected;
    // By the request id the command was first sent with (the key itself is not
    // kept: the log holds a hash of it).
    if (e.value("type", "") == "UserCreated") ++created[e.value("correlationId", "")];
  }
  return created;
}

// What the views show through the API, for comparing with a fresh rebuild; audit
// entries only up to `upTo` (signing in again appends to the log), and the highest
// position among them in `last`.
std::string views(std::uint16_t port, const std::string& token, std::uint64_t upTo,
                  std::uint64_t& last) {
  HttpClient http(port);
  std::string out;
  last = 0;
  auto all = [&](const std::string& path, bool audit) {
    std::string cursor;
    do {
      const std::string sep = path.find('?') == std::string::npos ? "?" : "&";
      Reply r = http.get(path + sep + "limit=500" + (cursor.empty() ? "" : "&cursor=" + cursor), token);
      if (r.status != 200) broken("GET " + path + ": " + r.body);
      json page = r.json();
      for (const json& item : page["items"]) {
        if (audit) {
          const std::uint64_t position = item.value("position", std::uint64_t{0});
          if (position > upTo) continue;
          last = std::max(last, position);
        }
        out += path + " " + item.dump() + "\n";
      }
      const json next = page.value("nextCursor", json());
      cursor = next.is_string() ? next.get<std::string>() : "";
    } while (!cursor.empty());
  };
  all("/api/v1/users?status=all", false);
  all("/api/v1/admins", false);
  all("/api/v1/groups", false);
  all("/api/v1/resources", false);
  all("/api/v1/audit", true);
  return out;
}

// The projections, caught up after a crash, answer as a fresh rebuild does: the
// views read, the server stopped, `portalctl rebuild --projection all` run offline,
// the server started again and the same views read. Returns the new server.
std::unique_ptr<ServerProcess> matchesRebuild(std::unique_ptr<ServerProcess> server,
                                              const std::string& data, std::string& token,
                                              int cycle) {
  std::uint64_t last = 0, unused = 0;
  const std::string caughtUp =
      views(server->port(), token, std::numeric_limits<std::uint64_t>::max(), last);
  if (server->terminate() != 0) broken("portal-server did not stop cleanly on SIGTERM");
  ProgramRun rebuild = runProgram({PORTALCTL_BIN, "rebuild", "--data", data, "--projection", "all"});
  if (rebuild.exitCode != 0) broken("portalctl rebuild: " + rebuild.err);
  server = std::make_unique<ServerProcess>(data, false);
  token = signIn(server->port());
  if (views(server->port(), token, last, unused) != caughtUp)
    broken("after cycle " + std::to_string(cycle) + ": the projections differ from a fresh rebuild");
  return server;
}

int run(int cycles, unsigned seed, const std::string& keep) {
  TempDir dir;
  const std::string data = keep.empty() ? dir.sub("data") : keep;
  std::mt19937 random(seed);
  Ledger ledger;
  std::string token;
  for (int cycle = 1; cycle <= cycles; ++cycle) {
    ledger.newCycle();
    auto server = std::make_unique<ServerProcess>(data, /*newDemo=*/cycle == 1);
    token = cycle == 1 ? signInDemoOwner(*server) : signIn(server->port());
    const std::size_t retried = ledger.pending().size();
    retryPending(server->port(), token, ledger);

    server = matchesRebuild(std::move(server), data, token, cycle);

    // Load, and SIGKILL at a random moment.
    std::atomic<int> running{kClients};
    std::vector<std::thread> clients;
    for (int n = 0; n < kClients; ++n)
      clients.emplace_back(client, server->port(), token, cycle, n, std::ref(ledger), std::ref(running));
    const std::size_t killAfter = std::uniform_int_distribution<std::size_t>(10, 400)(random);
    ledger.waitForAnswers(killAfter, running);
    if (running.load() == 0) broken("the clients stopped before the kill");
    server->crash();
    for (auto& t : clients) t.join();
    server.reset();

    // The log as the tools read it, the server dead.
    const auto created = checkLog(data);
    const auto acknowledged = ledger.acknowledged();
    for (const auto& [key, id] : acknowledged) {
      auto it = created.find(key);
      if (it == created.end() || it->second != 1)
        broken("the acknowledged command " + key + " is in the log " +
               std::to_string(it == created.end() ? 0 : it->second) + " times");
    }
    for (const auto& [key, count] : created)
      if (count != 1) broken("command " + key + " is in the log " + std::to_string(count) + " times");
    std::printf("cycle %d: killed after %zu answers; %zu retried; %zu acknowledged in all, %zu "
                "unanswered; log verified\n",
                cycle, killAfter, retried, acknowledged.size(), ledger.pending().size());
    std::fflush(stdout);
  }
  // The last cycle's unanswered commands, retried once more.
  auto server = std::make_unique<ServerProcess>(data, false);
  token = signIn(server->port());
  retryPending(server->port(), token, ledger);
  server = matchesRebuild(std::move(server), data, token, cycles);
  if (server->terminate() != 0) broken("portal-server did not stop cleanly on SIGTERM");
  const auto created = checkLog(data);
  for (const auto& [key, id] : ledger.acknowledged())
    if (created.count(key) == 0 || created.at(key) != 1) broken("command " + key + " is not in the log once");
  std::printf("ok: %d cycles, %zu commands acknowledged, each in the log once\n", cycles,
              ledger.acknowledged().size());
  return 0;
}

}  // namespace
}  // namespace portal::test

int main(int argc, char** argv) {
  int cycles = 5;
  unsigned seed = static_cast<unsigned>(::getpid());
  std::string keep;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--cycles" && i + 1 < argc) {
      cycles = std::atoi(argv[++i]);
    } else if (a == "--seed" && i + 1 < argc) {
      seed = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else if (a == "--keep" && i + 1 < argc) {
      keep = argv[++i];
    } else {
      std::fprintf(stderr, "usage: portal_crash [--cycles N] [--seed S] [--keep DIR]\n");
      return 2;
    }
  }
  if (cycles <= 0) {
    std::fprintf(stderr, "portal_crash: --cycles must be positive\n");
    return 2;
  }
  std::printf("portal_crash: %d cycles, seed %u\n", cycles, seed);
  try {
    return portal::test::run(cycles, seed, keep);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "portal_crash: BROKEN: %s\n", e.what());
    return 1;
  }
}
