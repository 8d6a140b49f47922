#pragma once
// A real HTTP/1.1 client for the tests (Boost.Beast, synchronous, keep-alive), so
// that tests talk to the server over loopback as any client would.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace portal::test {

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpClient {
 public:
  explicit HttpClient(unsigned short port, std::string host = "127.0.0.1");
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request on the kept-alive connection (reconnecting when the server
  // closed it). `token`: a bearer token, or empty. Throws on a network error.
  Reply request(const std::string& method, const std::string& target, const std::string& body = "",
                const std::string& token = "",
                const std::vector<std::pair<std::string, std::string>>& headers = {});
  Reply get(const std::string& target, const std::string& token = "") {
    return request("GET", target, "", token);
  }
  Reply post(const std::string& target, const nlohmann::json& body, const std::string& token = "",
             const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return request("POST", target, body.dump(), token, headers);
  }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A raw TCP connection to the server, for what a well-behaved client never does.
// Whether this machine has IPv6 (a container may have it switched off).
inline bool hasIPv6() {
  const int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 any{};
  any.sin6_family = AF_INET6;
  any.sin6_addr = in6addr_loopback;
  const bool v6 = probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0;
  if (probe >= 0) ::close(probe);
  return v6;
}

class RawConnection {
 public:
  // `from`: the IPv4 address to connect from (any of 127.0.0.0/8 is this host's), or
  // "::1" to connect over IPv6 (to ::1).
  explicit RawConnection(std::uint16_t port, const char* from = nullptr) {
    if (from != nullptr && std::string_view(from) == "::1") {
      fd_ = socket(AF_INET6, SOCK_STREAM, 0);
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(port);
      a.sin6_addr = in6addr_loopback;
      if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw std::runtime_error("connect");
    } else {
      fd_ = socket(AF_INET, SOCK_STREAM, 0);
      if (from != nullptr) {
        sockaddr_in local{};
        local.sin_family = AF_INET;
        if (inet_pton(AF_INET, from, &local.sin_addr) != 1 ||
            bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
          throw std::runtime_error("bind");
      }
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw std::runtime_error("connect");
    }
    timeval tv{10, 0};  // a bound on each read, so that a broken server fails the test
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;  // each send() leaves at once, however small (a byte at a time)
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawConnection() {
    if (fd_ >= 0) close(fd_);
  }
  // Ends the connection with a reset (RST), as a client that gives up abruptly does.
  void reset() {
    linger abrupt{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abrupt, sizeof abrupt);
    close(fd_);
    fd_ = -1;
  }
  // Sends nothing more (a half-close: the server reads the end of the stream).
  void finishSending() { ::shutdown(fd_, SHUT_WR); }
  // (MSG_NOSIGNAL: a server that closed already makes this a failed send, not a
  // SIGPIPE that ends the whole test executable.)
  void send(const std::string& bytes) {
    (void)::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  // What the server sends until `marker` has come (or it closes, or 10 s pass).
  std::string readUntil(std::string_view marker) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while (out.find(marker) == std::string::npos && (n = ::read(fd_, buf, sizeof buf)) > 0)
      out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  // Everything the server sends until it closes the connection.
  std::string readToEnd() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd_, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }

 private:
  int fd_ = -1;
};

// The body of POST /api/v1/users for a person with a job title "T".
inline nlohmann::json userBody(const std::string& email, const std::string& givenName,
                               const std::string& surname, const std::string& managerEmail) {
  return {{"email", email},
          {"givenName", givenName},
          {"surname", surname},
          {"jobTitle", "T"},
          {"managerEmail", managerEmail}};
}

}  // namespace portal::test
