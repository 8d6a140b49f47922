#include "projections/list_reader.h"

#include <rocksdb/db.h>

#include "projections/projection.h"

namespace portal {

std::optional<std::string> ListReader::row(const std::string& companyId,
                                           const std::string& id) const {
  return get(rows_, companyPrefix(companyId) + id);
}

RowPage ListReader::page(
    rocksdb::ColumnFamilyHandle* family, const std::string& prefix, std::size_t limit,
    const std::string& cursor,
    const std::function<std::optional<std::string>(std::string_view id, std::string_view value)>&
        item) const {
  RowPage page;
  std::string from;
  if (!cursor.empty()) {
    from = prefix + cursor;
    from.push_back('\0');  // just past the cursor's own row
  }
  std::string lastId;
  scan(
      family, prefix,
      [&](std::string_view key, std::string_view value) {
        const std::string_view id = key.substr(prefix.size());
        std::optional<std::string> shown = item(id, value);
        if (!shown) return true;
        if (page.items.size() == limit) {
          page.nextCursor = lastId;
          return false;
        }
        lastId = std::string(id);
        page.items.push_back(std::move(*shown));
        return true;
      },
      from);
  return page;
}

RowPage ListReader::list(const std::string& companyId, std::size_t limit, const std::string& cursor,
                         const std::function<bool(const std::string&)>& keep) const {
  return page(rows_, companyPrefix(companyId), limit, cursor,
              [&](std::string_view, std::string_view value) -> std::optional<std::string> {
                std::string row(value);
                if (keep && !keep(row)) return std::nullopt;
                return row;
              });
}

RowPage ListReader::memberIds(const std::string& companyId, std::string_view id, std::size_t limit,
                              const std::string& cursor) const {
  if (members_ == nullptr) return {};
  return page(
      members_, memberPrefix(companyId, id), limit, cursor,
      [](std::string_view member, std::string_view) { return std::optional<std::string>(member); });
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
