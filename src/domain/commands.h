#pragma once
// Every command a company's people (or the system) can give. Plain data: the
// deciders (decider.h) turn a command and the write model into events or a
// Rejection. Secrets arrive already hashed: the domain never sees a password.

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "events/timestamp.h"

namespace portal {

// The person details of a new user, as given by an administrator or a CSV row.
struct NewUserDetails {
  std::string email;
  std::string givenName;
  std::string surname;
  std::string jobTitle;
  std::string managerEmail;
  std::optional<std::string> country;  // a code or a name; normalised to alpha-2
  bool active = true;
};

struct ProvisionCompany {
  std::string slug;
  std::string name;
  std::vector<std::string> services;  // empty: the default services
  NewUserDetails owner;
  std::string temporaryPasswordHash;  // Argon2id of the temporary password
};

struct CreateUser {
  NewUserDetails details;
  bool notify = false;
};

// A JSON merge patch: an absent field keeps its value, a null clears it.
struct UpdateUser {
  std::string userId;
  std::optional<std::optional<std::string>> givenName, surname, jobTitle, managerEmail, country;
  // The patch's email, when it has one: it may only repeat the current one (a form
  // that sends back every field it shows), in any ASCII case.
  std::optional<std::string> email;
  std::optional<std::uint64_t> expectedVersion;  // If-Match
};

struct DeactivateUser {
  std::string userId;
  std::optional<std::string> transferTo;
  std::optional<std::uint64_t> expectedVersion = std::nullopt;  // If-Match
};

struct ReactivateUser {
  std::string userId;
  std::optional<std::uint64_t> expectedVersion = std::nullopt;  // If-Match
};

struct AnonymizeUser {
  std::string userId;
  std::optional<std::uint64_t> expectedVersion = std::nullopt;  // If-Match
};

struct IncludeAdmin {
  std::string userId;
};

struct RemoveAdmin {
  std::string userId;
};

struct TransferOwnership {
  std::string userId;
};

struct RegisterResource {
  std::string kind;  // project | subscription | model | permission
  std::string service;
  std::string name;
  std::string ownerId;
};

// What If-Match and If-None-Match ask of a target that shows no ETag: a resource, a
// user's role, a group's membership (RFC 9110 13.1.1 and 13.1.2, with no tag a list
// could name). The decider weighs them last, once nothing else refuses the command
// (13.2.1), against whether the target exists: If-Match holds as `*` for one that
// does and never as a tag, and If-None-Match fails as `*` for one that does; each
// refusal is 412. (A review found them passed over: `If-None-Match: *`, "only if it
// is not there yet", on a role held was 204.)
struct Untagged {
  bool ifMatchTag = false;      // If-Match named a tag: none can name this target
  bool ifMatchAny = false;      // If-Match: *
  bool ifNoneMatchAny = false;  // If-None-Match: *
};

struct ReleaseResource {
  std::string resourceId;
  Untagged conditions{};
};

struct GrantRole {
  std::string userId, service, role;
  Untagged conditions{};
};

struct RevokeRole {
  std::string userId, service, role;
  Untagged conditions{};
};

struct CreateGroup {
  std::string name;
  std::optional<std::string> description;
};

struct UpdateGroup {
  std::string groupId;
  std::optional<std::string> name;
  std::optional<std::optional<std::string>> description;
  std::optional<std::uint64_t> expectedVersion = std::nullopt;  // If-Match
};

struct DeleteGroup {
  std::string groupId;
  std::optional<std::uint64_t> expectedVersion = std::nullopt;  // If-Match
};

struct AddGroupMember {
  std::string groupId, userId;
  Untagged conditions{};
};

struct RemoveGroupMember {
  std::string groupId, userId;
  Untagged conditions{};
};

// A whole validated file of users: all are created, or none. Problems name their row
// as "row N: field", N from `rowNumbers` (the spreadsheet's row of each entry of
// `rows`), or the entry's index + 2 (row 1 is the header) when it is empty.
// A dry run decides as a real one would and appends nothing.
struct ImportUsers {
  std::string importId;
  std::vector<NewUserDetails> rows;
  std::uint64_t warnings = 0;  // the file's, besides those the decider finds of managers
  bool notify = false;
  std::vector<std::size_t> rowNumbers;
  bool dryRun = false;
};

struct SetPassword {
  std::string userId;
  std::string passwordHash;
  bool temporary = false;
  std::string reason;  // changed | provisioned | created
};

struct RequestPasswordReset {
  std::string userId;
  std::string tokenHash;
  Timestamp expiresAt;
};

struct CompletePasswordReset {
  std::string tokenHash;
  std::string passwordHash;
};

struct RecordLogin {
  std::string userId;
  std::string sessionHash;
  Timestamp expiresAt;
  std::optional<std::string> clientAddress;
  // The password hashed again at the server's cost, and the hex SHA-256 of the hash
  // it matched (see LoginSucceeded).
  std::optional<std::string> upgradedHash;
  std::string replacesHash;
};

struct RecordLoginFailure {
  std::optional<std::string> userId;
  std::string reason;
  std::optional<std::string> clientAddress;
};

using CommandBody =
    std::variant<ProvisionCompany, CreateUser, UpdateUser, DeactivateUser, ReactivateUser,
                 AnonymizeUser, IncludeAdmin, RemoveAdmin, TransferOwnership, RegisterResource,
                 ReleaseResource, GrantRole, RevokeRole, CreateGroup, UpdateGroup, DeleteGroup,
                 AddGroupMember, RemoveGroupMember, ImportUsers, SetPassword,
                 RequestPasswordReset, CompletePasswordReset, RecordLogin, RecordLoginFailure>;

inline constexpr const char* kSystem = "system";

struct Command {
  std::string companyId;  // empty for ProvisionCompany (the decider assigns it)
  std::string actor;      // a user id, or "system"
  CommandBody body;
};

}  // namespace portal
