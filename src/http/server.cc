#include "src/http/server.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "events/log.h"
#include "events/text.h"
#include "src/domain/services.h"
#include "src/http/api.h"
#include "src/http/beast_request.h"
#include "src/http/client_address.h"
#include "src/http/url.h"
#include "src/http/work_pool.h"

namespace portal {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::size_t kHeaderLimit = 16 * 1024;
// The most of a request held unparsed at once: a header (16 KiB), a chunk's header
// line with its extensions, or the trailer section, each of which the parser needs
// whole. Past it the request is refused (400): without a cap a client could make
// the server hold gigabytes of extensions or trailer fields, and a trailer field
// of 64 KiB or more made Beast throw. Bodies are not held here (they go on into
// the message as they arrive, within their own limit).
constexpr std::size_t kMaxUnparsed = 32 * 1024;

// The Date field of every answer (RFC 9110 6.6.1: an origin server with a clock sends
// one), as its IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"); made once a second
// per network thread.
std::string_view httpDate() {
  thread_local std::time_t madeFor = -1;
  thread_local char text[32] = {};
  const std::time_t now = std::time(nullptr);
  if (now != madeFor) {
    std::tm utc{};
    gmtime_r(&now, &utc);
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);  // "C" locale names
    madeFor = now;
  }
  return text;
}
// Runs a network thread's handlers. One that throws (a bug, or a library's limit no
// check caught) ends its connection, whose handler chain it broke, and is said on
// stderr; the server and its other connections go on.
std::size_t runCatching(net::io_context& context) {
  for (std::size_t ran = 0;;) {
    try {
      return ran + context.run();
    } catch (const std::exception& e) {
      ++ran;
      logLine(std::string("portal-server: a connection's handler failed and it was closed: ") +
              e.what());
    }
  }
}

// Open files kept for other than connections besides those open at start and the
// network threads' own (RocksDB opening more table files, the outbox, the operator
// socket); all that together is kept to at most half the process's limit.
constexpr std::size_t kSpareFiles = 256;
// Connections past the cap answered 503 at once (each is an open file for the two
// seconds its answer drains): past this many, a new one is closed unanswered, so
// that a flood cannot take the files kept spare for the event log.
constexpr std::size_t kMaxTurnedAway = 64;

// The files this process has open now.
std::size_t openFiles() {
  std::error_code ec;
  std::size_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

// The client's address as logged and throttled: an IPv4 client of a listener on
// `::` is ::ffff:192.0.2.2 to it, and 192.0.2.2 here, as through any other listener
// (a review).
std::string peerAddressOf(const tcp::endpoint& peer) {
  auto address = peer.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  return address.to_string();
}

// Whether the request in `read` (what is left of it unparsed) is a HEAD.
bool headRequestIn(net::const_buffer read) {
  const std::string_view bytes(static_cast<const char*>(read.data()), read.size());
  const std::size_t start = std::min(bytes.find_first_not_of("\r\n"), bytes.size());
  return bytes.substr(start).starts_with("HEAD ");
}

// Whether the bytes of a request start with a whole request line (its line feed)
// within `limit` bytes, empty lines before it (RFC 9112 2.2) not counted.
bool requestLineEndsWithin(net::const_buffer read, std::size_t limit) {
  const std::string_view bytes(static_cast<const char*>(read.data()), read.size());
  const std::size_t start = std::min(bytes.find_first_not_of("\r\n"), bytes.size());
  return bytes.substr(start, limit).find('\n') != std::string_view::npos;
}

// The version a well-formed request line names, "HTTP/d.d", when it is one the parser
// refused (not 1.0 or 1.1); empty otherwise.
std::string otherVersionOf(net::const_buffer read) {
  std::string_view bytes(static_cast<const char*>(read.data()), read.size());
  bytes.remove_prefix(std::min(bytes.find_first_not_of("\r\n"), bytes.size()));
  std::string_view line = bytes.substr(0, bytes.find('\n'));
  if (line.ends_with('\r')) line.remove_suffix(1);
  const std::size_t space = line.rfind(' ');
  if (space == std::string_view::npos || line.find(' ') == space) return {};
  const std::string_view version = line.substr(space + 1);
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (version.size() != 8 || !version.starts_with("HTTP/") || !digit(version[5]) ||
      version[6] != '.' || !digit(version[7]) || version == "HTTP/1.0" || version == "HTTP/1.1")
    return {};
  return std::string(version);
}

// The one request that may be large: a CSV file for the batch import.
// `target`: the header's, in the origin form.
bool isImportUpload(const http::request_parser<http::string_body>::value_type& header,
                    std::string_view target) {
  return header.method() == http::verb::post && target.starts_with("/api/v1/users/import");
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  class Connection;

  Api& api;
  ServerOptions options;
  // One io_context per network thread, run by that thread alone. A connection lives
  // on one of them (given round robin), so its handlers run on one thread without a
  // strand, and the threads do not wake each other through a shared queue (with one
  // shared context, handing work between them cost a futex call per request).
  std::vector<std::unique_ptr<net::io_context>> contexts;
  tcp::acceptor acceptor;  // on contexts[0]
  std::size_t nextContext = 0;  // the accept handler's
  tcp::endpoint acceptedPeer;   // the address accept() gave, for the accept handler
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  std::unique_ptr<WorkPool> workers;
  std::vector<std::thread> threads;
  std::string idPrefix;
  std::atomic<std::uint64_t> nextRequest{0};
  std::atomic<bool> stopping{false};
  // Requests still arriving when a stop's read grace ended, closed unanswered.
  std::atomic<std::uint64_t> cutAtStop{0};
  std::atomic<std::size_t> turnedAway{0};  // connections past the cap still open
  std::atomic<std::uint64_t> reclaimedTotal{0};  // see reclaimIdle
  // New connections turned away because their address had its most open.
  std::atomic<std::uint64_t> refusedForAddress{0};
  std::uint16_t boundPort = 0;

  std::mutex mu;  // guards live, byAddress, stopped, queueTaken
  std::condition_variable allClosed;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> live;
  // The open connections of each client address (countedAs the TCP peer: an IPv6 one
  // by its /64, as the sign-in throttle counts it, a trusted proxy by itself) that
  // it is served on, for the cap on one address's (maxConnectionsPerAddress): not those turned
  // away, nor those taken for closing (reclaimIdle), which do not hold a place.
  std::unordered_map<std::string, std::size_t> byAddress;
  // Connections taken for closing and not yet closed: their places are free (a burst
  // of new ones closed more idle ones than it needed: a review).
  std::size_t leaving = 0;
  bool stopped = false;
  bool queueTaken = false;  // at a stop, takeQueuedAndClose() has run
  // At a stop, the network threads have ended: a connection accepted now (a handler
  // run while what is pending is finished off) is closed, not read from.
  std::atomic<bool> ioStopped{false};

  Impl(Api& a, ServerOptions o)
      : api(a), options(std::move(o)), contexts(makeContexts(threadCount())), acceptor(*contexts[0]) {}

  static std::vector<std::unique_ptr<net::io_context>> makeContexts(std::size_t n) {
    std::vector<std::unique_ptr<net::io_context>> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(std::make_unique<net::io_context>(1));
    return out;
  }

  std::size_t threadCount() const {
    if (options.ioThreads != 0) return options.ioThreads;
    return std::max(1u, std::thread::hardware_concurrency());
  }

  std::string newRequestId() {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s-%06llx", idPrefix.c_str(),
                  static_cast<unsigned long long>(nextRequest.fetch_add(1) + 1));
    return buf;
  }

  void accept();
  // One connection of `network` fewer in byAddress. Called with mu held.
  void uncount(const std::string& network) {
    if (auto it = byAddress.find(network); it != byAddress.end() && --it->second == 0)
      byAddress.erase(it);
  }
  // Serves a connection accept() gave.
  // At the cap, a new connection is served in the place of a keep-alive connection
  // waiting for its next request, the longest waiting first, as nginx reuses its idle
  // keep-alive connections: one client holding the cap's worth idle shut every other
  // client out, health probes included (a review). A client may close such a
  // connection at any time (RFC 9112 9.3). Only when none waits is the new one 503;
  // a new connection that sends nothing is never closed for another (flooding ones
  // would close each other).
  void adopt(tcp::socket socket, const tcp::endpoint& peer);
  // Claims up to `wanted` of the connections waiting longest (with `network`, of
  // those counted against it) and gives them to be closed (each closes unless its
  // request began meanwhile). Called with mu held.
  std::vector<std::shared_ptr<Connection>> reclaimIdle(std::size_t wanted,
                                                       const std::string* network = nullptr);
  // At a stop: takes the connections the kernel completed and queued for accept(),
  // whose clients sent their requests to a server that was still listening; closing
  // the listener with them queued resets them unanswered (a review: curl's
  // "connection reset" and "empty reply" at a SIGTERM). Then closes the listener.
  void takeQueuedAndClose();
  // Closes the connections waiting for a request, with `fresh` also those that have
  // not sent one yet, and with `reading` those still reading one.
  void closeIdle(bool fresh, bool reading);
};

class HttpServer::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `peer`: the address accept() gave (asked of the socket afterwards, it is gone
  // once the client reset the connection, and a command it sent was logged without
  // it: a review).
  // `network`: what it counts against in byAddress (HttpServer::countedAs).
  Connection(tcp::socket&& socket, std::string peer, std::string network,
             std::shared_ptr<Impl> server)
      : stream_(std::move(socket)),
        server_(std::move(server)),
        peer_(std::move(peer)),
        network_(std::move(network)) {
    beast::error_code ec;
    // Answers go out whole and at once: no waiting for the client's ACK (Nagle).
    stream_.socket().set_option(tcp::no_delay(true), ec);
  }

  ~Connection() {
    if (turnedAway_) server_->turnedAway.fetch_sub(1);
    std::lock_guard lock(server_->mu);
    server_->live.erase(this);
    if (counted_) server_->uncount(network_);
    if (leaving_) --server_->leaving;
    if (server_->live.empty()) server_->allClosed.notify_all();
  }

  // `refusal`: empty to serve the connection, or why it is answered 503 at once.
  void start(std::string refusal) {
    const bool overCapacity = !refusal.empty();
    {
      std::lock_guard lock(server_->mu);
      server_->live.emplace(this, weak_from_this());
      if (!overCapacity) hold();
    }
    if (overCapacity) {
      if (server_->turnedAway.fetch_add(1) >= kMaxTurnedAway) {
        server_->turnedAway.fetch_sub(1);
        return close();
      }
      turnedAway_ = true;
    }
    net::dispatch(
        stream_.get_executor(), [self = shared_from_this(), refusal = std::move(refusal)] {
          if (!refusal.empty()) {
            self->started_ = std::chrono::steady_clock::now();
            HttpResponse busy =
                Api::problem(503, "too-many-connections", "Too many connections", refusal);
            busy.headers.emplace_back("Retry-After", "1");
            self->respondAndClose(std::move(busy));
            return;
          }
          self->waitForRequest(true);
        });
  }

  // Since when (steady clock, ns) the connection waits, kept alive, for its next
  // request, nothing of it sent yet: 0 before its first answer, while a request is
  // under way, and once claimed for closing.
  std::int64_t waitingSince() const { return waitingSince_.load(); }
  // What it counts against in byAddress: the peer, an IPv6 one by its /64, a trusted
  // proxy by its own address (HttpServer::countedAs).
  const std::string& network() const { return network_; }
  // Holds its place: counted in its address's connections, no longer leaving (called
  // with the server's mu held).
  void hold() {
    if (!counted_) ++server_->byAddress[network_];
    counted_ = true;
    if (leaving_) --server_->leaving;
    leaving_ = false;
  }
  // Taken for closing: its place is given up now (called with the server's mu held).
  void leave() {
    if (counted_) server_->uncount(network_);
    counted_ = false;
    if (!leaving_) ++server_->leaving;
    leaving_ = true;
  }
  // Takes the connection for closing to make room for a new one (reclaimIdle), once.
  bool claimIdle(std::int64_t since) { return waitingSince_.compare_exchange_strong(since, 0); }

  // Closes the socket at once; only when no network thread runs (the end of stop()).
  void forceClose() {
    beast::error_code ec;
    stream_.socket().close(ec);
  }

  // Closes the connection if it is waiting for a request (SIGTERM) after one it
  // answered, with `fresh` also if it has not sent its first, or, with `reading`,
  // still reading one; one whose request was read answers it and closes after the
  // answer. (A connection just made sends its request at once: one taken in at the
  // stop has until a second after the stop began; one whose request bytes are here
  // already is not closed.)
  void closeIfIdle(bool fresh, bool reading) {
    net::post(stream_.get_executor(), [self = shared_from_this(), fresh, reading] {
      beast::error_code probe;
      // Bytes already here are a request sent before the stop (its read is under
      // way): it is read and answered, however busy the network threads were (a
      // loaded test run saw one closed unanswered past the second).
      const bool sent = self->idle_ && self->stream_.socket().available(probe) > 0 && !probe;
      if ((self->idle_ && !sent && (fresh || !self->fresh_)) || (reading && self->reading_)) {
        if (!self->idle_) {
          self->server_->cutAtStop.fetch_add(1);
          self->reading_ = false;  // counted once, though it stays live a while
        }
        beast::error_code ec;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        self->stream_.close();
      } else {
        // Taken for closing as its next request came: it is served, and holds its
        // place again.
        std::lock_guard lock(self->server_->mu);
        if (self->leaving_) self->hold();
      }
    });
  }

 private:
  // `due`: the header's deadline when it is already running (empty lines came).
  void waitForRequest(bool first,
                      std::optional<std::chrono::steady_clock::time_point> due = std::nullopt) {
    if (server_->stopping.load() && !first) return close();
    // A new connection's first header is due within the header timeout of its
    // opening, its first byte included; a later one's, of its first byte.
    headerBy_ = due;
    if (buffer_.size() > 0) return readHeader();  // a pipelined request is already here
    if (first) headerBy_ = std::chrono::steady_clock::now() + server_->options.headerTimeout;
    idle_ = true;
    if (!first) waitingSince_.store(std::chrono::steady_clock::now().time_since_epoch().count());
    if (headerBy_) stream_.expires_at(*headerBy_);
    else stream_.expires_after(server_->options.idleTimeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->idle_ = false;
                              self->waitingSince_.store(0);
                              self->fresh_ = false;
                              if (ec) return self->close();
                              self->buffer_.commit(n);
                              self->readHeader();
                            });
  }

  void readHeader() {
    idle_ = false;
    reading_ = true;
    // RFC 9112 2.2: empty lines before a request line are ignored (some clients
    // send a CRLF after a POST body). Those alone, the connection waits on as idle.
    bool skipped = false;
    while (buffer_.size() > 0) {
      const char c = *static_cast<const char*>(buffer_.data().data());
      if (c != '\r' && c != '\n') break;
      buffer_.consume(1);
      skipped = true;
    }
    if (skipped && buffer_.size() == 0) {
      // A CRLF after a body is what some clients send: the connection stays idle.
      // Empty lines again, and they are a request's beginning as far as its deadline
      // goes: a peer sending only those does not hold the connection past the
      // header timeout.
      // (A new connection's first header stays due when it was.)
      const bool first = !emptyLinesSeen_ && !headerBy_;
      emptyLinesSeen_ = true;
      if (first) return waitForRequest(false);
      return waitForRequest(
          false, headerBy_.value_or(std::chrono::steady_clock::now() + server_->options.headerTimeout));
    }
    emptyLinesSeen_ = false;
    // Nothing of the previous request on this connection may mark this one's answer
    // (an error answered before the body is read goes out with these).
    method_.clear();
    path_.clear();
    origin_.clear();
    requestId_.clear();
    client_.clear();
    head_ = false;
    started_ = std::chrono::steady_clock::now();
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // The body's limit depends on the request (onHeader); a limit set here would
    // refuse a long Content-Length while the header is read, as a malformed request.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (headerBy_) stream_.expires_at(*headerBy_);
    else stream_.expires_after(server_->options.headerTimeout);
    headerBy_.reset();
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onHeader(ec); });
  }

  // A request that did not arrive in time: Beast closed the socket at the timeout,
  // so no 408 can be sent, but it is logged and counted as one (as nginx does), so
  // that clients too slow to send, or holding connections so, show (a review).
  void timedOut() {
    if (requestId_.empty()) requestId_ = server_->newRequestId();
    server_->api.countServerAnswer(method_, 408, started_);
    log(408, 0);
    reading_ = false;
    close();
  }

  // The peer closed, half-closed or reset the connection before its request was
  // whole, or the read was cancelled.
  static bool peerLeft(const beast::error_code& ec) {
    return ec == http::error::end_of_stream || ec == http::error::partial_message ||
           ec == net::error::eof || ec == net::error::operation_aborted ||
           ec == net::error::connection_reset || ec == net::error::broken_pipe;
  }

  void onHeader(beast::error_code ec) {
    if (ec == beast::error::timeout) return timedOut();
    // A peer that went (closed or reset mid-header) reads no answer: none is counted.
    if (peerLeft(ec)) return close();
    // A HEAD is answered without a body also when it is refused before its header
    // is whole (431, 414, 505, 400: a review found their bodies sent).
    head_ = parser_->get().target().empty() ? headRequestIn(buffer_.data())
                                            : parser_->get().method() == http::verb::head;
    if (ec == http::error::header_limit) {
      // Beast reports one limit for the request line and the fields together. A
      // request line it parsed set the target (and left the buffer); one it has not
      // parsed (too long, or put off until the header's end had come) is still in the
      // buffer: one that does not end within the limit is a target too long (RFC 9110
      // 15.5.15).
      if (parser_->get().target().empty() && !requestLineEndsWithin(buffer_.data(), kHeaderLimit))
        return respondAndClose(Api::problem(414, "uri-too-long", "URI too long",
                                            "The request's target is longer than 16 KiB."));
      return respondAndClose(headerTooLarge());
    }
    const auto& header = parser_->get();
    const std::string target = originForm(header.target());
    const bool upload = isImportUpload(header, target);
    const bool csv = upload && isCsvMediaType(header[http::field::content_type]);
    const std::size_t limit = csv ? server_->options.maxCsvBody : server_->options.maxJsonBody;
    if (ec == http::error::bad_version)
      if (const std::string version = otherVersionOf(buffer_.data()); !version.empty())
        return respondAndClose(
            Api::problem(505, "http-version-not-supported", "HTTP version not supported",
                         "This server speaks HTTP/1.1 (and 1.0), not " + version + "."));
    if (ec) return respondAndClose(Api::badRequest("The request is not valid HTTP/1.1."));
    // As they are now: a chunked body's trailer is added to the same list, each of
    // its fields beside a header field of its name.
    headerFields_ = headerFieldsOf(header);
    // A page of another origin reads the answer, an error too, only with its fields.
    origin_ = std::string(header[http::field::origin]);
    // For the access log of an answer given before the body is read.
    method_ = std::string(header.method_string());
    path_ = target.substr(0, target.find('?'));
    head_ = header.method() == http::verb::head;
    if (const std::string_view given = header["x-request-id"]; saneRequestId(given))
      requestId_ = std::string(given);
    if (!server_->options.trustedProxies.empty()) {
      HttpRequest forwarded;
      for (const auto& field : header)
        if (beast::iequals(field.name_string(), "x-forwarded-for"))
          forwarded.headers.emplace_back("x-forwarded-for", std::string(field.value()));
      client_ = clientAddressOf(peer_, forwarded, server_->options.trustedProxies);
    }
    // One Host field, as RFC 9112 section 3.2 requires of HTTP/1.1 (none or two: 400).
    if (const auto hosts = header.count(http::field::host);
        hosts > 1 || (hosts == 0 && header.version() >= 11) ||
        header[http::field::host].find(',') != std::string_view::npos)
      return respondAndClose(
          Api::badRequest("An HTTP/1.1 request has exactly one Host header field."));
    if (!validHost(header[http::field::host]))
      return respondAndClose(
          Api::badRequest("The Host header field is not a host name or address "
                          "with an optional port."));
    // The target's form (RFC 9112 3.2): a path, or an absolute URI; "*" is OPTIONS'
    // alone, and CONNECT (a proxy's) is not implemented.
    if (header.method() == http::verb::connect)
      return respondAndClose(Api::problem(501, "method-not-implemented", "Method not implemented",
                                          "CONNECT is not implemented: this server is no proxy."));
    if (const std::string_view sent = header.target();
        !(sent == "*" && header.method() == http::verb::options))
      if (const std::string problem = targetProblem(sent); !problem.empty())
        return respondAndClose(Api::badRequest(problem));
    // A field that holds one value, given twice, is refused rather than one copy
    // taken (RFC 9110 5.3): which credentials or which key counts must not depend on
    // the order of lines.
    for (const char* name : {"Authorization", "Content-Type", "Idempotency-Key"}) {
      if (header.count(name) > 1)
        return respondAndClose(Api::badRequest(std::string("The request has more than one ") +
                                               name + " header field."));
    }
    if (header.count(http::field::transfer_encoding) > 0) {
      // HTTP/1.0 has no transfer codings: a 1.0 proxy in front would read the chunks
      // as the next request (RFC 9112 6.1 calls its framing faulty). Refused, and
      // closed (a review had one served on a connection kept alive).
      if (header.version() < 11)
        return respondAndClose(
            Api::badRequest("An HTTP/1.0 request cannot use Transfer-Encoding: "
                            "send its length as Content-Length."));
      // A body whose length cannot be known (RFC 9112 6.3: a transfer coding that does
      // not end in chunked) would be read as the next request: refused, and closed.
      if (!parser_->chunked())
        return respondAndClose(
            Api::badRequest("Transfer-Encoding must name chunked once, as its last "
                            "coding."));
      // A coding the server cannot undo (gzip, deflate, compress) before chunked would
      // be read as the body itself: 501, as RFC 9112 section 6.1 says.
      for (const auto& field : header)
        if (field.name() == http::field::transfer_encoding && !listsOnly(field.value(), "chunked"))
          return respondAndClose(Api::problem(501, "transfer-coding-not-implemented",
                                              "Transfer coding not implemented",
                                              "The only transfer coding accepted is chunked."));
    }
    // A body compressed by its client (Content-Encoding: gzip) is not undone: read
    // as it came, a gzipped CSV file was told to be saved again as "CSV UTF-8" and
    // gzipped JSON not to be JSON. 415 with the coding taken, as RFC 9110 15.5.16
    // says.
    const bool hasBody = parser_->chunked() || parser_->content_length().value_or(0) > 0;
    if (hasBody)
      for (auto [field, end] = header.equal_range(http::field::content_encoding); field != end;
           ++field)
        if (!listsOnly(field->value(), "identity")) {
          HttpResponse refused =
              Api::problem(415, "unsupported-media-type", "Unsupported media type",
                           "The body must not be compressed: send it without "
                           "Content-Encoding.");
          refused.headers.emplace_back("Accept-Encoding", "identity");
          return respondAndClose(std::move(refused));
        }
    // Only someone who may import makes the server hold a file's worth of body; a
    // file sent as another type (a form's multipart, octet-stream) is told so
    // (refuseBody), not that it is larger than the 1 MiB of a JSON body.
    if (upload && parser_->content_length().value_or(limit) > server_->options.maxJsonBody)
      if (auto refused = server_->api.refuseBody(header.method_string(), target,
                                                 header[http::field::authorization],
                                                 header[http::field::content_type]))
        return respondAndClose(std::move(*refused));
    if (auto length = parser_->content_length(); length && *length > limit)
      return respondAndClose(tooLarge(limit));
    // An expectation other than 100-continue cannot be met: 417, as RFC 9110 10.1.1
    // allows, rather than going on as if it had not been asked (in any HTTP version;
    // a 100-continue of HTTP/1.0 is set aside, as 10.1.1 says). One asked for in any
    // of the fields, or more than once, is met once.
    bool continueAsked = false;
    for (auto [field, end] = header.equal_range(http::field::expect); field != end; ++field) {
      if (!listsOnly(field->value(), "100-continue"))
        return respondAndClose(Api::problem(417, "expectation-failed", "Expectation failed",
                                            "The only expectation met is Expect: "
                                            "100-continue."));
      continueAsked =
          continueAsked || field->value().find_first_not_of(", \t") != std::string_view::npos;
    }
    parser_->body_limit(limit);
    // A client that waits for leave to send its body (curl does, for large ones).
    if (header.version() >= 11 && continueAsked) {
      // What its header already refuses (no session, no such path, a method the path
      // does not take) is answered now, not after a body sent for nothing
      // (RFC 9110 10.1.1).
      if (auto refused = server_->api.refuseBody(header.method_string(), target,
                                                 header[http::field::authorization],
                                                 header[http::field::content_type]))
        return respondAndClose(std::move(*refused));
      auto goOn = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      stream_.expires_after(server_->options.bodyTimeout);
      http::async_write(stream_, *goOn, [self = shared_from_this(), goOn, limit](beast::error_code ec, std::size_t) {
        if (ec) return self->close();
        self->readBody(limit);
      });
      return;
    }
    readBody(limit);
  }

  // A segment with each run of 32 or more letters, digits, `-` and `_` that is not
  // shaped as an id (idShaped: whole or mistyped) as {token}: it
  // may be a secret, a session or reset token put in a path by mistake (a review
  // found DELETE /api/v1/sessions/<token> logged while the token was still valid).
  static std::string withoutSecrets(std::string_view segment) {
    auto tokenByte = [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; };
    std::string out;
    for (std::size_t i = 0; i < segment.size();) {
      std::size_t end = i;
      while (end < segment.size() && tokenByte(static_cast<unsigned char>(segment[end]))) ++end;
      const std::string_view run = segment.substr(i, end - i);
      out.append(run.size() >= 32 && !idShaped(run, 32) ? std::string_view("{token}") : run);
      if (end < segment.size()) out.push_back(segment[end++]);
      i = end;
    }
    return out;
  }

  // The path for the access log, which holds ids, never people's details: a segment
  // that holds an email (someone who put one where an id goes,
  // /api/v1/users/ann@acme.example) is {email}. Under /api/, where ids go, a
  // segment is written as it is only when it is a word of the API's paths
  // (pathWord) or shaped as an id (idShaped, at least 8 characters: whole or
  // mistyped); any other is {text} (a review found a name put where an id goes,
  // /api/v1/users/Ann%20Smith, logged as typed: the log is kept beyond any
  // erasure). Elsewhere (probes, scanners' paths) only a token is hidden
  // (withoutSecrets). The first segment is read as the router reads it, its
  // %-escapes decoded (a review: /%61pi/v1/users/Ann%20Smith is routed to a user).
  static std::string loggedPath(const std::string& path) {
    const std::string_view first = std::string_view(path).substr(0, path.find('/', 1));
    const bool api = asciiLower(percentDecode(first, false)) == "/api";
    std::string out;
    std::size_t start = 0;
    while (start <= path.size()) {
      const std::size_t slash = std::min(path.find('/', start), path.size());
      const std::string_view segment(path.data() + start, slash - start);
      const bool email = segment.find('@') != std::string_view::npos ||
                         asciiLower(segment).find("%40") != std::string::npos;
      if (email)
        out.append("{email}");
      else if (!api)
        out.append(withoutSecrets(segment));
      else if (segment.empty() || idShaped(segment, 8) || pathWord(segment))
        out.append(segment);
      else
        out.append("{text}");
      if (slash == path.size()) break;
      out.push_back('/');
      start = slash + 1;
    }
    return out;
  }

  // The words of the API's paths: its routes' fixed segments, and the services and
  // roles a role's path names.
  static bool pathWord(std::string_view segment) {
    static const std::set<std::string, std::less<>> words = [] {
      std::set<std::string, std::less<>> w;
      for (const RouteInfo& route : apiRoutes())
        for (std::string& part : splitPath(route.pattern))
          if (part.front() != '{') w.insert(std::move(part));
      for (const ServiceDefinition& service : serviceCatalog()) {
        w.insert(service.name);
        w.insert(service.roles.begin(), service.roles.end());
      }
      return w;
    }();
    return words.count(segment) > 0;
  }

  // True when every member listed in a field's value is `only`: the codings of a
  // Transfer-Encoding or Content-Encoding (chunked, identity), an Expect's
  // expectations (100-continue). A member's parameters are set aside.
  static bool listsOnly(std::string_view value, std::string_view only) {
    while (!value.empty()) {
      const std::size_t comma = value.find(',');
      std::string_view coding = value.substr(0, comma);
      coding = coding.substr(0, coding.find(';'));  // parameters go with the coding
      coding = trim(coding);
      if (!coding.empty() && !beast::iequals(coding, only)) return false;
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
    return true;
  }

  // The time an answer of `bytes` may take to leave: a slow downlink must not cut a
  // large one off half-way (ServerOptions::bodyTimeout).
  std::chrono::milliseconds transferTime(std::size_t bytes) const {
    return server_->options.bodyTimeout + std::chrono::seconds(bytes / (64 * 1024));
  }

  void readBody(std::size_t limit) {
    bodyBegun_ = std::chrono::steady_clock::now();
    bodyRead_ = 0;
    readBodyOn(limit);
  }

  // Part by part, the deadline moving with what came (ServerOptions::bodyReadGrace).
  void readBodyOn(std::size_t limit) {
    if (parser_->is_done()) return onRequest();  // no body, or all of it read with the header
    const auto& o = server_->options;
    stream_.expires_at(
        bodyBegun_ + o.bodyReadGrace +
        std::chrono::milliseconds(bodyRead_ * 1000 / std::max<std::size_t>(1, o.minBodyRate)));
    http::async_read_some(
        stream_, buffer_, *parser_,
        [self = shared_from_this(), limit](beast::error_code ec, std::size_t bytes) {
          if (ec == http::error::body_limit) return self->respondAndClose(tooLarge(limit));
          if (ec == http::error::buffer_overflow)
            return self->respondAndClose(Api::badRequest(
                "A chunk's header line or the trailer section is longer than 32 KiB."));
          if (ec == beast::error::timeout) return self->timedOut();
          // So does one that went mid-body (a cancelled upload: Beast says
          // partial_message), not a 400 counted and logged as a malformed request.
          if (peerLeft(ec)) return self->close();
          if (ec)
            return self->respondAndClose(
                Api::badRequest("The request body is not valid HTTP/1.1."));
          self->bodyRead_ += bytes;
          self->readBodyOn(limit);
        });
  }

  static HttpResponse tooLarge(std::size_t limit) {
    return Api::problem(413, "body-too-large", "Request body too large",
                        "The body is larger than " + std::to_string(limit >> 20) + " MiB.");
  }

  void onRequest() {
    reading_ = false;
    // The parser's, which reads every Connection line (the message's looks at the
    // first only: `Connection: close` on a second line kept the connection; a review).
    keepAlive_ = parser_->keep_alive();
    http::request<http::string_body> msg = parser_->release();
    http10_ = msg.version() == 10;
    started_ = std::chrono::steady_clock::now();
    HttpRequest req = requestFromBeast(
        std::move(msg), peer_, [this] { return server_->newRequestId(); },
        std::move(headerFields_));
    // onHeader found the client a trusted proxy forwards for.
    if (!client_.empty()) req.clientAddress = client_;
    client_ = req.clientAddress;
    method_ = req.method;
    path_ = req.target.substr(0, req.target.find('?'));
    requestId_ = req.requestId;
    head_ = req.method == "HEAD";
    stream_.expires_never();  // a command may wait for its fsync; the answer is bounded there
    auto self = shared_from_this();
    auto post = [self](std::function<void()> fn) {
      net::post(self->stream_.get_executor(), std::move(fn));
    };
    // On the connection's own thread already (a read, or a command's answer made there),
    // the answer goes out at once rather than through the queue again.
    auto done = [self](HttpResponse res) {
      net::dispatch(self->stream_.get_executor(),
                    [self, res = std::move(res)]() mutable { self->respond(std::move(res)); });
    };
    if (Api::quick(req)) return server_->api.handleAsync(req, post, done);
    // A body read that ended as stop() gave the workers up: nobody is left to answer.
    if (!server_->workers) return close();
    watchForClose(req);
    server_->workers->post([self, req = std::move(req), post, done]() mutable {
      self->server_->api.handleAsync(req, post, done);
    });
  }

  // While a request runs on a worker nothing reads the connection: a wait for it to
  // become readable tells when the client closed it (a peek finds its end, not
  // bytes). A pipelined request arriving meanwhile ends the watch and stays unread.
  void watchForClose(HttpRequest& req) {
    auto gone = std::make_shared<std::atomic<bool>>(false);
    req.clientGone = gone;
    watching_ = true;
    stream_.socket().async_wait(
        tcp::socket::wait_read, [self = shared_from_this(), gone](beast::error_code ec) {
          self->watching_ = false;
          if (ec) return;  // answered first (cancelled), or the connection closed
          char byte;
          const ssize_t n =
              ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            gone->store(true);
        });
  }

  void respond(HttpResponse res, bool closeAfter = false) {
    reading_ = false;  // answered (an error, before its body): a stop lets it go out
    if (watching_) {
      beast::error_code ec;
      stream_.socket().cancel(ec);  // the close watch only: nothing else is pending
    }
    auto msg = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(res.status), 11);
    if (!res.contentType.empty()) msg->set(http::field::content_type, res.contentType);
    for (const auto& [name, value] : res.headers) msg->set(name, value);
    for (const auto& [name, value] : server_->api.crossOriginFields(origin_)) msg->set(name, value);
    msg->set("X-Request-Id", requestId_);
    msg->set(http::field::date, httpDate());
    msg->set(http::field::cache_control, "no-store");
    // A browser takes each answer as the type it says (the error log echoes cells).
    msg->set("X-Content-Type-Options", "nosniff");
    const std::size_t bytes = res.body.size();
    msg->body() = std::move(res.body);
    msg->keep_alive(keepAlive_ && !closeAfter && !server_->stopping.load());
    // An HTTP/1.0 client closes unless told the connection stays (RFC 9112 9.3).
    if (http10_ && msg->keep_alive()) msg->set(http::field::connection, "keep-alive");
    msg->prepare_payload();
    // RFC 9110 8.6: no Content-Length on a 204 or a 304.
    if (res.status == 204 || res.status == 304) msg->erase(http::field::content_length);
    if (head_) msg->body().clear();  // Content-Length stays that of the GET
    const int status = res.status;
    const std::size_t sent = msg->body().size();  // logged: a HEAD's body is not sent
    stream_.expires_after(transferTime(bytes));
    http::async_write(
        stream_, *msg,
        [self = shared_from_this(), msg, status, sent](beast::error_code ec, std::size_t) {
          self->log(status, sent);
          if (!ec && self->drainOnClose_) return self->drainAndClose();
          if (ec || !msg->keep_alive()) return self->close();
          self->waitForRequest(false);
        });
  }

  void respondAndClose(HttpResponse res) {
    if (requestId_.empty()) requestId_ = server_->newRequestId();
    server_->api.countServerAnswer(method_, res.status, started_);
    keepAlive_ = false;
    drainOnClose_ = true;
    respond(std::move(res), true);
  }

  void log(int status, std::size_t bytes) {
    if (!server_->options.accessLog) return;
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_)
            .count();
    char line[2048];
    // "-" for what a request too malformed to name left unknown.
    // Bytes past printable ASCII (a path as sent: invalid UTF-8, control characters)
    // and backslashes as \xHH, so that a line is one line of text whatever was sent.
    auto known = [](const std::string& s) {
      if (s.empty()) return std::string("-");
      std::string out;
      for (char c : s.substr(0, 200)) {
        const auto b = static_cast<unsigned char>(c);
        if (b >= 0x20 && b < 0x7f && b != '\\') {
          out += c;
        } else {
          char hex[5];
          std::snprintf(hex, sizeof hex, "\\x%02x", b);
          out += hex;
        }
      }
      return out;
    };
    std::snprintf(line, sizeof line, "%s %s %s %d %zu %.1fms %s",
                  known(client_.empty() ? peer_ : client_).c_str(), known(method_).c_str(),
                  known(loggedPath(path_)).c_str(), status, bytes, ms, requestId_.c_str());
    server_->options.accessLog(line);
  }

  // After an error answer to a request whose body was not read: stop sending, read
  // and drop what the client still sends for a moment, then close, so that the
  // client reads the answer instead of a connection reset.
  void drainAndClose() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    drain(std::make_shared<std::array<char, 4096>>());
  }

  void drain(std::shared_ptr<std::array<char, 4096>> scratch) {
    stream_.async_read_some(net::buffer(*scratch), [self = shared_from_this(), scratch](
                                                       beast::error_code ec, std::size_t) {
      if (ec) return self->stream_.close();
      self->drain(scratch);
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{kMaxUnparsed};
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Impl> server_;
  // client_: see trustedProxies; origin_: the request's Origin (CORS).
  std::string peer_, network_, client_, method_, path_, origin_, requestId_;
  // Guarded by the server's mu: counted in its byAddress, and taken for closing.
  bool counted_ = false, leaving_ = false;
  bool keepAlive_ = true, http10_ = false, head_ = false, idle_ = false, drainOnClose_ = false, turnedAway_ = false;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point bodyBegun_;  // and how much of it came since:
  std::size_t bodyRead_ = 0;
  std::optional<std::chrono::steady_clock::time_point> headerBy_;
  bool emptyLinesSeen_ = false;  // since the last request: see readHeader()
  HeaderFields headerFields_;    // the request's header fields, without a trailer's
  bool reading_ = false;          // from a request's first byte until it is read whole
  bool watching_ = false;         // watchForClose() waits
  bool fresh_ = true;             // no byte has come yet
  std::atomic<std::int64_t> waitingSince_{0};  // read by adopt() under server_->mu
};

void HttpServer::Impl::accept() {
  net::io_context& home = *contexts[nextContext++ % contexts.size()];
  // (Only this handler touches it, one accept at a time.)
  acceptor.async_accept(home.get_executor(), acceptedPeer,
                        [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                          // (One that came as the stop began is served all the same.)
                          if (!ec) self->adopt(std::move(socket), self->acceptedPeer);
                          if (!self->acceptor.is_open() || self->stopping.load()) return;
                          if (ec && ec != net::error::operation_aborted) {
                            // Out of files (EMFILE) or memory: accepting again at once
                            // would spin; the connections that end meanwhile make room.
                            auto pause = std::make_shared<net::steady_timer>(
                                self->acceptor.get_executor(), std::chrono::milliseconds(50));
                            pause->async_wait([self, pause](beast::error_code) { self->accept(); });
                            return;
                          }
                          self->accept();
                        });
}

void HttpServer::Impl::adopt(tcp::socket socket, const tcp::endpoint& peer) {
  if (ioStopped.load()) return;  // the socket closes as it goes
  std::string address = peerAddressOf(peer);
  std::string network = countedAs(address, options.trustedProxies);
  std::string refusal;
  std::vector<std::shared_ptr<Connection>> reclaimed;
  {
    std::lock_guard lock(mu);
    // One address's connections past its cap (not a trusted proxy's, which carries
    // many clients): one client holding the whole limit with connections that send
    // nothing, or a header a byte at a time, shut everyone else out until their
    // header timeout (a known gap). Its own idle keep-alive ones make room, and only
    // they: an address refused closes no one else's (a review).
    const auto mine = byAddress.find(network);
    const std::size_t held = mine == byAddress.end() ? 0 : mine->second;
    const std::size_t cap = options.maxConnectionsPerAddress;
    if (held >= cap && !isTrustedProxy(address, options.trustedProxies)) {
      reclaimed = reclaimIdle(held - cap + 1, &network);
      if (reclaimed.empty()) {
        refusedForAddress.fetch_add(1);
        const bool v6 = network != address;
        refusal = (v6 ? "This client's IPv6 network (" + network + ")" : "This client address") +
                  " has " + std::to_string(held) + (held == 1 ? " connection" : " connections") +
                  " open, the most one " + (v6 ? "network" : "address") +
                  " may have; close some or try again shortly.";
      }
    }
    // The whole limit, less the places given up, and not counting the connections
    // answered 503 (bounded apart: kMaxTurnedAway).
    const std::size_t placed = live.size() - leaving;
    if (const std::size_t open = placed - std::min(turnedAway.load(), placed);
        refusal.empty() && open >= options.maxConnections) {
      auto made = reclaimIdle(open - options.maxConnections + 1);
      if (made.empty()) refusal = "The server is at its connection limit; try again shortly.";
      reclaimed.insert(reclaimed.end(), made.begin(), made.end());
    }
  }
  for (auto& c : reclaimed) c->closeIfIdle(true, false);
  auto conn = std::make_shared<Connection>(std::move(socket), std::move(address),
                                           std::move(network), shared_from_this());
  conn->start(std::move(refusal));
}

std::vector<std::shared_ptr<HttpServer::Impl::Connection>> HttpServer::Impl::reclaimIdle(
    std::size_t wanted, const std::string* network) {
  std::vector<std::pair<std::int64_t, Connection*>> waiting;
  for (const auto& [raw, weak] : live)
    if (const std::int64_t since = raw->waitingSince();
        since != 0 && (network == nullptr || raw->network() == *network))
      waiting.emplace_back(since, raw);
  const std::size_t n = std::min(wanted, waiting.size());
  std::partial_sort(waiting.begin(), waiting.begin() + static_cast<std::ptrdiff_t>(n),
                    waiting.end());
  std::vector<std::shared_ptr<Connection>> out;
  for (std::size_t i = 0; i < n; ++i) {
    auto [since, raw] = waiting[i];
    if (!raw->claimIdle(since)) continue;  // its request began meanwhile
    raw->leave();
    if (auto c = live.at(raw).lock()) out.push_back(std::move(c));
  }
  reclaimedTotal.fetch_add(out.size());
  return out;
}

void HttpServer::Impl::takeQueuedAndClose() {
  beast::error_code ec;
  acceptor.non_blocking(true, ec);
  // At most a cap's worth: clients that go on connecting (no --stop-delay, a
  // balancer still sending) do not hold this thread or the stop.
  for (std::size_t taken = 0; !ec && taken < options.maxConnections; ++taken) {
    tcp::socket socket(*contexts[nextContext++ % contexts.size()]);
    tcp::endpoint peer;
    acceptor.accept(socket, peer, ec);
    if (!ec) adopt(std::move(socket), peer);
  }
  acceptor.close(ec);
  // Once the pending accept's handler has run (closing queued it ahead of this on
  // the one thread of this context): a connection it accepted is live by then.
  net::post(acceptor.get_executor(), [self = shared_from_this()] {
    std::lock_guard lock(self->mu);
    self->queueTaken = true;
    self->allClosed.notify_all();
  });
}

void HttpServer::Impl::closeIdle(bool fresh, bool reading) {
  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard lock(mu);
    for (auto& [raw, weak] : live)
      if (auto c = weak.lock()) conns.push_back(std::move(c));
  }
  for (auto& c : conns) c->closeIfIdle(fresh, reading);
}

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::string HttpServer::countedAs(const std::string& address,
                                  const std::vector<std::string>& trustedProxies) {
  // A proxy by its /64 shut out the other hosts of its network with its connections,
  // and they closed its idle ones (a review).
  return isTrustedProxy(address, trustedProxies) ? address : clientNetwork(address);
}

bool HttpServer::isAddress(const std::string& host) {
  // No IPv6 zone (fe80::1%eth0): Asio takes any text after the '%', and a link
  // made of it is no URL a browser opens.
  if (host.find('%') != std::string::npos) return false;
  beast::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

HttpResponse headerTooLarge() {
  return Api::problem(431, "header-too-large", "Request header fields too large",
                      "The request's header is larger than 16 KiB.");
}

Result<int> HttpServer::listenSocket(const std::string& host, std::uint16_t& port) {
  beast::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) return makeError(ErrorCode::kInvalidArgument, "'" + host + "' is not an IP address");
  net::io_context context;
  tcp::acceptor acceptor(context);
  tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  tcp::endpoint bound;
  if (!ec) bound = acceptor.local_endpoint(ec);
  if (ec)
    return makeError(ErrorCode::kIoError,
                     "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  port = bound.port();
  const int fd = acceptor.release();
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // a child the server may start does not keep it
  return fd;
}

HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::start(Api& api, ServerOptions options) {
  auto impl = std::make_shared<Impl>(api, std::move(options));
  unsigned char random[4];
  randombytes_buf(random, sizeof random);
  char prefix[9];
  std::snprintf(prefix, sizeof prefix, "%02x%02x%02x%02x", random[0], random[1], random[2],
                random[3]);
  impl->idPrefix = prefix;

  if (impl->options.listenFd < 0) {
    auto fd = listenSocket(impl->options.host, impl->options.port);
    if (!fd) return fd.error();
    impl->options.listenFd = *fd;
  }
  beast::error_code ec;
  sockaddr_storage bound{};
  socklen_t size = sizeof bound;
  ::getsockname(impl->options.listenFd, reinterpret_cast<sockaddr*>(&bound), &size);
  impl->acceptor.assign(bound.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), impl->options.listenFd,
                        ec);
  if (ec) {
    ::close(impl->options.listenFd);
    return makeError(ErrorCode::kIoError, "cannot serve on " + impl->options.host + ":" +
                                              std::to_string(impl->options.port) + ": " +
                                              ec.message());
  }
  impl->boundPort = impl->acceptor.local_endpoint().port();
  // Each connection is an open file; the log, the mail, the operator socket and each
  // network thread (an epoll, an eventfd, a timerfd) need some too. Past the
  // process's limit accept() would fail where a 503 is due.
  if (rlimit files{}; getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    const auto soft = static_cast<std::size_t>(files.rlim_cur);
    const std::size_t kept = openFiles() + 3 * impl->contexts.size() + kSpareFiles;
    impl->options.maxConnections = std::min(impl->options.maxConnections, soft - std::min(kept, soft / 2));
  }
  std::size_t& perAddress = impl->options.maxConnectionsPerAddress;
  perAddress = perAddress == 0 ? std::max<std::size_t>(1, impl->options.maxConnections / 4)
                               : std::min(perAddress, impl->options.maxConnections);
  impl->workers = std::make_unique<WorkPool>(std::max<std::size_t>(1, impl->options.workerThreads),
                                             "http-worker");
  for (auto& context : impl->contexts) impl->guards.push_back(net::make_work_guard(*context));
  impl->accept();
  for (auto& context : impl->contexts)
    impl->threads.emplace_back([raw = context.get()] {
      pthread_setname_np(pthread_self(), "http-io");
      runCatching(*raw);
    });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::uint16_t HttpServer::port() const { return impl_->boundPort; }

std::uint64_t HttpServer::cutAtStop() const { return impl_->cutAtStop.load(); }

std::uint64_t HttpServer::reclaimed() const { return impl_->reclaimedTotal.load(); }

std::uint64_t HttpServer::refusedForAddress() const { return impl_->refusedForAddress.load(); }

std::size_t HttpServer::maxConnections() const { return impl_->options.maxConnections; }

std::size_t HttpServer::maxConnectionsPerAddress() const {
  return impl_->options.maxConnectionsPerAddress;
}

std::size_t HttpServer::idleConnections() const {
  std::lock_guard lock(impl_->mu);
  return static_cast<std::size_t>(
      std::count_if(impl_->live.begin(), impl_->live.end(),
                    [](const auto& c) { return c.first->waitingSince() != 0; }));
}

std::size_t HttpServer::connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->live.size();
}

void HttpServer::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  impl_->stopping.store(true);
  impl_->api.stopWaiting();  // long polls answer now, not when their wait ends
  net::post(impl_->acceptor.get_executor(), [impl = impl_] { impl->takeQueuedAndClose(); });
  // Idle connections close now, those that have not sent a request yet once a second
  // has passed since the stop began, those still reading one once stopReadGrace has
  // passed; busy ones answer, then close. A connection that neither answers nor
  // closes within its timeouts is cut when the I/O stops.
  const auto begun = std::chrono::steady_clock::now();
  const auto deadline = begun + impl_->options.bodyTimeout;
  const auto freshBy = begun + std::min<std::chrono::milliseconds>(impl_->options.stopReadGrace,
                                                                   std::chrono::seconds(1));
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    impl_->closeIdle(now >= freshBy, now >= begun + impl_->options.stopReadGrace);
    std::unique_lock lock(impl_->mu);
    // (The listen queue is waited for until the new connections' second is up: a
    // network thread that never got to it does not hold the stop longer.)
    if (impl_->allClosed.wait_for(lock, std::chrono::milliseconds(100), [&] {
          return (impl_->queueTaken || std::chrono::steady_clock::now() >= freshBy) &&
                 impl_->live.empty();
        }))
      break;
    if (std::chrono::steady_clock::now() >= deadline) break;
  }
  // The network threads end first: a straggler past the deadline then finds no
  // thread to answer it rather than a pool that is gone. The workers finish what
  // they hold.
  impl_->guards.clear();
  for (auto& context : impl_->contexts) context->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->ioStopped.store(true);
  impl_->threads.clear();
  impl_->workers.reset();
  // What is still pending (stragglers, the workers' last answers) holds the server
  // and its connections: close every socket and run those handlers to their end
  // here, so that nothing is left behind.
  {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  }
  std::vector<std::shared_ptr<Impl::Connection>> rest;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [raw, weak] : impl_->live)
      if (auto c = weak.lock()) rest.push_back(std::move(c));
  }
  for (auto& c : rest) c->forceClose();
  rest.clear();
  // A handler on one context may still post to another: run them all until none
  // has anything left.
  for (bool ran = true; ran;) {
    ran = false;
    for (auto& context : impl_->contexts) {
      context->restart();
      if (runCatching(*context) > 0) ran = true;
    }
  }
}

}  // namespace portal
