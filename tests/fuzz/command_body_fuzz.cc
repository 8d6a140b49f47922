// The JSON body of every command route, from the owner's session.

#include <string>
#include <vector>

#include "src/http/api.h"
#include "tests/fuzz/fuzz_portal.h"
#include "tests/fuzz/fuzz_targets.h"

namespace portal::fuzz {
namespace {

// Every route that takes a body, from apiRoutes() so that a new route is fuzzed too.
// Signing out is left out: it would end the session every later input uses.
const std::vector<RouteInfo>& commandRoutes() {
  static const std::vector<RouteInfo> routes = [] {
    std::vector<RouteInfo> out;
    for (const RouteInfo& r : apiRoutes())
      if ((r.method == "POST" || r.method == "PATCH" || r.method == "PUT") &&
          r.pattern != "/api/v1/sessions/current")
        out.push_back(r);
    return out;
  }();
  return routes;
}

// The route's path with its parameters filled: an id of the kind its folder names.
std::string pathOf(std::string_view pattern) {
  std::string out;
  std::string_view previous;
  std::size_t at = 0;
  while (at < pattern.size()) {
    const std::size_t next = pattern.find('/', at + 1);
    const std::string_view segment = pattern.substr(at + 1, next == std::string_view::npos
                                                                ? std::string_view::npos
                                                                : next - at - 1);
    std::string value(segment);
    if (segment == "{id}" || segment == "{userId}") {
      value = previous == "groups" ? "$G" : previous == "resources" ? "$R" : "$U";
    } else if (segment == "{service}") {
      value = "modeler";
    } else if (segment == "{role}") {
      value = "editor";
    } else {
      check(segment.empty() || segment.front() != '{',
            "no value for the path parameter " + std::string(segment) + " of " +
                std::string(pattern));
    }
    out += "/" + value;
    previous = segment;
    at = next == std::string_view::npos ? pattern.size() : next;
  }
  return out;
}

}  // namespace

int commandBody(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  FuzzPortal& world = FuzzPortal::get();
  const RouteInfo& route = commandRoutes()[data[0] % commandRoutes().size()];
  HttpRequest req;
  req.method = std::string(route.method);
  req.target = world.substitute(pathOf(route.pattern));
  req.clientAddress = "127.0.0.1";
  req.requestId = "fuzz";
  req.headers = {{"content-type", "application/json"},
                 {"authorization", "Bearer " + world.ownerToken()}};
  req.body = world.substitute(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  world.handle(req);
  return 0;
}

}  // namespace portal::fuzz
