#include "tests/fuzz/fuzz_targets.h"

#include <cstdio>
#include <cstdlib>

namespace portal::fuzz {

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {{"csv_reader", &csvReader},
                                          {"event_decoder", &eventDecoder},
                                          {"command_body", &commandBody},
                                          {"http_request", &httpRequest}};
  return all;
}

void check(bool ok, std::string_view what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz check failed: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

}  // namespace portal::fuzz
