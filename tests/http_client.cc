#include "tests/http_client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "events/text.h"

namespace portal::test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct HttpClient::Impl {
  std::string host;
  unsigned short port;
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  void connect() {
    stream.emplace(ioc);
    stream->connect(tcp::endpoint(net::ip::make_address(host), port));
    buffer.clear();
  }
};

HttpClient::HttpClient(unsigned short port, std::string host) : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
}

HttpClient::~HttpClient() = default;

Reply HttpClient::request(const std::string& method, const std::string& target,
                          const std::string& body, const std::string& token,
                          const std::vector<std::pair<std::string, std::string>>& headers) {
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, impl_->host);
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  bool typed = false;
  for (const auto& [name, value] : headers) {
    req.set(name, value);
    typed = typed || asciiLower(name) == "content-type";
  }
  if (!body.empty() && !typed) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.keep_alive(true);
  req.prepare_payload();
  for (int attempt = 0;; ++attempt) {
    try {
      if (!impl_->stream) impl_->connect();
      http::write(*impl_->stream, req);
      http::response_parser<http::string_body> parser;
      parser.body_limit(256 << 20);
      parser.skip(method == "HEAD");
      http::read(*impl_->stream, impl_->buffer, parser);
      auto res = parser.release();
      Reply reply;
      reply.status = static_cast<int>(res.result_int());
      for (const auto& f : res)
        reply.headers[asciiLower(std::string(f.name_string()))] = std::string(f.value());
      reply.body = std::move(res.body());
      if (!res.keep_alive()) impl_->stream.reset();
      return reply;
    } catch (const std::exception&) {
      // The server closed a kept-alive connection between requests: try once anew.
      impl_->stream.reset();
      if (attempt > 0) throw;
    }
  }
}

}  // namespace portal::test
