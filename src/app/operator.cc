#include "src/app/operator.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>

#include "events/log.h"
#include "projections/projector.h"
#include "src/app/import_logs.h"
#include "src/app/portal.h"
#include "src/app/provisioning.h"
#include "src/app/system.h"
#include "src/store/event_store.h"

namespace portal {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxRequest = 1 << 20;

std::string failure(const std::string& message) {
  // A message may hold a path in bytes that are not UTF-8: replaced, not thrown on.
  return json{{"ok", false}, {"error", message}}.dump(-1, ' ', false,
                                                      json::error_handler_t::replace);
}

std::string provision(OperatorContext& ctx, const json& req) {
  ProvisionCompany c;
  c.slug = req.value("company", "");
  c.name = req.value("name", "");
  c.owner.email = req.value("ownerEmail", "");
  c.owner.givenName = req.value("ownerGivenName", "");
  c.owner.surname = req.value("ownerSurname", "");
  c.owner.jobTitle = req.value("ownerJobTitle", "");
  c.owner.managerEmail = req.value("ownerManagerEmail", "");
  if (req.contains("ownerCountry")) c.owner.country = req["ownerCountry"].get<std::string>();
  if (req.contains("services"))
    for (const auto& s : req["services"]) c.services.push_back(s.get<std::string>());
  if (ctx.portal == nullptr || ctx.hasher == nullptr)
    return failure("provisioning needs the whole portal open");
  auto done = provisionCompany(*ctx.portal, *ctx.hasher, std::move(c));
  if (!done) return failure(done.error().message);
  return json{{"ok", true},
              {"companyId", done->companyId},
              {"ownerId", done->ownerId},
              {"temporaryPassword", done->temporaryPassword}}
      .dump();
}

std::string rebuild(OperatorContext& ctx, const json& req, const OperatorProgress& progress,
                    const std::atomic<bool>* cancel) {
  const std::string asked = req.value("projection", "all");
  const auto name = projectionNamed(asked);
  if (!name)
    return failure("there is no projection named '" + asked + "' (there are: all, " +
                   projectionNameList() + ")");
  std::atomic<bool> stop{false};
  auto lastSent = std::chrono::steady_clock::time_point{};
  bool sentComplete = false;
  std::uint64_t events = 0;
  std::optional<RebuildProgress> unsent;  // the last report, when the rate limit held it back
  auto send = [&](const RebuildProgress& p) {
    const json line = {
        {"progress",
         {{"done", p.done}, {"total", p.total}, {"eventsPerSecond", p.eventsPerSecond}}}};
    unsent.reset();
    return progress(line.dump());
  };
  const auto started = std::chrono::steady_clock::now();
  auto r = ctx.projector.rebuild(
      *name,
      [&](const RebuildProgress& p) {
        events = p.done;
        if (cancel != nullptr && cancel->load()) stop = true;
        if (!progress) return;
        // A line four times a second at most, and the first that reaches the total
        // (once caught up, every report does: the total grows with the log).
        const auto now = std::chrono::steady_clock::now();
        const bool complete = p.done >= p.total;
        unsent = p;
        if ((!complete || sentComplete) && now - lastSent < std::chrono::milliseconds(250)) return;
        lastSent = now;
        sentComplete = complete;
        if (!send(p)) stop = true;
      },
      &stop);
  if (!r) return failure(r.error().message);
  // The last report goes too: the catch-up beside a busy server ends within the
  // 250 ms after the first that reached the total, and the progress then stopped
  // short of the answer's count (a review saw "51 of 51" above 68 events).
  if (progress && unsent) send(*unsent);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return json{{"ok", true}, {"projection", *name}, {"events", events}, {"seconds", seconds}}.dump();
}

// The views take in every durable event before a compaction or a backup's
// checkpoint: the rows an anonymization overwrites are overwritten first. (A
// stopped projection is passed over, every one of them too: its rows stay as they
// were when it stopped until a rebuild, which a compaction after it cleans up.)
EventStore::ViewsSettle viewsSettle(OperatorContext& ctx) {
  return [&ctx](std::uint64_t position) -> Result<void> {
    constexpr auto kWait = std::chrono::seconds(60);
    if (ctx.projector.waitFor(position, kWait)) return {};
    const auto views = ctx.projector.status();
    if (std::all_of(views.begin(), views.end(), [](const ProjectionStatus& v) { return v.failed; }))
      return {};
    return makeError(ErrorCode::kIoError, "the views have not taken in event " +
                                              std::to_string(position) +
                                              " within 60 s (see /readyz); nothing was done");
  };
}

std::string compact(OperatorContext& ctx) {
  const auto started = std::chrono::steady_clock::now();
  if (auto r = ctx.store.compact(viewsSettle(ctx)); !r) return failure(r.error().message);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return json{{"ok", true}, {"seconds", seconds}}.dump();
}

std::string backup(OperatorContext& ctx, const json& req) {
  const std::string to = req.value("to", "");
  if (to.empty() || to.front() != '/') return failure("backup needs an absolute target directory");
  // An anonymization acknowledged just before the checkpoint may not have dropped
  // its company's import logs yet (the request does, after the command): its mark
  // is in the copy, and the drop is made there, as a start on the copy would.
  const EventStore::CopyTidy tidy = [](EventStore& copy) -> Result<void> {
    ImportLogs logs(copy, copy.columnFamily("imports"));
    SystemClock clock;
    if (auto purged = logs.purgeAll(clock.now()); !purged) return purged.error();
    return {};
  };
  auto events = ctx.store.backup(to, viewsSettle(ctx), tidy);
  if (!events) return failure(events.error().message);
  return json{{"ok", true}, {"to", to}, {"events", *events}}.dump();
}

// A client that does not read (portalctl stopped with Ctrl-Z, its output piped into
// a pager) must not hold the operator thread, nor what it runs: a progress line that
// does not fit into the socket's buffer at once is dropped, and the answer waits for
// room at most kSendTimeoutSeconds (SO_SNDTIMEO) per send.
constexpr int kSendTimeoutSeconds = 10;

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

enum class LineSent { kWhole, kDropped, kBroken };

// One progress line without waiting: whole, or dropped when there is no room. A part
// of it sent (no room for the rest) breaks the line protocol: the connection is given
// up (AF_UNIX on Linux sends a short line whole or not at all).
LineSent sendLine(int fd, std::string_view line) {
  ssize_t n;
  do n = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return LineSent::kDropped;
  return n == static_cast<ssize_t>(line.size()) ? LineSent::kWhole : LineSent::kBroken;
}

// Reads up to a newline (not included) or EOF, waiting at most `timeout` in all.
std::optional<std::string> readLine(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (out.size() <= kMaxRequest) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
    if (auto nl = out.find('\n'); nl != std::string::npos) return out.substr(0, nl);
  }
  return std::nullopt;
}

}  // namespace

std::string runOperatorRequest(OperatorContext& context, std::string_view requestJson,
                               const OperatorProgress& progress, const std::atomic<bool>* cancel) {
  json req = json::parse(requestJson, nullptr, false);
  if (!req.is_object()) return failure("the request is not a JSON object");
  // Every field is text but the services' list (json::value would throw on another
  // type); a null is a field not given.
  for (auto it = req.begin(); it != req.end();) it = it->is_null() ? req.erase(it) : std::next(it);
  for (const auto& [key, value] : req.items()) {
    const bool list = key == "services";
    const bool ok =
        list ? value.is_array() && std::all_of(value.begin(), value.end(),
                                               [](const json& v) { return v.is_string(); })
             : value.is_string();
    if (!ok) return failure("'" + key + "' must be " + (list ? "a list of strings" : "a string"));
  }
  const std::string command = req.value("command", "");
  if (command == "provision") return provision(context, req);
  if (command == "rebuild") return rebuild(context, req, progress, cancel);
  if (command == "compact") return compact(context);
  if (command == "backup") return backup(context, req);
  return failure("unknown operator command '" + command + "'");
}

std::string operatorSocketPath(const std::string& dataDir) { return dataDir + "/portal.sock"; }

namespace {

// The address of the socket file `path`: the path itself, or, past the 107 bytes a
// socket address holds (a data directory deep in a mount), the same file reached
// through a handle on its directory (/proc/self/fd/N/portal.sock).
class SocketAddress {
 public:
  ~SocketAddress() {
    if (dirFd_ >= 0) ::close(dirFd_);
  }
  // Why not, or nullopt.
  std::optional<std::string> set(const std::string& path) {
    std::string name = path;
    if (name.size() >= sizeof(addr_.sun_path)) {
      const std::size_t slash = path.rfind('/');
      const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
      dirFd_ = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dirFd_ < 0) return "cannot open " + dir + ": " + std::strerror(errno);
      name = "/proc/self/fd/" + std::to_string(dirFd_) + "/" +
             (slash == std::string::npos ? path : path.substr(slash + 1));
      if (name.size() >= sizeof(addr_.sun_path)) return "the operator socket path is too long: " + path;
    }
    addr_.sun_family = AF_UNIX;
    std::memcpy(addr_.sun_path, name.c_str(), name.size() + 1);
    return std::nullopt;
  }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&addr_); }
  socklen_t size() const { return sizeof addr_; }

 private:
  sockaddr_un addr_{};
  int dirFd_ = -1;
};

}  // namespace

Result<std::unique_ptr<OperatorSocket>> OperatorSocket::listen(const std::string& path,
                                                               Handler handler,
                                                               HoldFiles holdFiles) {
  SocketAddress addr;
  if (auto problem = addr.set(path)) return makeError(ErrorCode::kInvalidArgument, *problem);
  std::unique_ptr<OperatorSocket> s(new OperatorSocket());
  s->path_ = path;
  s->handler_ = std::move(handler);
  ::unlink(path.c_str());  // a stale one from a crash: we hold the data directory's lock
  s->fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->fd_ < 0)
    return makeError(ErrorCode::kIoError, std::string("socket: ") + std::strerror(errno));
  // The owner only (0600). Not by changing the umask around bind(): it is the
  // process's, and other threads create files meanwhile; until the chmod the
  // socket has the umask's mode, under which nobody else may write to it either.
  const int bound = ::bind(s->fd_, addr.get(), addr.size());
  if (bound == 0 && ::chmod(path.c_str(), 0600) != 0)
    return makeError(ErrorCode::kIoError, "cannot chmod " + path + ": " + std::strerror(errno));
  if (bound != 0 || ::listen(s->fd_, 8) != 0) {
    const int why = errno;
    // What is in the way is said, not "Address already in use" (a review made a
    // directory of that name; the stale socket of a crash went above).
    struct stat st {};
    if (why == EADDRINUSE && ::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
      return makeError(ErrorCode::kIoError, "cannot listen on " + path + ": a " +
                                                (S_ISDIR(st.st_mode) ? "directory" : "file") +
                                                " of that name is in the way; move it elsewhere");
    return makeError(ErrorCode::kIoError, "cannot listen on " + path + ": " + std::strerror(why));
  }
  if (::pipe2(s->wake_, O_CLOEXEC) != 0) return makeError(ErrorCode::kIoError, "pipe failed");
  s->holdFiles_ = std::move(holdFiles);
  s->thread_ = std::thread([raw = s.get()] {
    pthread_setname_np(pthread_self(), "operator");
    raw->serve();
  });
  s->worker_ = std::thread([raw = s.get()] {
    pthread_setname_np(pthread_self(), "operator-job");
    raw->work();
  });
  return s;
}

namespace {

// True for a hold of the files: {"command": "hold-files"}.
bool asksForAHold(std::string_view request) {
  const json req = json::parse(request, nullptr, false);
  return req.is_object() && req.contains("command") && req["command"] == "hold-files";
}

}  // namespace

void OperatorSocket::serve() {
  // Connections whose request line is being read, each until a deadline, beside the
  // holds: a client that connects and says nothing holds up no one (a review: the
  // line was read here in one blocking call of up to 10 s, during which no hold was
  // answered, released or ended, and a stop waited for it).
  struct Incoming {
    int fd;
    std::string got;
    std::chrono::steady_clock::time_point by;
  };
  std::vector<Incoming> incoming;
  std::vector<pollfd> p;
  while (true) {
    p = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    // A hold ends when its client closes the connection (or sends anything more),
    // or its time is up.
    auto soonest = std::chrono::steady_clock::time_point::max();
    for (const Hold& h : holds_) {
      p.push_back({h.fd, POLLIN | POLLRDHUP, 0});
      soonest = std::min(soonest, h.until);
    }
    for (const Incoming& in : incoming) {
      p.push_back({in.fd, POLLIN, 0});
      soonest = std::min(soonest, in.by);
    }
    int timeout = -1;
    if (soonest != std::chrono::steady_clock::time_point::max())
      timeout =
          static_cast<int>(std::max<std::int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(
                                                         soonest - std::chrono::steady_clock::now())
                                                         .count()));
    if (::poll(p.data(), p.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents != 0) break;
    const auto now = std::chrono::steady_clock::now();
    const std::size_t reading = 2 + holds_.size();  // where the incoming ones begin in p
    for (std::size_t i = holds_.size(); i-- > 0;) {
      if (p[2 + i].revents == 0 && holds_[i].until > now) continue;
      // Said: what a compaction replaced stayed on disk all that time.
      if (p[2 + i].revents == 0)
        logLine("operator: a reader held the files for " + std::to_string(kHoldFor.count()) +
                " s, the most a hold lasts; released");
      holds_[i].release();
      ::close(holds_[i].fd);
      holds_.erase(holds_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    for (std::size_t i = incoming.size(); i-- > 0;) {
      Incoming& in = incoming[i];
      std::optional<std::string> line;
      bool drop = false;
      if (p[reading + i].revents != 0) {
        char buf[4096];
        const ssize_t n = ::read(in.fd, buf, sizeof buf);
        if (n > 0) {
          in.got.append(buf, static_cast<std::size_t>(n));
          if (const auto nl = in.got.find('\n'); nl != std::string::npos)
            line = in.got.substr(0, nl);
          else
            drop = in.got.size() > kMaxRequest;
        } else if (n == 0) {
          // Its end, without a newline: the request as sent.
          if (in.got.empty())
            drop = true;
          else
            line = std::move(in.got);
        } else {
          drop = errno != EINTR && errno != EAGAIN;
        }
      } else if (in.by <= now) {
        drop = true;
      }
      if (!drop && !line) continue;
      const int c = in.fd;
      incoming.erase(incoming.begin() + static_cast<std::ptrdiff_t>(i));
      if (drop) {
        ::close(c);
      } else if (holdFiles_ && asksForAHold(*line)) {
        startHold(c);
      } else {
        std::lock_guard lock(mu_);
        waiting_.push_back({c, std::move(*line)});
        wakeWorker_.notify_one();
      }
    }
    if ((p[0].revents & POLLIN) == 0) continue;
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    const timeval sendTimeout{kSendTimeoutSeconds, 0};
    ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, sizeof sendTimeout);
    if (incoming.size() >= kMaxIncoming) {
      // Said, not just closed (portalctl read that as the server stopping; a review).
      // The client reads this line before the reset its unread request brings.
      (void)sendLine(
          c, failure("the server's operator socket is reading " + std::to_string(kMaxIncoming) +
                     " requests already; try again shortly") +
                 "\n");
      ::close(c);
      continue;
    }
    incoming.push_back({c, {}, now + std::chrono::seconds(10)});
  }
  for (const Incoming& in : incoming) ::close(in.fd);
  // Released here, however the loop ended (a compaction waits for them).
  for (const Hold& h : holds_) {
    h.release();
    ::close(h.fd);
  }
  holds_.clear();
}

void OperatorSocket::startHold(int c) {
  std::string refused;
  if (holds_.size() >= kMaxHolds) {
    refused = "the server holds its files for " + std::to_string(kMaxHolds) +
              " readers already; try again in a moment";
  } else if (auto release = holdFiles_(); !release) {
    refused = release.error().message;
  } else {
    holds_.push_back({c, std::chrono::steady_clock::now() + kHoldFor, std::move(*release)});
    if (!writeAll(c, json{{"ok", true}, {"seconds", kHoldFor.count()}}.dump() + "\n")) {
      holds_.back().release();
      holds_.pop_back();
      ::close(c);
    }
    return;
  }
  writeAll(c, failure(refused) + "\n");
  ::close(c);
}

void OperatorSocket::work() {
  while (true) {
    Waiting next;
    {
      std::unique_lock lock(mu_);
      wakeWorker_.wait(lock, [&] { return closing_.load() || !waiting_.empty(); });
      if (closing_) return;
      next = std::move(waiting_.front());
      waiting_.pop_front();
    }
    run(next.fd, next.request);
    ::close(next.fd);
  }
}

void OperatorSocket::run(int c, const std::string& request) {
  // A client that hung up (portalctl stopped with Ctrl-C) stops its request: one
  // that left while it waited behind another is not run at all (a provisioning
  // nobody sees the temporary password of), a running one stops at its next
  // progress line.
  auto clientLeft = [c] {
    pollfd p{c, POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  };
  if (clientLeft()) return;
  bool broken = false;
  auto progress = [this, c, &clientLeft, &broken](std::string_view text) {
    if (broken || closing_.load() || clientLeft()) return false;
    std::string l(text);
    l.push_back('\n');
    broken = sendLine(c, l) == LineSent::kBroken;
    return !broken;
  };
  std::string answer;
  try {
    answer = handler_(request, progress) + "\n";
  } catch (const std::exception& e) {
    // The server goes on: an operator's request that failed is theirs to see.
    answer = failure(std::string("the request failed: ") + e.what()) + "\n";
  }
  if (!broken) writeAll(c, answer);
}

OperatorSocket::~OperatorSocket() {
  closing_ = true;
  if (thread_.joinable()) {
    (void)!::write(wake_[1], "x", 1);  // a pipe: send() would not do
    thread_.join();
  }
  // (serve() has released the holds, before the running request is waited for: a
  // compaction waits for them.)
  {
    std::lock_guard lock(mu_);
    wakeWorker_.notify_all();
  }
  if (worker_.joinable()) worker_.join();
  for (const Waiting& w : waiting_) ::close(w.fd);
  for (int fd : {fd_, wake_[0], wake_[1]})
    if (fd >= 0) ::close(fd);
  if (!path_.empty()) ::unlink(path_.c_str());
}

Result<std::string> callOperatorSocket(const std::string& path, std::string_view requestJson,
                                       std::chrono::milliseconds timeout,
                                       const std::function<void(std::string_view)>& onProgress) {
  SocketAddress addr;
  if (auto problem = addr.set(path)) return makeError(ErrorCode::kInvalidArgument, *problem);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return makeError(ErrorCode::kIoError, std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, addr.get(), addr.size()) != 0) {
    const int e = errno;
    ::close(fd);
    return makeError(ErrorCode::kNotFound,
                     "no server answers on " + path + " (" + std::strerror(e) + ")");
  }
  std::string line(requestJson);
  line.push_back('\n');
  // A server reading as many requests as it may answers a new one at once and closes
  // it, perhaps before this line is sent: its answer is read all the same (a CI run
  // got "cannot send" where the answer said why).
  const bool sent = writeAll(fd, line);
  auto unanswered = [&] {
    return makeError(ErrorCode::kIoError, sent ? "the server did not answer on its operator socket"
                                               : "cannot send to the server's operator socket");
  };
  // Progress lines, then the answer; `timeout` for each.
  std::string buffer;
  char chunk[4096];
  while (true) {
    const auto nl = buffer.find('\n');
    if (nl != std::string::npos) {
      std::string got = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      if (got.rfind("{\"progress\"", 0) == 0) {
        if (onProgress) onProgress(got);
        continue;
      }
      ::close(fd);
      if (got.empty()) return unanswered();
      return got;
    }
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1,
                         timeout == kNoTimeout
                             ? -1
                             : static_cast<int>(std::min<std::int64_t>(timeout.count(), INT32_MAX)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || buffer.size() > kMaxRequest) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return unanswered();
}

namespace {

// The hold lasts while the connection is open; the server closes it when the hold's
// time is up.
class ServerFileHold final : public FileHold {
 public:
  explicit ServerFileHold(int fd) : fd_(fd) {}
  ~ServerFileHold() override { ::close(fd_); }
  ServerFileHold(const ServerFileHold&) = delete;
  ServerFileHold& operator=(const ServerFileHold&) = delete;
  bool held() const override {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    return ::poll(&p, 1, 0) == 0;
  }

 private:
  int fd_;
};

}  // namespace

std::unique_ptr<FileHold> holdServerFiles(const std::string& path,
                                          std::chrono::milliseconds timeout) {
  SocketAddress addr;
  if (addr.set(path)) return nullptr;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  auto hold = std::make_unique<ServerFileHold>(fd);
  // Nobody there (a stopped directory, a server killed), or a socket this user may
  // not use (another user's server): no hold, and the open goes on without.
  if (::connect(fd, addr.get(), addr.size()) != 0) return nullptr;
  if (!writeAll(fd, std::string("{\"command\":\"hold-files\"}\n"))) return nullptr;
  const auto line = readLine(fd, timeout);
  if (!line) return nullptr;
  const json answer = json::parse(*line, nullptr, false);
  if (!answer.is_object() || answer.value("ok", json()) != true) return nullptr;
  return hold;
}

}  // namespace portal
