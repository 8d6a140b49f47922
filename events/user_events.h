#pragma once
// Events of the user aggregate, stream "user-<userId>": a person in the company's
// pool, their administrator status and their roles in the company's services.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/fields.h"
#include "events/personal.h"

namespace portal {

// A person entered the pool. A manager who is in the pool is referenced by id
// (managerUserId) so that their email is shredded with them; a manager outside the
// pool is kept as managerEmail, sealed alone under a key of that address
// (Personal::sealedFor), which is shredded with the user who later has it.
struct UserCreated {
  static constexpr std::string_view kType = "UserCreated";
  static constexpr int kSchema = 1;
  std::string userId;
  Personal email;
  Personal givenName;
  Personal surname;
  Personal jobTitle;
  std::optional<std::string> managerUserId;
  std::optional<Personal> managerEmail;
  std::optional<std::string> country;  // ISO 3166-1 alpha-2
  bool active = true;
  bool notify = false;
  std::optional<std::string> importId;
  std::optional<std::string> personalSubject() const { return userId; }
  PORTAL_FIELDS(UserCreated, userId, email, givenName, surname, jobTitle, managerUserId,
                managerEmail, country, active, notify, importId)
};

// Some of a user's details changed: the fields present hold their new values, and
// `cleared` names the fields that were set to nothing.
struct UserUpdated {
  static constexpr std::string_view kType = "UserUpdated";
  static constexpr int kSchema = 1;
  std::string userId;
  std::optional<Personal> givenName;
  std::optional<Personal> surname;
  std::optional<Personal> jobTitle;
  std::optional<std::string> managerUserId;
  std::optional<Personal> managerEmail;
  std::optional<std::string> country;
  std::vector<std::string> cleared;
  std::optional<std::string> personalSubject() const { return userId; }
  PORTAL_FIELDS(UserUpdated, userId, givenName, surname, jobTitle, managerUserId, managerEmail,
                country, cleared)
};

// The user can no longer sign in; their resources went to `transferredTo` in the
// ResourcesTransferred appended just before.
struct UserDeactivated {
  static constexpr std::string_view kType = "UserDeactivated";
  static constexpr int kSchema = 1;
  std::string userId;
  std::optional<std::string> transferredTo;
  PORTAL_FIELDS(UserDeactivated, userId, transferredTo)
};

struct UserReactivated {
  static constexpr std::string_view kType = "UserReactivated";
  static constexpr int kSchema = 1;
  std::string userId;
  PORTAL_FIELDS(UserReactivated, userId)
};

// The proof of erasure: appended in the same write that shreds the user's key. It
// holds no personal data itself.
struct UserAnonymized {
  static constexpr std::string_view kType = "UserAnonymized";
  static constexpr int kSchema = 1;
  std::string userId;
  PORTAL_FIELDS(UserAnonymized, userId)
};

struct AdminIncluded {
  static constexpr std::string_view kType = "AdminIncluded";
  static constexpr int kSchema = 1;
  std::string userId;
  std::string includedBy;  // a user id, or "system" at provisioning
  PORTAL_FIELDS(AdminIncluded, userId, includedBy)
};

struct AdminRemoved {
  static constexpr std::string_view kType = "AdminRemoved";
  static constexpr int kSchema = 1;
  std::string userId;
  std::string reason;  // "removed" by the owner, or "deactivated"
  PORTAL_FIELDS(AdminRemoved, userId, reason)
};

struct RoleGranted {
  static constexpr std::string_view kType = "RoleGranted";
  static constexpr int kSchema = 1;
  std::string userId;
  std::string service;
  std::string role;
  PORTAL_FIELDS(RoleGranted, userId, service, role)
};

struct RoleRevoked {
  static constexpr std::string_view kType = "RoleRevoked";
  static constexpr int kSchema = 1;
  std::string userId;
  std::string service;
  std::string role;
  PORTAL_FIELDS(RoleRevoked, userId, service, role)
};

}  // namespace portal
