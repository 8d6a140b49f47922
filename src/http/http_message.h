#pragma once
// A request and a response as the API sees them: plain data, no sockets and no
// Beast, so that the API can be called from tests, fuzzers and benchmarks without
// a network (the server converts to and from Beast's messages).

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "events/text.h"

namespace portal {

// True when a Content-Type names CSV (any case, parameters and spaces allowed): the
// server's body limit and the import's check ask the same question. Besides
// "text/csv", the types browsers give a .csv file: "application/vnd.ms-excel" where
// Excel is installed on Windows, "application/csv" elsewhere.
// The media type of a Content-Type: without its parameters and spaces, lower-cased.
inline std::string mediaType(std::string_view contentType) {
  return asciiLower(trim(contentType.substr(0, contentType.find(';'))));
}

inline bool isCsvMediaType(std::string_view contentType) {
  const std::string type = mediaType(contentType);
  return type == "text/csv" || type == "application/vnd.ms-excel" || type == "application/csv" ||
         type == "text/x-csv" || type == "application/x-csv" || type == "text/comma-separated-values";
}

// True when a Content-Type names JSON: application/json or a +json type
// (application/merge-patch+json), any case, with parameters. A parameter that names
// JSON ("text/plain; note=application/json") does not make the body JSON.
inline bool isJsonMediaType(std::string_view contentType) {
  const std::string type = mediaType(contentType);
  return type == "application/json" || (type.size() > 5 && type.ends_with("+json") && type.find('/') != std::string::npos);
}

// A request's target in the origin form ("/path?query"): the absolute form a proxy
// sends (RFC 9112 3.2.2: "http://host/path"), which a server must take, as its path
// and query; any other as it is.
inline std::string originForm(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"})
    if (target.size() > scheme.size() && asciiLower(target.substr(0, scheme.size())) == scheme) {
      const std::size_t path = target.find_first_of("/?", scheme.size());
      if (path == std::string_view::npos) return "/";
      return (target[path] == '?' ? "/" : "") + std::string(target.substr(path));
    }
  return std::string(target);
}

struct HttpRequest {
  std::string method;                                        // "GET", "POST", …
  std::string target;                                        // path and query, as sent
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string clientAddress;  // the peer's IP address
  std::string requestId;      // given by the server
  // The SHA-256 of target and body that an Idempotency-Key is checked against (the
  // Api's), made once a request: an import's body is up to 64 MiB.
  mutable std::string digest;
  // Set by the server once the client has closed its end of the connection while the
  // request runs on a worker (a long poll stops waiting for a client that left).
  std::shared_ptr<const std::atomic<bool>> clientGone;

  bool clientLeft() const { return clientGone && clientGone->load(); }

  // The first header of that (lower-case) name, or "".
  std::string_view header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return v;
    return {};
  }
};

struct HttpResponse {
  int status = 200;
  std::string contentType = "application/json; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type
  std::string body;
};

}  // namespace portal
