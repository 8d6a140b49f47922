#pragma once
// Reads of the small company views (administrators, resources, groups): a row by
// id, and a company's rows in id order, a page at a time, the cursor being the last
// id shown. Rows are the projections' JSON. Thread-safe.

#include <string>
#include <vector>

#include "projections/view_reader.h"

namespace portal {

struct RowPage {
  std::vector<std::string> items;  // rows as JSON
  std::string nextCursor;          // empty at the end
};

class ListReader : public ViewReader {
 public:
  // `members`: a family of "company, NUL, row id, NUL, member id" keys, whose ids
  // memberIds() reads a page at a time (the groups view). Rows are shown as stored,
  // without their members: a group of 30,000 would be 1.2 MB, more than a form may
  // send back, and a page of such groups tens of megabytes (a group's row has its
  // count).
  ListReader(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* rows, std::shared_ptr<const void> pin,
             rocksdb::ColumnFamilyHandle* members = nullptr, ViewMoment moment = {})
      : ViewReader(db, std::move(pin), std::move(moment)), rows_(rows), members_(members) {}

  std::optional<std::string> row(const std::string& companyId, const std::string& id) const;
  // Rows of the company after `cursor`, at most `limit`, that `keep` accepts.
  RowPage list(const std::string& companyId, std::size_t limit, const std::string& cursor,
               const std::function<bool(const std::string& row)>& keep = nullptr) const;
  // The member ids of row `id` after `cursor` (a member id), at most `limit`, sorted.
  RowPage memberIds(const std::string& companyId, std::string_view id, std::size_t limit,
                    const std::string& cursor) const;

 private:
  // The rows of `family` under `prefix` after `cursor` (the id past the prefix), at
  // most `limit`, each shown as `item` makes it from its id and value (none: passed
  // over).
  RowPage page(rocksdb::ColumnFamilyHandle* family, const std::string& prefix, std::size_t limit,
               const std::string& cursor,
               const std::function<std::optional<std::string>(std::string_view id,
                                                              std::string_view value)>& item) const;

  rocksdb::ColumnFamilyHandle* rows_;
  rocksdb::ColumnFamilyHandle* members_;
};

// The ids of the resources a user owns, from the resources view's byOwner family.
std::vector<std::string> resourcesOwnedBy(const ViewReader& reader,
                                          rocksdb::ColumnFamilyHandle* byOwner,
                                          const std::string& companyId, const std::string& ownerId);

}  // namespace portal
