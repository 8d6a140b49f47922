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
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

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
// and one the socket answers itself, beside a running request (holdServerFiles):
//   {"command": "hold-files"}                          -> {ok, seconds}, the
//     connection then kept open: the server deletes no file of its log until the
//     client closes it, or `seconds` have passed (refused while a compaction
//     waits for the holds to end: EventStore::holdFiles).
struct OperatorContext {
  EventStore& store;
  Projector& projector;
  Portal* portal = nullptr;                // the whole portal, for provisioning
  const PasswordHasher* hasher = nullptr;  // for provisioning
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

// Serves requests on a Unix domain socket, one request line per connection,
// answered by progress lines (if any) and one answer line. Requests run one at a
// time, in the order they came; a hold of the files (when `holdFiles` is given) is
// answered at once, also while another request runs. The handler's
// OperatorProgress sends a progress line and says whether the client is still
// connected. Removes a stale socket file first; removes its own on stop.
class OperatorSocket {
 public:
  using Handler = std::function<std::string(std::string_view request, const OperatorProgress& progress)>;
  // Takes a hold on the log's file deletions, and answers what releases it.
  using HoldFiles = std::function<Result<std::function<void()>>()>;
  static Result<std::unique_ptr<OperatorSocket>> listen(const std::string& path, Handler handler,
                                                        HoldFiles holdFiles = nullptr);
  ~OperatorSocket();
  OperatorSocket(const OperatorSocket&) = delete;
  OperatorSocket& operator=(const OperatorSocket&) = delete;

  // How long a hold lasts at most (a reader's open takes seconds; meanwhile what
  // the server's flushes and compactions replace stays on disk), and how many are
  // held at once at most.
  static constexpr std::chrono::seconds kHoldFor{30};
  static constexpr std::size_t kMaxHolds = 16;
  // Connections whose request line is still being read, at most.
  static constexpr std::size_t kMaxIncoming = 64;

 private:
  struct Hold {
    int fd;
    std::chrono::steady_clock::time_point until;
    std::function<void()> release;
  };
  struct Waiting {
    int fd;
    std::string request;
  };
  OperatorSocket() = default;
  void serve();  // accepts, reads each request, takes holds and ends them
  void work();   // runs the requests, in order
  void run(int fd, const std::string& request);
  void startHold(int fd);
  std::string path_;
  int fd_ = -1;
  int wake_[2] = {-1, -1};  // a pipe that ends serve()
  Handler handler_;
  HoldFiles holdFiles_;
  std::vector<Hold> holds_;  // serve()'s
  std::mutex mu_;
  std::condition_variable wakeWorker_;
  std::deque<Waiting> waiting_;  // under mu_
  // Set when the socket closes (the server stops): a running request's progress
  // then says nobody listens, and a rebuild stops, leaving the old projection.
  std::atomic<bool> closing_{false};
  std::thread thread_;
  std::thread worker_;
};

class FileHold;

// Asks the server listening on `path` to hold its file deletions (a reader's open
// beside it, StoreOptions::holdFiles): the hold, which lasts until it goes, or null
// when nobody answers there within `timeout`, or the server refuses.
std::unique_ptr<FileHold> holdServerFiles(const std::string& path,
                                          std::chrono::milliseconds timeout);

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
