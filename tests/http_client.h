#pragma once
// A real HTTP/1.1 client for the tests (Boost.Beast, synchronous, keep-alive), so
// that tests talk to the server over loopback as any client would.

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
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

}  // namespace portal::test
