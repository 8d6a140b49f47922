#include "src/http/starting.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <string_view>
#include <thread>

#include "src/http/api.h"
#include "src/http/http_message.h"

namespace portal {

namespace {

constexpr std::size_t kMaxHeader = 16 * 1024;
constexpr auto kRequestTime = std::chrono::seconds(2);

// The answer to a request whose header begins `head`.
std::string answerTo(std::string_view head) {
  const std::string_view line = head.substr(0, head.find("\r\n"));
  const auto firstSpace = line.find(' ');
  const std::string_view method = line.substr(0, firstSpace);
  std::string_view target =
      firstSpace == std::string_view::npos ? std::string_view() : line.substr(firstSpace + 1);
  target = target.substr(0, target.find(' '));
  const std::string_view path = target.substr(0, target.find('?'));
  const bool isHead = method == "HEAD";
  HttpResponse r;
  if ((method == "GET" || isHead) && path == "/healthz") {
    r.body = R"({"status":"starting"})";
  } else {
    r = Api::problem(503, "starting", "Starting",
                     "The server is starting (opening its event log); try again shortly.");
    r.headers.emplace_back("Retry-After", "5");
  }
  std::string out = "HTTP/1.1 " + std::to_string(r.status) +
                    (r.status == 200 ? " OK" : " Service Unavailable") +
                    "\r\nContent-Type: " + r.contentType +
                    "\r\nContent-Length: " + std::to_string(r.body.size()) +
                    "\r\nCache-Control: no-store\r\nConnection: close\r\n";
  for (const auto& [name, value] : r.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  if (!isHead) out += r.body;
  return out;
}

}  // namespace

struct StartingResponder::State {
  int listenFd = -1;
  int listenFlags = 0;
  int signalFd = -1;
  int wake[2] = {-1, -1};
  std::function<void(int)> onStopSignal;
  std::thread thread;

  ~State() {
    for (int fd : {signalFd, wake[0], wake[1]})
      if (fd >= 0) ::close(fd);
  }

  // Waits for `events` on `fd`, the wake pipe and the stop signals, at most until
  // `deadline`: whether `fd` is ready (false for a stop, a signal or the deadline).
  bool waitFor(int fd, short events, std::chrono::steady_clock::time_point deadline,
               bool& stopped) {
    for (;;) {
      pollfd fds[3] = {{fd, events, 0}, {wake[0], POLLIN, 0}, {signalFd, POLLIN, 0}};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return false;
      const int n = ::poll(fds, 3, static_cast<int>(std::min<long long>(left, 1000)));
      if (n < 0 && errno != EINTR) return stopped = true, false;
      if (n <= 0) continue;
      if (fds[1].revents != 0) return stopped = true, false;
      if (fds[2].revents != 0) {
        signalfd_siginfo info{};
        if (::read(signalFd, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
          onStopSignal(static_cast<int>(info.ssi_signo));
        continue;
      }
      if (fds[0].revents != 0) return true;
    }
  }

  void answer(int client, bool& stopped) {
    const auto deadline = std::chrono::steady_clock::now() + kRequestTime;
    std::string head;
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < kMaxHeader) {
      if (!waitFor(client, POLLIN, deadline, stopped)) return;
      const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return;
      head.append(buffer, static_cast<std::size_t>(n));
    }
    const std::string out = answerTo(head);
    std::size_t sent = 0;
    while (sent < out.size()) {
      if (!waitFor(client, POLLOUT, deadline, stopped)) return;
      const ssize_t n = ::send(client, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return;
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(client, SHUT_WR);
  }

  void serve() {
    pthread_setname_np(pthread_self(), "starting");
    bool stopped = false;
    while (!stopped) {
      if (!waitFor(listenFd, POLLIN, std::chrono::steady_clock::time_point::max(), stopped))
        continue;
      const int client = ::accept4(listenFd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) {
        // Gone before it was taken: the next. Out of files or memory: the connection
        // stays queued, and polling again at once would spin; a pause first.
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          pollfd wakeOnly{wake[0], POLLIN, 0};
          if (::poll(&wakeOnly, 1, 100) > 0) stopped = true;
        }
        continue;
      }
      answer(client, stopped);
      ::close(client);
    }
  }
};

StartingResponder::StartingResponder(std::unique_ptr<State> state) : state_(std::move(state)) {}

std::unique_ptr<StartingResponder> StartingResponder::start(int listenFd,
                                                            const sigset_t& stopSignals,
                                                            std::function<void(int)> onStopSignal) {
  auto state = std::make_unique<State>();
  state->listenFd = listenFd;
  state->onStopSignal = std::move(onStopSignal);
  state->listenFlags = ::fcntl(listenFd, F_GETFL);
  if (state->listenFlags < 0 || ::pipe2(state->wake, O_CLOEXEC | O_NONBLOCK) != 0) return nullptr;
  state->signalFd = ::signalfd(-1, &stopSignals, SFD_CLOEXEC | SFD_NONBLOCK);
  if (state->signalFd < 0) return nullptr;
  // Not blocking: a connection gone between poll and accept must not hold the thread.
  if (::fcntl(listenFd, F_SETFL, state->listenFlags | O_NONBLOCK) != 0) return nullptr;
  try {
    state->thread = std::thread([s = state.get()] { s->serve(); });
  } catch (const std::system_error&) {
    ::fcntl(listenFd, F_SETFL, state->listenFlags);
    return nullptr;
  }
  return std::unique_ptr<StartingResponder>(new StartingResponder(std::move(state)));
}

void StartingResponder::stop() {
  if (!state_->thread.joinable()) return;
  const char byte = 1;
  (void)!::write(state_->wake[1], &byte, 1);
  state_->thread.join();
  ::fcntl(state_->listenFd, F_SETFL, state_->listenFlags);
}

StartingResponder::~StartingResponder() { stop(); }

}  // namespace portal
