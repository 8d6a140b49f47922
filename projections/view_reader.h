#pragma once
// What every reader of a view needs: point reads and prefix scans of the current
// generation of a projection's families, with the generation pinned while the
// reader (or a copy) lives. Thread-safe.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Snapshot;
}  // namespace rocksdb

namespace portal {

class ViewReader {
 public:
  ViewReader(rocksdb::DB* db, std::shared_ptr<const void> pin) : db_(db), pin_(std::move(pin)) {}

  // `at`: a snapshot to read (several reads that must agree); none: the latest.
  std::optional<std::string> get(rocksdb::ColumnFamilyHandle* family, std::string_view key,
                                 const rocksdb::Snapshot* at = nullptr) const;
  // Calls fn for each row whose key starts with `prefix`, in key order, starting at
  // `from` (a key at or after the prefix; empty: the prefix), until it returns false.
  void scan(rocksdb::ColumnFamilyHandle* family, std::string_view prefix,
            const std::function<bool(std::string_view key, std::string_view value)>& fn,
            std::string_view from = {}, const rocksdb::Snapshot* at = nullptr) const;

 protected:
  rocksdb::DB* db_;
  std::shared_ptr<const void> pin_;
};

}  // namespace portal
