// portalctl: operations on a portal data directory. Works on the directory itself
// when no server holds it, and through the running server's operator socket when
// one does; the same library call (runOperatorRequest) does the work either way.
//
//   portalctl provision --data DIR --company SLUG --name NAME --owner-email E
//       --owner-given-name G --owner-surname S --owner-job-title T
//       --owner-manager-email M [--owner-country C] [--services a,b,c]
//       [--password-hash-cost interactive|minimum]

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "src/app/countries_file.h"
#include "src/app/operator.h"
#include "src/app/portal.h"
#include "src/app/system.h"
#include "src/auth/passwords.h"

namespace {

using namespace portal;
using json = nlohmann::json;

[[noreturn]] void fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "portalctl: %s\n", message.c_str());
  std::exit(code);
}

const char* const kUsage =
    "usage: portalctl provision --data DIR --company SLUG --name NAME --owner-email E\n"
    "         --owner-given-name G --owner-surname S --owner-job-title T --owner-manager-email M\n"
    "         [--owner-country C] [--services modeler,automation,studio]\n"
    "         [--password-hash-cost interactive|minimum]\n";

// Runs `request` on the directory, or through the server that holds it.
std::string run(const std::string& data, const json& request, const std::string& cost) {
  struct stat st {};
  if (stat(data.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) fail("no such directory: " + data);
  auto countries = loadCountries();
  if (!countries) fail(countries.error().message);
  SystemClock clock;
  RandomIds ids;
  PortalOptions options;
  options.dataDir = data;
  auto portal = Portal::open(options, *countries, clock, ids);
  if (!portal) {
    if (portal.error().code != ErrorCode::kBusy) fail(portal.error().message);
    auto answer =
        callOperatorSocket(operatorSocketPath(data), request.dump(), std::chrono::seconds(60));
    if (!answer) fail(portal.error().message + "; and " + answer.error().message);
    return *answer;
  }
  PasswordHasher hasher(cost == "minimum" ? HashCost::minimum() : HashCost::interactive());
  OperatorContext context{**portal, hasher, ""};
  return runOperatorRequest(context, request.dump());
}

int provision(int argc, char** argv) {
  static const std::map<std::string, std::string> flags = {
      {"--company", "company"},
      {"--name", "name"},
      {"--owner-email", "ownerEmail"},
      {"--owner-given-name", "ownerGivenName"},
      {"--owner-surname", "ownerSurname"},
      {"--owner-job-title", "ownerJobTitle"},
      {"--owner-manager-email", "ownerManagerEmail"},
      {"--owner-country", "ownerCountry"}};
  json request = {{"command", "provision"}};
  std::string data, cost = "interactive";
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) fail(a + " needs a value\n" + kUsage, 2);
    const std::string v = argv[++i];
    if (a == "--data")
      data = v;
    else if (a == "--password-hash-cost")
      cost = v;
    else if (a == "--services") {
      json list = json::array();
      std::size_t start = 0;
      while (start <= v.size()) {
        std::size_t comma = v.find(',', start);
        if (comma == std::string::npos) comma = v.size();
        if (comma > start) list.push_back(v.substr(start, comma - start));
        start = comma + 1;
      }
      request["services"] = list;
    } else if (auto f = flags.find(a); f != flags.end())
      request[f->second] = v;
    else
      fail("unknown flag '" + a + "'\n" + kUsage, 2);
  }
  if (data.empty()) fail(std::string("--data DIR is required\n") + kUsage, 2);
  for (const char* required : {"--company", "--name", "--owner-email", "--owner-given-name",
                               "--owner-surname", "--owner-job-title", "--owner-manager-email"})
    if (!request.contains(flags.at(required)))
      fail(std::string(required) + " is required\n" + kUsage, 2);
  if (cost != "interactive" && cost != "minimum")
    fail("--password-hash-cost must be interactive or minimum", 2);
  json answer = json::parse(run(data, request, cost), nullptr, false);
  if (!answer.is_object()) fail("the answer is not JSON");
  if (!answer.value("ok", false)) fail(answer.value("error", "provisioning failed"));
  answer.erase("ok");
  std::printf("%s\n", answer.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) fail(std::string("a command is required\n") + kUsage, 2);
  const std::string command = argv[1];
  if (command == "provision") return provision(argc, argv);
  if (command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  fail("unknown command '" + command + "'\n" + kUsage, 2);
}
