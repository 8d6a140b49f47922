#pragma once
// The write-ahead log's files, with their write failures kept from RocksDB.
//
// The store runs RocksDB with manual_wal_flush: several threads write into the WAL's
// buffer (the store's write thread, the projector, the sessions) while others write
// it out and fsync it (FlushWAL: the store's sync thread, the projector, the
// sessions, the mailer). RocksDB 7.8 marks a WAL file's writer as failed at its
// first failed write or sync, and a write already on its way in another thread then
// appends to that writer before RocksDB's error handler stops writes; Debian's
// build keeps its assertions, and one of them ends the process there (a review on a
// full disk: 2 runs of 6 ended with a core dump, exit 134, instead of the
// fail-stop's exit 1). A failed sync of a closed WAL (a flush's) does the same at
// the next FlushWAL, which syncs it again.
//
// So RocksDB never sees a WAL file fail: the first failure of a write, flush or sync
// of one is kept in a WalFailure and answered "done", and from then on nothing more
// reaches those files (a file with a hole in it would be worse than one cut short),
// and no new table file of the database is made: a flush after the failure would
// write memtables holding what the WAL lost into one column family's table files and
// not another's (RocksDB, had it seen the failure, would have stopped its background
// work; a review), and the next start would read them apart.
// Whoever needs the WAL durable asks the store (EventStore::flushWal), which asks
// RocksDB and then this: a write is acknowledged only when no WAL write failed
// before its fsync returned. Only the data directory's own WAL files are wrapped;
// a backup's copies of them fail as they would.

#include <rocksdb/status.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

namespace rocksdb {
class FileSystem;
}  // namespace rocksdb

namespace portal {

class WalFailure {
 public:
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // The first failure; OK while none.
  rocksdb::Status status() const;
  void record(const rocksdb::Status& status);

 private:
  std::atomic<bool> failed_{false};
  mutable std::mutex mu_;
  rocksdb::Status first_;
};

// `base` with the WAL files of the database in `dbPath` answering every write,
// flush and sync as done, their first failure kept in `failure`.
std::shared_ptr<rocksdb::FileSystem> walFailuresKept(std::shared_ptr<rocksdb::FileSystem> base,
                                                     const std::string& dbPath,
                                                     std::shared_ptr<WalFailure> failure);

}  // namespace portal
