// bench_http: the real portal-server stack (Portal, Api, HttpServer) over loopback,
// driven by a Beast client with 64 keep-alive connections.
//
//   bench_http [--seconds S] [--connections N]
//
// Prints GET /api/v1/users/{id} requests/s beside a bare Beast server answering a
// body of the same size in the same run, and durable POST /api/v1/users commands/s.
// Client and servers share the machine's cores, the same way for both figures.

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "bench/bench_portal.h"

namespace portal::bench {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;

double gSeconds = 5;
int gConnections = 64;

// --- the load generator ----------------------------------------------------------

// One keep-alive connection sending requests made by `next` back to back.
class LoadConnection : public std::enable_shared_from_this<LoadConnection> {
 public:
  LoadConnection(net::io_context& ioc, std::uint16_t port,
                 std::function<http::request<http::string_body>()> next,
                 std::atomic<std::uint64_t>& done, std::atomic<std::uint64_t>& failed,
                 const std::atomic<bool>& stop)
      : stream_(ioc),
        port_(port),
        next_(std::move(next)),
        done_(done),
        failed_(failed),
        stop_(stop) {}

  void start() {
    stream_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_),
                          [self = shared_from_this()](beast::error_code ec) {
                            if (ec) return ++self->failed_, void();
                            self->stream_.socket().set_option(tcp::no_delay(true), ec);
                            self->send();
                          });
  }

 private:
  void send() {
    if (stop_.load()) return;
    req_ = next_();
    http::async_write(stream_, req_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return ++self->failed_, void();
                        self->res_ = {};
                        http::async_read(self->stream_, self->buffer_, self->res_,
                                         [self](beast::error_code ec2, std::size_t) {
                                           if (ec2) return ++self->failed_, void();
                                           if (self->res_.result_int() >= 400)
                                             ++self->failed_;
                                           else
                                             ++self->done_;
                                           self->send();
                                         });
                      });
  }

  beast::tcp_stream stream_;
  std::uint16_t port_;
  std::function<http::request<http::string_body>()> next_;
  std::atomic<std::uint64_t>& done_;
  std::atomic<std::uint64_t>& failed_;
  const std::atomic<bool>& stop_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

// Runs `connections` connections for gSeconds; returns answered requests/s. With
// BENCH_THREADS set, prints each thread's CPU time a request while measuring (the
// load generator's thread is "bench_http").
double drive(std::uint16_t port,
             const std::function<http::request<http::string_body>(int connection)>& make,
             const char* what) {
  net::io_context ioc(1);
  std::atomic<std::uint64_t> done{0}, failed{0};
  std::atomic<bool> stop{false};
  for (int c = 0; c < gConnections; ++c)
    std::make_shared<LoadConnection>(
        ioc, port, [&make, c] { return make(c); }, done, failed, stop)
        ->start();
  std::thread client([&] { ioc.run(); });
  // Warm up, then measure.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const bool perThread = std::getenv("BENCH_THREADS") != nullptr;
  const auto threadsBefore = perThread ? useByThread() : std::map<std::string, ThreadUse>{};
  const std::uint64_t start = done.load();
  Stopwatch sw;
  std::this_thread::sleep_for(std::chrono::duration<double>(gSeconds));
  const std::uint64_t answered = done.load() - start;
  const double rate = static_cast<double>(answered) / sw.seconds();
  if (perThread) {
    std::printf("(%s, CPU a request by thread)\n", what);
    printUseByThread(threadsBefore, useByThread(), static_cast<double>(answered), "request");
  }
  stop = true;
  ioc.stop();
  client.join();
  if (failed.load() != 0)
    std::fprintf(stderr, "bench_http: %llu failed requests while measuring %s\n",
                 static_cast<unsigned long long>(failed.load()), what);
  return rate;
}

// --- the bare Beast baseline ----------------------------------------------------------

class BareSession : public std::enable_shared_from_this<BareSession> {
 public:
  BareSession(tcp::socket s, const std::string& body) : stream_(std::move(s)), body_(body) {}
  void read() {
    req_ = {};
    http::async_read(
        stream_, buffer_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) return;
          auto res = std::make_shared<http::response<http::string_body>>(http::status::ok, 11);
          res->set(http::field::content_type, "application/json; charset=utf-8");
          res->body() = self->body_;
          res->keep_alive(true);
          res->prepare_payload();
          http::async_write(self->stream_, *res, [self, res](beast::error_code ec2, std::size_t) {
            if (!ec2) self->read();
          });
        });
  }

 private:
  beast::tcp_stream stream_;
  const std::string& body_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
};

class BareServer {
 public:
  explicit BareServer(std::string body) : body_(std::move(body)), ioc_(2), acceptor_(ioc_) {
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    accept();
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  ~BareServer() {
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  void accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
      if (!ec) {
        s.set_option(tcp::no_delay(true), ec);  // as the portal's server does
        std::make_shared<BareSession>(std::move(s), body_)->read();
      }
      accept();
    });
  }
  std::string body_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
};

// --- the portal ------------------------------------------------------------------

void run() {
  BenchPortal bench("http");
  const std::uint16_t port = bench.port();
  const std::string& token = bench.token();
  auto call = [&](const std::string& method, const std::string& target, const nlohmann::json& body,
                  const std::string& t) { return bench.call(method, target, body, t); };
  HttpResponse created = call("POST", "/api/v1/users",
                              {{"email", "reader@bench.example"},
                               {"givenName", "Rita"},
                               {"surname", "Reader"},
                               {"jobTitle", "Analyst"},
                               {"managerEmail", "owner@bench.example"},
                               {"country", "DE"}},
                              token);
  const std::string userId = json::parse(created.body)["id"];
  HttpResponse sample = call("GET", "/api/v1/users/" + userId, nullptr, token);

  std::printf("(%d keep-alive connections, %.0f s each; GET body %zu bytes)\n", gConnections,
              gSeconds, sample.body.size());
  auto get = [&](const std::string& target) {
    return [target, &token](int) {
      http::request<http::string_body> r(http::verb::get, target, 11);
      r.set(http::field::host, "127.0.0.1");
      r.set(http::field::authorization, "Bearer " + token);
      r.keep_alive(true);
      return r;
    };
  };
  double bare = 0;
  {
    BareServer baseline(sample.body);
    bare = drive(baseline.port(), get("/api/v1/users/" + userId), "the bare server");
  }
  const double ours = drive(port, get("/api/v1/users/" + userId), "GET /api/v1/users/{id}");
  printRatio("GET /api/v1/users/{id}", ours, bare, "req/s", 0.5);

  std::atomic<std::uint64_t> n{0};
  auto post = [&](int) {
    http::request<http::string_body> r(http::verb::post, "/api/v1/users", 11);
    r.set(http::field::host, "127.0.0.1");
    r.set(http::field::authorization, "Bearer " + token);
    r.set(http::field::content_type, "application/json");
    r.body() = json{{"email", "u" + std::to_string(n.fetch_add(1)) + "@bench.example"},
                    {"givenName", "Una"},
                    {"surname", "User"},
                    {"jobTitle", "Engineer"},
                    {"managerEmail", "owner@bench.example"}}
                   .dump();
    r.keep_alive(true);
    r.prepare_payload();
    return r;
  };
  const double commands = drive(port, post, "POST /api/v1/users");
  printFigure("POST /api/v1/users, durable", commands, "cmds/s", 20'000);
  const ProcessorStats stats = bench.portal().processor().stats();
  std::printf(
      "(%.1f commands per fsync on average)\n",
      stats.groups ? static_cast<double>(stats.commands) / static_cast<double>(stats.groups) : 0.0);
}

}  // namespace
}  // namespace portal::bench

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      portal::bench::gSeconds = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--connections") == 0 && i + 1 < argc) {
      portal::bench::gConnections = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: bench_http [--seconds S] [--connections N]\n");
      return 2;
    }
  }
  portal::bench::run();
  return 0;
}
