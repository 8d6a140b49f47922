// The test executable's entry point. Besides running the GoogleTest suites, it can
// be started again by a test as a child process with a role (for example
// "--append-loop DIR", a writer that a crash test kills with SIGKILL).

#include <gtest/gtest.h>

#include <cstring>

#include "tests/child_roles.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::strncmp(argv[1], "--child=", 8) == 0)
    return portal::test::runChildRole(argv[1] + 8, argc - 2, argv + 2);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
