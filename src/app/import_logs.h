#pragma once
// The error logs of batch imports, kept beside the event log in the "imports"
// family for `keep` (a week by default) so that an administrator can download one
// after the answer: a file that was refused, or one created with warnings. A log
// holds what the file held (names, emails), so it does not stay for ever: expired
// logs are removed at start and whenever a new one is kept (found through an index
// by expiry, so that keeping one reads only the expired), and all of a company's
// when one of its users is anonymized.
//
// An import reads its file before an anonymization and keeps its log after it: such
// a log may name the person, so it is not kept. The import takes the company's
// generation() before it reads the file and gives it to put(); a dropCompany() in
// between moves the generation on, and put() then keeps nothing.
//
// Thread-safe: put() and dropCompany() exclude each other.

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
}  // namespace rocksdb

namespace portal {

class ImportLogs {
 public:
  static constexpr std::chrono::hours kDefaultKeep{7 * 24};

  ImportLogs(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family,
             std::chrono::microseconds keep = kDefaultKeep)
      : db_(db), family_(family), keep_(keep) {}

  // How many times the company's logs were dropped since start.
  std::uint64_t generation(std::string_view companyId) const;
  // Keeps `csv` as the log of `importId` of `companyId`, durably (fsynced), unless
  // the company's logs were dropped since generation() gave `seen`: then false.
  Result<bool> put(std::string_view companyId, std::string_view importId, Timestamp now,
                   std::string_view csv, std::uint64_t seen);
  // The log, or nullopt when this company has no such import or its log expired.
  std::optional<std::string> get(std::string_view companyId, std::string_view importId,
                                 Timestamp now) const;
  // Removes every log of `companyId`, durably (an anonymization: a log may hold the
  // person's email or names). The compaction that follows takes them off the disk.
  Result<void> dropCompany(std::string_view companyId);
  // Removes the expired logs, found through the expiry index; how many went.
  Result<std::size_t> purgeExpired(Timestamp now);
  // At start: reads every log, removes the expired and indexes the others (logs of
  // builds before the index have no entry); how many went.
  Result<std::size_t> purgeAll(Timestamp now);

 private:
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* family_;
  std::chrono::microseconds keep_;
  mutable std::mutex mu_;
  StringMap<std::uint64_t> drops_;  // company id -> dropCompany() calls
};

}  // namespace portal
