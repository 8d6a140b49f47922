// The programs as an operator runs them: portal-server and portalctl as real
// processes on a real data directory.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <regex>
#include <sstream>

#include "events/text.h"
#include "src/app/countries_file.h"
#include "src/app/operator.h"
#include "src/app/portal.h"
#include "src/app/provisioning.h"
#include "src/app/system.h"
#include "src/auth/passwords.h"
#include "tests/example_company.h"
#include "tests/http_client.h"
#include "tests/nats_server.h"
#include "tests/programs.h"
#include "tests/test_support.h"

namespace portal::test {
namespace {

using json = nlohmann::json;

// The demo started again before its owner changed the temporary password says where
// that password is; once changed, how to reset it.
TEST(ServerProcess, TheDemoStartedAgainSaysHowItsOwnerSignsIn) {
  TempDir dir;
  std::string temporary;
  {
    ServerProcess server(dir.sub("data"));
    temporary = server.temporaryPassword();
    ASSERT_EQ(server.terminate(), 0);
  }
  {
    ServerProcess server(dir.sub("data"), false);
    EXPECT_NE(server.output().find("with the temporary password"), std::string::npos)
        << server.output();
    EXPECT_NE(server.output().find("/outbox/*-temporary-password.eml"), std::string::npos);
    // The mailer delivers on its own thread: a mail the first run had no time to
    // send arrives shortly after this start.
    auto mailHoldsPassword = [&] {
      for (const auto& mail : mailsIn(dir.sub("data") + "/outbox", "-temporary-password"))
        if (mail.find(temporary) != std::string::npos) return true;
      return false;
    };
    EXPECT_TRUE(waitFor(mailHoldsPassword)) << "the mail holds the temporary password";
    HttpClient client(server.port());
    Reply r = client.post(
        "/api/v1/sessions",
        {{"company", "demo"}, {"email", "owner@demo.example"}, {"password", temporary}});
    ASSERT_EQ(r.status, 201) << r.body;
    r = client.post("/api/v1/me/password",
                    {{"currentPassword", temporary}, {"newPassword", "a demo passphrase!"}},
                    r.json()["token"].get<std::string>());
    ASSERT_EQ(r.status, 204) << r.body;
    ASSERT_EQ(server.terminate(), 0);
  }
  ServerProcess server(dir.sub("data"), false);
  EXPECT_NE(server.output().find("with the password you set"), std::string::npos)
      << server.output();
  EXPECT_NE(server.output().find("POST /api/v1/password-resets/confirm"), std::string::npos);
}

// The first answer to GET /healthz on `port` of a server just spawned (its port is
// bound within milliseconds); nullopt when none came within 30 s.
std::optional<Reply> firstHealthAnswer(std::uint16_t port) {
  std::optional<Reply> health;
  waitFor([&] {
    try {
      HttpClient probe(port);
      health = probe.get("/healthz");
      return true;
    } catch (const std::exception&) {
      return false;  // not bound yet
    }
  });
  return health;
}

// While it opens its log (seconds for a long one, minutes when a view is rebuilt
// after an upgrade), the server's port answers for it: /healthz 200 "starting" (a
// liveness probe must not kill it), the rest 503 `starting` with Retry-After (a
// review: connections waited unanswered, and a probe's second ran out); and a stop
// signal then ends it at once, before it serves anything, the log as it was (it
// waited for the whole start, then listened, then stopped).
TEST(ServerProcess, WhileItStartsItsPortAnswersProbesAndAStopSignalEndsItAtOnce) {
  TempDir dir;
  const std::string data = dir.sub("data");
  {
    // A log long enough that opening it takes a while: 30,000 users imported.
    ServerProcess server(data);
    const std::string token = signInDemoOwner(server);
    std::string csv =
        "Given Name,Surname,Email address,Job title,Manager's email address,Is Active,Country\r\n";
    for (int i = 0; i < 30'000; ++i)
      csv += "G" + std::to_string(i) + ",S,p" + std::to_string(i) +
             "@big.example,Clerk,owner@demo.example,1,DE\r\n";
    HttpClient client(server.port());
    Reply r =
        client.request("POST", "/api/v1/users/import", csv, token, {{"Content-Type", "text/csv"}});
    ASSERT_EQ(r.status, 200) << r.body.substr(0, 500);
    EXPECT_EQ(server.terminate(), 0);
  }
  const ProgramRun before = runProgram({PORTAL_REPLAY_BIN, "verify", "--data", data});
  ASSERT_EQ(before.exitCode, 0) << before.err;

  const std::uint16_t portNumber = freePort();
  RunningProgram starting({PORTAL_SERVER_BIN, "--data", data, "--listen",
                           "127.0.0.1:" + std::to_string(portNumber), "--password-hash-cost",
                           "minimum", "--quiet"});
  // Its first answer (the port is bound within milliseconds; the log takes longer).
  const std::optional<Reply> health = firstHealthAnswer(portNumber);
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->json(), json({{"status", "starting"}}));
  for (const std::string target : {"/readyz", "/api/v1/me"}) {
    HttpClient client(portNumber);
    Reply r = client.get(target);
    EXPECT_EQ(r.status, 503) << target;
    EXPECT_EQ(r.json().value("code", ""), "starting") << target << ": " << r.body;
    EXPECT_EQ(r.header("retry-after"), "5") << target;
  }
  starting.signal(SIGTERM);
  const ProgramRun run = starting.finish();
  EXPECT_EQ(run.exitCode, 0) << run.err;
  EXPECT_NE(run.err.find("SIGTERM received while starting; stopped before serving"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(run.out.find("listening on"), std::string::npos) << "it never served: " << run.out;
  const ProgramRun after = runProgram({PORTAL_REPLAY_BIN, "verify", "--data", data});
  EXPECT_EQ(after.exitCode, 0) << after.err;
  EXPECT_EQ(after.out, before.out) << "the log as it was";

  // Started again to its end, it serves, and /healthz is its own.
  ServerProcess again(data, /*newDemo=*/false);
  HttpClient client(again.port());
  EXPECT_EQ(client.get("/healthz").json(), json({{"status", "ok"}}));
  EXPECT_EQ(again.terminate(), 0);
}

// A stop as soon as a --demo start on a new directory answers its port (while it
// makes the portal's files, or just after): a kill in the middle of making them left
// a directory no start took again (a review); the stop waits for them, and the
// next --demo start makes the demo company there.
TEST(ServerProcess, AStopWhileADemoPortalIsMadeLeavesOneTheNextStartTakes) {
  TempDir dir;
  const std::string data = dir.sub("new");
  const std::uint16_t portNumber = freePort();
  RunningProgram first({PORTAL_SERVER_BIN, "--data", data, "--listen",
                        "127.0.0.1:" + std::to_string(portNumber), "--password-hash-cost",
                        "minimum", "--demo", "--quiet"});
  ASSERT_TRUE(firstHealthAnswer(portNumber));
  first.signal(SIGTERM);
  const ProgramRun run = first.finish();
  EXPECT_EQ(run.exitCode, 0) << run.err;
  EXPECT_NE(run.err.find("SIGTERM received"), std::string::npos) << run.err;
  ServerProcess again(data);  // waits for the demo's temporary password
  EXPECT_FALSE(again.temporaryPassword().empty());
  EXPECT_EQ(again.terminate(), 0);
}

TEST(ServerProcess, SigtermAnswersEveryRequestInFlightAndExitsZero) {
  TempDir dir;
  ServerProcess server(dir.sub("data"));
  const std::string token = signInDemoOwner(server);
  // 16 clients each send commands until the server goes away; every request that
  // was sent gets its answer.
  std::atomic<int> answered{0}, started{0};
  std::vector<std::future<int>> clients;
  for (int c = 0; c < 16; ++c)
    clients.push_back(std::async(std::launch::async, [&, c] {
      HttpClient client(server.port());
      int cut = 0;
      for (int i = 0; i < 1000; ++i) {
        ++started;
        try {
          Reply r = client.post(
              "/api/v1/users",
              {{"email", "u" + std::to_string(c) + "-" + std::to_string(i) + "@demo.example"},
               {"givenName", "U"},
               {"surname", "S"},
               {"jobTitle", "T"},
               {"managerEmail", "owner@demo.example"}},
              token);
          // 202: durable, the views not caught up within the server's wait (a
          // loaded machine under the sanitizers): acknowledged all the same.
          if (r.status != 201 && r.status != 202) return -r.status;
          ++answered;
        } catch (const std::exception&) {
          ++cut;  // refused: the server stopped accepting
          break;
        }
      }
      return cut;
    }));
  ASSERT_TRUE(waitFor([&] { return answered.load() >= 64; }));
  EXPECT_EQ(server.terminate(), 0);
  for (auto& c : clients) EXPECT_GE(c.get(), 0) << "a request was answered with an error";
  // Everything acknowledged is there when the directory is opened again.
  const std::size_t acknowledged = static_cast<std::size_t>(answered.load());
  ManualClock clock{Timestamp{1'795'000'000'000'000}};
  RandomIds ids;
  auto countries = loadCountries();
  ASSERT_TRUE(countries);
  PortalOptions options;
  options.dataDir = dir.sub("data");
  auto portal = Portal::open(options, *countries, clock, ids);
  ASSERT_TRUE(portal) << portal.error().message;
  auto company = (*portal)->credentials().companyBySlug("demo");
  ASSERT_TRUE(company);
  std::size_t users = 0;
  UserListQuery q;
  q.limit = 500;
  do {
    UserPage page = (*portal)->users().list(company->id, q);
    users += page.items.size();
    q.cursor = page.nextCursor;
  } while (!q.cursor.empty());
  EXPECT_GE(users, acknowledged + 1) << "the owner and every acknowledged user";
  EXPECT_EQ((*portal)->store().verify()->firstBad, 0u);
}

// Every connection is an open file. Under a small open-files limit the server fits
// its connection cap to it: past the cap a client gets 503 and Retry-After (not a
// hang while accept() fails), and those within it keep being served.
TEST(ServerProcess, ItsConnectionCapFitsTheOpenFilesLimit) {
  TempDir dir;
  // Of 400 files, 200 are kept for the log and the rest: 200 connections (all of
  // them this test's, from one address, which may hold them all here). The caps as
  // settled are in the log and in /metrics (an end-to-end review found them nowhere).
  const std::string log = dir.sub("server.log");
  ServerProcess server(dir.sub("data"), true, 400,
                       {"--io-threads", "2", "--connections-per-address", "100000"}, false, false,
                       log);
  EXPECT_TRUE(waitFor([&] {
    return readFile(log).find(
               "portal-server: serving at most 200 connections at once, 200 from "
               "one client address (lowered from 10000 to the open-files limit; "
               "raise it with ulimit -n or LimitNOFILE=)\n") != std::string::npos;
  })) << readFile(log);
  const std::string metrics = HttpClient(server.port()).get("/metrics").body;
  EXPECT_NE(metrics.find("\nportal_http_connections_max 200\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nportal_http_connections_max_per_address 200\n"), std::string::npos);
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 200; ++i) held.push_back(std::make_unique<RawConnection>(server.port()));
  int refused = 0;
  for (int i = 0; i < 40; ++i) {
    RawConnection extra(server.port());
    const std::string answer = extra.readToEnd();
    if (answer.find("HTTP/1.1 503") != std::string::npos &&
        answer.find("Retry-After: 1") != std::string::npos &&
        answer.find("too-many-connections") != std::string::npos)
      ++refused;
  }
  EXPECT_EQ(refused, 40);
  held[0]->send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(held[0]->readToEnd().find("HTTP/1.1 200"), std::string::npos);
  held.clear();
  ASSERT_TRUE(waitFor([&] {
    try {
      return HttpClient(server.port()).get("/healthz").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  })) << "served again once the held connections closed";
  EXPECT_EQ(server.terminate(), 0);
}

// SIGTERM waits for the requests in flight (5 s for one whose body does not come);
// a second SIGTERM ends the process at once, exit 1.
TEST(ServerProcess, ASecondSigtermStopsAtOnce) {
  TempDir dir;
  ServerProcess server(dir.sub("data"));
  const std::string token = signInDemoOwner(server);
  RawConnection stuck(server.port());
  stuck.send(
      "POST /api/v1/groups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
      "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n");
  // Its header was read (the leave to send the body says so); the body never comes.
  ASSERT_EQ(stuck.readUntil("\r\n\r\n").rfind("HTTP/1.1 100 Continue", 0), 0u);
  stuck.send("{\"na");
  server.sendSignal(SIGTERM);
  // Stopping: it takes no new connection, and waits for the stuck request.
  ASSERT_TRUE(waitFor([&] {
    try {
      HttpClient(server.port()).get("/healthz");
      return false;
    } catch (const std::exception&) {
      return true;
    }
  }));
  server.sendSignal(SIGTERM);
  EXPECT_EQ(server.waitForExit(10), std::optional<int>(1));
}

// --stop-delay: after SIGTERM the server goes on serving, /readyz 503 `stopping`, so
// that load balancers stop sending first; then it stops as without (exit 0).
TEST(ServerProcess, AStopDelayServesOnWithReadyzSayingStopping) {
  TempDir dir;
  // Long enough for the checks below on a loaded machine under the sanitizers.
  ServerProcess server(dir.sub("data"), true, 0, {"--stop-delay", "15"});
  const std::string token = signInDemoOwner(server);
  HttpClient client(server.port());
  ASSERT_EQ(client.get("/readyz").status, 200);
  const auto signalled = std::chrono::steady_clock::now();
  server.sendSignal(SIGTERM);
  ASSERT_TRUE(waitFor([&] { return client.get("/readyz").status == 503; }));
  Reply ready = client.get("/readyz");
  EXPECT_EQ(ready.json()["status"], "stopping") << ready.body;
  EXPECT_EQ(HttpClient(server.port()).get("/api/v1/me", token).status, 200)
      << "new connections served";
  EXPECT_EQ(server.waitForExit(60), std::optional<int>(0));
  EXPECT_GE(std::chrono::steady_clock::now() - signalled, std::chrono::seconds(15))
      << "the delay is kept";
  ProgramRun bad =
      runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("data"), "--stop-delay", "301"});
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_NE(bad.err.find("--stop-delay needs a whole number of seconds from 0 to 300"),
            std::string::npos)
      << bad.err;
  // The flags of a number of hours: values refused, with the words, and taken.
  struct HoursFlag {
    const char* flag;
    std::vector<const char*> bad, good;
    const char* words;
  };
  for (const HoursFlag& f :
       {HoursFlag{"--idempotency-hours",
                  {"8761", "-1", "1.5", "day"},
                  {"0", "8760", "0024"},
                  "--idempotency-hours needs a whole number of hours from 0 to 8760"},
        HoursFlag{"--mail-give-up-hours",
                  {"0", "721", "-1", "2.5", "week"},
                  {"1", "720", "168"},
                  "--mail-give-up-hours needs a whole number of hours from 1 to 720"}}) {
    for (const char* hours : f.bad) {
      bad = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("data"), f.flag, hours});
      EXPECT_EQ(bad.exitCode, 2) << f.flag << " " << hours;
      EXPECT_NE(bad.err.find(f.words), std::string::npos) << bad.err;
    }
    for (const char* hours : f.good) {
      ProgramRun good = runProgram({PORTAL_SERVER_BIN, f.flag, hours, "--version"});
      EXPECT_EQ(good.exitCode, 0) << f.flag << " " << hours << ": " << good.err;
    }
  }
}

// Whether the server's /metrics come to say that its whole log is published, its
// connection up (`metrics`: the last read); if not, with them and its log.
::testing::AssertionResult publishedAll(ServerProcess& server, const std::string& log,
                                        std::string& metrics) {
  if (waitFor([&] {
        metrics = HttpClient(server.port()).get("/metrics").body;
        return metrics.find("\nportal_publish_lag_events 0\n") != std::string::npos &&
               metrics.find("\nportal_publish_connected 1\n") != std::string::npos &&
               metrics.find("\nportal_publish_position 0\n") == std::string::npos;
      }))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << metrics << readFile(log);
}

// --nats: the log goes to NATS JetStream while the server runs, /metrics says how
// far, and a stop sends what is durable before the process ends.
TEST(ServerProcess, PublishesTheLogToNatsJetStream) {
  TempDir dir;
  test::NatsServer nats(dir.sub("nats"));
  ASSERT_TRUE(nats.ready()) << nats.log();
  const std::string data = dir.sub("data"), log = dir.sub("server.log");
  ServerProcess server(data, true, 0, {"--nats", nats.url(), "--nats-stream", "portal-eu1"}, false,
                       false, log);
  const std::string token = signInDemoOwner(server);
  std::string metrics;
  ASSERT_TRUE(publishedAll(server, log, metrics));
  auto messages = test::streamMessages(nats.url(), "portal-eu1");
  ASSERT_FALSE(messages.empty());
  EXPECT_NE(metrics.find("\nportal_publish_position " + std::to_string(messages.size()) + "\n"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(messages.front().headers.at("Portal-Type"), "CompanyProvisioned");
  EXPECT_EQ(messages.front().subject.rfind("portal-eu1.", 0), 0u) << messages.front().subject;
  // A user made just before the stop is in the stream once the process has ended.
  HttpClient client(server.port());
  ASSERT_EQ(client
                .post("/api/v1/users",
                      {{"email", "late@demo.example"},
                       {"givenName", "Late"},
                       {"surname", "Comer"},
                       {"jobTitle", "Engineer"},
                       {"managerEmail", "owner@demo.example"}},
                      token)
                .status,
            201);
  EXPECT_EQ(server.terminate(), 0);
  const ProgramRun verify = runProgram({PORTAL_REPLAY_BIN, "verify", "--data", data});
  ASSERT_EQ(verify.exitCode, 0) << verify.err;
  messages = test::streamMessages(nats.url(), "portal-eu1");
  EXPECT_EQ(verify.out.rfind("ok: " + std::to_string(messages.size()) + " events,", 0), 0u)
      << verify.out;
  EXPECT_EQ(messages.back().headers.at("Portal-Type"), "UserCreated");
  EXPECT_NE(readFile(log).find("portal-server: publish: connected to " + nats.url() +
                               ", stream portal-eu1; going on after position 0"),
            std::string::npos)
      << readFile(log);

  // Flags it refuses, each with one line and exit 2.
  const std::string empty = dir.sub("empty-file"), secret = dir.sub("secret");
  std::ofstream(empty) << "\n";
  std::ofstream(secret) << "s3cret\n";
  const std::string quoted = dir.sub("quoted");
  std::ofstream(quoted) << "s3\"cret\n";
  for (const auto& [flags, words] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--nats", "http://127.0.0.1:4222"},
            "--nats must be nats://HOST:PORT or tls://HOST:PORT, e.g."},
           {{"--nats", "tls://127.0.0.1:99999"}, "--nats must be tls://HOST:PORT, a port from"},
           {{"--nats-ca", secret}, "--nats-ca is for --nats, which is not given"},
           {{"--nats", nats.url(), "--nats-ca", secret},
            "--nats-ca is for a TLS connection: give --nats as tls://HOST:PORT"},
           {{"--nats", "tls://127.0.0.1:4222", "--nats-ca", dir.sub("none")},
            "--nats-ca " + dir.sub("none") + " cannot be read (No such file or directory)"},
           {{"--nats", "tls://127.0.0.1:4222", "--nats-ca", secret},
            "--nats-ca " + secret + " holds no certificate that can be loaded (PEM)"},
           {{"--nats", "tls://127.0.0.1:4222", "--nats-cert", secret},
            "--nats-cert needs its private key: --nats-key FILE"},
           {{"--nats", nats.url(), "--nats-cert", secret, "--nats-key", secret},
            "--nats-cert is for a TLS connection: give --nats as tls://HOST:PORT"},
           {{"--nats", "tls://127.0.0.1:4222", "--nats-cert", secret, "--nats-key", secret},
            "--nats-cert " + secret + " and --nats-key " + secret +
                ": are not a certificate and its private key that can be loaded (PEM)"},
           {{"--nats", nats.url(), "--nats-token-file", dir.path()},
            "--nats-token-file " + dir.path() + " is a directory, not a file"},
           {{"--nats", nats.url(), "--nats-token-file", quoted},
            "--nats-token-file " + quoted +
                " holds a quote, a backslash or a control character, which the NATS client"},
           {{"--nats", nats.url(), "--nats-user", "a\\b", "--nats-password-file", secret},
            "--nats-user holds a quote, a backslash or a control character"},
           {{"--nats", nats.url(), "--nats-user", "portal"},
            "--nats-user needs its password: --nats-password-file FILE"},
           {{"--nats", nats.url(), "--nats-password-file", secret},
            "--nats-password-file is the password of --nats-user, not given"},
           {{"--nats", nats.url(), "--nats-user", "portal", "--nats-password-file", secret,
             "--nats-token-file", secret},
            "--nats-user and --nats-token-file are two ways to sign in to NATS: give one"},
           {{"--nats", nats.url(), "--nats-token-file", empty},
            "--nats-token-file " + empty + " holds nothing on its first line"},
           {{"--nats", nats.url(), "--nats-token-file", dir.sub("none")},
            "--nats-token-file " + dir.sub("none") + " cannot be read (No such file or directory)"},
           {{"--nats", "nats://127.0.0.1:99999"}, "--nats must be nats://HOST:PORT, a port from"},
           {{"--nats", "nats://:4222"}, "--nats must be nats://HOST:PORT, a port from"},
           {{"--nats", nats.url(), "--nats-stream", "a.b"},
            "--nats-stream must be 1 to 64 letters, digits, '-' or '_'"},
           {{"--nats-stream", "portal"}, "--nats-stream is for --nats, which is not given"}}) {
    std::vector<std::string> args{PORTAL_SERVER_BIN, "--data", data};
    args.insert(args.end(), flags.begin(), flags.end());
    const ProgramRun bad = runProgram(args);
    EXPECT_EQ(bad.exitCode, 2) << flags.back();
    EXPECT_NE(bad.err.find(words), std::string::npos) << bad.err;
    EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  }
}

// --nats tls://… with --nats-ca, --nats-cert and --nats-key, and --nats-token-file: a
// NATS server that asks for TLS, a client certificate and a token, as production's
// do, takes the log (the secret from a file, out of the command line that `ps` shows).
TEST(ServerProcess, PublishesToANatsServerThatAsksForTlsAndAToken) {
  TempDir dir;
  const std::string certs = dir.sub("certs"), client = dir.sub("client");
  test::makeCertificate(certs);
  test::makeCertificate(client);
  test::NatsServer nats(dir.sub("nats"), test::tlsConfig(certs, client + "/cert.pem") +
                                             "\nauthorization { token: \"s3cret\" }");
  ASSERT_TRUE(nats.ready()) << nats.log();
  const std::string url = "tls://127.0.0.1:" + nats.url().substr(nats.url().rfind(':') + 1);
  const std::string token = dir.sub("nats-token"), log = dir.sub("server.log");
  std::ofstream(token) << "s3cret\r\n";
  ServerProcess server(
      dir.sub("data"), true, 0,
      {"--nats", url, "--nats-ca", certs + "/cert.pem", "--nats-cert", client + "/cert.pem",
       "--nats-key", client + "/key.pem", "--nats-token-file", token},
      false, false, log);
  signInDemoOwner(server);
  std::string metrics;
  ASSERT_TRUE(publishedAll(server, log, metrics));
  EXPECT_NE(readFile(log).find("portal-server: publish: connected to " + url +
                               ", stream portal; going on after position 0"),
            std::string::npos)
      << readFile(log);
  EXPECT_EQ(server.terminate(), 0);

  // An encrypted key is refused at the start: loaded, OpenSSL would ask for its
  // passphrase on the terminal and wait there (a review).
  const ProgramRun encrypt =
      runProgram({"/usr/bin/openssl", "pkey", "-in", client + "/key.pem", "-aes256", "-passout",
                  "pass:secret", "-out", client + "/encrypted.pem"});
  ASSERT_EQ(encrypt.exitCode, 0) << encrypt.err;
  const ProgramRun refused =
      runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("data"), "--nats", url, "--nats-cert",
                  client + "/cert.pem", "--nats-key", client + "/encrypted.pem"});
  EXPECT_EQ(refused.exitCode, 2);
  EXPECT_EQ(refused.err, "portal-server: --nats-cert " + client + "/cert.pem and --nats-key " +
                             client +
                             "/encrypted.pem: the key is encrypted: give it unencrypted, in a "
                             "file readable by this server's user alone (see portal-server "
                             "--help)\n");
}

// A front end served from another origin calls the API from a browser (CORS) once the
// operator names that origin; pages of other origins read nothing, and a server
// without the flag answers as before.
TEST(ServerProcess, PagesOfTheOriginsGivenCallTheApiFromABrowser) {
  TempDir dir;
  ServerProcess server(dir.sub("data"), true, 0,
                       {"--cors-origin", "https://Portal.Example.com:0443/, http://localhost:3000",
                        "--cors-origin", "http://localhost:3000", "--cors-origin",
                        "http://[0:0::1]:03000,http://[::FFFF:127.0.0.1]:80"});
  const std::string token = signInDemoOwner(server);
  HttpClient client(server.port());
  using Fields = std::vector<std::pair<std::string, std::string>>;
  const Fields portal = {{"Origin", "https://portal.example.com"}};
  // What a browser asks before a create with a token and a JSON body.
  Fields ask = portal;
  ask.emplace_back("Access-Control-Request-Method", "POST");
  ask.emplace_back("Access-Control-Request-Headers", "authorization,content-type,idempotency-key");
  Reply pre = client.request("OPTIONS", "/api/v1/users", "", "", ask);
  EXPECT_EQ(pre.status, 204) << pre.body;
  EXPECT_EQ(pre.header("access-control-allow-origin"), "https://portal.example.com");
  EXPECT_EQ(pre.header("access-control-allow-methods"), "GET, POST, HEAD");
  for (const char* field : {"Authorization", "Content-Type", "Idempotency-Key", "If-Match"})
    EXPECT_NE(pre.header("access-control-allow-headers").find(field), std::string::npos) << field;
  EXPECT_EQ(pre.header("access-control-max-age"), "600");
  EXPECT_EQ(pre.header("vary"), "Origin");
  // The create itself: the page reads its answer and the fields it needs.
  Fields post = portal;
  post.emplace_back("Content-Type", "application/json");
  Reply made = client.request(
      "POST", "/api/v1/users",
      R"({"email":"cora@demo.example","givenName":"Cora","surname":"Ortiz","jobTitle":"Designer",)"
      R"("managerEmail":"owner@demo.example","country":"PT"})",
      token, post);
  EXPECT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(made.header("access-control-allow-origin"), "https://portal.example.com");
  for (const char* field : {"ETag", "Location", "Retry-After", "X-Request-Id"})
    EXPECT_NE(made.header("access-control-expose-headers").find(field), std::string::npos) << field;
  // An error too: the page shows the problem.
  Reply signedOut =
      client.request("GET", "/api/v1/me", "", "", {{"Origin", "http://localhost:3000"}});
  EXPECT_EQ(signedOut.status, 401);
  EXPECT_EQ(signedOut.header("access-control-allow-origin"), "http://localhost:3000");
  // An origin is given as a browser sends it, whatever way the flag wrote it.
  EXPECT_EQ(client.request("GET", "/api/v1/me", "", token, {{"Origin", "http://[::1]:3000"}})
                .header("access-control-allow-origin"),
            "http://[::1]:3000");
  EXPECT_EQ(client.request("GET", "/api/v1/me", "", token, {{"Origin", "http://[::ffff:7f00:1]"}})
                .header("access-control-allow-origin"),
            "http://[::ffff:7f00:1]")
      << "an IPv4-mapped address as the URL standard writes it";
  // Another origin's page: its request is served as any (the token decides), but the
  // browser lets the page read nothing of it, and its preflight says why.
  const Fields other = {{"Origin", "https://elsewhere.example"}};
  Reply read = client.request("GET", "/api/v1/me", "", token, other);
  EXPECT_EQ(read.status, 200);
  EXPECT_EQ(read.header("access-control-allow-origin"), "");
  EXPECT_EQ(read.header("vary"), "Origin");
  Fields otherAsk = other;
  otherAsk.emplace_back("Access-Control-Request-Method", "GET");
  Reply refused = client.request("OPTIONS", "/api/v1/me", "", "", otherAsk);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.json()["code"], "forbidden");
  EXPECT_NE(refused.json()["detail"].get<std::string>().find("--cors-origin"), std::string::npos);
  EXPECT_EQ(refused.header("access-control-allow-origin"), "");
  // A path the API does not have, and an OPTIONS that is no preflight: as before.
  EXPECT_EQ(client.request("OPTIONS", "/api/v1/nothing", "", "", ask).status, 404);
  EXPECT_EQ(client.request("OPTIONS", "/api/v1/users", "", "", portal).status, 405);
  EXPECT_EQ(server.terminate(), 0);

  // Without the flag: no preflight is answered, and no answer names an origin.
  ServerProcess plain(dir.sub("data"), false);
  HttpClient plainClient(plain.port());
  Reply none = plainClient.request("OPTIONS", "/api/v1/users", "", "", ask);
  EXPECT_EQ(none.status, 405);
  EXPECT_EQ(none.header("access-control-allow-origin"), "");
  EXPECT_EQ(plainClient.request("GET", "/api/v1/me", "", "", portal).header("vary"), "");
  EXPECT_EQ(plain.terminate(), 0);

  for (const char* bad : {"*", "null", "https://portal.example.com/app", "ftp://portal.example.com",
                          "https://", "https://portal.example.com:0", "portal.example.com",
                          "https://portal.example.com?app", "https://ann@portal.example.com"}) {
    ProgramRun run =
        runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("data"), "--cors-origin", bad});
    EXPECT_EQ(run.exitCode, 2) << bad;
    EXPECT_NE(run.err.find("--cors-origin '" + std::string(bad) + "' "), std::string::npos)
        << run.err;
    EXPECT_EQ(run.err.find("mail"), std::string::npos) << "said of another flag: " << run.err;
  }
  ProgramRun comma = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("data"), "--cors-origin",
                                 "https://portal.example.com,"});
  EXPECT_EQ(comma.exitCode, 2);
  EXPECT_NE(comma.err.find("is empty: the list has a comma too many"), std::string::npos)
      << comma.err;
}

// How many failed sign-ins one client address makes before its sign-ins wait is the
// operator's to set: behind one NAT address, an office's people share it (a review
// locked a team out with the 20 it was).
TEST(ServerProcess, FailedSignInsPerAddressIsASetting) {
  TempDir dir;
  ServerProcess server(dir.sub("data"), true, 0, {"--sign-in-failures-per-address", "2"});
  HttpClient client(server.port());
  auto signIn = [&](const std::string& email, const std::string& password) {
    return client.post("/api/v1/sessions",
                       {{"company", "demo"}, {"email", email}, {"password", password}});
  };
  EXPECT_EQ(signIn("ann@demo.example", "not the password").status, 401);
  EXPECT_EQ(signIn("bob@demo.example", "not the password").status, 401);
  Reply waits = signIn("owner@demo.example", server.temporaryPassword());
  EXPECT_EQ(waits.status, 429) << "the address's failures, of other accounts: " << waits.body;
  EXPECT_FALSE(waits.header("retry-after").empty());
  ProgramRun bad = runProgram(
      {PORTAL_SERVER_BIN, "--data", dir.sub("data"), "--sign-in-failures-per-address", "0"});
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_NE(bad.err.find("--sign-in-failures-per-address needs a whole number from 1 to 9999"),
            std::string::npos)
      << bad.err;
}

// How many connections one client address may hold is the operator's to set, and
// /metrics counts the new ones refused for it.
TEST(ServerProcess, ConnectionsPerAddressIsASetting) {
  TempDir dir;
  ServerProcess server(dir.sub("data"), true, 0, {"--connections-per-address", "1"});
  RawConnection held(server.port());
  held.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");  // a header under way
  RawConnection refused(server.port());
  const std::string answer = refused.readToEnd();
  EXPECT_EQ(answer.rfind("HTTP/1.1 503", 0), 0u) << answer;
  EXPECT_NE(answer.find("This client address has 1 connection open"), std::string::npos) << answer;
  RawConnection other(server.port(), "127.0.0.2");
  other.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(other.readToEnd().find("\nportal_http_connections_refused_per_address_total 1\n"),
            std::string::npos);
  ProgramRun bad =
      runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("data"), "--connections-per-address", "0"});
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_NE(bad.err.find("--connections-per-address needs a whole number from 1 to 100000"),
            std::string::npos)
      << bad.err;
}

// A server that cannot open its operator socket says so and exits 1, its HTTP server
// stopped before the API and the mailer its threads reach go (it freed them first).
TEST(ServerProcess, AnOperatorSocketThatCannotListenEndsTheStartCleanly) {
  TempDir dir;
  {
    ServerProcess first(dir.sub("data"));
    ASSERT_EQ(first.terminate(), 0);
  }
  std::filesystem::create_directories(dir.sub("data") + "/portal.sock");
  ProgramRun r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("data"), "--listen",
                             "127.0.0.1:0", "--demo", "--password-hash-cost", "minimum"});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("cannot listen on"), std::string::npos) << r.err;
}

TEST(ServerProcess, PortalctlProvisionsThroughTheRunningServersOperatorSocket) {
  TempDir dir;
  ServerProcess server(dir.sub("data"));
  ProgramRun r = runProgram({PORTALCTL_BIN,
                             "provision",
                             "--data",
                             dir.sub("data"),
                             "--company",
                             "beta",
                             "--name",
                             "Beta Ltd",
                             "--owner-email",
                             "boss@beta.example",
                             "--owner-given-name",
                             "Bo",
                             "--owner-surname",
                             "Ss",
                             "--owner-job-title",
                             "CEO",
                             "--owner-manager-email",
                             "boss@beta.example",
                             "--password-hash-cost",
                             "minimum"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  json out = json::parse(r.out);
  ASSERT_TRUE(out.contains("temporaryPassword"));
  HttpClient client(server.port());
  Reply signIn = client.post("/api/v1/sessions", {{"company", "beta"},
                                                  {"email", "boss@beta.example"},
                                                  {"password", out["temporaryPassword"]}});
  EXPECT_EQ(signIn.status, 201) << signIn.body;
  EXPECT_EQ(signIn.json()["user"]["id"], out["ownerId"]);

  ProgramRun again = runProgram(
      {PORTALCTL_BIN, "provision", "--data", dir.sub("data"), "--company", "beta", "--name", "Beta",
       "--owner-email", "x@beta.example", "--owner-given-name", "X", "--owner-surname", "Y",
       "--owner-job-title", "Z", "--owner-manager-email", "x@beta.example"});
  EXPECT_EQ(again.exitCode, 1);
  EXPECT_NE(again.err.find("company-exists"), std::string::npos) << again.err;
  EXPECT_EQ(std::count(again.err.begin(), again.err.end(), '\n'), 1) << "one line: " << again.err;
  // Its fields' problems follow its message as one sentence.
  ProgramRun invalid = runProgram(
      {PORTALCTL_BIN, "provision", "--data", dir.sub("data"), "--company", "gamma", "--name",
       "Gamma", "--owner-email", "not-an-address", "--owner-given-name", "X", "--owner-surname",
       "Y", "--owner-job-title", "Z", "--owner-manager-email", "x@gamma.example"});
  EXPECT_EQ(invalid.exitCode, 2) << "a bad flag's value, through the server as offline";
  EXPECT_NE(invalid.err.find("validation-failed: Some fields are missing or invalid: owner.email "),
            std::string::npos)
      << invalid.err;

  // A script's request with a field of the wrong type is refused; the server goes on.
  for (const auto& [request, message] : std::vector<std::pair<std::string, std::string>>{
           {R"({"command":1})", "'command' must be a string"},
           {R"({"command":"provision","company":5})", "'company' must be a string"},
           {R"({"command":"provision","services":["a",2]})",
            "'services' must be a list of strings"},
           {R"({"command":"rebuild","projection":7})", "'projection' must be a string"}}) {
    auto answer = callOperatorSocket(operatorSocketPath(dir.sub("data")), request, kNoTimeout);
    ASSERT_TRUE(answer.ok()) << request << ": " << answer.error().message;
    EXPECT_EQ(json::parse(*answer)["error"], message) << request;
  }
  EXPECT_EQ(client.get("/healthz").status, 200) << "the server still runs";
  EXPECT_EQ(server.terminate(), 0);
}

TEST(ServerProcess, ProgramsRefuseBadFlagsAndMissingDirectoriesWithOneLine) {
  TempDir dir;
  ProgramRun r = runProgram({PORTALCTL_BIN, "provision", "--data", dir.sub("missing"), "--company",
                             "x", "--name", "X", "--owner-email", "a@x.example",
                             "--owner-given-name", "A", "--owner-surname", "B", "--owner-job-title",
                             "C", "--owner-manager-email", "a@x.example"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("data directory " + dir.sub("missing") + " does not exist"),
            std::string::npos)
      << r.err;
  r = runProgram({PORTALCTL_BIN, "provision", "--bogus", "1"});
  EXPECT_EQ(r.exitCode, 2);
  r = runProgram({PORTAL_SERVER_BIN, "--listen", "nowhere"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("portal-server: "), std::string::npos);
  // A host that is not an address is a bad flag, said before the log is opened.
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--listen", "not-an-ip:80"});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("--listen HOST must be an IP address or localhost, not 'not-an-ip'"),
            std::string::npos)
      << r.err;
  // Links made of a --public-url must open as meant; the sender must be ASCII (a
  // relay takes nothing else); thread counts have a bound said in the message.
  for (const char* url : {"http://:80", "https://[", "http://host:99999", "http:///path",
                          "http://ho%st", "http://user:secret@host", "https://pörtal.example",
                          "https://portal.example/a%zz", "https://portal..example"}) {
    r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--public-url", url});
    EXPECT_EQ(r.exitCode, 2) << url << " " << r.err;
    EXPECT_NE(r.err.find("portal-server: --public-url "), std::string::npos) << r.err;
  }
  // (Taken: the start goes on to find the directory missing.)
  auto publicUrlRefused = [&](const std::string& url) {
    ProgramRun run = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("nope"), "--listen",
                                 "127.0.0.1:0", "--public-url", url});
    return run.exitCode != 1 || run.err.find("--public-url") != std::string::npos;
  };
  for (const char* url : {"https://portal.example.com", "http://[::1]:8080/portal",
                          "http://10.0.0.1:80", "https://xn--prtal-jua.example/a%20b/"})
    EXPECT_FALSE(publicUrlRefused(url)) << url;
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--listen", "[::1%garbage]:8080"});
  EXPECT_EQ(r.exitCode, 2) << "no IPv6 zone: a link made of it is no URL";
  EXPECT_FALSE(publicUrlRefused("https://portal.example.com.")) << "an absolute name";
  EXPECT_FALSE(publicUrlRefused("http://my_app:8080")) << "a Docker Compose service";
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--mail-from", "öps@exämple.com"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--mail-from must be ASCII"), std::string::npos) << r.err;
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--workers", "9999"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--workers needs a whole number from 1 to 1024"), std::string::npos)
      << r.err;
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--mail-from", "no-at-sign"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("portal-server: --mail-from "), std::string::npos) << r.err;
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--io-threads", "300"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--io-threads"), std::string::npos) << r.err;
  r = runProgram(
      {PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--metrics-from", "10.0.0.0/8,prometheus"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--metrics-from takes IP networks or addresses: 'prometheus' is not"),
            std::string::npos)
      << r.err;
  r = runProgram({PORTAL_SERVER_BIN, "--bogus", "--data", "--help"});
  EXPECT_EQ(r.exitCode, 0) << r.err << " (--help shows the usage whatever else the line holds)";
  r = runProgram({PORTAL_SERVER_BIN, "--help"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("usage: portal-server --data DIR"), std::string::npos) << r.out;
  EXPECT_NE(
      r.out.find("  --workers N           threads for blocking work, 1 to 1024 (default 64)\n"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("SIGTERM, SIGINT or SIGHUP"), std::string::npos) << r.out;
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--public-url", "portal.example.com"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("portal-server: --public-url must be an http:// or https:// URL"),
            std::string::npos)
      << r.err;
  for (const char* url :
       {"https://portal.example.com/#/", "https://portal.example.com/?tenant=1"}) {
    r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--public-url", url});
    EXPECT_EQ(r.exitCode, 2) << url;
    EXPECT_NE(r.err.find("--public-url must have no query (?) or fragment (#)"), std::string::npos)
        << r.err;
  }
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--public-url",
                  "https://x.example/" + std::string(600, 'p')});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--public-url must be at most 500 characters"), std::string::npos) << r.err;
  for (const char* help : {"--help", "-h"}) {
    r = runProgram({PORTALCTL_BIN, "provision", help});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("usage: portalctl"), std::string::npos) << r.out;
    r = runProgram({PORTAL_REPLAY_BIN, "events", help});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("usage: portal-replay"), std::string::npos) << r.out;
  }
  r = runProgram(
      {PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--trusted-proxy", "10.0.0.1,proxy.lan"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("portal-server: --trusted-proxy takes IP addresses, e.g. 127.0.0.1,::1; "
                       "'proxy.lan' is not one"),
            std::string::npos)
      << r.err;
  // One line each; an empty value (an unset variable) and a flag given twice are
  // refused, not taken as "not given" or the last one.
  auto oneLine = [](const ProgramRun& run) {
    return std::count(run.err.begin(), run.err.end(), '\n') == 1;
  };
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--bogus"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_TRUE(oneLine(r)) << r.err;
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--smtp", ""});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err,
            "portal-server: --smtp needs a value (it is empty) (see portal-server --help)\n");
  // A value left out takes no flag for it: `--data --quiet` made a demo portal in a
  // directory named --quiet (a review).
  r = runProgram({PORTAL_SERVER_BIN, "--demo", "--data", "--quiet"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err,
            "portal-server: --data needs a value: '--quiet' after it is a flag (see portal-server "
            "--help)\n");
  // --version: the commit built, one line, exit 0 (an operator review found none).
  for (const auto& [program, name] :
       std::vector<std::pair<std::string, std::string>>{{PORTAL_SERVER_BIN, "portal-server"},
                                                        {PORTALCTL_BIN, "portalctl"},
                                                        {PORTAL_REPLAY_BIN, "portal-replay"}}) {
    ProgramRun v = runProgram({program, "--version"});
    EXPECT_EQ(v.exitCode, 0) << name << ": " << v.err;
    EXPECT_TRUE(std::regex_match(
        v.out,
        std::regex(name + " \\(company user portal\\) commit ([0-9a-f]{7,40}(-dirty)?|unknown)\n")))
        << v.out;
  }
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--smtp", "relay.example:0"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--smtp must be HOST:PORT, a port from 1 to 65535"), std::string::npos)
      << r.err;
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--data", dir.sub("e")});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err, "portal-server: --data is given twice (see portal-server --help)\n");
  // So is a flag without a value (a review: --quiet --quiet went on).
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("d"), "--quiet", "--quiet"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err, "portal-server: --quiet is given twice (see portal-server --help)\n");
  // A mistyped --data is not made a new, empty portal that signs nobody in.
  r = runProgram({PORTAL_SERVER_BIN, "--data", dir.path() + "/typo", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.exitCode, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("does not exist; give the data directory of a portal (portalctl provision "
                       "makes one), or start with --demo"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/typo"));
  // The server's log says when each thing happened (RFC 3339, UTC, milliseconds).
  EXPECT_TRUE(
      std::regex_search(r.err, std::regex("^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-9]{2}:[0-9]{2}:"
                                          "[0-9]{2}\\.[0-9]{3}Z portal-server: ")))
      << r.err;
}

// A port in use is said at once, before the log is opened, and a --demo portal is
// not made for a server that cannot serve (a review found an empty portal left).
TEST(ServerProcess, ABusyPortIsSaidBeforeAnythingIsMade) {
  TempDir dir;
  std::uint16_t port = 0;
  const int busy = boundLoopbackSocket(port);
  ASSERT_GE(busy, 0);
  ProgramRun r = runProgram({PORTAL_SERVER_BIN, "--data", dir.sub("new"), "--demo", "--listen",
                             "127.0.0.1:" + std::to_string(port)});
  ::close(busy);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.sub("new"))) << "nothing made";
}

// A hang-up (a closed terminal, a log rotation's `kill -HUP`) stops the server
// through SIGTERM's drain (tested above with requests in flight), exit 0: it ended
// it at once, exit 129, before.
TEST(ServerProcess, SighupStopsTheServerAsSigtermDoes) {
  TempDir dir;
  ServerProcess server(dir.sub("data"));
  const std::string token = signInDemoOwner(server);
  server.sendSignal(SIGHUP);
  EXPECT_EQ(server.waitForExit(30), std::optional<int>(0));
}

// Under nohup (SIGHUP ignored when it starts) a hang-up is passed over, as nohup
// means: a blocked signal stays pending, and sigwait() took it all the same.
TEST(ServerProcess, UnderNohupAHangUpIsPassedOver) {
  TempDir dir;
  ServerProcess server(dir.sub("data"), true, 0, {}, false, /*ignoreHangUp=*/true);
  server.sendSignal(SIGHUP);
  EXPECT_EQ(server.waitForExit(1), std::nullopt) << "still running";
  HttpClient client(server.port());
  EXPECT_EQ(client.get("/healthz").status, 200);
  EXPECT_EQ(server.terminate(), 0);
}

// The log is written by a thread of its own: a reader of stderr that stops reading
// (a full pipe, a stalled journal) holds up no request; /healthz and /metrics
// answer, and the lines that did not fit are counted (a review: the server hung
// after about 1,250 requests).
TEST(ServerProcess, AStderrNobodyReadsHoldsUpNoRequest) {
  TempDir dir;
  ServerProcess server(dir.sub("data"), true, 0, {}, true);
  HttpClient client(server.port());
  // 64 KiB of pipe, up to 10,000 lines waiting and as many being written: past
  // them, lines are dropped (a margin for a log thread that is slow to start).
  for (int i = 0; i < 30'000; ++i) ASSERT_EQ(client.get("/healthz").status, 200) << i;
  Reply metrics = client.get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(metrics.body, m, std::regex("portal_log_lines_dropped_total ([0-9]+)")))
      << metrics.body;
  EXPECT_GT(std::stoull(m[1]), 0u);
  EXPECT_EQ(server.terminate(), 0) << "a stop waits for such a log at most a moment";
}

// Relays that check senders refuse no-reply@portal.invalid: the operator names one.
// The mail drop an earlier run wrote is cleared of an anonymized person's mail
// also when the server now sends through a relay.
TEST(ServerProcess, AnonymizationClearsTheMailDropOfAnEarlierRunAlsoWithARelay) {
  TempDir dir;
  const std::string data = dir.sub("data");
  auto mailsTo = [&](const std::string& address) {
    int n = 0;
    for (const auto& mail : mailsIn(data + "/outbox")) n += mail.find(address) != std::string::npos;
    return n;
  };
  const std::string passphrase = "a demo passphrase!";
  std::string zed;
  {
    ServerProcess server(data);
    // The owner's mail is in the drop before the password it holds is changed (a
    // mail whose password no longer holds is dropped unsent).
    ASSERT_TRUE(waitFor([&] { return mailsTo("owner@demo.example") == 1; })) << "the owner's mail";
    HttpClient client(server.port());
    Reply r = client.post("/api/v1/sessions", {{"company", "demo"},
                                               {"email", "owner@demo.example"},
                                               {"password", server.temporaryPassword()}});
    ASSERT_EQ(r.status, 201) << r.body;
    std::string token = r.json()["token"];
    ASSERT_EQ(
        client
            .post("/api/v1/me/password",
                  {{"currentPassword", server.temporaryPassword()}, {"newPassword", passphrase}},
                  token)
            .status,
        204);
    r = client.post("/api/v1/users",
                    {{"email", "zed@demo.example"},
                     {"givenName", "Zed"},
                     {"surname", "Zorn"},
                     {"jobTitle", "Clerk"},
                     {"managerEmail", "owner@demo.example"},
                     {"notify", true}},
                    token);
    ASSERT_EQ(r.status, 201) << r.body;
    zed = r.json()["id"];
    ASSERT_TRUE(waitFor([&] { return mailsTo("zed@demo.example") == 1; })) << "the welcome mail";
    ASSERT_EQ(server.terminate(), 0);
  }
  // A relay nobody answers at: its mail waits, the drop is still on disk.
  ServerProcess server(data, false, 0, {"--smtp", "127.0.0.1:9"});
  HttpClient client(server.port());
  Reply r =
      client.post("/api/v1/sessions",
                  {{"company", "demo"}, {"email", "owner@demo.example"}, {"password", passphrase}});
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string token = r.json()["token"];
  ASSERT_EQ(client.post("/api/v1/users/" + zed + "/deactivate", json::object(), token).status, 200);
  r = client.post("/api/v1/users/" + zed + "/anonymize", json::object(), token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(mailsTo("zed@demo.example"), 0);
  EXPECT_GE(mailsTo("owner@demo.example"), 1) << "the others' mail stays";
  EXPECT_EQ(server.terminate(), 0);
}

// The demo's sign-in line names where this server answers, not where mail links
// point (--public-url, the front end); a portal of real companies gets no demo
// company added to its log by a --demo start.
TEST(ServerProcess, TheDemoSignInNamesTheServerAndAnExistingPortalGetsNoDemoCompany) {
  TempDir dir;
  {
    // (`localhost` is this machine's loopback address.)
    ServerProcess server(
        dir.sub("demo"), true, 0,
        {"--public-url", "https://portal.example.com", "--listen", "localhost:0", "--trusted-proxy",
         "10.0.0.1", "--trusted-proxy", "::1"});  // (a list, flag by flag)
    EXPECT_NE(server.output().find("curl -s -X POST http://127.0.0.1:" +
                                   std::to_string(server.port()) + "/api/v1/sessions"),
              std::string::npos)
        << server.output();
    EXPECT_EQ(server.terminate(), 0);
  }
  const std::string data = dir.sub("acme");
  std::filesystem::create_directories(data);
  ProgramRun made = runProgram({PORTALCTL_BIN,
                                "provision",
                                "--data",
                                data,
                                "--company",
                                "acme",
                                "--name",
                                "Acme",
                                "--owner-email",
                                "olga@acme.example",
                                "--owner-given-name",
                                "Olga",
                                "--owner-surname",
                                "Owner",
                                "--owner-job-title",
                                "CEO",
                                "--owner-manager-email",
                                "olga@acme.example",
                                "--password-hash-cost",
                                "minimum"});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  ServerProcess server(data, false);
  EXPECT_NE(
      server.output().find("holds a portal already; a demo company is made only in a new one"),
      std::string::npos)
      << server.output();
  HttpClient client(server.port());
  EXPECT_EQ(client
                .post("/api/v1/sessions",
                      {{"company", "demo"}, {"email", "owner@demo.example"}, {"password", "x"}})
                .status,
            401);
  EXPECT_EQ(server.terminate(), 0);
  std::size_t demoMails = 0;
  if (std::filesystem::exists(data + "/outbox"))
    for (const auto& mail : mailsIn(data + "/outbox"))
      demoMails += mail.find("demo.example") != std::string::npos;
  EXPECT_EQ(demoMails, 0u);
}

// A delivered mail's record is deleted durably: a crash of an idle portal long after
// the delivery does not send it again (the deletion waited in the WAL's memory for
// the next command's fsync, and a temporary password went out twice).
TEST(ServerProcess, AMailDeliveredBeforeACrashIsNotSentAgain) {
  TempDir dir;
  const std::string data = dir.sub("data");
  auto metric = [](ServerProcess& server, const std::string& name) -> std::uint64_t {
    HttpClient client(server.port());
    const std::string text = client.get("/metrics").body;
    const std::size_t at = text.find("\n" + name + " ");
    return at == std::string::npos ? 0 : std::stoull(text.substr(at + name.size() + 2));
  };
  {
    ServerProcess server(data);
    ASSERT_TRUE(waitFor([&] { return metric(server, "portal_mail_delivered_total") >= 1; }));
    // A pass that began after the delivery has finished: the deletion is durable.
    const std::uint64_t scans = metric(server, "portal_mail_scans_total");
    ASSERT_TRUE(waitFor([&] { return metric(server, "portal_mail_scans_total") > scans; }));
    server.crash();
  }
  ASSERT_EQ(mailsIn(data + "/outbox", "-temporary-password").size(), 1u);
  for (const auto& file : std::filesystem::directory_iterator(data + "/outbox"))
    std::filesystem::remove(file.path());
  ServerProcess server(data, false);
  ASSERT_TRUE(waitFor([&] { return metric(server, "portal_mail_scans_total") >= 1; }));
  EXPECT_EQ(metric(server, "portal_mail_delivered_total"), 0u);
  EXPECT_TRUE(mailsIn(data + "/outbox").empty()) << "the mail was sent again";
  // Mail dropped unsent is counted by why, every reason shown from the start.
  HttpClient client(server.port());
  const std::string metrics = client.get("/metrics").body;
  for (const char* reason :
       {"undecodable", "recipient-gone", "obsolete", "recipient-unknown", "refused", "expired"})
    EXPECT_NE(
        metrics.find(std::string("\nportal_mail_dropped_total{reason=\"") + reason + "\"} 0\n"),
        std::string::npos)
        << reason;
  EXPECT_EQ(server.terminate(), 0);
}

// Acknowledged events are in the write-ahead log until a flush. A damaged record
// before its end is either a power cut during an fsync (a later page of the
// unacknowledged tail kept, an earlier one not) or damage to acknowledged events,
// which the log cannot tell apart: the server starts from the events before it, as
// RocksDB's point-in-time recovery does, and says so loudly (it said nothing, and
// verify then said ok: a review).
TEST(ServerProcess, AWriteAheadLogDamagedBeforeItsEndIsSaidSoAtStartAndLeftAloneByPortalctl) {
  TempDir dir;
  const std::string data = dir.sub("data");
  {
    ServerProcess server(data);
    const std::string token = signInDemoOwner(server);
    HttpClient client(server.port());
    for (int i = 0; i < 20; ++i)
      ASSERT_EQ(client
                    .post("/api/v1/users",
                          userBody("u" + std::to_string(i) + "@demo.example", "U",
                                   std::string(200, 'x'), "owner@demo.example"),
                          token)
                    .status,
                201);
    server.crash();
  }
  std::filesystem::path newest;
  for (const auto& e : std::filesystem::directory_iterator(data))
    if (e.path().extension() == ".log" && e.file_size() > 0 && e.path() > newest) newest = e.path();
  ASSERT_FALSE(newest.empty());
  const auto size = std::filesystem::file_size(newest);
  ASSERT_GT(size, 8192u) << "the users' events are in it";
  {
    // 64 bytes: more than a block's padding, so that a record is hit.
    const int fd = ::open(newest.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, std::string(64, '\xde').data(), 64, static_cast<off_t>(size / 2)), 64);
    ::close(fd);
  }
  // portalctl's offline jobs do not start from there (a compaction would make the
  // loss final, and exit 0 said all was well: a review); the server's start decides.
  auto bytes = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string damaged = bytes(newest);
  // (RocksDB names what the bytes hit: a record's length or its payload's checksum,
  // as the log's layout puts a record there; the suite once met each.)
  auto saysTheWalIsDamaged = [&](const std::string& err, const std::string& program,
                                 const std::string& nothing) {
    const std::string head = program + ": the write-ahead log of " + data + " is damaged (";
    const std::string tail = "); nothing was " + nothing +
                             ". portal-server starts from the events before the damage (and "
                             "says so), or restore a backup\n";
    return err == head + "Corruption: checksum mismatch" + tail ||
           err == head + "Corruption: bad record length" + tail;
  };
  for (std::vector<std::string> job : {std::vector<std::string>{"compact"},
                                       std::vector<std::string>{"rebuild", "--projection", "all"},
                                       std::vector<std::string>{"backup", "--to", dir.sub("bk")}}) {
    std::vector<std::string> argv = {PORTALCTL_BIN, job[0], "--data", data};
    argv.insert(argv.end(), job.begin() + 1, job.end());
    ProgramRun r = runProgram(argv);
    EXPECT_EQ(r.exitCode, 1) << job[0] << ": " << r.out << r.err;
    EXPECT_TRUE(saysTheWalIsDamaged(r.err, "portalctl", "done")) << job[0] << ": " << r.err;
    ASSERT_TRUE(std::filesystem::exists(newest)) << job[0];
    EXPECT_EQ(bytes(newest), damaged) << job[0];
  }
  {
    // An auditor's verify first is not sent to a backup either (a review).
    ProgramRun r = runProgram({PORTAL_REPLAY_BIN, "verify", "--data", data});
    EXPECT_EQ(r.exitCode, 1) << r.out << r.err;
    EXPECT_TRUE(saysTheWalIsDamaged(r.err, "portal-replay", "read")) << r.err;
    EXPECT_EQ(bytes(newest), damaged);
  }
  {
    RunningProgram starting({PORTAL_SERVER_BIN, "--data", data, "--listen", "127.0.0.1:0"});
    EXPECT_TRUE(starting.waitForError("if acknowledged commands are missing, restore a backup"));
    starting.signal(SIGKILL);
    const ProgramRun r = starting.finish();
    EXPECT_NE(r.err.find("warning: the write-ahead log of " + data + " was damaged (Corruption: "),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("started from the events before the damage"), std::string::npos) << r.err;
  }
  // It serves from there: a whole log, shorter than the one acknowledged.
  ServerProcess server(data, false);
  HttpClient client(server.port());
  Reply session = client.post(
      "/api/v1/sessions",
      {{"company", "demo"}, {"email", "owner@demo.example"}, {"password", "a demo passphrase!"}});
  ASSERT_EQ(session.status, 201) << session.body;
  Reply users = client.get("/api/v1/users?limit=100", session.json()["token"].get<std::string>());
  ASSERT_EQ(users.status, 200);
  EXPECT_LT(users.json()["items"].size(), 21u);
  EXPECT_EQ(server.terminate(), 0);
  ProgramRun verified = runProgram({PORTAL_REPLAY_BIN, "verify", "--data", data});
  EXPECT_EQ(verified.exitCode, 0) << verified.err;
}

// A reset mail's link begins with the address people reach the portal at: the one
// the operator names, or else the one the server listens on (a port the system
// picked, known only once bound).
TEST(ServerProcess, AResetLinkBeginsWithThePortalsAddress) {
  TempDir dir;
  const std::string data = dir.sub("data");
  auto resetLink = [&](ServerProcess& server) {
    HttpClient client(server.port());
    Reply r = client.post("/api/v1/password-resets",
                          {{"company", "demo"}, {"email", "owner@demo.example"}});
    EXPECT_EQ(r.status, 202) << r.body;
    std::string line;
    EXPECT_TRUE(waitFor([&] {
      for (const auto& mail : mailsIn(data + "/outbox", "-password-reset")) {
        std::istringstream in(mail);
        for (std::string l; std::getline(in, l);)
          if (l.find("/reset-password#token=") != std::string::npos) line = std::string(trim(l));
      }
      return !line.empty();
    })) << "a reset mail";
    return line;
  };
  {
    ServerProcess server(data);
    const std::string bound = "http://127.0.0.1:" + std::to_string(server.port());
    EXPECT_EQ(resetLink(server).rfind(bound + "/reset-password#token=", 0), 0u) << bound;
    EXPECT_EQ(server.terminate(), 0);
  }
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(data + "/outbox", ec))
    if (f.path().string().ends_with("-password-reset.eml")) std::filesystem::remove(f.path());
  // Given with a trailing slash, as people copy it from a browser: one slash in links.
  {
    ServerProcess server(data, false, 0, {"--public-url", "https://portal.acme.example/"});
    EXPECT_EQ(resetLink(server).rfind("https://portal.acme.example/reset-password#token=", 0), 0u);
    EXPECT_EQ(server.terminate(), 0);
  }
  for (const auto& f : std::filesystem::directory_iterator(data + "/outbox", ec))
    if (f.path().string().ends_with("-password-reset.eml")) std::filesystem::remove(f.path());
  // Listening on every address, and no --public-url: not http://0.0.0.0 (no address
  // to reach it at) but this machine's name.
  char name[256] = {};
  ASSERT_EQ(::gethostname(name, sizeof name - 1), 0);
  ServerProcess server(data, false, 0, {"--listen", "0.0.0.0:0"});
  const std::string named = "http://" + std::string(name) + ":" + std::to_string(server.port());
  EXPECT_EQ(resetLink(server).rfind(named + "/reset-password#token=", 0), 0u) << named;
  EXPECT_EQ(server.terminate(), 0);
}

// How long a mail the relay does not take is tried is the operator's to set: past
// it, counted from the event that caused it, the mail is dropped and logged.
TEST(ServerProcess, AMailIsTriedForTheHoursGivenThenDropped) {
  TempDir dir;
  const std::string data = dir.sub("data");
  {
    // A company provisioned two hours ago: its owner's temporary password waits.
    SystemClock wall;
    ManualClock clock{Timestamp{wall.now().micros - 2 * 3600LL * 1'000'000}};
    RandomIds ids;
    auto countries = loadCountries();
    ASSERT_TRUE(countries);
    PortalOptions options;
    options.dataDir = data;
    options.createIfMissing = true;
    auto portal = Portal::open(options, *countries, clock, ids);
    ASSERT_TRUE(portal) << portal.error().message;
    PasswordHasher hasher(HashCost::minimum());
    ASSERT_TRUE(provisionCompany(**portal, hasher, exampleCompany("acme", "Acme")));
  }
  const std::string log = dir.sub("server.log");
  auto metric = [](ServerProcess& server, const std::string& line) {
    return HttpClient(server.port()).get("/metrics").body.find("\n" + line + "\n") !=
           std::string::npos;
  };
  {
    // Three hours: the relay, which is not there, is tried again later.
    ServerProcess server(data, false, 0, {"--smtp", "127.0.0.1:9", "--mail-give-up-hours", "3"},
                         false, false, log);
    ASSERT_TRUE(waitFor([&] {
      return readFile(log).find("delivery failed (attempt 1") != std::string::npos;
    })) << readFile(log);
    EXPECT_TRUE(metric(server, "portal_mail_pending 1"));
    EXPECT_EQ(server.terminate(), 0);
    EXPECT_EQ(readFile(log).find("not delivered within"), std::string::npos) << readFile(log);
  }
  // One hour: past it already, so the first failure drops it.
  ServerProcess server(data, false, 0, {"--smtp", "127.0.0.1:9", "--mail-give-up-hours", "1"},
                       false, false, log);
  ASSERT_TRUE(waitFor([&] {
    return readFile(log).find(
               "not delivered within 1 hour of the event that caused it; dropped "
               "unsent") != std::string::npos;
  })) << readFile(log);
  EXPECT_TRUE(
      waitFor([&] { return metric(server, "portal_mail_dropped_total{reason=\"expired\"} 1"); }));
  EXPECT_EQ(server.terminate(), 0);
}

// Mail that leaves the machine with links only this machine opens, or from the
// sender relays refuse, is said at start (a review: nothing said so).
TEST(ServerProcess, MailThroughARelayWithLocalLinksOrTheDefaultSenderIsSaid) {
  TempDir dir;
  const std::string log = dir.sub("server.log");
  // A relay that is not there: the mail waits, which is not what is looked at here.
  ServerProcess server(dir.sub("data"), true, 0, {"--smtp", "127.0.0.1:9"}, false, false, log);
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  EXPECT_TRUE(waitFor([&] {
    const std::string text = readFile(log);
    return text.find("portal-server: mail goes to the relay 127.0.0.1:9 with links to " + url +
                     ", the address this server listens on; pass --public-url") !=
               std::string::npos &&
           text.find(
               "from no-reply@portal.invalid, which relays that check senders refuse; pass "
               "--mail-from") != std::string::npos;
  })) << readFile(log);
  // The relay is not there: the demo owner's mail waits, and the stop says so.
  HttpClient client(server.port());
  ASSERT_TRUE(waitFor([&] {
    return client.get("/metrics").body.find("\nportal_mail_pending 1\n") != std::string::npos;
  })) << client.get("/metrics").body;
  EXPECT_EQ(server.terminate(), 0);
  EXPECT_NE(readFile(log).find("portal-server: 1 mail not delivered yet stays in the outbox for "
                               "the next start"),
            std::string::npos)
      << readFile(log);
  std::filesystem::remove(log);
  ServerProcess named(dir.sub("data"), false, 0,
                      {"--smtp", "127.0.0.1:9", "--public-url", "https://portal.acme.example",
                       "--mail-from", "portal@acme.example"},
                      false, false, log);
  EXPECT_EQ(named.terminate(), 0);
  const std::string text = readFile(log);
  EXPECT_EQ(text.find("pass --public-url"), std::string::npos) << text;
  EXPECT_EQ(text.find("pass --mail-from"), std::string::npos) << text;
}

// The data directory holds the key vault beside what it opens: another local
// account reads none of it, whatever umask the server was started with.
TEST(ServerProcess, ThePortalsFilesAreItsOwnersAlone) {
  TempDir dir;
  const mode_t old = ::umask(022);
  std::optional<ServerProcess> server;
  server.emplace(dir.sub("data"));
  ::umask(old);
  (void)signInDemoOwner(*server);
  ASSERT_EQ(server->terminate(), 0);
  std::size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.sub("data"))) {
    struct stat st {};
    ASSERT_EQ(::stat(e.path().c_str(), &st), 0) << e.path();
    EXPECT_EQ(st.st_mode & 077, 0u) << e.path() << " is open to others";
    ++files;
  }
  EXPECT_GT(files, 5u);
  struct stat top {};
  ASSERT_EQ(::stat(dir.sub("data").c_str(), &top), 0);
  EXPECT_EQ(top.st_mode & 077, 0u);
}

TEST(ServerProcess, MailGoesFromTheAddressTheOperatorNames) {
  TempDir dir;
  ServerProcess server(dir.sub("data"), true, 0, {"--mail-from", "it@acme.example"});
  std::string mail;
  ASSERT_TRUE(waitFor([&] {
    const auto mails = mailsIn(dir.sub("data") + "/outbox");
    if (!mails.empty()) mail = mails.back();
    return !mail.empty();
  }));
  EXPECT_NE(mail.find("From: \"Customer Portal\" <it@acme.example>\r\n"), std::string::npos)
      << mail;
  EXPECT_EQ(server.terminate(), 0);
}

}  // namespace
}  // namespace portal::test
