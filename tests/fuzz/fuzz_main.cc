// libFuzzer's entry point for one target, chosen when it is compiled
// (-DPORTAL_FUZZ_TARGET=csvReader, ...; see tests/fuzz/CMakeLists.txt).

#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return portal::fuzz::PORTAL_FUZZ_TARGET(data, size);
}
