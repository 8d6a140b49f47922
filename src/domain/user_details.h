#pragma once
// The rules a new user's details must meet, in one place for every way a user comes
// in: a single create, a company's owner at provisioning, and each row of a batch
// import (which checks its file with them before anything reaches the processor).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/domain/commands.h"
#include "src/domain/countries.h"
#include "src/domain/rejection.h"

namespace portal {

// Names, job titles and other short texts: at most this many characters.
inline constexpr std::size_t kMaxTextLength = 256;

// nullopt when `value` is acceptable text of at most `maxLength` characters (code
// points of its NFC form): valid UTF-8, one line, no control characters; else why not, for a
// person. With `lines`, line breaks and tabs are fine (a description).
std::optional<std::string> textProblem(std::string_view value, std::size_t maxLength,
                                       bool lines = false);

// True when trimmed `value` shows as nothing: empty, or characters that fold to
// nothing alone (a variation selector).
bool blankText(std::string_view value);

// Adds "is required" or textProblem's reason for `field` (after `prefix`).
void requireText(std::vector<FieldProblem>& problems, const std::string& prefix,
                 const char* field, std::string_view value);

// Details after trimming, with the country as its alpha-2 code.
struct ValidDetails {
  std::string email, givenName, surname, jobTitle, managerEmail;
  std::optional<std::string> country;
  bool active = true;
};

// An import's warnings about a row's manager who is no active user of the pool: the
// file's check says them of the rows it refuses, the decider of those it creates,
// judged against the pool as they are created.
inline constexpr std::string_view kManagerNotInPool =
    "No user with this email is in the pool or in this file; the manager is kept as an email "
    "address.";
inline constexpr std::string_view kManagerDeactivated =
    "The manager is a deactivated user of the pool.";
// A manager made by the same file with Is Active 0: the same as a deactivated one of
// the pool to the rows that report to them (a review found it said of a pool's
// manager only). The file's check says it; the pool has no say in it.
inline constexpr std::string_view kManagerInactiveInFile =
    "The manager is a row of this file whose Is Active is 0: they are created as a "
    "deactivated user.";

// An email taken by a user of the pool, as an import's error says it: a deactivated
// one is said to be, with what to do (a review: an administrator re-hiring someone
// looks among the active users and does not find them).
// `making`: what was asked ("importing", "creating").
inline std::string alreadyInPool(bool active, std::string_view making = "importing") {
  return active ? "is already in the pool"
                : "is already in the pool, as a deactivated user: reactivate them instead of " +
                      std::string(making) + " them again";
}

// Checks `d` and fills `out`; each problem names its field (email, givenName,
// surname, jobTitle, managerEmail, country) after `prefix`. Empty when valid.
std::vector<FieldProblem> validateDetails(const NewUserDetails& d, const CountryList& countries,
                                          ValidDetails& out, const std::string& prefix = {});

}  // namespace portal
