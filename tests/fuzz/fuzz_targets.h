#pragma once
// The fuzz targets as plain functions, so that one body serves twice: libFuzzer calls
// them (fuzz_main.cc, built with -DPORTAL_FUZZ=ON and clang), and portal_tests runs
// every file of the seed corpus and of the regressions (inputs that once found a bug)
// through them (fuzz_regression_test.cc).
//
// Each takes any bytes and returns 0. A broken rule is a crash: the target prints
// what broke and aborts, so libFuzzer saves the input and the test fails.
//
// csvReader, eventDecoder: no state. commandBody, httpRequest: a real Portal and Api
// on a RocksDB in a temporary directory made once per process (fuzz_portal.h); one
// thread at a time.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace portal::fuzz {

// The CSV reader: the file read whole and in chunks gives the same records and the
// same error; rows grow by one; without an error every field is valid UTF-8.
// Byte 0 picks the chunk size and the record limit; the rest is the file.
int csvReader(const std::uint8_t* data, std::size_t size);

// The stored-event decoder: never throws; what it decodes encodes and decodes again
// to the same envelope and data. Personal boxes "open" to their own text.
int eventDecoder(const std::uint8_t* data, std::size_t size);

// The JSON body of every command route of apiRoutes(), sent by the company's owner:
// byte 0 picks the route, the rest is the body; "$U" "$G" "$R" "$O" in it stand for
// a user's, a group's, a resource's and the owner's ids. Never a 500 or a crash;
// errors are problem+json.
int commandBody(const std::uint8_t* data, std::size_t size);

// Raw bytes through Beast's request parser (the server's limits) and, when a request
// parses, through the server's mapping to Api::handle. "$T" in a header stands for
// the owner's token, "$U" "$G" "$R" "$O" in the target and body for ids.
int httpRequest(const std::uint8_t* data, std::size_t size);

struct Target {
  std::string_view name;  // its folder under tests/fuzz/corpus and tests/fuzz/regressions
  int (*run)(const std::uint8_t*, std::size_t);
};
const std::vector<Target>& targets();

// Prints `what` and aborts when `ok` is false.
void check(bool ok, std::string_view what);

}  // namespace portal::fuzz
