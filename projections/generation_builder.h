#pragma once
// Fills a new, empty generation of one projection's column families during a
// rebuild, without RocksDB's write path: rows live in memory (a flat hash map over
// blocks of their bytes, read back by the reducers), and are written out sorted as
// table files (SstFileWriter) that the database ingests whole. A skip-list memtable
// insert per row, a flush and the compaction that follows cost more than the
// projections' own work; sorting once and writing table files costs a fraction.
//
// Memory stays bounded: past `memoryBudget` bytes of rows the builder writes what
// it holds and goes on from empty, reading older rows back from the database (a
// later table file overrides an earlier one's rows, and deletions are written as
// such).
//
// One thread uses a builder at a time. The column families must be new: nothing
// else writes them while the builder fills them.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "events/result.h"
#include "projections/projection.h"
#include "projections/row_changes.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace portal {

// Calls fn for the rows of `family` whose key starts with `prefix`, with `changes`
// laid over them (nullopt: deleted), in key order, until it returns false: a
// RowView's scan over stored rows and the changes it has not written yet.
void scanWithChanges(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family, std::string_view prefix,
                     std::map<std::string, std::optional<std::string>> changes,
                     const std::function<bool(std::string_view key, std::string_view value)>& fn);

class GenerationBuilder final : public RowView {
 public:
  // `scratch` is a directory on the database's file system for the table files
  // (created if needed; each file is moved into the database when ingested).
  GenerationBuilder(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> families,
                    std::string scratch, std::size_t memoryBudget);
  ~GenerationBuilder() override;
  GenerationBuilder(const GenerationBuilder&) = delete;
  GenerationBuilder& operator=(const GenerationBuilder&) = delete;

  std::optional<std::string> get(int family, std::string_view key) override;
  void put(int family, std::string_view key, std::string_view value) override;
  void remove(int family, std::string_view key) override;
  // Correct, but walks every row held in memory: for tools, not for reducers.
  void scan(int family, std::string_view prefix,
            const std::function<bool(std::string_view key, std::string_view value)>& fn) override;

  // True once the rows held exceed the budget: call flush() between events.
  bool full() const { return bytes_ >= budget_; }
  // Writes every row held into the database (sorted table files, ingested) and
  // starts again from empty.
  Result<void> flush();

  using Change = RowChange;

 private:
  // A family whose rows nobody reads back (the audit index only ever adds rows)
  // keeps its changes as a list, in order, their bytes in large blocks (no
  // allocation per row), and is hashed only once get() asks. The list's room and
  // its blocks outlive a flush and are filled again: memory already touched costs
  // no page faults (the list and its sort are most of a rebuild's new memory).
  struct Family {
    bool indexed = false;
    RowOverlay rows;          // when indexed; a deleted row is kept only when the
                              // database may hold an older one
    std::vector<Change> log;  // when not
    ByteBlocks bytes;         // the log's keys and values
  };
  void index(Family& f);
  // Adds a change to a family that keeps a list.
  void record(Family& f, std::string_view key, std::optional<std::string_view> value);
  void forget(std::size_t bytes) { bytes_ -= std::min(bytes_, bytes); }
  // Writes `sorted` (by key, one change a key) into a table file and ingests it.
  Result<void> write(std::size_t family, const std::vector<Change>& sorted);

  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::string scratch_;
  std::size_t budget_;
  std::vector<Family> families_;
  // The rows a flush writes, and the sort's scratch: kept from flush to flush.
  std::vector<Change> sorted_, sortBuffer_;
  std::size_t bytes_ = 0;
  bool written_ = false;  // the database holds rows of an earlier flush
  std::uint64_t files_ = 0;
};

}  // namespace portal
