#pragma once
// The HTTP server: Boost.Beast asynchronous sessions on `ioThreads` network threads
// feeding the Api, each thread with its own connections (given round robin).
// Reads of views and commands are answered on the network threads (a command's
// answer once it is durable and projected, without a thread waiting for it);
// requests that may block (password hashing, long polls) run on a pool of workers.
//
// Limits: a JSON body past 1 MiB (CSV: 64 MiB) is answered 413; a request whose
// header does not arrive within `headerTimeout`, or a keep-alive connection idle
// for `idleTimeout`, is closed; at `maxConnections` a new connection is served in
// the place of the keep-alive connection idle longest, and gets 503 when none is;
// so at `maxConnectionsPerAddress` of one client address, in the place of that
// address's.
// stop() (SIGTERM) stops accepting, answers the requests in flight, closes idle
// connections and returns once all are done.
//
// Thread-safe: stop() and port() from any thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "events/result.h"

namespace portal {

class Api;
struct HttpResponse;

// 431: a request's header past 16 KiB, as the server and the starting responder
// (starting.h) answer it.
HttpResponse headerTooLarge();

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (see port())
  // A socket from listenSocket(host, port), which the server takes over (closed
  // with it, or when start() fails); -1: start() makes one. (portal-server binds
  // before it opens the log: a port in use is said at once, and a --demo portal is
  // not made for a server that cannot serve.)
  int listenFd = -1;
  std::size_t ioThreads = 0;  // 0: as many as cores
  std::size_t workerThreads = 64;
  // Lowered at start to fit the process's open-files limit, less what is open then,
  // the network threads' own and 256 to spare (at most half the limit).
  std::size_t maxConnections = 10'000;
  // The most connections one client address (the TCP peer's) holds open; a trusted
  // proxy's are not counted against it. 0: a quarter of maxConnections (as lowered).
  std::size_t maxConnectionsPerAddress = 0;
  std::chrono::milliseconds headerTimeout{10'000};
  std::chrono::milliseconds idleTimeout{60'000};
  // For writing an answer: this, plus a second for each 64 KiB of it.
  std::chrono::milliseconds bodyTimeout{60'000};
  // A request's body has this long, and a second more for each minBodyRate bytes
  // that came: a client that sends at least that fast is never cut off, whatever
  // the size (a 64 MiB file over a 64 kbit/s uplink), and one that trickles is gone
  // after about this long. (A deadline of the declared length let a byte every 8 s
  // hold a connection for 76 s, and four addresses fill the server's connections:
  // a review.)
  std::chrono::milliseconds bodyReadGrace{10'000};
  std::size_t minBodyRate = 8 * 1024;  // bytes a second
  // At a stop (SIGTERM): how long a request still arriving (its header or body) has
  // to arrive before its connection is closed unanswered. A client whose body
  // stalled held the stop for the whole body timeout, past the 10 or 30 s a
  // container's stop waits before it kills. Requests that arrived are answered.
  std::chrono::milliseconds stopReadGrace{5'000};
  std::size_t maxJsonBody = 1 << 20;
  std::size_t maxCsvBody = 64 << 20;
  // Reverse proxies whose X-Forwarded-For is believed (canonical addresses, see
  // client_address.h): requests through them count against the throttle, and are
  // logged, as from the client they name. Empty: the peer is the client.
  std::vector<std::string> trustedProxies;
  // One line per answered request (method, path without query, status, bytes,
  // milliseconds, request id); nullptr: none.
  std::function<void(const std::string&)> accessLog;
};

class HttpServer {
 public:
  // Binds and starts serving. Fails with a clear message when the address cannot be
  // bound.
  static Result<std::unique_ptr<HttpServer>> start(Api& api, ServerOptions options);
  // A socket bound to host:port and listening (port 0: one the system picks, set in
  // `port`). kInvalidArgument for a host that is not an IP address, kIoError for an
  // address that cannot be had.
  static Result<int> listenSocket(const std::string& host, std::uint16_t& port);
  // Whether `host` is an IP address listenSocket() takes (v4, v6; no v6 scope id,
  // which no link a browser opens can hold).
  static bool isAddress(const std::string& host);
  // What a client's connections count against for maxConnectionsPerAddress: an IPv6
  // address its /64 (clientNetwork), an IPv4 one itself, and a trusted proxy its own
  // address, which others of its /64 do not share (its connections carry many
  // clients and are not capped).
  static std::string countedAs(const std::string& address,
                               const std::vector<std::string>& trustedProxies);
  ~HttpServer();  // stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;
  void stop();
  // Open connections now (for /metrics).
  std::size_t connections() const;
  // Of those, the keep-alive connections idle between requests.
  std::size_t idleConnections() const;
  // Idle keep-alive connections closed to make room at maxConnections.
  std::uint64_t reclaimed() const;
  // New connections answered 503 because their address had its most open.
  std::uint64_t refusedForAddress() const;
  // The caps on open connections and on one address's, as start() settled them
  // (the first lowered to the open-files limit).
  std::size_t maxConnections() const;
  std::size_t maxConnectionsPerAddress() const;
  // Requests that were still arriving when stop()'s read grace (stopReadGrace) ended,
  // and were closed unanswered.
  std::uint64_t cutAtStop() const;

 private:
  struct Impl;
  explicit HttpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace portal
