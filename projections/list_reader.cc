#include "projections/list_reader.h"

#include <rocksdb/db.h>
#include <rocksdb/snapshot.h>

#include "events/json_writer.h"
#include "projections/projection.h"

namespace portal {

std::optional<std::string> ListReader::row(const std::string& companyId, const std::string& id,
                                           bool members) const {
  if (members_ == nullptr || !members) return get(rows_, companyPrefix(companyId) + id);
  rocksdb::ManagedSnapshot at(db_);
  auto row = get(rows_, companyPrefix(companyId) + id, at.snapshot());
  if (row) *row = withMembers(companyId, id, std::move(*row), at.snapshot());
  return row;
}

std::string ListReader::withMembers(const std::string& companyId, std::string_view id,
                                    std::string row, const rocksdb::Snapshot* at) const {
  if (members_ == nullptr || row.empty() || row.back() != '}') return row;
  const std::string prefix = memberPrefix(companyId, id);
  std::string list;
  JsonWriter out(list);
  out.beginArray();
  scan(
      members_, prefix,
      [&](std::string_view key, std::string_view) {
        out.string(key.substr(prefix.size()));
        return true;
      },
      {}, at);
  out.endArray();
  row.insert(row.size() - 1, (row.size() > 2 ? ",\"members\":" : "\"members\":") + list);
  return row;
}

RowPage ListReader::list(const std::string& companyId, std::size_t limit, const std::string& cursor,
                         const std::function<bool(const std::string&)>& keep) const {
  RowPage page;
  const std::string prefix = companyPrefix(companyId);
  std::string from;
  if (!cursor.empty()) {
    from = prefix + cursor;
    from.push_back('\0');  // just past the cursor's own row
  }
  std::string lastId;
  std::optional<rocksdb::ManagedSnapshot> at;
  if (members_ != nullptr) at.emplace(db_);
  const rocksdb::Snapshot* snapshot = at ? at->snapshot() : nullptr;
  scan(
      rows_, prefix,
      [&](std::string_view key, std::string_view value) {
        std::string row(value);
        if (keep && !keep(row)) return true;
        if (page.items.size() == limit) {
          page.nextCursor = lastId;
          return false;
        }
        lastId = std::string(key.substr(prefix.size()));
        page.items.push_back(withMembers(companyId, lastId, std::move(row), snapshot));
        return true;
      },
      from, snapshot);
  return page;
}

std::vector<std::string> resourcesOwnedBy(const ViewReader& reader,
                                          rocksdb::ColumnFamilyHandle* byOwner,
                                          const std::string& companyId,
                                          const std::string& ownerId) {
  std::vector<std::string> ids;
  std::string prefix = companyPrefix(companyId) + ownerId;
  prefix.push_back('\0');
  reader.scan(byOwner, prefix, [&](std::string_view key, std::string_view) {
    ids.emplace_back(key.substr(prefix.size()));
    return true;
  });
  return ids;
}

}  // namespace portal
