#pragma once
// What signing in and resetting a password need to look up, away from the command
// processor's thread: companies by slug and id, accounts by email and id (with the
// Argon2id hash of the password), and outstanding reset tokens by their hash.
//
// Families:
//   companies  "slug", NUL, slug -> company;  "id", NUL, company id -> company
//   logins     company, NUL, email key -> user id; and company, NUL, email key, NUL,
//              user id -> "" for each other user of that key (a log written before
//              emailKey took NFC, or compared domains as DNS does, may hold two), who
//              gets the login when the one it leads to is anonymized
//   accounts   company, NUL, user id -> account
//   resets     token hash -> {companyId, userId, expiresAt}
// An anonymized user's login and account rows are removed.

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "projections/projection.h"
#include "projections/view_reader.h"

namespace portal {

class CredentialsProjection final : public Projection {
 public:
  // v2: logins keyed by the email's NFC form (emailKey), built anew from the log at
  // the first start of this version; v3: its domain as DNS compares it (domainKey);
  // v4: the other users of a login's key kept beside it.
  static constexpr const char* kName = "credentials_v4";
  enum Family { kCompanies = 0, kLogins = 1, kAccounts = 2, kResets = 3 };
  std::string name() const override { return kName; }
  std::vector<std::string> families() const override {
    return {"companies", "logins", "accounts", "resets"};
  }
  const std::set<std::string_view>& handles() const override;
  Result<void> apply(const RecordedEvent& event, RowView& rows) override;
};

struct CompanyRecord {
  std::string id, slug, name;
  std::vector<std::string> services;
};

struct AccountRecord {
  std::string companyId, userId, email;
  std::string passwordHash;  // empty: none set
  bool mustChangePassword = false;
  bool active = true;
  std::string resetTokenHash;  // the outstanding one, if any
  // When the password was last set (a session begun before it has ended); 0: never
  // set, or in a row written before this was kept.
  Timestamp passwordSetAt{0};
};

struct ResetRecord {
  std::string companyId, userId;
  Timestamp expiresAt;
};

class CredentialsReader : public ViewReader {
 public:
  // `families` in the order of CredentialsProjection::Family.
  CredentialsReader(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> families,
                    std::shared_ptr<const void> pin)
      : ViewReader(db, std::move(pin)), families_(std::move(families)) {}

  std::optional<CompanyRecord> companyBySlug(std::string_view slug) const;
  std::optional<CompanyRecord> companyById(std::string_view id) const;
  std::optional<AccountRecord> accountByEmail(std::string_view companyId,
                                              std::string_view email) const;
  std::optional<AccountRecord> account(std::string_view companyId, std::string_view userId) const;
  std::optional<ResetRecord> reset(std::string_view tokenHash) const;

 private:
  std::vector<rocksdb::ColumnFamilyHandle*> families_;
};

}  // namespace portal
