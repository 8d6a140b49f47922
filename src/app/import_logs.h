#pragma once
// The error logs of batch imports, kept beside the event log in the "imports"
// family for `keep` (a week by default) so that an administrator can download one
// after the answer: a file that was refused, or one created with warnings. A log
// holds what the file held (names, emails), so it does not stay for ever: expired
// logs are removed at start and whenever a new one is kept (found through an index
// by expiry, so that keeping one reads only the expired), and all of a company's
// when one of its users is anonymized.
//
// A company keeps its newest `Bounds` of logs (a count and their bytes): keeping a
// new one past either removes the company's oldest in the same write, found through
// a second index, the company's by expiry. The newest log is kept whatever its size
// (the import just answered links it). A script importing in a loop fills no disk.
//
// An import reads its file before an anonymization and keeps its log after it: such
// a log may name the person, so it is not kept. The import takes the company's
// generation() before it reads the file and gives it to put(); a drop of the
// company's logs in between moves the generation on, and put() then keeps nothing.
//
// An anonymization drops the company's logs around its command (see Api's
// anonymize): before it, with a mark that it is under way, and after it, removing
// the mark. A mark left behind (a drop that failed after the command, a crash)
// makes a repeated request for the anonymized person drop them again, and the
// next start too; without one a repeat drops nothing (an administrator's logs kept
// since are not the person's).
//
// Thread-safe: put() and the drops exclude each other.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "events/result.h"
#include "events/string_map.h"
#include "events/timestamp.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace portal {

class EventStore;

// How much of its logs one company keeps at most.
struct ImportLogBounds {
  std::size_t logs = 100;
  std::uint64_t bytes = 256ull << 20;
};

class ImportLogs {
 public:
  static constexpr std::chrono::hours kDefaultKeep{7 * 24};
  using Bounds = ImportLogBounds;

  ImportLogs(EventStore& store, rocksdb::ColumnFamilyHandle* family,
             std::chrono::microseconds keep = kDefaultKeep, Bounds bounds = {});

  // How many times the company's logs were dropped since start.
  std::uint64_t generation(std::string_view companyId) const;
  // Keeps `csv` as the log of `importId` of `companyId`, durably (fsynced), unless
  // the company's logs were dropped since generation() gave `seen`: then false.
  // The company's oldest logs past its bounds go in the same write.
  Result<bool> put(std::string_view companyId, std::string_view importId, Timestamp now,
                   std::string_view csv, std::uint64_t seen);
  // The log, or nullopt when this company has no such import or its log expired.
  std::optional<std::string> get(std::string_view companyId, std::string_view importId,
                                 Timestamp now) const;
  // The drops of a company's logs (an anonymization: a log may hold the person's
  // email or names; the compaction that follows takes them off the disk), each one
  // durable write that moves the company's generation on.
  //
  // Before an anonymization's command: marks it under way, and with `dropNow` drops
  // the company's logs in the same write. True when this call made the mark; false
  // when one was there already (another request's, or one left behind), which the
  // caller's refusal then leaves alone.
  Result<bool> beginAnonymization(std::string_view companyId, std::string_view userId,
                                  bool dropNow);
  // After it: `accepted`, the company's logs dropped and the mark removed in one
  // write; refused, only the mark removed.
  Result<void> endAnonymization(std::string_view companyId, std::string_view userId, bool accepted);
  // Whether an anonymization of the user was begun and not ended.
  Result<bool> anonymizationPending(std::string_view companyId, std::string_view userId) const;
  // Removes the expired logs, found through the expiry index; how many went.
  Result<std::size_t> purgeExpired(Timestamp now);
  // At start: reads every log, removes the expired and indexes the others (logs of
  // builds before the indexes have no entries), and drops the logs of every company with
  // an anonymization left under way; how many expired went.
  Result<std::size_t> purgeAll(Timestamp now);

 private:
  EventStore& store_;
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* family_;
  std::chrono::microseconds keep_;
  Bounds bounds_;
  // Writes `batch` durably; with `dropping`, the company's logs deleted in it too
  // and its generation moved on. Called with mu_ held.
  Result<void> write(rocksdb::WriteBatch& batch, std::string_view companyId, bool dropping,
                     std::string_view what);
  // Adds to `batch` the deletes that keep the company's logs within bounds_ once a
  // log of `bytes` is kept as `importId`'s. Called with mu_ held.
  Result<void> keepWithinBounds(rocksdb::WriteBatch& batch, std::string_view companyId,
                                std::string_view importId, std::size_t bytes);
  Result<bool> pendingLocked(std::string_view companyId, std::string_view userId) const;

  mutable std::mutex mu_;
  StringMap<std::uint64_t> drops_;  // company id -> drops of its logs
};

}  // namespace portal
