#include "tests/programs.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "tests/http_client.h"

namespace portal::test {

ProgramRun runProgram(const std::vector<std::string>& args) {
  return RunningProgram(args).finish();
}

// Pipes closed on exec: a program started from another thread at the same moment
// (a test's compactions beside its readers) does not keep this one's open.
namespace {
void closeOnExecPipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
}
}  // namespace

RunningProgram::RunningProgram(const std::vector<std::string>& args) {
  int out[2], err[2];
  closeOnExecPipe(out);
  closeOnExecPipe(err);
  // posix_spawn, not fork: a child forked while another of the suite's threads held
  // the allocator's lock (AddressSanitizer's takes none around fork) waited for it
  // forever before its exec, and the test with it.
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  close(err[1]);
  out_ = out[0];
  err_ = err[0];
  if (rc != 0) {
    // As a shell says it: the program's output is where a test looks.
    pid_ = -1;
    run_.exitCode = 127;
    run_.err = args[0] + ": " + std::strerror(rc) + "\n";
  }
}

RunningProgram::~RunningProgram() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_ >= 0) close(out_);
  if (err_ >= 0) close(err_);
}

bool RunningProgram::waitForError(const std::string& text, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (run_.err.find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    pollfd p{err_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(err_, buf, sizeof buf);
    if (n <= 0) return false;
    run_.err.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

void RunningProgram::signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);  // never -1: that is every process the user may signal
}

ProgramRun RunningProgram::finish() {
  // Both pipes at once, so that a program filling one while we wait on the other
  // cannot stall.
  // A program that runs past the deadline is stopped and said to have been: the
  // test fails on what it printed, not on ctest's timeout with nothing.
  constexpr auto kLongest = std::chrono::minutes(5);
  const auto deadline = std::chrono::steady_clock::now() + kLongest;
  pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
  int open = 2;
  char buf[65536];
  while (open > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 && pid_ > 0) {
      kill(pid_, SIGKILL);
      run_.err +=
          "(still running after " + std::to_string(kLongest.count()) + " minutes: killed)\n";
      break;
    }
    if (poll(fds, 2, static_cast<int>(std::max<std::int64_t>(left.count(), 0))) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? run_.out : run_.err).append(buf, static_cast<std::size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (pollfd& p : fds)
    if (p.fd >= 0) close(p.fd);
  out_ = err_ = -1;
  if (pid_ < 0) return run_;  // it never started
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  run_.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run_;
}

ServerProcess::ServerProcess(const std::string& data, bool newDemo, unsigned long openFiles,
                             std::vector<std::string> extra, bool unreadErrors, bool ignoreHangUp,
                             const std::string& errorsTo) {
  std::vector<std::string> args = {PORTAL_SERVER_BIN,      "--data",  data,
                                   "--password-hash-cost", "minimum", "--demo"};
  if (!unreadErrors && errorsTo.empty()) args.push_back("--quiet");
  // Each flag once: a test's own --listen replaces the default.
  if (std::find(extra.begin(), extra.end(), "--listen") == extra.end())
    args.insert(args.end(), {"--listen", "127.0.0.1:0"});
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2], err[2] = {-1, -1};
  closeOnExecPipe(out);
  if (unreadErrors) closeOnExecPipe(err);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], 1);
    dup2(unreadErrors       ? err[1]
         : errorsTo.empty() ? open("/dev/null", O_WRONLY)
                            : open(errorsTo.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600),
         2);
    close(out[0]);
    if (unreadErrors) close(err[0]);
    signal(SIGHUP, ignoreHangUp ? SIG_IGN : SIG_DFL);  // kept across exec
    if (openFiles != 0) {
      const rlimit files{openFiles, openFiles};
      setrlimit(RLIMIT_NOFILE, &files);
    }
    execv(PORTAL_SERVER_BIN, argv.data());
    _exit(127);
  }
  close(out[1]);
  out_ = out[0];
  if (unreadErrors) {
    close(err[1]);
    unreadErr_ = err[0];
  }
  // A constructor that throws runs no destructor: the child goes first.
  auto giveUp = [&](const std::string& why) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    close(out_);
    if (unreadErr_ >= 0) close(unreadErr_);
    throw std::runtime_error(why + output_);
  };
  std::smatch m;
  if (!readUntil(std::regex("listening on http://(?:\\[[^\\]]*\\]|[^:/ ]+):([0-9]+)"), m))
    giveUp("portal-server did not start: ");
  port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
  // Up to the line's end: a read may stop inside the password (the output comes
  // in chunks of 1024 bytes), and a match there would take only its first letters.
  const std::regex done = newDemo
                              // (and the line after it: where mail goes)
                              ? std::regex(
                                    "temporary password: ([a-z0-9-]+)\\n[^\\n]*\\n  mail "
                                    "\\(a password reset's link\\) (arrives in [^\\n]*/"
                                    "outbox/|goes through the relay smtp://[^\\n]+)\\n")
                              : std::regex(
                                    "demo company 'demo' (exists)[\\s\\S]*newPassword[^\\n]*\\n|"
                                    "(holds a portal already)[^\\n]*\\n");
  if (!readUntil(done, m)) giveUp("the demo company is not ready: ");
  if (newDemo) temporaryPassword_ = m[1];
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  close(out_);
  if (unreadErr_ >= 0) close(unreadErr_);
}

void ServerProcess::sendSignal(int signal) { kill(pid_, signal); }

int ServerProcess::terminate() {
  kill(pid_, SIGTERM);
  // One that has not stopped within two minutes never will: the test fails on -1
  // rather than waiting for ctest's timeout.
  if (std::optional<int> code = waitForExit(120)) return *code;
  crash();
  return -1;
}

void ServerProcess::crash() {
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::optional<int> ServerProcess::waitForExit(int seconds) {
  // Its standard output ends when it does.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{out_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[1024];
    const ssize_t n = read(out_, buf, sizeof buf);
    if (n <= 0) break;
    output_.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool ServerProcess::readUntil(const std::regex& re, std::smatch& m) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::regex_search(output_, m, re)) return true;
    pollfd p{out_, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    char buf[1024];
    ssize_t n = read(out_, buf, sizeof buf);
    if (n <= 0) return false;
    output_.append(buf, static_cast<std::size_t>(n));
  }
  return false;
}

std::string signInDemoOwner(ServerProcess& server) {
  HttpClient client(server.port());
  Reply r = client.post("/api/v1/sessions", {{"company", "demo"},
                                             {"email", "owner@demo.example"},
                                             {"password", server.temporaryPassword()}});
  if (r.status != 201) throw std::runtime_error(r.body);
  const std::string token = r.json()["token"];
  r = client.post(
      "/api/v1/me/password",
      {{"currentPassword", server.temporaryPassword()}, {"newPassword", "a demo passphrase!"}},
      token);
  if (r.status != 204) throw std::runtime_error(r.body);
  return token;
}

}  // namespace portal::test
