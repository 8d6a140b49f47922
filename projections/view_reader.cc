#include "projections/view_reader.h"

#include <rocksdb/db.h>

namespace portal {

ViewMoment momentOf(rocksdb::DB* db, std::shared_ptr<const void> pin) {
  return ViewMoment(db->GetSnapshot(), [db, pin = std::move(pin)](const rocksdb::Snapshot* s) {
    db->ReleaseSnapshot(s);
  });
}

std::optional<std::string> ViewReader::get(rocksdb::ColumnFamilyHandle* family,
                                           std::string_view key,
                                           const rocksdb::Snapshot* at) const {
  std::string value;
  rocksdb::ReadOptions read;
  read.snapshot = at != nullptr ? at : moment_.get();
  rocksdb::Status st = db_->Get(read, family, rocksdb::Slice(key.data(), key.size()), &value);
  if (!st.ok()) return std::nullopt;
  return value;
}

void ViewReader::scan(rocksdb::ColumnFamilyHandle* family, std::string_view prefix,
                      const std::function<bool(std::string_view, std::string_view)>& fn,
                      std::string_view from, const rocksdb::Snapshot* at) const {
  rocksdb::ReadOptions read;
  read.snapshot = at != nullptr ? at : moment_.get();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, family));
  const std::string_view start = from.empty() ? prefix : from;
  for (it->Seek(rocksdb::Slice(start.data(), start.size())); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    if (key.substr(0, prefix.size()) != prefix) break;
    if (!fn(key, std::string_view(it->value().data(), it->value().size()))) break;
  }
}

}  // namespace portal
