#include "src/domain/email.h"

#include "events/json_writer.h"
#include "events/text.h"

namespace portal {

std::optional<std::string> emailProblem(std::string_view raw) {
  const std::string_view email = trim(raw);
  if (email.empty()) return "is required";
  if (email.size() > 254) return "is longer than 254 characters";
  if (!isValidUtf8(email)) return "is not valid UTF-8 text";
  const auto at = email.find('@');
  if (at == std::string_view::npos || email.find('@', at + 1) != std::string_view::npos)
    return "must be of the form name@domain";
  const std::string_view local = email.substr(0, at);
  const std::string_view domain = email.substr(at + 1);
  if (local.empty()) return "has nothing before the @";
  if (local.size() > 64) return "has more than 64 characters before the @";
  for (unsigned char c : email)
    if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' ||
        c == ';' || c == ':' || c == '\\' || c == '"' || c == '[' || c == ']')
      return "holds a space or a character not allowed in an address";
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return "has a misplaced dot before the @";
  if (domain.find('.') == std::string_view::npos) return "needs a domain with a dot (name@example.com)";
  std::size_t start = 0;
  while (start <= domain.size()) {
    const auto dot = domain.find('.', start);
    const std::string_view label =
        domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return "has an invalid domain";
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return std::nullopt;
}

}  // namespace portal
