#pragma once
// Why a command was refused: a stable code (the problem type clients switch on), a
// kind that says what class of refusal it is (the HTTP layer maps it to a status),
// a message for people, and details. Messages never hold personal data: ids only.

#include <string>
#include <string_view>
#include <vector>

namespace portal {

enum class RejectionKind {
  kInvalid,             // the command is malformed or breaks a rule of input (422)
  kBadRequest,          // the request cannot be acted on as sent (400)
  kNotFound,            // something it names does not exist in this company (404)
  kConflict,            // the state does not allow it now (409)
  kForbidden,           // the actor may not do this (403)
  kPreconditionFailed,  // If-Match did not match (412)
};

struct FieldProblem {
  std::string field;  // a field of the request, or "row N: column"
  std::string message;
  std::string resourceId{};  // the resource a deactivation's transfer problem is about
  bool operator==(const FieldProblem&) const = default;
};

// The detail of every 422 validation-failed, the decider's and the API's alike.
inline constexpr const char* kValidationDetail = "Some fields are missing or invalid.";

struct Rejection {
  RejectionKind kind;
  std::string code;
  std::string message;
  std::vector<FieldProblem> problems;  // validation errors, refused resources, …
  std::vector<std::string> ids;         // e.g. the resources that must be transferred
};

// The 404 of something named by id (`what`: "User", "Group"): "<what> <id> does not
// exist in this company.", the decider's and a view's alike (a review found "is not
// in this company" and "The group does not exist" for one group). An email given
// where the id goes, or a text too long to be an id, is not repeated.
Rejection notInCompany(const std::string& what, std::string_view id);

}  // namespace portal
