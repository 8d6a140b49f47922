#pragma once
// Roles the test executable plays when a test starts it as a child process.

namespace portal::test {

// Runs the role named `role` with its arguments; returns the process exit code.
int runChildRole(const char* role, int argc, char** argv);

}  // namespace portal::test
