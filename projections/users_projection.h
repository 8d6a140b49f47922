#pragma once
// The users view: one row per user of each company as API.md shows a user, a search
// index ordered by name, and each company's owner.
//
// Families:
//   rows       company, NUL, user id -> the user (JSON; personal fields in clear,
//              overwritten on anonymization)
//   search     company, NUL, sort key, NUL, user id -> status byte and the lower-cased
//              name and email, for search without reading rows
//   companies  company id -> owner id
//
// Reading is thread-safe; rows are only as fresh as the projector's checkpoint.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "projections/projection.h"
#include "projections/view_reader.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Snapshot;
}  // namespace rocksdb

namespace portal {

class UsersProjection final : public Projection {
 public:
  // v4: searchFold also takes ł, ø, æ and the like as typed without their stroke;
  // v3: names are searched and sorted without regard to case or accents, however
  // they were typed (searchFold); v2 lowered them in any script, v1 ASCII letters only.
  static constexpr const char* kName = "users_v4";
  enum Family { kRows = 0, kSearch = 1, kCompanies = 2 };

  std::string name() const override { return kName; }
  std::vector<std::string> families() const override { return {"rows", "search", "companies"}; }
  const std::set<std::string_view>& handles() const override;
  Result<void> apply(const RecordedEvent& event, RowView& rows) override;
};

enum class UserStatus { kAll, kActive, kInactive };

struct UserListQuery {
  std::string search;  // substring of name or email, case-insensitive; empty: all
  UserStatus status = UserStatus::kAll;
  std::size_t limit = 50;
  std::string cursor;  // nextCursor of the previous page; empty: from the start
};

struct UserPage {
  std::vector<std::string> items;  // users as API JSON
  // Empty at the end; else the last user's place in the order (its search key,
  // which holds names: the API seals it before it goes out).
  std::string nextCursor;
  bool badCursor = false;  // the cursor is no place in this company's list
};

// Reads of the users view. `rows` and `search` are the current generation's
// families (Projector::handle), held under a Projector::Reading.
// A stored row (JSON) as API.md shows the user: the manager, when in the pool, by
// their current email from `rowOf(managerUserId)` (or "anonymized"). The users
// reader and portal-replay's as-of (rows replayed in memory) both render with it.
std::string renderUserRow(std::string_view rowJson,
                          const std::function<std::optional<std::string>(const std::string& userId)>& rowOf);

class UsersReader {
 public:
  // `pin` keeps the families' generation alive while the reader (or a copy) lives:
  // Portal passes a Projector::Reading.
  // `moment`: the moment every read sees (ViewMoment); empty: the latest.
  UsersReader(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* rows,
              rocksdb::ColumnFamilyHandle* search, std::shared_ptr<const void> pin = nullptr,
              ViewMoment moment = {})
      : db_(db), rows_(rows), search_(search), pin_(std::move(pin)), moment_(std::move(moment)) {}

  // The user as API JSON (manager resolved), or nullopt when not in this company.
  std::optional<std::string> get(const std::string& companyId, const std::string& userId) const;
  // The stored row (JSON) without resolving the manager.
  std::optional<std::string> row(const std::string& companyId, const std::string& userId) const;
  // The same, telling a read that failed (an I/O error: kIoError) from no such row
  // (nullopt), for a caller that must not act on a user's absence that is not one
  // (ending a session).
  Result<std::optional<std::string>> readRow(const std::string& companyId,
                                             const std::string& userId) const;
  // Users ordered by surname, given name, id.
  UserPage list(const std::string& companyId, const UserListQuery& query) const;
  // A display name for the audit trail: "Given Surname", "anonymized" once the person
  // is erased, or "" when there is no such user.
  std::string displayName(const std::string& companyId, const std::string& userId) const;
  // The user's given name and surname as stored; nullopt when there is no such row.
  std::optional<std::pair<std::string, std::string>> names(const std::string& companyId,
                                                           const std::string& userId) const;

 private:
  // The row as of `snapshot` (nullptr: the reader's moment, or now); a read that
  // fails is no row.
  std::optional<std::string> rowAt(const rocksdb::Snapshot* snapshot, const std::string& companyId,
                                   const std::string& userId) const;
  // The same, a read that fails an error (readRow).
  Result<std::optional<std::string>> readRowAt(const rocksdb::Snapshot* snapshot,
                                               const std::string& companyId,
                                               const std::string& userId) const;

  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* rows_;
  rocksdb::ColumnFamilyHandle* search_;
  std::shared_ptr<const void> pin_;
  ViewMoment moment_;
};

}  // namespace portal
