#pragma once
// The password policy (NIST SP 800-63B): at least 12 characters (code points), at
// most 256, any characters allowed, not the user's email or its local part, nor
// their name or their company's (with digits or symbols added), and not
// a common password, also not one padded with digits or symbols ("Password123!"),
// a single repeated character, a run such as "123456789012" or "abcdefghijkl", or a
// walk along the keyboard ("1qaz2wsx3edc").
// The list of common passwords is Openwall's (Debian's john-data package).
//
// Thread-safe after construction.

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "events/result.h"

namespace portal {

inline constexpr const char* kCommonPasswordsFile = "/usr/share/john/password.lst";

struct PolicyProblem {
  // min-length | max-length | not-email | not-name | not-common | not-utf8, and the
  // API's not-temporary (a new password made of the temporary one) and not-current
  std::string rule;
  std::string message;  // for people; never holds the password
};

class PasswordPolicy {
 public:
  static constexpr std::size_t kMinLength = 12;
  static constexpr std::size_t kMaxLength = 256;

  // Reads the common passwords (one a line, "#!comment:" lines skipped); kNotFound
  // when the file is missing (install john-data).
  static Result<PasswordPolicy> load(const std::string& commonPasswordsFile = kCommonPasswordsFile);
  explicit PasswordPolicy(std::vector<std::string> commonPasswords);

  // The rules the password breaks; empty when it is acceptable. `names`: the
  // person's given name and surname, their company's name and slug; a password whose
  // letters are one of them, or the person's two names joined, is refused.
  std::vector<PolicyProblem> check(std::string_view password, std::string_view email,
                                   const std::vector<std::string>& names = {}) const;

  // The rules as sentences a person can read (GET /api/v1/password-policy).
  std::vector<std::string> rules() const;

 private:
  bool isCommon(std::string_view lowered) const;
  // Lower-cased, and each also with its look-alike digits and symbols folded back
  // ("trustno1" as "trustnoi" and "trustnol"), as a password is looked up.
  std::unordered_set<std::string> common_;
  std::size_t listed_ = 0;  // the list's own words
};

}  // namespace portal
