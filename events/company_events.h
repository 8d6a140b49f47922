#pragma once
// Events of the company aggregate, stream "company-<companyId>": the company itself,
// its owner, its identity provider, its resources and its batch imports.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/fields.h"

namespace portal {

// A new company with the services it holds. Its owner comes into the pool with the
// UserCreated, AdminIncluded and PasswordSet (temporary) appended beside it.
struct CompanyProvisioned {
  static constexpr std::string_view kType = "CompanyProvisioned";
  static constexpr int kSchema = 1;
  std::string companyId;
  std::string slug;
  std::string name;
  std::vector<std::string> services;
  std::string ownerId;
  PORTAL_FIELDS(CompanyProvisioned, companyId, slug, name, services, ownerId)
};

// The subscription owner changed; both are administrators.
struct OwnershipTransferred {
  static constexpr std::string_view kType = "OwnershipTransferred";
  static constexpr int kSchema = 1;
  std::string fromUserId;
  std::string toUserId;
  PORTAL_FIELDS(OwnershipTransferred, fromUserId, toUserId)
};

// One accepted CSV import; each of its users has its own UserCreated in the same
// append, which is all or nothing.
struct UsersImported {
  static constexpr std::string_view kType = "UsersImported";
  static constexpr int kSchema = 1;
  std::string importId;
  std::uint64_t rows = 0;
  std::vector<std::string> userIds;
  std::uint64_t warnings = 0;
  bool notify = false;
  PORTAL_FIELDS(UsersImported, importId, rows, userIds, warnings, notify)
};

// How the company's users sign in: "local" (passwords kept here) or an external
// provider named by its issuer.
struct IdentityProviderChanged {
  static constexpr std::string_view kType = "IdentityProviderChanged";
  static constexpr int kSchema = 1;
  std::string provider;
  std::optional<std::string> issuer;
  PORTAL_FIELDS(IdentityProviderChanged, provider, issuer)
};

}  // namespace portal
