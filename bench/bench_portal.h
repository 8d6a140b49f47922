#pragma once
// The portal as portal-server runs it (Portal, Api, HttpServer on a loopback port) in
// a scratch directory, with a company whose owner has signed in and changed the
// temporary password: what the HTTP benchmarks start from.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "bench/bench_support.h"
#include "src/app/countries_file.h"
#include "src/app/portal.h"
#include "src/app/provisioning.h"
#include "src/app/system.h"
#include "src/http/api.h"
#include "src/http/server.h"
#include "tests/example_company.h"

namespace portal::bench {

class BenchPortal {
 public:
  explicit BenchPortal(const std::string& name) : dir_(name) {
    auto countries = loadCountries();
    if (!countries) fail(countries.error().message);
    countries_ = std::move(*countries);
    PortalOptions po;
    po.dataDir = dir_.path() + "/data";
    po.readYourWritesTimeout = std::chrono::seconds(60);
    auto portal = Portal::open(po, countries_, clock_, ids_);
    if (!portal) fail(portal.error().message);
    portal_ = std::move(*portal);
    ApiOptions ao;
    ao.hashCost = HashCost::minimum();
    auto api = Api::create(*portal_, countries_, clock_, ids_, ao);
    if (!api) fail(api.error().message);
    api_ = std::move(*api);
    ServerOptions so;
    so.port = 0;
    auto server = HttpServer::start(*api_, so);
    if (!server) fail(server.error().message);
    server_ = std::move(*server);

    PasswordHasher hasher(HashCost::minimum());
    const ProvisionCompany c = test::exampleCompany("bench", "Bench");
    auto done = provisionCompany(*portal_, hasher, c);
    if (!done) fail(done.error().message);
    HttpResponse signIn = call("POST", "/api/v1/sessions",
                               {{"company", "bench"},
                                {"email", "owner@bench.example"},
                                {"password", done->temporaryPassword}},
                               "");
    token_ = nlohmann::json::parse(signIn.body)["token"];
    call("POST", "/api/v1/me/password",
         {{"currentPassword", done->temporaryPassword}, {"newPassword", "bench passphrase!"}},
         token_);
  }
  ~BenchPortal() { server_->stop(); }

  // A request through the Api itself (no socket), as the owner when `token` is set.
  HttpResponse call(const std::string& method, const std::string& target,
                    const nlohmann::json& body, const std::string& token) {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body.is_null() ? "" : body.dump();
    if (!token.empty()) r.headers.emplace_back("authorization", "Bearer " + token);
    return api_->handle(r);
  }

  std::uint16_t port() const { return server_->port(); }
  const std::string& token() const { return token_; }
  Portal& portal() { return *portal_; }
  const CountryList& countries() const { return countries_; }

 private:
  [[noreturn]] static void fail(const std::string& why) {
    std::fprintf(stderr, "benchmark: %s\n", why.c_str());
    std::exit(1);
  }

  ScratchDir dir_;
  CountryList countries_;
  SystemClock clock_;
  RandomIds ids_;
  std::unique_ptr<Portal> portal_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
  std::string token_;
};

}  // namespace portal::bench
