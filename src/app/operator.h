#pragma once
// Operator requests: one JSON object in, one JSON object out ({"ok": true, …} or
// {"ok": false, "error": "…"}), and for a long one (rebuild) progress lines
// ({"progress": {done, total, eventsPerSecond}}) before the answer. portalctl
// runs them on a data directory it opened itself, or, when a server holds the
// directory, sends them to the server's operator socket, a Unix domain socket in
// the data directory that only its owner may use (mode 0600). Either way the same
// runOperatorRequest() does the work.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "events/result.h"

namespace portal {

class EventStore;
class Portal;
class PasswordHasher;
class Projector;

// The requests:
//   {"command": "provision", "company", "name", "ownerEmail", …}  (needs `portal`)
//   {"command": "rebuild", "projection": NAME|"all"}  -> {ok, projection, events, seconds}
//   {"command": "compact"}                             -> {ok, seconds}
//   {"command": "backup", "to": ABSOLUTE DIR}          -> {ok, to, events}
struct OperatorContext {
  EventStore& store;
  Projector& projector;
  Portal* portal = nullptr;                // the whole portal, for provisioning
  const PasswordHasher* hasher = nullptr;  // for provisioning
  std::string signInUrl;                   // for the owner's mail
};

// Receives the progress lines of a long request; returns false when nobody is
// listening any more, which stops the request (a rebuild then leaves the old
// projection serving).
using OperatorProgress = std::function<bool(std::string_view line)>;

// Runs one request. `cancel`, when given and set, stops a rebuild the same way.
// Thread-safe as far as the store and projector are (one rebuild at a time).
std::string runOperatorRequest(OperatorContext& context, std::string_view requestJson,
                               const OperatorProgress& progress = nullptr,
                               const std::atomic<bool>* cancel = nullptr);

// The socket's path in a data directory.
std::string operatorSocketPath(const std::string& dataDir);

// Serves requests on a Unix domain socket, one connection at a time, one request
// line per connection, answered by progress lines (if any) and one answer line.
// The handler's OperatorProgress sends a progress line and says whether the client
// is still connected. Removes a stale socket file first; removes its own on stop.
class OperatorSocket {
 public:
  using Handler = std::function<std::string(std::string_view request, const OperatorProgress& progress)>;
  static Result<std::unique_ptr<OperatorSocket>> listen(const std::string& path, Handler handler);
  ~OperatorSocket();
  OperatorSocket(const OperatorSocket&) = delete;
  OperatorSocket& operator=(const OperatorSocket&) = delete;

 private:
  OperatorSocket() = default;
  void serve();
  std::string path_;
  int fd_ = -1;
  int wake_[2] = {-1, -1};  // a pipe that ends serve()
  Handler handler_;
  // Set when the socket closes (the server stops): a running request's progress
  // then says nobody listens, and a rebuild stops, leaving the old projection.
  std::atomic<bool> closing_{false};
  std::thread thread_;
};

// Sends one request and returns the answer, passing progress lines to
// `onProgress`. `timeout` bounds the wait for each line, so a long request that
// reports progress may run longer; kNoTimeout waits for as long as the server keeps
// the connection (a compaction or a backup says nothing until done, and a request
// waits behind the one before it). kNotFound when nobody listens there.
inline constexpr std::chrono::milliseconds kNoTimeout = std::chrono::milliseconds::max();
Result<std::string> callOperatorSocket(
    const std::string& path, std::string_view requestJson, std::chrono::milliseconds timeout,
    const std::function<void(std::string_view line)>& onProgress = nullptr);

}  // namespace portal
