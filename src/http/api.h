#pragma once
// The HTTP API of API.md as a function from request to response: routing,
// authentication and authorization, JSON in and out, problem+json errors. It knows
// nothing of sockets (the server in server.h feeds it), so tests and fuzzers call it
// directly.
//
// handle() may block: commands wait until they are durable and projected, and
// password hashing waits for the hashing pool. The server runs on its network
// threads only the requests quick() says never block.
//
// Thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"
#include "src/app/sessions.h"
#include "src/auth/passwords.h"
#include "src/auth/throttle.h"
#include "src/http/client_address.h"
#include "src/http/http_message.h"

namespace portal {

class Portal;
class CountryList;
class Clock;
class IdSource;
class HttpMetrics;

// Who may call a route (API.md's "who" column).
enum class Access { kPublic, kAny, kSelfOrAdmin, kAdmin, kOwner };

struct RouteInfo {
  std::string_view method;
  std::string_view pattern;  // "/api/v1/users/{id}"
  Access access;
};

// Every route the API serves, in the order it matches them.
const std::vector<RouteInfo>& apiRoutes();

struct ApiOptions {
  SessionLimits sessions;
  HashCost hashCost = HashCost::interactive();
  std::size_t hashThreads = 2;
  ThrottlePolicy throttle;
  // Reset requests: per email as typed, and per address (an office behind one
  // address asks for more links than it fails sign-ins).
  ThrottlePolicy resetThrottle{5, 50};
  std::size_t maxJsonBody = 1 << 20;
  // Users an import file may hold (its bytes are limited by the server, 64 MiB).
  std::size_t importMaxRows = 200'000;
  // Long polls of GET /api/v1/events that may wait at once, of all companies (a
  // company's: at most 4 of them). Each holds one of the server's worker threads,
  // which sign-ins share: portal-server leaves three quarters of them free
  // (waitingPolls(workers)). Past it a poll is 429 with Retry-After.
  std::size_t waitingPolls = 16;
  // Called after a command that queued mail was accepted (wakes the mailer).
  std::function<void()> mailQueued;
  // Called before a user is anonymized, with their company and email: the mail
  // drop deletes what it keeps of mails to them (Mailer::forgetRecipient).
  std::function<Result<void>(const std::string& companyId, const std::string& email)> forgetMail;
  // Extra lines for /metrics (the mailer's counters, the server's connections).
  std::function<void(std::string&)> moreMetrics;
  // Clients that may read /metrics and the details of /readyz: the log's position and
  // counters move with each sign-in failure and reset link, which tells anyone who
  // compares them before and after which emails are users (--metrics-from).
  AddressRanges metricsFrom = AddressRanges::loopback();
  // Web front ends served from other origins that may call the API from a browser
  // (CORS, portal-server --cors-origin): each as a browser sends it in `Origin`,
  // `scheme://host[:port]` in lower case without its scheme's default port. Empty:
  // none, and a front end on another origin reaches the API through a proxy on its
  // own.
  std::vector<std::string> corsOrigins;
};

// The waiting polls (ApiOptions::waitingPolls) a server with `workers` worker
// threads allows: a quarter of them, at most 16 (none with fewer than 4 workers:
// every poll that would wait is then a 429, and sign-ins never queue behind one).
inline std::size_t waitingPolls(std::size_t workers) { return workers / 4 < 16 ? workers / 4 : 16; }

class Api {
 public:
  // `portal`, `countries`, `clock` and `ids` must outlive the Api. Fails when the
  // sessions cannot be loaded or the password policy's list cannot be read.
  static Result<std::unique_ptr<Api>> create(Portal& portal, const CountryList& countries,
                                             Clock& clock, IdSource& ids, ApiOptions options);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  HttpResponse handle(const HttpRequest& request);

  // The same without blocking the caller on commands: a command goes to the
  // processor and `done` is called once it is durable and projected; `post` must
  // run the function it is given soon on another thread (the server's network
  // threads), where the answer is made. Requests that are not quick() may still
  // block (hashing, long polls): run those off the network threads.
  void handleAsync(const HttpRequest& request, std::function<void(std::function<void()>)> post,
                   std::function<void(HttpResponse)> done);

  // Whether handleAsync() of `request` never blocks (reads of views, commands): the
  // server runs those on its network threads, the rest on its workers.
  static bool quick(const HttpRequest& request);

  // A problem+json answer (RFC 9457), for the server's own errors too (413, 503…).
  static HttpResponse problem(int status, std::string_view code, std::string_view title,
                              std::string_view detail);
  // 400 bad-request, the request cannot be understood: `detail` says why.
  static HttpResponse badRequest(std::string_view detail);
  // 415 for a batch import's body that is not CSV, sent as `contentType`; a
  // workbook's type (.xlsx, .ods) is said to be one.
  static HttpResponse notCsv(std::string_view contentType);
  // That 415, or one for a charset this server has no converter for; nullopt for a
  // CSV type in UTF-8 or in a charset it reads (windows-1252, Shift_JIS, UTF-16…).
  static std::optional<HttpResponse> csvRefused(std::string_view contentType);

  // The answer a request gets whatever its body (404 or 405 when no route takes it,
  // 401 signed out, 403 not allowed on its route, 415 a body of a type its route
  // does not read), from its method, target, Authorization and Content-Type alone;
  // nullopt when the body will be read. The server asks before it reads a body as
  // large as a CSV file, so that only someone who may import makes it hold 64 MiB,
  // and before it asks a client for its body (Expect: 100-continue).
  std::optional<HttpResponse> refuseBody(std::string_view method, std::string_view target,
                                         std::string_view authorization,
                                         std::string_view contentType);
  // 401: no bearer token sent (`tokenSent` false), or one that names no live session
  // (RFC 6750 3.1's invalid_token in WWW-Authenticate), said apart so that a client
  // tells a bug of its own from a session that ended (a review: every 401 was one).
  static HttpResponse unauthorized(bool tokenSent = true);
  // The CORS fields of any answer to a request sent with `origin` (its Origin field,
  // empty when none): none unless the origin is one of ApiOptions::corsOrigins.
  std::vector<std::pair<std::string, std::string>> crossOriginFields(std::string_view origin) const;
  // Counts in the metrics an answer the server gave itself, before the request
  // reached the API (413, 431, 400, the 503 at the connection cap): route "(server)".
  void countServerAnswer(const std::string& method, int status,
                         std::chrono::steady_clock::time_point started);

  SessionStore& sessions();
  // The server stops: long polls of the events feed answer at once with what they
  // have (a poll waiting 30 s would hold the stop for as long).
  void stopWaiting();
  // The server is about to stop (portal-server --stop-delay): /readyz answers 503
  // `stopping`, everything else as before.
  void markStopping();

 private:
  friend const std::vector<RouteInfo>& apiRoutes();
  struct Impl;
  explicit Api(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace portal
