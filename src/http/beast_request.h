#pragma once
// The Api's request made from one that Beast parsed: what the server does with every
// request it reads, shared with the fuzzer of the HTTP request path so that the
// fuzzer runs exactly that mapping.
//
// Thread-safe: keeps no state.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/http/http_message.h"

namespace portal {

using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;

using HeaderFields = std::vector<std::pair<std::string, std::string>>;

// A message's fields, names lower-cased, in order.
HeaderFields headerFieldsOf(const boost::beast::http::fields& fields);

// Moves `msg`'s method, target, headers (names lower-cased) and body into an
// HttpRequest from `peer`. The request id is the client's X-Request-Id when it is
// kept (saneRequestId), else `newRequestId()`. `header`: the fields as
// they were when the header was read (headerFieldsOf), taken instead of `msg`'s:
// Beast adds a chunked body's trailer fields to the same list (each beside a field
// of its name), and a trailer must not stand in for a header (RFC 9110 6.5.1: an
// Authorization or Content-Type there would pass every check made on the header).
HttpRequest requestFromBeast(BeastRequest&& msg, std::string peer,
                             const std::function<std::string()>& newRequestId,
                             std::optional<HeaderFields> header = std::nullopt);

// True when `s` is `least` to `most` hex digits and hyphens, among them a digit and a
// letter: shaped as an id (a UUID, a W3C trace id), whole or mistyped. Digits alone
// may be a phone number or a birth date (1980-01-01), letters alone a word
// (Decade-Bead): an end-to-end review.
bool idShaped(std::string_view s, std::size_t least, std::size_t most = std::string_view::npos);

// Whether a client's X-Request-Id is kept as the request's id: 16 to 64 hex digits
// and hyphens (a UUID, a W3C trace id, nginx's $request_id). It goes into every
// event of the request as its correlationId, which no erasure rewrites, so a
// client's text ("req-ann-smith-1", taken until 2026-12-07: a review), or a short
// number (a birth date, a phone number), is not kept; such a request gets an id of
// the server's.
bool saneRequestId(std::string_view id);

// What is wrong with a request's target (RFC 9112 3.2), or "" when nothing is: the
// origin form ("/path?query"), or the absolute form ("http://host/path") without
// userinfo; no space, control character or bytes that are not UTF-8, no fragment. ("*" and the
// authority form are the server's to answer: OPTIONS and CONNECT.)
std::string targetProblem(std::string_view target);

// Whether a Host field's value is a host and an optional port as RFC 3986 writes
// them (RFC 9112 3.2: an invalid one is 400). Empty is valid.
bool validHost(std::string_view host);

}  // namespace portal
