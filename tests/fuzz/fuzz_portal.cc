#include "tests/fuzz/fuzz_portal.h"

#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "src/app/countries_file.h"
#include "src/app/portal.h"
#include "src/app/provisioning.h"
#include "src/app/system.h"
#include "src/http/api.h"
#include "tests/example_company.h"
#include "tests/fuzz/fuzz_targets.h"

namespace portal::fuzz {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kPassword = "correct horse battery staple";

std::string makeDataDir() {
  std::error_code ec;
  const fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm")
                                                         : fs::temp_directory_path();
  std::string tmpl = (base / "portal-fuzz-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

void replaceAll(std::string& s, std::string_view from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

}  // namespace

struct FuzzPortal::Impl {
  std::string dir = makeDataDir();
  CountryList countries;
  ManualClock clock{Timestamp{1'795'000'000'000'000}};
  RandomIds ids;
  std::unique_ptr<Portal> portal;
  std::unique_ptr<Api> api;
  std::string token, ownerId, userId, groupId, resourceId;

  ~Impl() {
    api.reset();
    portal.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  // A request of the set-up; anything but `expected` stops the fuzzer before it starts.
  json call(const std::string& method, const std::string& target, const json& body,
            int expected) {
    HttpRequest req;
    req.method = method;
    req.target = target;
    req.clientAddress = "127.0.0.1";
    req.headers.emplace_back("content-type", "application/json");
    if (!token.empty()) req.headers.emplace_back("authorization", "Bearer " + token);
    req.body = body.dump();
    HttpResponse res = api->handle(req);
    if (res.status != expected)
      throw std::runtime_error("fuzz set-up: " + method + " " + target + ": " + res.body);
    return res.body.empty() ? json() : json::parse(res.body);
  }
};

FuzzPortal::FuzzPortal() : impl_(std::make_unique<Impl>()) {
  Impl& w = *impl_;
  auto countries = loadCountries();
  if (!countries) throw std::runtime_error(countries.error().message);
  w.countries = std::move(*countries);
  PortalOptions po;
  po.dataDir = w.dir + "/data";
  auto portal = Portal::open(po, w.countries, w.clock, w.ids);
  if (!portal) throw std::runtime_error(portal.error().message);
  w.portal = std::move(*portal);
  ApiOptions ao;
  ao.hashCost = HashCost::minimum();
  auto api = Api::create(*w.portal, w.countries, w.clock, w.ids, ao);
  if (!api) throw std::runtime_error(api.error().message);
  w.api = std::move(*api);

  PasswordHasher hasher(HashCost::minimum());
  const ProvisionCompany c = test::exampleCompany("fuzz", "Fuzz");
  auto done = provisionCompany(*w.portal, hasher, c);
  if (!done) throw std::runtime_error(done.error().message);
  w.ownerId = done->ownerId;
  w.token = w.call("POST", "/api/v1/sessions",
                   {{"company", "fuzz"},
                    {"email", c.owner.email},
                    {"password", done->temporaryPassword}},
                   201)["token"];
  w.call("POST", "/api/v1/me/password",
         {{"currentPassword", done->temporaryPassword}, {"newPassword", kPassword}}, 204);
  w.userId = w.call("POST", "/api/v1/users",
                    {{"email", "user@fuzz.example"},
                     {"givenName", "Uma"},
                     {"surname", "User"},
                     {"jobTitle", "Engineer"},
                     {"managerEmail", c.owner.email}},
                    201)["id"];
  w.groupId = w.call("POST", "/api/v1/groups", {{"name", "Team"}}, 201)["id"];
  w.resourceId = w.call("POST", "/api/v1/resources",
                        {{"kind", "permission"},
                         {"service", "modeler"},
                         {"name", "Read"},
                         {"ownerId", w.userId}},
                        201)["id"];
}

FuzzPortal::~FuzzPortal() = default;

FuzzPortal& FuzzPortal::get() {
  // Made once per process and ended at exit, which libFuzzer reaches by exit() too.
  static FuzzPortal world;
  return world;
}

const std::string& FuzzPortal::ownerToken() const { return impl_->token; }

std::string FuzzPortal::substitute(std::string text) const {
  replaceAll(text, "$T", impl_->token);
  replaceAll(text, "$U", impl_->userId);
  replaceAll(text, "$G", impl_->groupId);
  replaceAll(text, "$R", impl_->resourceId);
  replaceAll(text, "$O", impl_->ownerId);
  return text;
}

HttpResponse FuzzPortal::handle(const HttpRequest& request) {
  HttpResponse res = impl_->api->handle(request);
  const std::string what = request.method + " " + request.target + " answered " +
                           std::to_string(res.status) + ": " + res.body.substr(0, 500);
  // No 5xx but 501: a method HTTP does not define is not implemented (RFC 9110 9.1).
  check(res.status >= 100 && (res.status < 500 || res.status == 501), what);
  for (const auto& [name, value] : res.headers)
    check(name.find_first_of("\r\n") == std::string::npos &&
              value.find_first_of("\r\n") == std::string::npos,
          "a line break in a header: " + what);
  if (res.status >= 400) {
    check(res.contentType == "application/problem+json", "an error that is no problem: " + what);
    json body = json::parse(res.body, nullptr, false);
    check(body.is_object() && body.value("status", 0) == res.status,
          "a problem with another status: " + what);
  } else if (!res.body.empty() && res.contentType.starts_with("application/json")) {
    check(!json::parse(res.body, nullptr, false).is_discarded(), "invalid JSON: " + what);
  }
  return res;
}

}  // namespace portal::fuzz
