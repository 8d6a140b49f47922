#include "src/http/beast_request.h"

#include <algorithm>
#include <string_view>

#include "events/json_writer.h"
#include "events/text.h"

namespace portal {

bool idShaped(std::string_view s, std::size_t least, std::size_t most) {
  if (s.size() < least || s.size() > most) return false;
  bool digit = false, letter = false;
  for (const char c : s) {
    const bool isDigit = c >= '0' && c <= '9';
    const bool isLetter = (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!isDigit && !isLetter && c != '-') return false;
    digit = digit || isDigit;
    letter = letter || isLetter;
  }
  return digit && letter;
}

bool saneRequestId(std::string_view id) { return idShaped(id, 16, 64); }

std::string targetProblem(std::string_view target) {
  // (UTF-8 as curl sends what was typed, `?search=José`, is read as its %-escapes
  // would be: refusing it broke such searches. Other bytes past ASCII are no text.)
  for (const char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return "The request's target holds a space or a control character: percent-encode it.";
  if (!isValidUtf8(target))
    return "The request's target holds bytes that are not UTF-8: percent-encode them.";
  if (target.find('#') != std::string_view::npos)
    return "The request's target holds a fragment (#), which a client never sends.";
  if (target.starts_with("/")) return {};
  for (std::string_view scheme : {"http://", "https://"})
    if (target.size() > scheme.size() && asciiLower(target.substr(0, scheme.size())) == scheme) {
      const std::string_view authority =
          target.substr(scheme.size(), target.find_first_of("/?", scheme.size()) - scheme.size());
      if (authority.find('@') != std::string_view::npos)
        return "The request's target holds userinfo (user@host), which HTTP does not take.";
      return {};
    }
  return "The request's target must be a path beginning with /.";
}

bool validHost(std::string_view host) {
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("-._~!$&'()*+;=:%[]").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

HeaderFields headerFieldsOf(const boost::beast::http::fields& fields) {
  HeaderFields out;
  for (const auto& field : fields)
    out.emplace_back(asciiLower(std::string(field.name_string())), std::string(field.value()));
  return out;
}

// A list field sent on several lines is one list (RFC 9110 5.3): `If-Match: "1"` and
// `If-Match: "2"` name both tags (a review: the second line was passed over).
static void joinLines(HeaderFields& headers, std::string_view name) {
  auto first = headers.end();
  for (auto it = headers.begin(); it != headers.end();) {
    if (it->first != name) {
      ++it;
    } else if (first == headers.end()) {
      first = it++;
    } else {
      // (The same line twice, `*` above all, stays one: `*, *` would be no `*`.)
      if (it->second != first->second) first->second += ", " + it->second;
      it = headers.erase(it);  // after `first`, which stays valid
    }
  }
}

HttpRequest requestFromBeast(BeastRequest&& msg, std::string peer,
                             const std::function<std::string()>& newRequestId,
                             std::optional<HeaderFields> header) {
  HttpRequest req;
  req.method = std::string(msg.method_string());
  req.target = originForm(msg.target());
  req.headers = header ? std::move(*header) : headerFieldsOf(msg);
  joinLines(req.headers, "if-match");
  joinLines(req.headers, "if-none-match");
  req.body = std::move(msg.body());
  req.clientAddress = std::move(peer);
  const std::string_view given = req.header("x-request-id");
  req.requestId = saneRequestId(given) ? std::string(given) : newRequestId();
  return req;
}

}  // namespace portal
