// Raw bytes as they would arrive on a connection, through Beast's parser with the
// server's limits and the server's mapping to the Api, in memory.

#include <boost/beast/http.hpp>
#include <string>

#include "src/http/api.h"
#include "src/http/beast_request.h"
#include "tests/fuzz/fuzz_portal.h"
#include "tests/fuzz/fuzz_targets.h"

namespace portal::fuzz {

int httpRequest(const std::uint8_t* data, std::size_t size) {
  namespace http = boost::beast::http;
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);  // the server's limits
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  const char* at = reinterpret_cast<const char*>(data);
  std::size_t left = size;
  while (left > 0 && !parser.is_done()) {
    const std::size_t used = parser.put(boost::asio::const_buffer(at, left), ec);
    if (ec == http::error::need_more) break;
    if (ec) return 0;  // the server answers 400, 413, 414 or 431 and closes
    if (used == 0) break;
    at += used;
    left -= used;
  }
  if (!parser.is_done()) {
    // Nothing at all is no request: the server closes such a connection, and Beast's
    // put_eof asserts that something came (in a build with assertions).
    if (!parser.got_some()) return 0;
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;
  }
  FuzzPortal& world = FuzzPortal::get();
  HttpRequest req = requestFromBeast(parser.release(), "127.0.0.1", [] { return "fuzz"; });
  // The long poll waits by design, up to 30 s an input: not here.
  if (req.target.find("waitMs") != std::string::npos) return 0;
  req.target = world.substitute(std::move(req.target));
  for (auto& [name, value] : req.headers) value = world.substitute(std::move(value));
  req.body = world.substitute(std::move(req.body));
  (void)Api::quick(req);
  world.handle(req);
  return 0;
}

}  // namespace portal::fuzz
