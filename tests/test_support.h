#pragma once
// Helpers shared by the test suites: temporary directories, waiting on a condition
// with a deadline (tests never sleep to wait), and reading every file of a tree.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace portal::test {

// A fresh directory under the system's temporary directory, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Runs `run` when the scope ends, however it ends: a failed ASSERT returns from the
// test, and what a test started (a hold, a request a thread waits on) must end too.
struct AtEnd {
  std::function<void()> run;
  ~AtEnd() { run(); }
};

// Polls `condition` until it holds or `timeout` passes; returns whether it held.
bool waitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Runs fn(0) … fn(n - 1) on n threads let go together, and waits for all of them
// (requests that race, as two administrators' do).
void together(int n, const std::function<void(int)>& fn);

// The paths of the files under `dir` whose bytes contain `needle`, table files read
// through RocksDB too (their blocks are compressed: their raw bytes would hide it).
std::vector<std::string> filesContaining(const std::string& dir, const std::string& needle);

// The texts of the mails delivered to the mail drop `outbox` (<data>/outbox) whose
// file names end in `kind` + ".eml" (any mail with the default), in name order;
// files still being written (dot files) are not mails yet.
std::vector<std::string> mailsIn(const std::string& outbox, const std::string& kind = "");

// The path of the running test executable (to start it again as a child process).
std::string selfExecutable();

// A file's bytes; empty when it cannot be read.
std::string readFile(const std::string& path);

// A TCP socket bound to a port of the loopback interface that the system picks
// (`port`), not listening yet; -1 when it cannot be had.
int boundLoopbackSocket(std::uint16_t& port);
// A free TCP port on the loopback interface (bound and released).
std::uint16_t freePort();

// Whether a server on loopback `port` greets a new connection with `greeting` (an
// SMTP relay "220", a NATS server "INFO"): not just any listener, since another
// test's may hold a port looked up as free.
bool greets(std::uint16_t port, std::string_view greeting);

// Starts `argv` (argv[0] a path) as a child with its output going to `logPath`,
// with a plain environment (a pyenv's variables must not leak into the system's
// Python); -1 when it cannot.
pid_t spawn(const std::vector<std::string>& argv, const std::string& logPath);

}  // namespace portal::test
