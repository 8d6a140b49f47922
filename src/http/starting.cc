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
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "src/http/api.h"
#include "src/http/http_message.h"
#include "src/http/server.h"

namespace portal {

namespace {

using Steady = std::chrono::steady_clock;

constexpr std::size_t kMaxHeader = 16 * 1024;
constexpr std::size_t kMaxOpen = 64;
constexpr auto kRequestTime = std::chrono::seconds(2);
// At the handover, what the connections held may still take to send their header.
constexpr auto kHandoverGrace = std::chrono::milliseconds(500);

// Where a request's header ends (a bare LF ends lines too, as a hand-typed request's
// do), or npos.
std::size_t headerEnd(std::string_view in) {
  const auto crlf = in.find("\r\n\r\n");
  const auto lf = in.find("\n\n");
  return std::min(crlf == std::string_view::npos ? crlf : crlf + 4,
                  lf == std::string_view::npos ? lf : lf + 2);
}

std::string serialize(const HttpResponse& r, bool withBody) {
  const char* reason = r.status == 200   ? " OK"
                       : r.status == 405 ? " Method Not Allowed"
                       : r.status == 431 ? " Request Header Fields Too Large"
                                         : " Service Unavailable";
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + reason +
                    "\r\nContent-Type: " + r.contentType +
                    "\r\nContent-Length: " + std::to_string(r.body.size()) +
                    "\r\nCache-Control: no-store\r\nConnection: close\r\n";
  for (const auto& [name, value] : r.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  if (withBody) out += r.body;
  return out;
}

HttpResponse starting() {
  HttpResponse r =
      Api::problem(503, "starting", "Starting",
                   "The server is starting (opening its event log); try again shortly.");
  r.headers.emplace_back("Retry-After", "5");
  return r;
}

// The answer to what a connection sent: a request's header (`whole`), or the first
// 16 KiB of one that is longer.
std::string answerTo(std::string_view in, bool whole) {
  if (!whole) return serialize(headerTooLarge(), true);
  std::string_view line = in.substr(0, in.find('\n'));
  if (line.ends_with('\r')) line.remove_suffix(1);
  const auto firstSpace = line.find(' ');
  const std::string_view method = line.substr(0, firstSpace);
  std::string_view target =
      firstSpace == std::string_view::npos ? std::string_view() : line.substr(firstSpace + 1);
  // (The absolute form a proxy sends, http://host/healthz, as its path.)
  const std::string origin = originForm(target.substr(0, target.find(' ')));
  const std::string_view path = std::string_view(origin).substr(0, origin.find('?'));
  const bool isHead = method == "HEAD";
  if (path != "/healthz") return serialize(starting(), !isHead);
  if (method != "GET" && !isHead) {
    HttpResponse r = Api::problem(405, "method-not-allowed", "Method not allowed",
                                  "This path does not answer " + std::string(method) + ".");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return serialize(r, true);
  }
  HttpResponse r;
  r.body = R"({"status":"starting"})";
  return serialize(r, !isHead);
}

struct Connection {
  int fd = -1;
  Steady::time_point deadline;
  std::string in;
  std::string out;  // the answer, once the request's header is in
  std::size_t sent = 0;
  bool answered = false;  // sent whole: its input is read and dropped until it closes
};

}  // namespace

struct StartingResponder::State {
  int listenFd = -1;
  int listenFlags = 0;
  int signalFd = -1;
  int wake[2] = {-1, -1};
  std::function<void(int)> onStopSignal;
  std::thread thread;
  std::list<Connection> open;

  ~State() {
    closeAll();
    for (int fd : {signalFd, wake[0], wake[1]})
      if (fd >= 0) ::close(fd);
  }

  void closeAll() {
    for (auto& c : open) ::close(c.fd);
    open.clear();
  }

  // Reads what `c` sent; false when it is done with (closed, failed, or answered
  // and drained).
  bool readFrom(Connection& c) {
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      if (n == 0) return false;
      if (c.answered || !c.out.empty()) continue;  // a body or what follows: dropped
      c.in.append(buffer, static_cast<std::size_t>(n));
      if (const auto end = headerEnd(c.in); end != std::string::npos)
        c.out = answerTo(std::string_view(c.in).substr(0, end), true);
      else if (c.in.size() >= kMaxHeader)
        c.out = answerTo(c.in, false);
      if (!c.out.empty()) return writeTo(c);
    }
  }

  // Sends what is left of `c`'s answer; false when it failed.
  bool writeTo(Connection& c) {
    while (c.sent < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      c.sent += static_cast<std::size_t>(n);
    }
    if (!c.answered) {
      // Its end said; what it still sends is read and dropped until it closes (or its
      // time is up), so that closing with its bytes unread resets nothing it reads.
      ::shutdown(c.fd, SHUT_WR);
      c.answered = true;
    }
    return true;
  }

  void acceptAll() {
    while (open.size() < kMaxOpen) {
      const int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        open.push_back({fd, Steady::now() + kRequestTime, {}, {}, 0, false});
        continue;
      }
      // Out of files or memory: the connection stays queued, and polling again at
      // once would spin; a pause first.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        pollfd wakeOnly{wake[0], POLLIN, 0};
        (void)::poll(&wakeOnly, 1, 100);
      }
      return;  // none waiting (or one gone before it was taken)
    }
  }

  void serve() {
    pthread_setname_np(pthread_self(), "starting");
    std::optional<Steady::time_point> handoverBy;  // set once stop() asked
    std::vector<pollfd> fds;
    for (;;) {
      const auto now = Steady::now();
      if (handoverBy && now >= *handoverBy) {
        // What the connections still held sent no whole header: a 503 is what they
        // would have had; those that cannot take it at once are closed.
        for (auto& c : open) {
          if (c.out.empty()) c.out = serialize(starting(), true);
          (void)writeTo(c);
        }
        closeAll();
        return;
      }
      for (auto it = open.begin(); it != open.end();) {
        if (now >= it->deadline) {
          ::close(it->fd);
          it = open.erase(it);
        } else {
          ++it;
        }
      }
      if (handoverBy && open.empty()) return;
      fds.clear();
      fds.push_back({wake[0], POLLIN, 0});
      fds.push_back({signalFd, POLLIN, 0});
      const bool accepting = !handoverBy && open.size() < kMaxOpen;
      fds.push_back({accepting ? listenFd : -1, POLLIN, 0});
      auto until = handoverBy.value_or(now + std::chrono::seconds(1));
      for (const auto& c : open) {
        const bool writing = !c.out.empty() && c.sent < c.out.size();
        fds.push_back({c.fd, static_cast<short>(writing ? POLLOUT : POLLIN), 0});
        until = std::min(until, c.deadline);
      }
      const auto wait =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1;
      const int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(wait, 0)));
      if (n < 0 && errno != EINTR) return closeAll();
      if (n <= 0) continue;
      if (fds[0].revents != 0 && !handoverBy) {
        char drained[16];
        (void)!::read(wake[0], drained, sizeof drained);
        handoverBy = Steady::now() + kHandoverGrace;
      }
      if (fds[1].revents != 0) {
        signalfd_siginfo info{};
        if (::read(signalFd, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
          onStopSignal(static_cast<int>(info.ssi_signo));
      }
      std::size_t i = 3;
      for (auto it = open.begin(); it != open.end(); ++i) {
        const short ready = fds[i].revents;
        bool keep = true;
        if (ready != 0) {
          const bool writing = !it->out.empty() && it->sent < it->out.size();
          keep = writing ? writeTo(*it) : readFrom(*it);
        }
        if (keep) {
          ++it;
        } else {
          ::close(it->fd);
          it = open.erase(it);
        }
      }
      if (fds[2].revents != 0) acceptAll();
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
