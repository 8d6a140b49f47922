#pragma once
// Operator requests (provision; later rebuild, compact, backup): one JSON object in,
// one JSON object out ({"ok": true, …} or {"ok": false, "error": "…"}). portalctl
// runs them on a data directory it opened itself, or, when a server holds the
// directory, sends them to the server's operator socket, a Unix domain socket in
// the data directory that only its owner may use (mode 0600). Either way the same
// runOperatorRequest() does the work.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "events/result.h"

namespace portal {

class Portal;
class PasswordHasher;

struct OperatorContext {
  Portal& portal;
  const PasswordHasher& hasher;
  std::string signInUrl;  // for the owner's mail
};

// Thread-safe as far as Portal is.
std::string runOperatorRequest(OperatorContext& context, std::string_view requestJson);

// The socket's path in a data directory.
std::string operatorSocketPath(const std::string& dataDir);

// Serves requests on a Unix domain socket, one connection at a time, one request
// line per connection. Removes a stale socket file first; removes its own on stop.
class OperatorSocket {
 public:
  static Result<std::unique_ptr<OperatorSocket>> listen(
      const std::string& path, std::function<std::string(std::string_view)> handler);
  ~OperatorSocket();
  OperatorSocket(const OperatorSocket&) = delete;
  OperatorSocket& operator=(const OperatorSocket&) = delete;

 private:
  OperatorSocket() = default;
  void serve();
  std::string path_;
  int fd_ = -1;
  int wake_[2] = {-1, -1};  // a pipe that ends serve()
  std::function<std::string(std::string_view)> handler_;
  std::thread thread_;
};

// Sends one request and returns the answer. kNotFound when nobody listens there.
Result<std::string> callOperatorSocket(const std::string& path, std::string_view requestJson,
                                       std::chrono::milliseconds timeout);

}  // namespace portal
