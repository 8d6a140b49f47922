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

// One moment of the views: the readers made with it read one RocksDB snapshot, so
// what an answer joins from several views (an administrator's entry and their user
// row) is of one moment, as the projector writes every view's rows of a chunk of
// events in one batch (a chunk of 2,000 may end inside a command's events only when
// the views are that far behind; a review found GET /admins showing no owner, or
// two, while ownership changed hands). Empty: each read sees the latest.
using ViewMoment = std::shared_ptr<const rocksdb::Snapshot>;
// A moment of `db` now, released when its last holder goes; `pin` is held as long
// (Portal's holds the views' generation, whose rows a snapshot taken before a
// rebuild's switch would not see).
ViewMoment momentOf(rocksdb::DB* db, std::shared_ptr<const void> pin = nullptr);

class ViewReader {
 public:
  ViewReader(rocksdb::DB* db, std::shared_ptr<const void> pin, ViewMoment moment = {})
      : db_(db), pin_(std::move(pin)), moment_(std::move(moment)) {}

  // `at`: a snapshot to read (several reads that must agree); none: the reader's
  // moment, or the latest.
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
  ViewMoment moment_;
};

}  // namespace portal
