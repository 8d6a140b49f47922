#include "tests/child_roles.h"

#include <cstdio>
#include <cstring>
#include <string>

#include "tests/store_fixtures.h"

namespace portal::test {
namespace {

// Appends batches of 1 to 3 events for ever (bounded), printing the last position
// of each append once it has returned success. The parent kills it with SIGKILL.
int appendLoop(int argc, char** argv) {
  if (argc < 1) {
    std::fprintf(stderr, "append-loop: needs DIR\n");
    return 2;
  }
  StoreOptions o;
  o.path = argv[0];
  o.createIfMissing = true;
  auto store = EventStore::open(o);
  if (!store) {
    std::fprintf(stderr, "append-loop: %s\n", store.error().message.c_str());
    return 1;
  }
  for (int i = 0; i < 1'000'000; ++i) {
    AppendRequest req;
    const int n = 1 + i % 3;
    for (int j = 0; j < n; ++j) {
      const std::string id = "u-" + std::to_string(i) + "-" + std::to_string(j);
      req.events.push_back(userCreated(id, id));
    }
    auto r = (*store)->append(req);
    if (!r) {
      std::fprintf(stderr, "append-loop: %s\n", r.error().message.c_str());
      return 1;
    }
    std::printf("%llu\n", static_cast<unsigned long long>(r->lastPosition));
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int runChildRole(const char* role, int argc, char** argv) {
  if (std::strcmp(role, "append-loop") == 0) return appendLoop(argc, argv);
  std::fprintf(stderr, "unknown child role '%s'\n", role);
  return 2;
}

}  // namespace portal::test
