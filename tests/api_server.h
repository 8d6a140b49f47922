#pragma once
// The HTTP test fixture: a portal with its API served by the real server on an
// ephemeral 127.0.0.1 port, a real RocksDB in a temporary directory, mail written as
// .eml files; and a raw TCP connection for what a well-behaved client never does.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <rocksdb/db.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "src/app/countries_file.h"
#include "src/app/mail_recipients.h"
#include "src/app/portal.h"
#include "src/app/provisioning.h"
#include "src/app/system.h"
#include "src/http/api.h"
#include "src/http/server.h"
#include "src/mail/mailer.h"
#include "src/mail/transport.h"
#include "tests/example_company.h"
#include "tests/http_client.h"
#include "tests/test_support.h"

namespace portal::test {

inline constexpr const char* kPassword = "correct horse battery staple";

// A server's access log lines as they are written (from its network threads).
class AccessLogLines {
 public:
  // Points `o`'s access log here; this must outlive the server.
  void attach(ServerOptions& o) {
    o.accessLog = [this](const std::string& line) {
      std::lock_guard lock(mu_);
      lines_.push_back(line);
    };
  }
  // The lines written so far.
  std::vector<std::string> lines() const {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};
inline constexpr std::int64_t kMinute = 60LL * 1'000'000;

inline const CountryList& countries() {
  static const CountryList list = [] {
    auto c = loadCountries();
    if (!c) throw std::runtime_error(c.error().message);
    return std::move(*c);
  }();
  return list;
}

struct Person {
  std::string id, email, token;
};

// A portal with its API served on 127.0.0.1 and mail written to <dir>/outbox.
class ApiServer {
 public:
  // `dataDir`: where the log lives (default: a fresh temporary directory); another
  // ApiServer on the same directory later is the server restarted. `startAt`: the
  // clock's time at start (a restart later than the first server's last request).
  // `hashCost`: the server's Argon2id cost.
  explicit ApiServer(ThrottlePolicy throttle = {},
                     std::function<void(ServerOptions&)> tune = nullptr,
                     ThrottlePolicy resetThrottle = {5, 100'000}, std::string dataDir = {},
                     std::optional<Timestamp> startAt = std::nullopt,
                     HashCost hashCost = HashCost::minimum()) {
    if (startAt) clock_.set(*startAt);
    PortalOptions po;
    po.dataDir = dataDir.empty() ? dir_.sub("data") : dataDir;
    // Tests read right after their commands (a 10,000-row import, then a search): the
    // answer must wait for the views as long as the suite waits for anything, since
    // the sanitizers on a loaded CI machine project ten times slower than production.
    po.readYourWritesTimeout = std::chrono::seconds(30);
    auto portal = Portal::open(po, countries(), clock_, ids_);
    if (!portal) throw std::runtime_error(portal.error().message);
    portal_ = std::move(*portal);
    // Made before the API can queue mail, started once the links' address is known.
    mailer_ = std::make_unique<Mailer>(portal_->store(), std::make_unique<EmlDirectoryTransport>(outbox()),
                                       MailSettings{}, mailRecipients(*portal_, clock_));
    ServerOptions so;
    so.port = 0;
    so.workerThreads = 16;
    if (tune) tune(so);
    ApiOptions ao;
    ao.waitingPolls = waitingPolls(so.workerThreads);  // as portal-server sets it
    ao.hashCost = hashCost;
    ao.throttle = throttle;
    ao.resetThrottle = resetThrottle;  // the fixtures set passwords through reset links
    ao.mailQueued = [m = mailer_.get()] { m->notify(); };
    ao.forgetMail = [m = mailer_.get()](const std::string& companyId, const std::string& email) {
      return m->forgetRecipient(companyId, email);
    };
    auto api = Api::create(*portal_, countries(), clock_, ids_, ao);
    if (!api) throw std::runtime_error(api.error().message);
    api_ = std::move(*api);
    auto server = HttpServer::start(*api_, so);
    if (!server) throw std::runtime_error(server.error().message);
    server_ = std::move(*server);
    mailer_->setPublicUrl("http://127.0.0.1:" + std::to_string(server_->port()));
    mailer_->start();
  }

  ~ApiServer() {
    server_->stop();
    mailer_->stop();
    // A reset request is answered before its command runs: one still in flight calls
    // mailQueued (mailer_->notify()) from the log's threads until the portal is gone.
    // So the stopped mailer goes last (it touches the store only while it runs).
    portal_->stop();  // as portal-server does: every answer while its connection exists
    server_.reset();
    api_.reset();
    portal_.reset();
  }

  std::uint16_t port() const { return server_->port(); }
  std::string outbox() const { return dir_.sub("outbox"); }
  ManualClock& clock() { return clock_; }
  Portal& portal() { return *portal_; }
  HttpServer& server() { return *server_; }
  Mailer& mailer() { return *mailer_; }
  Api& api() { return *api_; }

  // Stops the users or the credentials view (`projection`, its kName) at an event,
  // as a projection stops at one it cannot apply: `user`'s row in it is made
  // unreadable, then `actor` changes them in the log (a new job title; for the
  // credentials view, a deactivation).
  void stopViewAt(const char* projection, const std::string& companyId, const Person& actor,
                  const Person& user) {
    const bool users = std::string_view(projection) == UsersProjection::kName;
    {
      Projector::Reading reading(portal().projector());
      auto* cf = portal().projector().handle(
          projection, users ? static_cast<int>(UsersProjection::kRows)
                            : static_cast<int>(CredentialsProjection::kAccounts));
      const std::string key =
          users ? companyPrefix(companyId) + user.id : companyId + std::string(1, '\0') + user.id;
      if (!portal().store().db()->Put(rocksdb::WriteOptions(), cf, key, "not json").ok())
        throw std::runtime_error("cannot write the row to spoil");
    }
    UpdateUser change;
    change.userId = user.id;
    change.jobTitle = std::optional<std::string>("Boss");
    const CommandBody body = users ? CommandBody(change) : CommandBody(DeactivateUser{user.id, {}});
    if (!portal().execute(Command{companyId, actor.id, body}).accepted() ||
        !portal().projector().stopped(projection))
      throw std::runtime_error(std::string("the ") + projection + " view did not stop");
  }

  // Provisions a company; the owner signs in, changes the temporary password to
  // kPassword and keeps that session.
  Person provision(const std::string& slug) {
    PasswordHasher hasher(HashCost::minimum());
    const ProvisionCompany c = exampleCompany(slug, "Company " + slug);
    auto done = provisionCompany(*portal_, hasher, c);
    if (!done) throw std::runtime_error(done.error().message);
    HttpClient client(port());
    Person owner{done->ownerId, c.owner.email, ""};
    Reply r = client.post(
        "/api/v1/sessions",
        {{"company", slug}, {"email", owner.email}, {"password", done->temporaryPassword}});
    if (r.status != 201) throw std::runtime_error("owner sign-in: " + r.body);
    owner.token = r.json()["token"];
    r = client.post("/api/v1/me/password",
                    {{"currentPassword", done->temporaryPassword}, {"newPassword", kPassword}},
                    owner.token);
    if (r.status != 204) throw std::runtime_error("password change: " + r.body);
    companies_[slug] = done->companyId;
    return owner;
  }
  // The id of a company provision() made.
  const std::string& companyId(const std::string& slug) const { return companies_.at(slug); }

  // A new user created by `admin`, with kPassword set through a reset, signed in.
  Person user(const std::string& slug, const Person& admin, const std::string& name,
              bool makeAdmin = false) {
    HttpClient client(port());
    const std::string email = name + "@" + slug + ".example";
    Reply r = client.post("/api/v1/users",
                          {{"email", email},
                           {"givenName", name},
                           {"surname", "Tester"},
                           {"jobTitle", "Engineer"},
                           {"managerEmail", admin.email}},
                          admin.token);
    if (r.status != 201) throw std::runtime_error("create user: " + r.body);
    Person p{r.json()["id"], email, ""};
    setPassword(slug, p);
    if (makeAdmin) {
      r = client.post("/api/v1/admins", {{"userId", p.id}}, admin.token);
      if (r.status != 201) throw std::runtime_error("include admin: " + r.body);
    }
    return p;
  }

  // Resets `p`'s password to kPassword through the mailed link and signs in.
  void setPassword(const std::string& slug, Person& p) {
    HttpClient client(port());
    const std::string token = resetToken(slug, p.email);
    Reply r = client.post("/api/v1/password-resets/confirm",
                          {{"token", token}, {"newPassword", kPassword}});
    if (r.status != 204) throw std::runtime_error("reset: " + r.body);
    p.token = signIn(slug, p.email, kPassword).json()["token"];
  }

  // Asks for a reset link for `email` and reads its token from the .eml file.
  std::string resetToken(const std::string& slug, const std::string& email) {
    HttpClient client(port());
    auto links = [&] {
      std::vector<std::string> tokens;
      std::smatch m;
      for (const auto& mail : mailsTo(email))
        if (std::regex_search(mail, m, std::regex("/reset-password#token=([A-Za-z0-9_-]{43})")))
          tokens.push_back(m[1]);
      return tokens;
    };
    const std::size_t before = links().size();
    Reply r = client.post("/api/v1/password-resets", {{"company", slug}, {"email", email}});
    if (r.status != 202) throw std::runtime_error("reset request: " + r.body);
    std::vector<std::string> tokens;
    if (!waitFor([&] { return (tokens = links()).size() > before; }))
      throw std::runtime_error("no reset mail for " + email);
    return tokens.back();
  }

  // The .eml files addressed to `email`, oldest first.
  std::vector<std::string> mailsTo(const std::string& email) {
    std::vector<std::string> out;
    if (!std::filesystem::exists(outbox())) return out;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(outbox()))
      if (e.path().extension() == ".eml") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (text.find("To: " + email) != std::string::npos ||
          text.find("<" + email + ">") != std::string::npos)
        out.push_back(text);
    }
    return out;
  }

  Reply signIn(const std::string& slug, const std::string& email, const std::string& password,
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    HttpClient client(port());
    return client.post("/api/v1/sessions",
                       {{"company", slug}, {"email", email}, {"password", password}}, "", headers);
  }

 private:
  TempDir dir_;
  ManualClock clock_{Timestamp{1'795'000'000'000'000}};
  RandomIds ids_;
  std::unique_ptr<Portal> portal_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<Mailer> mailer_;
  std::map<std::string, std::string> companies_;
};

// A server that a test stops and starts again on the same data directory (its
// clients go with it: make them anew after restart()).
class RestartingServer {
 public:
  RestartingServer() { restart(); }
  // `startAt`: the clock's time at the start (ApiServer's).
  void restart(std::optional<Timestamp> startAt = std::nullopt) {
    server_.reset();
    server_.emplace(ThrottlePolicy{}, nullptr, ThrottlePolicy{5, 100'000}, data_, startAt);
  }
  ApiServer* operator->() { return &*server_; }
  const std::string& data() const { return data_; }

 private:
  TempDir dir_;
  std::string data_ = dir_.sub("data");
  std::optional<ApiServer> server_;
};

}  // namespace portal::test
