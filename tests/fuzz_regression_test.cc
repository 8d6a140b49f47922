// The fuzz targets in the ordinary suite: every seed of tests/fuzz/corpus/<target>/
// and every input that once found a bug, tests/fuzz/regressions/<target>/, runs
// through the same function libFuzzer calls. A broken rule aborts the test.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <iterator>
#include <string>

#include "tests/fuzz/fuzz_targets.h"

namespace portal::fuzz {
// Test names and failures show the target's name.
void PrintTo(const Target& target, std::ostream* os) { *os << target.name; }
}  // namespace portal::fuzz

namespace portal::test {
namespace {

namespace fs = std::filesystem;

std::size_t runAll(const fuzz::Target& target, const std::string& folder) {
  const fs::path dir = fs::path(PORTAL_FUZZ_DIR) / folder / target.name;
  std::size_t n = 0;
  if (!fs::is_directory(dir)) return n;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry.path().string());
    EXPECT_EQ(target.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0);
    ++n;
  }
  return n;
}

class FuzzInputs : public ::testing::TestWithParam<fuzz::Target> {};

TEST_P(FuzzInputs, EverySeedAndEveryInputThatOnceFoundABugPasses) {
  EXPECT_GT(runAll(GetParam(), "corpus"), 0u) << "a fuzz target without seeds";
  runAll(GetParam(), "regressions");
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzInputs, ::testing::ValuesIn(fuzz::targets()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace portal::test
