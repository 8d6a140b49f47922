#include "src/domain/user_details.h"

#include "events/json_writer.h"
#include "events/text.h"
#include "src/domain/email.h"

namespace portal {

std::optional<std::string> textProblem(std::string_view value, std::size_t maxLength) {
  if (!isValidUtf8(value)) return "is not valid UTF-8 text";
  for (unsigned char c : value)
    if (c < 0x20 || c == 0x7f) return "holds a control character";
  if (value.size() > maxLength) return "is longer than " + std::to_string(maxLength) + " bytes";
  return std::nullopt;
}

void requireText(std::vector<FieldProblem>& problems, const std::string& prefix,
                 const char* field, std::string_view value) {
  if (value.empty()) {
    problems.push_back({prefix + field, "is required"});
  } else if (auto p = textProblem(value, kMaxTextLength)) {
    problems.push_back({prefix + field, *p});
  }
}

std::vector<FieldProblem> validateDetails(const NewUserDetails& d, const CountryList& countries,
                                          ValidDetails& out, const std::string& prefix) {
  std::vector<FieldProblem> problems;
  out.email = std::string(trim(d.email));
  out.givenName = std::string(trimText(d.givenName));
  out.surname = std::string(trimText(d.surname));
  out.jobTitle = std::string(trimText(d.jobTitle));
  out.managerEmail = std::string(trim(d.managerEmail));
  out.active = d.active;
  if (auto p = emailProblem(out.email)) problems.push_back({prefix + "email", *p});
  requireText(problems, prefix, "givenName", out.givenName);
  requireText(problems, prefix, "surname", out.surname);
  requireText(problems, prefix, "jobTitle", out.jobTitle);
  if (auto p = emailProblem(out.managerEmail)) problems.push_back({prefix + "managerEmail", *p});
  if (d.country && !trimText(*d.country).empty()) {
    out.country = countries.find(*d.country);
    if (!out.country) problems.push_back({prefix + "country", kUnknownCountry});
  }
  return problems;
}

}  // namespace portal
