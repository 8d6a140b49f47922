#pragma once
// The programs as an operator runs them, for the process tests: run one to its
// end and collect what it printed, or keep portal-server running as a child.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace portal::test {

struct ProgramRun {
  int exitCode = -1;
  std::string out, err;
};

// Runs a program (argv[0] a path) to its end and collects what it printed.
ProgramRun runProgram(const std::vector<std::string>& args);

// A program running as a child, its standard error read as it comes (progress
// lines), its standard output collected at the end.
class RunningProgram {
 public:
  explicit RunningProgram(const std::vector<std::string>& args);
  ~RunningProgram();
  RunningProgram(const RunningProgram&) = delete;
  RunningProgram& operator=(const RunningProgram&) = delete;
  // Waits until its standard error holds `text`, at most `seconds`.
  bool waitForError(const std::string& text, int seconds = 30);
  void signal(int sig);
  // Waits for its end; what it printed and its exit code.
  ProgramRun finish();

 private:
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  ProgramRun run_;
};

// portal-server as a child process (--listen 127.0.0.1:0, minimum hash cost,
// --demo); its standard output is read line by line. With `newDemo`, waits for
// the demo company's temporary password too (a fresh directory).
class ServerProcess {
 public:
  // `openFiles`: the process's open-files limit (soft and hard), 0: as inherited.
  // `extra`: more flags for portal-server. With `unreadErrors`, its log is on
  // (no --quiet) into a pipe that nobody reads (a stalled journal). It starts with
  // SIGHUP as the system's default whatever the suite's (run under nohup), or
  // ignored with `ignoreHangUp` (as nohup starts it).
  // `errorsTo`: a file its log goes to (no --quiet), read by the test.
  explicit ServerProcess(const std::string& data, bool newDemo = true, unsigned long openFiles = 0,
                         std::vector<std::string> extra = {}, bool unreadErrors = false,
                         bool ignoreHangUp = false, const std::string& errorsTo = "");
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  std::uint16_t port() const { return port_; }
  const std::string& temporaryPassword() const { return temporaryPassword_; }
  // What it printed up to now (read while waiting for it).
  const std::string& output() const { return output_; }
  // Sends SIGTERM and returns the exit code; -1 (and SIGKILL) if it runs on for
  // two minutes.
  int terminate();
  // Sends `signal` and returns at once.
  void sendSignal(int signal);
  // Sends SIGKILL, as a crash or a power cut would end it, and reaps it.
  void crash();
  // Waits at most `seconds` for it to end by itself; its exit code, or nullopt if
  // it is still running then.
  std::optional<int> waitForExit(int seconds);

 private:
  bool readUntil(const std::regex& re, std::smatch& m);
  pid_t pid_ = -1;
  int out_ = -1, unreadErr_ = -1;
  std::string output_, temporaryPassword_;
  std::uint16_t port_ = 0;
};

// Signs the demo company's owner in and sets a password; returns the token.
std::string signInDemoOwner(ServerProcess& server);

}  // namespace portal::test
