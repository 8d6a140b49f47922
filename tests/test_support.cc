#include "tests/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_reader.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <latch>
#include <memory>
#include <stdexcept>
#include <thread>

namespace portal::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "portal-test-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<std::string> mailsIn(const std::string& outbox, const std::string& kind) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(outbox, ec)) {
    const std::string name = f.path().filename().string();
    if (name.front() != '.' && name.ends_with(kind + ".eml")) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> mails;
  for (const auto& name : names) {
    std::ifstream in(outbox + "/" + name, std::ios::binary);
    mails.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return mails;
}

void together(int n, const std::function<void(int)>& fn) {
  std::latch go(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&go, &fn, i] {
      go.arrive_and_wait();
      fn(i);
    });
  for (auto& t : threads) t.join();
}

bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(100);
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // Back off between polls of the condition; this is not waiting for an event by
    // time, the condition decides.
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
  }
}

namespace {

// Whether a table file holds `needle` in a key or a value as RocksDB reads them:
// its blocks are compressed (Snappy), where a search of the raw bytes finds nothing.
bool tableHolds(const std::string& path, const std::string& needle) {
  rocksdb::SstFileReader reader{rocksdb::Options()};
  if (!reader.Open(path).ok()) return false;
  std::unique_ptr<rocksdb::Iterator> it(reader.NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next())
    if (it->key().ToStringView().find(needle) != std::string_view::npos ||
        it->value().ToStringView().find(needle) != std::string_view::npos)
      return true;
  return false;
}

}  // namespace

std::vector<std::string> filesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> hits;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos ||
        (entry.path().extension() == ".sst" && tableHolds(entry.path().string(), needle)))
      hits.push_back(entry.path().string());
  }
  return hits;
}

std::string selfExecutable() { return fs::read_symlink("/proc/self/exe").string(); }

// A TCP socket bound to a port of the loopback interface that the system picks
// (`port`), not listening yet; -1 when it cannot be had.
int boundLoopbackSocket(std::uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  port = ntohs(addr.sin_port);
  return fd;
}

std::uint16_t freePort() {
  std::uint16_t port = 0;
  if (int fd = boundLoopbackSocket(port); fd >= 0) ::close(fd);
  return port;
}

bool greets(std::uint16_t port, std::string_view greeting) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  timeval wait{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  std::string got(greeting.size(), '\0');
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            ::recv(fd, got.data(), got.size(), MSG_WAITALL) == static_cast<ssize_t>(got.size()) &&
            got == greeting;
  ::close(fd);
  return ok;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& logPath) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string path = "PATH=/usr/bin:/bin", lang = "LANG=C.UTF-8";
  char* env[] = {path.data(), lang.data(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), env);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace portal::test
