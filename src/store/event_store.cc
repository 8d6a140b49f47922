#include "src/store/event_store.h"

#include <fcntl.h>
#include <pthread.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <thread>

#include "events/log.h"
#include "src/store/key_vault.h"
#include "src/store/sha256.h"
#include "src/store/wal_file_system.h"

namespace portal {
namespace {

// An event's hash: SHA-256 of the hash before it and its stored JSON (the chain).
Hash eventHash(const Hash& prev, std::string_view json) {
  return sha256(std::string_view(reinterpret_cast<const char*>(prev.data()), prev.size()), json);
}

namespace fs = std::filesystem;

constexpr char kRecordFormat = 0x01;
// Where a backup into a directory that is there already is made before its files
// move up (a checkpoint makes its own directory; see backup()).
constexpr const char* kBackupInside = ".portal-backup";
constexpr std::size_t kHeaderBytes = 1 + 32 + 32;  // format, prevHash, hash
constexpr std::string_view kFormatKey = "format";
constexpr std::string_view kFormatValue = "company-user-portal event log 1";
constexpr std::string_view kHeadKey = "head";

const char* const kEventsCf = "events";
const char* const kStreamsCf = "streams";
const char* const kMetaCf = "meta";
const char* const kKeysCf = "keys";
const char* const kCheckpointsCf = "checkpoints";
// A read-only instance's scratch directory in /tmp: this, its process id, a dash,
// and the file its reader keeps locked.
const char* const kScratchPrefix = "portal-secondary-";
const char* const kScratchLock = "reader.lock";
const char* const kCommandsCf = "commands";
// Operational state beside the log, not part of it: mail waiting for delivery and
// signed-in sessions, imports' error logs. Created on first open; a read-only open does without them.
const char* const kOutboxCf = "outbox";
const char* const kSessionsCf = "sessions";
const char* const kImportsCf = "imports";  // batch imports' error logs
// Created and dropped at once by compact(), only to make RocksDB start a new MANIFEST.
const char* const kManifestRollCf = "manifest-roll";

std::string positionKey(std::uint64_t pos) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i, pos >>= 8) k[i] = static_cast<char>(pos & 0xff);
  return k;
}

std::uint64_t decodeBigEndian(std::string_view k) {
  std::uint64_t v = 0;
  for (unsigned char c : k) v = (v << 8) | c;
  return v;
}

std::string streamKey(std::string_view stream, std::uint64_t version) {
  std::string k;
  k.reserve(stream.size() + 9);
  k.append(stream);
  k.push_back('\0');
  k.append(positionKey(version));
  return k;
}

Error fromStatus(const rocksdb::Status& st, const std::string& what) {
  return makeError(st.IsCorruption() ? ErrorCode::kCorrupt : ErrorCode::kIoError,
                   what + ": " + st.ToString());
}

// Why an append after a failed write (or flush) of the log is refused.
Error stoppedError() {
  return makeError(ErrorCode::kIoError,
                   "the event log stopped after a failed write; restart the process");
}

std::string_view asView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// How far ahead a forward read of the log reads its file.
constexpr std::size_t kScanReadahead = 2 << 20;

// `pointLookups`: the family is read by key (table files get a Bloom filter).
// `memtableFilter`: its hot path looks up keys that are mostly absent, so the
// memtable gets a Bloom filter too. That filter costs every insert a hash and a
// cache miss: of the families written for every command (events, streams, keys,
// and the projections' rows), none is looked up that way on the hot path (the
// writer holds stream versions and data keys in memory; a projection reads a few
// rows per event and writes several), and dropping it there took about 4 us of
// CPU per created user off the projector and the log's write thread.
rocksdb::ColumnFamilyOptions familyOptions(const std::shared_ptr<rocksdb::Cache>& cache,
                                           bool pointLookups, bool memtableFilter = false) {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;
  if (pointLookups) t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  if (memtableFilter) {
    o.memtable_whole_key_filtering = true;
    o.memtable_prefix_bloom_size_ratio = 0.05;
  }
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  o.level_compaction_dynamic_level_bytes = true;
  return o;
}

// The families others create (createColumnFamilies): the projections' rows, read by
// key. Every event writes a few rows at random places in them, and inserting into a
// memtable is a walk down a skip list whose every step is a cache miss: in RocksDB's
// 64 MiB default that walk was most of the projector's work during a batch import
// (100,000 users: 1.66 s of writes in 64 MiB memtables, 1.11 s in 8 MiB ones).
// Smaller memtables are flushed more often, to table files that compactions merge.
constexpr std::size_t kCreatedFamilyMemtableBytes = 8 << 20;
rocksdb::ColumnFamilyOptions createdFamilyOptions(const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions o = familyOptions(cache, true);
  o.write_buffer_size = kCreatedFamilyMemtableBytes;
  return o;
}

// Each open of the database starts a new WAL, and RocksDB 7.8 keeps the previous
// one, empty, until a flush of every family (fixed in RocksDB 8.3, facebook/rocksdb
// #11409): each offline portalctl run or server restart left another 0-byte
// NNNNNN.log in the data directory. Those older than the one this open made hold
// nothing and go (safe without track_and_verify_wals_in_manifest, which is off).
// So does an options file RocksDB was writing when a crash came (OPTIONS-N.dbtmp,
// renamed to OPTIONS-N once whole): RocksDB never removes it (an operations review
// found one a dozen restarts later). The open holds the directory's lock and has
// renamed its own, and nothing writes another until the open returns.
void removeLeftovers(rocksdb::DB& db, const std::string& path) {
  std::unique_ptr<rocksdb::LogFile> current;
  if (!db.GetCurrentWalFile(&current).ok() || !current) return;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("OPTIONS-") && name.ends_with(".dbtmp")) {
      std::error_code ignored;
      fs::remove(e.path(), ignored);
      continue;
    }
    if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".log") != 0) continue;
    const std::string digits = name.substr(0, name.size() - 4);
    if (!std::all_of(digits.begin(), digits.end(),
                     [](unsigned char c) { return std::isdigit(c); }) ||
        digits.size() > 18)
      continue;
    std::error_code sizeError;
    if (std::stoull(digits) < current->LogNumber() && e.file_size(sizeError) == 0 && !sizeError) {
      std::error_code ignored;
      fs::remove(e.path(), ignored);
    }
  }
}

// Checks a record's header; nullopt when it is not one this program wrote.
std::optional<RawEvent> parseRecord(std::uint64_t position, std::string_view value) {
  if (value.size() < kHeaderBytes + 2 || value[0] != kRecordFormat) return std::nullopt;
  return RawEvent{position, reinterpret_cast<const Hash*>(value.data() + 1),
                  reinterpret_cast<const Hash*>(value.data() + 33), value.substr(kHeaderBytes)};
}

// The head record as `read` sees it: 0 when there is none, nullopt when it is not
// a position.
Result<std::optional<std::uint64_t>> readHead(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta,
                                              const rocksdb::ReadOptions& read) {
  std::string head;
  rocksdb::Status st = db.Get(read, meta, kHeadKey, &head);
  if (st.IsNotFound()) return std::optional<std::uint64_t>(0);
  if (!st.ok()) return fromStatus(st, "cannot read the log's head");
  if (head.size() != 8) return std::optional<std::uint64_t>();
  return std::optional<std::uint64_t>(decodeBigEndian(head));
}

}  // namespace

namespace {

// RocksDB's diagnostics, errors only (a refused open is the caller's to explain),
// as lines on stderr: one line each, its first (a full disk's MANIFEST error carried
// a dump of seventy lines without a time; a review).
class StderrLogger final : public rocksdb::Logger {
 public:
  explicit StderrLogger(rocksdb::InfoLogLevel level = rocksdb::InfoLogLevel::ERROR_LEVEL)
      : rocksdb::Logger(level) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[1024];
    const int n = std::vsnprintf(line, sizeof line, format, ap);
    std::size_t end = n < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(n), sizeof line - 1);
    while (end > 0 && (line[end - 1] == '\n' || line[end - 1] == ' ')) --end;
    std::string_view text(line, end);
    text.remove_prefix(std::min(text.find_first_not_of("\r\n "), text.size()));
    const std::size_t cut = text.find_first_of("\r\n");
    logLine("rocksdb: " + std::string(text.substr(0, cut)) +
            (cut == std::string_view::npos ? "" : " ..."));
  }
};

}  // namespace

// RocksDB's word that its background work failed so that it takes no write, kept
// until it says it recovered. Only an error of a hard severity or worse stops
// writes: RocksDB 7.8 also tells its listeners of errors it then sets aside (a
// retryable one in a compaction, which is scheduled again, with no recovery to end
// it; a review) or takes writes through (soft ones), and those are not kept.
class EventStore::BackgroundErrors final : public rocksdb::EventListener {
 public:
  void OnBackgroundError(rocksdb::BackgroundErrorReason, rocksdb::Status* error) override {
    if (error == nullptr || !stopsWrites(*error)) return;
    std::lock_guard lock(mu_);
    error_ = error->ToString();
  }
  void OnErrorRecoveryEnd(const rocksdb::BackgroundErrorRecoveryInfo& info) override {
    std::lock_guard lock(mu_);
    error_ = stopsWrites(info.new_bg_error) ? info.new_bg_error.ToString() : std::string();
  }
  std::string error() const {
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  static bool stopsWrites(const rocksdb::Status& s) {
    return !s.ok() && s.severity() >= rocksdb::Status::Severity::kHardError;
  }
  mutable std::mutex mu_;
  std::string error_;
};

bool EventStore::walFailed() const { return walFailure_ && walFailure_->failed(); }

std::string EventStore::backgroundError() const {
  if (walFailed()) return walFailure_->status().ToString();
  return backgroundErrors_ ? backgroundErrors_->error() : std::string();
}

rocksdb::Status EventStore::flushWal(bool sync) {
  rocksdb::Status st = db_->FlushWAL(sync);
  // Read after the flush: a failure of any write of what it wrote out came first.
  if (st.ok() && walFailure_) st = walFailure_->status();
  return st;
}

rocksdb::Status EventStore::write(rocksdb::WriteBatch& batch, bool wal) {
  if (walFailed()) return walFailure_->status();
  rocksdb::WriteOptions options;
  options.disableWAL = !wal;
  return db_->Write(options, &batch);
}

rocksdb::Status EventStore::put(rocksdb::ColumnFamilyHandle* family, std::string_view key,
                                std::string_view value) {
  rocksdb::WriteBatch batch;
  batch.Put(family, rocksdb::Slice(key.data(), key.size()),
            rocksdb::Slice(value.data(), value.size()));
  return write(batch);
}

rocksdb::Status EventStore::erase(rocksdb::ColumnFamilyHandle* family, std::string_view key) {
  rocksdb::WriteBatch batch;
  batch.Delete(family, rocksdb::Slice(key.data(), key.size()));
  return write(batch);
}

rocksdb::Status EventStore::flush(const std::vector<rocksdb::ColumnFamilyHandle*>& families) {
  if (walFailed())
    return rocksdb::Status::IOError("a write of the write-ahead log failed before: " +
                                    walFailure_->status().ToString());
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return db_->Flush(fo, families);
}

rocksdb::Status EventStore::writeDurably(rocksdb::WriteBatch& batch) {
  rocksdb::Status st = write(batch);
  return st.ok() ? flushWal(true) : st;
}

Result<std::unique_ptr<EventStore>> EventStore::open(const StoreOptions& options) {
  // A reader (a secondary instance) opens the files its MANIFEST names as they are
  // when it reads them. One that meets the writer changing them (a flush, a
  // compaction, a family made or dropped: each starts a new MANIFEST, whose name is
  // in CURRENT) saw families listed from one MANIFEST and opened from the next
  // ("unknown column family"), found no MANIFEST, or opened a version whose table
  // files the writer had just deleted, which RocksDB passes over: rows missing, or
  // an abort on an assertion. So a reader's open, or its refusal, counts only when
  // CURRENT named the same MANIFEST before and after it; otherwise it is tried
  // again, eight times within about four seconds, and then refused rather than
  // trusted. With the writer holding its file deletions (StoreOptions::holdFiles)
  // every file a MANIFEST names stays while the open reads it: only a family made or
  // dropped meanwhile (a rebuild's generation, a compaction's MANIFEST roll), which
  // the open would not have, makes it try again.
  if (!options.readOnly) return openOnce(options);
  auto current = [&] {
    std::ifstream in(fs::path(options.path) / "CURRENT");
    std::string name;
    std::getline(in, name);
    return name;
  };
  for (int attempt = 1;; ++attempt) {
    if (attempt > 1) std::this_thread::sleep_for(std::chrono::milliseconds(100 * (attempt - 1)));
    const std::unique_ptr<FileHold> hold = options.holdFiles ? options.holdFiles() : nullptr;
    const std::string before = current();
    auto store = openOnce(options);
    // A WAL listed and then gone is the writer's removing an obsolete one, which may
    // leave CURRENT as it was (a review): tried again as a change of files is.
    const bool walGone = !store &&
                         store.error().message.find("No such file") != std::string::npos &&
                         store.error().message.find(".log") != std::string::npos;
    if (store && hold && hold->held()) {
      std::vector<std::string> now;
      (void)rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), options.path, &now);
      std::vector<std::string> opened;
      for (auto* h : (*store)->handles_) opened.push_back(h->GetName());
      std::sort(now.begin(), now.end());
      std::sort(opened.begin(), opened.end());
      if (now == opened) return store;
    } else if (!walGone && (before.empty() || current() == before)) {
      // What an open found, opened or refused, holds when the files stayed as they were.
      return store;
    }
    if (attempt == 8)
      return makeError(ErrorCode::kBusy,
                       "the files of " + options.path +
                           " kept changing while they were opened (the running "
                           "server's flushes under a heavy write load, a compaction "
                           "or a rebuild?); try again once it is quieter");
  }
}

namespace {

// True for the default family and the store's own; false for those created by
// createColumnFamilies (the projections').
bool ownFamily(const std::string& name) {
  static const std::set<std::string> own = {rocksdb::kDefaultColumnFamilyName, kEventsCf, kStreamsCf, kMetaCf,
                                            kKeysCf, kCheckpointsCf, kCommandsCf, kOutboxCf, kSessionsCf,
                                            kImportsCf};
  return own.count(name) != 0;
}

// True when every family named is the default one or one of the store's own.
bool onlyOwnFamilies(const std::vector<std::string>& names) {
  return std::all_of(names.begin(), names.end(), ownFamily);
}

// True when nothing was ever written to the database (a first open of ours makes
// families and writes no key: its sequence stays 0; a key put and deleted again
// does not), and none of the families holds a key.
bool familiesEmpty(rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  if (db->GetLatestSequenceNumber() != 0) return false;
  for (auto* h : handles) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), h));
    it->SeekToFirst();
    if (it->Valid() || !it->status().ok()) return false;
  }
  return true;
}

// True when the RocksDB at `path` holds no key in any of its families (opened
// read-only: nothing is written to a directory that may be somebody else's).
bool holdsNothing(const rocksdb::DBOptions& dbo, const std::string& path, const std::vector<std::string>& names) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::DBOptions readOptions = dbo;
  readOptions.create_if_missing = false;
  if (!rocksdb::DB::OpenForReadOnly(readOptions, path, descriptors, &handles, &raw).ok()) return false;
  std::unique_ptr<rocksdb::DB> db(raw);
  const bool empty = familiesEmpty(db.get(), handles);
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  return empty;
}

// "cannot read P: permission denied": a directory or file this process may not
// read is said as such, not as a directory without portal data (which is what
// RocksDB and a failed look for CURRENT would make of it).
Error unreadable(const std::string& path, std::string why) {
  if (!why.empty()) why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
  return makeError(ErrorCode::kIoError, "cannot read " + path + ": " + why);
}

// A directory whose CURRENT names files that are damaged or gone (its MANIFEST, a
// table file): RocksDB's, and very likely ours, so not "no portal data", which
// reads as a wrong path and invites provisioning anew (a review).
bool damaged(const rocksdb::Status& st) {
  return st.IsCorruption() ||
         (st.IsIOError() && st.ToString().find("No such file") != std::string::npos);
}

Error damagedFiles(const std::string& path, std::string why) {
  return makeError(ErrorCode::kCorrupt, "the files of " + path + " are damaged (" + why +
                                            "); restore the data directory from a backup");
}

Error damagedFiles(const std::string& path, const rocksdb::Status& st) {
  std::string why = st.ToString();
  // "Corruption: Corruption: IO error: …" as RocksDB 7.8 nests them: said once.
  for (const std::string_view prefix : {"Corruption: ", "IO error: "})
    while (why.starts_with(std::string(prefix) + std::string(prefix))) why.erase(0, prefix.size());
  return damagedFiles(path, std::move(why));
}

// The column families the newest options file RocksDB wrote in `dir` names. RocksDB
// writes one after each change of the set of families, once its MANIFEST holds the
// change (and after CURRENT, at a first open): a family named there that the
// MANIFEST does not list, or CURRENT gone beside it, is damage. Both read as "no
// portal data" before, which sends the operator looking for another path, and a
// MANIFEST cut short could read as a first open cut short (a review).
std::set<std::string> familiesInOptions(const fs::path& dir) {
  std::error_code ec;
  fs::path newest;
  std::uint64_t number = 0;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("OPTIONS-", 0) != 0 || name.ends_with(".dbtmp")) continue;  // one being written
    const std::uint64_t n = std::strtoull(name.c_str() + 8, nullptr, 10);
    if (newest.empty() || n > number) newest = entry.path(), number = n;
  }
  std::set<std::string> families;
  if (newest.empty()) return families;
  std::ifstream in(newest);
  static constexpr std::string_view kSection = "[CFOptions \"";
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(kSection) && line.ends_with("\"]"))
      families.insert(line.substr(kSection.size(), line.size() - kSection.size() - 2));
  return families;
}

// The log's own families, which are never dropped.
const char* const kCoreFamilies[] = {kEventsCf, kStreamsCf,     kMetaCf,
                                     kKeysCf,   kCheckpointsCf, kCommandsCf};

// A file of RocksDB's in the directory that this process may not read (another
// user's, mode 600): what a reader opens (not the LOCK, nor a file of somebody's own
// beside them, which no reader minds: a review).
bool someFileUnreadable(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const std::string ext = e.path().extension().string();
    const bool rocksdbs = name == "CURRENT" || name == "IDENTITY" ||
                          name.starts_with("MANIFEST-") || name.starts_with("OPTIONS-") ||
                          ext == ".sst" || ext == ".log" || ext == ".blob";
    if (rocksdbs && e.is_regular_file(ec) && ::access(e.path().c_str(), R_OK) != 0) return true;
  }
  return false;
}

// RocksDB's refusal to open or list a file of the directory for want of permission.
bool permissionDenied(const rocksdb::Status& st) {
  return st.IsIOError() && st.ToString().find("Permission denied") != std::string::npos;
}

}  // namespace

Result<void> EventStore::checkDirectory(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found)
    return makeError(ErrorCode::kNotFound, "data directory " + path + " does not exist");
  if (ec) return unreadable(path, ec.message());
  if (!fs::is_directory(status))
    return makeError(ErrorCode::kNotPortalData, path + " is not a directory");
  // Listing it takes read permission, and reaching the files in it (D/.) search
  // permission: without either, RocksDB would find no CURRENT, and a new log none.
  [[maybe_unused]] const fs::directory_iterator listing(path, ec);
  if (!ec) (void)fs::status(fs::path(path) / ".", ec);
  if (ec) return unreadable(path, ec.message());
  return {};
}

Result<std::unique_ptr<EventStore>> EventStore::openOnce(const StoreOptions& options) {
  std::error_code ec;
  const fs::path dir(options.path);
  if (options.path.empty())
    return makeError(ErrorCode::kInvalidArgument, "no data directory given");
  auto checked = checkDirectory(options.path);
  if (!checked && checked.error().code == ErrorCode::kNotFound && options.createIfMissing &&
      !options.readOnly) {
    fs::create_directories(dir, ec);
    if (ec)
      return makeError(ErrorCode::kIoError,
                       "cannot create data directory " + options.path + ": " + ec.message());
    checked = checkDirectory(options.path);
  }
  if (!checked)
    return makeError(checked.error().code == ErrorCode::kNotFound ? ErrorCode::kNotPortalData
                                                                  : checked.error().code,
                     checked.error().message);
  const bool hasDb = fs::exists(dir / "CURRENT", ec);
  if (ec) return unreadable(options.path, ec.message());
  // Checked before a new log would be made over what is left of the old one (an old
  // options file alone, in a directory emptied by hand, is no log).
  if (!hasDb) {
    bool files = false;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string n = entry.path().filename().string();
      files = files || n.rfind("MANIFEST-", 0) == 0 || n.ends_with(".sst") || n.ends_with(".log");
    }
    if (files) {
      const auto families = familiesInOptions(dir);
      if (families.count(kEventsCf) && families.count(kMetaCf))
        return damagedFiles(options.path, "its CURRENT file is missing");
    }
  }
  if (!hasDb && (!options.createIfMissing || options.readOnly))
    return makeError(ErrorCode::kNotPortalData, options.path + " holds no portal data");
  if (!hasDb) {
    // A new log goes into an empty directory (a volume's lost+found aside): one that
    // holds other files is somebody else's, and a mistyped path must not litter it.
    // RocksDB's own files, of a first open cut short before it wrote CURRENT, are
    // no one else's.
    auto rocksdbOwn = [](const std::string& n) {
      return n == "LOCK" || n == "IDENTITY" || n.rfind("LOG", 0) == 0 || n.rfind("MANIFEST-", 0) == 0 ||
             n.rfind("OPTIONS-", 0) == 0 || (n.size() > 4 && n.compare(n.size() - 4, 4, ".log") == 0);
    };
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string n = entry.path().filename().string();
      if (n != "lost+found" && !rocksdbOwn(n))
        return makeError(ErrorCode::kNotPortalData,
                         options.path + " holds no portal data and is not empty; give a new or empty directory");
    }
  }

  std::unique_ptr<EventStore> store(new EventStore());
  store->options_ = options;

  auto cache = rocksdb::NewLRUCache(options.blockCacheBytes);
  store->cache_ = cache;
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = !hasDb;
  dbo.create_missing_column_families = !options.readOnly;
  dbo.max_background_jobs = 2;
  // RocksDB's own diagnostics go to stderr, errors only: a LOG file in the
  // data directory fills up with it, and RocksDB 7.8 aborts on an assertion when it
  // logs the disk-full error into the LOG whose last write failed.
  // A reader's: fatal ones only. Its open meets the writer's files changing (see
  // open()), which RocksDB logs as errors before the open is tried again; what
  // fails in the end comes back as a status, said in one line.
  dbo.info_log = std::make_shared<StderrLogger>(options.readOnly ? rocksdb::InfoLogLevel::FATAL_LEVEL
                                                                 : rocksdb::InfoLogLevel::ERROR_LEVEL);
  if (options.readOnly) dbo.max_open_files = -1;  // required of secondary instances
  if (!options.readOnly) {
    store->backgroundErrors_ = std::make_shared<BackgroundErrors>();
    dbo.listeners.push_back(store->backgroundErrors_);
  }
  const auto fileSystem = options.fileSystem ? options.fileSystem : rocksdb::FileSystem::Default();
  if (!options.readOnly) {
    store->walFailure_ = std::make_shared<WalFailure>();
    store->env_ =
        rocksdb::NewCompositeEnv(walFailuresKept(fileSystem, options.path, store->walFailure_));
  } else if (options.fileSystem) {
    store->env_ = rocksdb::NewCompositeEnv(fileSystem);
  }
  if (store->env_) dbo.env = store->env_.get();
  // The sync thread writes out and fsyncs the WAL itself (see writeLoop).
  dbo.manual_wal_flush = !options.readOnly;
  // A record cut short at the end of a WAL (the process killed while it was
  // written) was never acknowledged, and goes. A damaged one before the end is
  // either a power cut during an fsync, which may keep a later page of the
  // unacknowledged tail and not an earlier one, or damage to acknowledged events:
  // the log alone cannot tell them apart. Refusing to start after a power cut would
  // send the operator to a backup older than what is on disk, so the open then
  // starts from the events before the damage (RocksDB's point in time, below) and
  // says so loudly; before, it did so without a word (a review: 5 of 10 users gone,
  // and verify then said ok).
  if (!options.readOnly)
    dbo.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // A new MANIFEST at every change of the set of table files (flushes, compactions,
  // ingestions: seconds apart at the busiest). A MANIFEST lists each table file's
  // first and last keys, and keeps a deleted file's entry until RocksDB starts a new
  // one: the search index's keys are people's names, which must leave every file
  // once they are anonymized and compacted (see compact()).
  dbo.max_manifest_file_size = 0;
  // Past 256 MiB of write-ahead log the families holding its oldest writes are
  // flushed, so that it can go: a read-only instance beside the server (portal-replay)
  // replays the whole log into memory at open, and with a dozen families of 64 MiB
  // memtables it would otherwise reach gigabytes.
  dbo.max_total_wal_size = 256ull << 20;

  std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName};
  // A first open cut short (Ctrl-C or a crash while a provisioning made the log)
  // after RocksDB wrote CURRENT but before the format was recorded: nothing but
  // empty families of ours. Such a directory is made into a log as an empty one is.
  bool unfinished = false;
  const std::string unfinishedMessage =
      options.path + " holds a portal log whose creation was cut short (it is empty); "
                     "provision it again, or remove its files";
  if (hasDb) {
    names.clear();
    rocksdb::Status st = rocksdb::DB::ListColumnFamilies(dbo, options.path, &names);
    if (permissionDenied(st)) return unreadable(options.path, "permission denied");
    if (damaged(st)) return damagedFiles(options.path, st);
    if (!st.ok())
      return makeError(ErrorCode::kNotPortalData,
                       options.path + " holds no portal data (" + st.ToString() + ")");
    // Another program's RocksDB: refused before it is opened for writing, which would
    // add our families to it (and flush its memtable) before the format is read.
    auto has = [&](const char* family) { return std::find(names.begin(), names.end(), family) != names.end(); };
    const bool core = has(kEventsCf) && has(kMetaCf);
    const bool complete = core && has(kStreamsCf) && has(kKeysCf) && has(kCheckpointsCf) && has(kCommandsCf);
    // A MANIFEST cut short lists fewer families than the log had ("default" alone
    // would read as a first open cut short, and be made into a new log).
    // (Read only when a family is missing: an intact log's open reads no options.)
    const auto hadFamilies = complete ? std::set<std::string>{} : familiesInOptions(dir);
    for (const char* family : kCoreFamilies)
      if (hadFamilies.count(family) && !has(family))
        return damagedFiles(options.path,
                            std::string("its MANIFEST does not list the column family ") + family +
                                ", which the log had");
    if (!complete && onlyOwnFamilies(names) && holdsNothing(dbo, options.path, names)) {
      if (!options.createIfMissing || options.readOnly)
        return makeError(ErrorCode::kNotPortalData, unfinishedMessage);
      unfinished = true;
    } else if (!core) {
      return makeError(ErrorCode::kNotPortalData, options.path + " holds no portal data");
    }
  }
  for (const char* own : kCoreFamilies) {
    if (std::find(names.begin(), names.end(), own) != names.end()) continue;
    if (options.readOnly)
      return makeError(ErrorCode::kNotPortalData, options.path + " holds no portal data");
    names.emplace_back(own);
  }
  if (!options.readOnly)
    for (const char* own : {kOutboxCf, kSessionsCf, kImportsCf})
      if (std::find(names.begin(), names.end(), own) == names.end()) names.emplace_back(own);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) {
    if (!ownFamily(n)) {
      descriptors.emplace_back(n, createdFamilyOptions(cache));
      continue;
    }
    const bool point = n == kStreamsCf || n == kKeysCf || n == kMetaCf || n == kCheckpointsCf ||
                       n == kCommandsCf || n == kOutboxCf || n == kSessionsCf || n == kImportsCf;
    // A command with an Idempotency-Key looks its key up first, and it is new
    // almost always: the memtable's filter answers that.
    descriptors.emplace_back(n, familyOptions(cache, point, n == kCommandsCf));
  }

  // Damage RocksDB's open met in the write-ahead log alone: the same open made
  // read-only and to a point in time, which writes nothing (no new MANIFEST, WAL or
  // table file), succeeds. (Damage elsewhere is said as damaged files.)
  auto onlyTheWalDamaged = [&] {
    rocksdb::DBOptions look = dbo;
    look.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
    look.create_if_missing = false;
    look.create_missing_column_families = false;
    // The families the directory has: a read-only open makes none (the writer's
    // list adds the outbox, sessions and imports where they are not yet).
    std::vector<std::string> present;
    (void)rocksdb::DB::ListColumnFamilies(look, options.path, &present);
    std::vector<rocksdb::ColumnFamilyDescriptor> existing;
    for (const auto& d : descriptors)
      if (std::find(present.begin(), present.end(), d.name) != present.end()) existing.push_back(d);
    std::vector<rocksdb::ColumnFamilyHandle*> seen;
    rocksdb::DB* raw = nullptr;
    if (!rocksdb::DB::OpenForReadOnly(look, options.path, existing, &seen, &raw).ok()) return false;
    for (auto* h : seen) raw->DestroyColumnFamilyHandle(h);
    delete raw;
    return true;
  };
  // What a reader and the writer's offline jobs say of it (the server starts from
  // the events before the damage: see below).
  auto walDamaged = [&](const rocksdb::Status& why, const char* nothing) {
    return makeError(ErrorCode::kCorrupt,
                     "the write-ahead log of " + options.path + " is damaged (" + why.ToString() +
                         "); nothing was " + nothing +
                         ". portal-server starts from the events before the damage (and says "
                         "so), or restore a backup");
  };
  rocksdb::Status st;
  if (options.readOnly) {
    // A reader holds a lock on a file in its scratch directory as long as it lives:
    // one whose lock can be taken belongs to a reader killed before it could remove
    // it (Ctrl-C, kill -9), and goes now. (A lock, not the process id: /tmp may be
    // shared with other process namespaces.)
    // In $TMPDIR when set, as other programs' scratch files (a review ran it where
    // /tmp was read-only).
    const char* tmpdir = std::getenv("TMPDIR");
    const std::string scratchIn = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
    // Not inside the data directory, which a reader never writes to (a review set
    // TMPDIR there, and the scratch directory came and went in it).
    {
      std::error_code e1, e2;
      const fs::path scratchDir = fs::weakly_canonical(scratchIn, e1);
      const fs::path dataDir = fs::weakly_canonical(options.path, e2);
      const fs::path relative = scratchDir.lexically_relative(dataDir);
      if (!e1 && !e2 && !relative.empty() && *relative.begin() != "..")
        return makeError(ErrorCode::kInvalidArgument,
                         "TMPDIR (" + scratchIn + ") is inside the data directory " + options.path +
                             ", which is only read; set TMPDIR to another directory");
    }
    for (const auto& e : fs::directory_iterator(scratchIn, ec)) {
      if (e.path().filename().string().rfind(kScratchPrefix, 0) != 0) continue;
      const int fd = ::open((e.path() / kScratchLock).c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) continue;  // not ours, or not yet locked (see below)
      if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        std::error_code ignored;
        fs::remove_all(e.path(), ignored);
      }
      ::close(fd);
    }
    std::string tmpl =
        scratchIn + "/" + std::string(kScratchPrefix) + std::to_string(getpid()) + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      const int why = errno;
      return makeError(ErrorCode::kIoError, "cannot create a scratch directory in " + scratchIn +
                                                ": " + std::strerror(why) +
                                                " (TMPDIR can name another)");
    }
    // Locked before it gets its name, so that no sweep sees it unlocked.
    const std::string unnamed = tmpl + "/.lock-being-made";
    store->scratchLock_ = ::open(unnamed.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (store->scratchLock_ < 0 || flock(store->scratchLock_, LOCK_EX) != 0 ||
        std::rename(unnamed.c_str(), (tmpl + "/" + kScratchLock).c_str()) != 0) {
      std::error_code ignored;
      fs::remove_all(tmpl, ignored);
      return makeError(ErrorCode::kIoError, "cannot lock a scratch directory in " + scratchIn);
    }
    store->secondaryPath_ = tmpl;
    st = rocksdb::DB::OpenAsSecondary(dbo, options.path, store->secondaryPath_, descriptors,
                                      &store->handles_, &store->db_);
    // No TryCatchUpWithPrimary() here: the open has read the MANIFEST and the WAL as
    // they are, and a catch-up at once, while a compaction replaced files, made
    // RocksDB 7.8 abort on an assertion (version_builder.cc) in one run of ten.
    if (permissionDenied(st)) return unreadable(options.path, "permission denied");
    // Said as the writer's jobs say it, not as damaged files to restore from a backup,
    // which the server's start would not need (a review).
    if (st.IsCorruption() && onlyTheWalDamaged()) return walDamaged(st, "read");
  } else {
    st = rocksdb::DB::Open(dbo, options.path, descriptors, &store->handles_, &store->db_);
    // RocksDB's status names no file ("Corruption: checksum mismatch"): an open that
    // succeeds in point-in-time recovery, which only reads the WAL otherwise, found
    // the damage in the WAL.
    if (st.IsCorruption() && !options.recoverDamagedWal) {
      if (onlyTheWalDamaged()) return walDamaged(st, "done");
    } else if (st.IsCorruption()) {
      const std::string why = st.ToString();
      dbo.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
      st = rocksdb::DB::Open(dbo, options.path, descriptors, &store->handles_, &store->db_);
      if (st.ok())
        logLine("warning: the write-ahead log of " + options.path + " was damaged (" + why +
                "); started from the events before the damage. Those after it were either not "
                "written whole (a power cut while they were synced: never acknowledged) or "
                "damaged since: if acknowledged commands are missing, restore a backup");
    }
  }
  if (!st.ok()) {
    const std::string msg = st.ToString();
    // Its lock file cannot be made there (a disk remounted read-only after errors):
    // said so, not as a lock held by a process the operator would look for in vain.
    if (st.IsIOError() && msg.find("Read-only file system") != std::string::npos)
      return makeError(ErrorCode::kIoError,
                       "data directory " + options.path +
                           " is on a read-only file system; portal-replay reads it all the same");
    // Not a lock held elsewhere when the lock file cannot even be opened.
    if (st.IsIOError() && msg.find("Permission denied") == std::string::npos &&
        msg.find("Operation not permitted") == std::string::npos &&
        (msg.find("lock") != std::string::npos || msg.find("LOCK") != std::string::npos))
      return makeError(
          ErrorCode::kBusy,
          "data directory " + options.path +
              " is in use by another process (a portal-server, or a portalctl working on "
              "it); portal-replay reads it all the same, and portalctl works through "
              "a running server's operator socket");
    if (damaged(st)) return damagedFiles(options.path, st);
    // A directory, or a file of it, that cannot be written (an immutable one, or one
    // of another user's): said so beside RocksDB's words, which name one file of it
    // (a review read "While open a file for appending: .../000794.sst").
    // A file it may not read either (another user's, mode 600) is said as for a
    // reader, which is refused the same file: "portal-replay reads it all the same"
    // was said of files portal-replay could not read (a review).
    if (st.IsIOError() && (msg.find("Permission denied") != std::string::npos ||
                           msg.find("Operation not permitted") != std::string::npos)) {
      if (!options.readOnly && someFileUnreadable(options.path))
        return unreadable(options.path, "permission denied");
      return makeError(ErrorCode::kIoError,
                       options.readOnly
                           ? "cannot read data directory " + options.path + " (" + msg +
                                 "): its files must be readable by this user"
                           : "cannot write in data directory " + options.path + " (" + msg +
                                 "): make it and its files writable for this user (not "
                                 "read-only, not immutable); portal-replay reads it all the "
                                 "same");
    }
    return fromStatus(st, "cannot open the event log in " + options.path);
  }
  if (!options.readOnly) removeLeftovers(*store->db_, options.path);
  store->handleNames_ = names;
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto* h = store->handles_[i];
    if (names[i] == kEventsCf) store->cf_.events = h;
    else if (names[i] == kStreamsCf) store->cf_.streams = h;
    else if (names[i] == kMetaCf) store->cf_.meta = h;
    else if (names[i] == kKeysCf) store->cf_.keys = h;
    else if (names[i] == kCheckpointsCf) store->cf_.checkpoints = h;
  }
  // Left by a crash inside compact() (after the handles are mapped: it leaves them).
  if (std::find(names.begin(), names.end(), kManifestRollCf) != names.end() && !options.readOnly)
    if (auto r = store->dropColumnFamily(kManifestRollCf); !r) return r.error();

  std::string format;
  st = store->db_->Get(rocksdb::ReadOptions(), store->cf_.meta, kFormatKey, &format);
  if (st.IsNotFound()) {
    if (hasDb && !unfinished) {
      // Our families, all of them empty: the first open was cut short after it made them.
      if (!onlyOwnFamilies(names) || !familiesEmpty(store->db_, store->handles_))
        return makeError(ErrorCode::kNotPortalData, options.path + " holds no portal data");
      if (!options.createIfMissing || options.readOnly)
        return makeError(ErrorCode::kNotPortalData, unfinishedMessage);
    }
    rocksdb::WriteBatch batch;
    batch.Put(store->cf_.meta, kFormatKey, kFormatValue);
    st = store->writeDurably(batch);
    if (!st.ok()) return fromStatus(st, "cannot initialise the event log");
  } else if (!st.ok()) {
    return fromStatus(st, "cannot read the event log's format");
  } else if (format != kFormatValue) {
    return makeError(ErrorCode::kNotPortalData,
                     options.path + " holds data of another format ('" + format + "')");
  }

  store->vault_ = std::make_unique<KeyVault>(store->db_, store->cf_.keys);
  if (auto r = store->loadHead(); !r) return r.error();
  if (!options.readOnly) {
    // Appending to a log whose newest events were removed would reuse their positions
    // and chain on, and the next verify could no longer tell: refuse it.
    if (auto r = store->checkRecordedHead(); !r) return r.error();
    // Both read a family of their own with an entry a person (a second or two each
    // for a million): side by side.
    Result<void> heads;
    std::thread loadingHeads([&] {
      try {
        heads = store->loadStreamHeads();
      } catch (const std::exception& e) {
        heads = makeError(ErrorCode::kIoError,
                          std::string("cannot load the stream index: ") + e.what());
      }
    });
    Result<void> keys;
    try {
      keys = store->vault_->loadAll();
    } catch (const std::exception& e) {
      keys = makeError(ErrorCode::kIoError, std::string("cannot load the key vault: ") + e.what());
    }
    loadingHeads.join();
    if (!heads) return heads.error();
    if (!keys) return keys.error();
    store->preparedPosition_ = store->lastPosition();
    store->preparedHash_ = store->lastHash_;
    store->writer_ = std::thread([s = store.get()] {
      pthread_setname_np(pthread_self(), "log-writer");
      s->writeLoop();
    });
    store->syncer_ = std::thread([s = store.get()] {
      pthread_setname_np(pthread_self(), "log-sync");
      s->syncLoop();
    });
  }
  return store;
}

EventStore::~EventStore() {
  if (writer_.joinable()) {
    {
      std::lock_guard lock(queueMu_);
      stopping_ = true;
    }
    queueReady_.notify_all();
    writer_.join();
    syncer_.join();
  }
  vault_.reset();
  if (db_ != nullptr) {
    // No flush at the close after a failed write of the WAL (see flush()).
    if (walFailed()) (void)db_->SetDBOptions({{"avoid_flush_during_shutdown", "true"}});
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
    delete db_;
  }
  if (!secondaryPath_.empty()) {
    std::error_code ec;
    fs::remove_all(secondaryPath_, ec);
    if (scratchLock_ >= 0) ::close(scratchLock_);
  }
}

rocksdb::ColumnFamilyHandle* EventStore::columnFamily(std::string_view name) const {
  std::shared_lock lock(familiesMu_);
  for (std::size_t i = 0; i < handleNames_.size(); ++i)
    if (handleNames_[i] == name) return handles_[i];
  return nullptr;
}

std::vector<std::string> EventStore::columnFamilyNames() const {
  std::shared_lock lock(familiesMu_);
  return handleNames_;
}

Result<rocksdb::ColumnFamilyHandle*> EventStore::createColumnFamily(const std::string& name) {
  auto made = createColumnFamilies({name}, true);
  if (!made) return made.error();
  return made->front();
}

Result<std::vector<rocksdb::ColumnFamilyHandle*>> EventStore::createColumnFamilies(
    const std::vector<std::string>& names, bool autoCompactions) {
  if (options_.readOnly) return makeError(ErrorCode::kReadOnly, "the event log is open read-only");
  std::vector<std::string> missing;
  for (const auto& name : names)
    if (columnFamily(name) == nullptr && std::find(missing.begin(), missing.end(), name) == missing.end())
      missing.push_back(name);
  if (!missing.empty()) {
    // One call for all: RocksDB rewrites its OPTIONS file once, not once a family.
    rocksdb::ColumnFamilyOptions o =
        createdFamilyOptions(std::static_pointer_cast<rocksdb::Cache>(cache_));
    o.disable_auto_compactions = !autoCompactions;
    std::vector<rocksdb::ColumnFamilyHandle*> made;
    rocksdb::Status st = db_->CreateColumnFamilies(o, missing, &made);
    std::unique_lock lock(familiesMu_);
    for (auto* h : made) {
      handles_.push_back(h);
      handleNames_.push_back(h->GetName());
    }
    // It stops at the first it cannot create.
    if (!st.ok())
      return fromStatus(st, "cannot create column family " + missing[std::min(made.size(), missing.size() - 1)]);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> out;
  for (const auto& name : names) out.push_back(columnFamily(name));
  return out;
}

Result<void> EventStore::dropColumnFamily(const std::string& name) { return dropColumnFamilies({name}); }

Result<void> EventStore::dropColumnFamilies(const std::vector<std::string>& names) {
  if (options_.readOnly) return makeError(ErrorCode::kReadOnly, "the event log is open read-only");
  std::unique_lock lock(familiesMu_);
  std::vector<rocksdb::ColumnFamilyHandle*> doomed;
  for (std::size_t i = 0; i < handleNames_.size(); ++i)
    if (std::find(names.begin(), names.end(), handleNames_[i]) != names.end()) doomed.push_back(handles_[i]);
  if (doomed.empty()) return {};
  auto forget = [&](rocksdb::ColumnFamilyHandle* h) {
    const auto at = std::find(handles_.begin(), handles_.end(), h) - handles_.begin();
    handles_.erase(handles_.begin() + at);
    handleNames_.erase(handleNames_.begin() + at);
    db_->DestroyColumnFamilyHandle(h);
  };
  // One call for all: RocksDB rewrites its OPTIONS file once, not once a family.
  if (db_->DropColumnFamilies(doomed).ok()) {
    for (auto* h : doomed) forget(h);
    return {};
  }
  // It stopped at one of them, the ones before it dropped: settle each alone, so
  // that no handle of a dropped family stays listed (a flush of every family, as
  // compact() makes, would fail on it).
  std::optional<Error> failure;
  for (auto* h : doomed) {
    rocksdb::Status st = db_->DropColumnFamily(h);
    if (st.ok() || st.ToString().find("already dropped") != std::string::npos) {
      forget(h);
    } else if (!failure) {
      failure = fromStatus(st, "cannot drop column family " + h->GetName());
    }
  }
  if (failure) return *failure;
  return {};
}

Result<void> EventStore::loadHead() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_.events));
  it->SeekToLast();
  if (!it->status().ok()) return fromStatus(it->status(), "cannot read the event log");
  if (!it->Valid()) {
    lastPosition_.store(0, std::memory_order_release);
    lastHash_ = Hash{};
    return {};
  }
  const std::uint64_t pos = decodeBigEndian(asView(it->key()));
  auto raw = parseRecord(pos, asView(it->value()));
  if (it->key().size() != 8 || !raw)
    return makeError(ErrorCode::kCorrupt,
                     "the last event (" + std::to_string(pos) + ") is not in this program's format");
  lastHash_ = *raw->hash;
  lastPosition_.store(pos, std::memory_order_release);
  return {};
}

// The head recorded with every append, 0 when none is (an empty log); nullopt when
// the record is there but not a position.
Result<std::optional<std::uint64_t>> EventStore::recordedHead() const {
  return readHead(*db_, cf_.meta, rocksdb::ReadOptions());
}

Result<void> EventStore::checkRecordedHead() const {
  auto head = recordedHead();
  if (!head) return head.error();
  const std::uint64_t last = lastPosition();
  if (*head && **head == last) return {};
  return makeError(ErrorCode::kCorrupt,
                   "the event log holds " + std::to_string(last) + " events but recorded " +
                       (*head ? std::to_string(**head) : std::string("an unreadable head")) +
                       ": it was changed outside this program; run portal-replay verify and "
                       "restore a backup");
}

Result<void> EventStore::loadStreamHeads() {
  // Keys sort by stream, then version: the last key of each stream is its head.
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = kScanReadahead;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_.streams));
  streamVersions_.clear();
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view k = asView(it->key());
    if (k.size() < 10 || k[k.size() - 9] != '\0')
      return makeError(ErrorCode::kCorrupt, "the stream index holds a malformed key");
    std::string_view stream = k.substr(0, k.size() - 9);
    const std::uint64_t version = decodeBigEndian(k.substr(k.size() - 8));
    auto [entry, inserted] = streamVersions_.try_emplace(std::string(stream), version);
    if (!inserted) entry->second = version;
  }
  if (!it->status().ok()) return fromStatus(it->status(), "cannot read the stream index");
  return {};
}

Result<void> EventStore::holdFiles() {
  if (options_.readOnly) return makeError(ErrorCode::kReadOnly, "the event log is open read-only");
  std::lock_guard lock(holdMu_);
  if (purging_)
    return makeError(ErrorCode::kBusy,
                     "a compaction is deleting the files it replaced; open without a hold");
  const rocksdb::Status st = db_->DisableFileDeletions();
  if (!st.ok()) return fromStatus(st, "cannot hold the deletion of files");
  ++holds_;
  return {};
}

void EventStore::releaseFiles() {
  if (options_.readOnly) return;
  // Not forced: each hold is counted, and the last release deletes what waited.
  (void)db_->EnableFileDeletions(false);
  std::lock_guard lock(holdMu_);
  --holds_;
  holdsEnded_.notify_all();
}

Result<void> EventStore::refresh() {
  if (!options_.readOnly) return {};
  rocksdb::Status st = db_->TryCatchUpWithPrimary();
  if (!st.ok()) return fromStatus(st, "cannot catch up with the writer");
  // Keys shredded by the writer since must not open anything here any more.
  vault_->dropCache();
  return loadHead();
}

std::uint64_t EventStore::streamVersion(std::string_view stream) const {
  auto it = streamVersions_.find(stream);
  return it == streamVersions_.end() ? 0 : it->second;
}

struct EventStore::PreparedAppend {
  rocksdb::WriteBatch batch;
  AppendResult result;
  KeyVault::Staged keys;
  std::function<void(Result<AppendResult>)> done;
  std::optional<Error> failure;
};

namespace {

// Makes room in `batch` for about `bytes` (and an eighth more, for the rows that
// follow the events), keeping what it holds.
void reserveFor(rocksdb::WriteBatch& batch, std::size_t bytes) {
  bytes += bytes / 8;
  if (bytes <= batch.Data().capacity()) return;
  std::string rep;
  rep.reserve(bytes);
  rep.append(batch.Data());
  batch = rocksdb::WriteBatch(std::move(rep));
}

// Faults in the pages of [begin, end) on a thread of its own, while the caller goes
// on filling them, and waits for it when it goes. A large append's batch (about
// 110 MB for an import of 100,000 users) is fresh memory, which the kernel zeroes
// at each page's first touch, on the command processor's thread: 27,000 of its
// 103,000 page faults in such an import (and 16% of its time where memory came in
// huge pages, at about 4 ms a MiB on our VM), which this moves to the other core.
// The kernel only maps zeroed pages where none are (MADV_POPULATE_WRITE, Linux 5.14;
// older kernels refuse it and nothing happens): what the caller writes meanwhile
// stays.
class PrefaultPages {
 public:
  PrefaultPages(const char* begin, const char* end) {
    constexpr std::uintptr_t kPage = 4096;
    const auto from = (reinterpret_cast<std::uintptr_t>(begin) + kPage - 1) & ~(kPage - 1);
    const auto to = reinterpret_cast<std::uintptr_t>(end) & ~(kPage - 1);
    if (to <= from) return;
    try {
      thread_ = std::thread([from, to] {
        pthread_setname_np(pthread_self(), "log-prefault");
        (void)::madvise(reinterpret_cast<void*>(from), to - from, kPopulateWrite);
      });
    } catch (const std::system_error&) {
      // No thread: the caller touches the pages itself.
    }
  }
  PrefaultPages(const PrefaultPages&) = delete;
  PrefaultPages& operator=(const PrefaultPages&) = delete;
  ~PrefaultPages() {
    if (thread_.joinable()) thread_.join();
  }

 private:
#ifdef MADV_POPULATE_WRITE
  static constexpr int kPopulateWrite = MADV_POPULATE_WRITE;
#else
  static constexpr int kPopulateWrite = 23;  // <linux/mman.h>
#endif
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<EventStore::PreparedAppend>> EventStore::prepare(
    const AppendRequest& request) {
  if (options_.readOnly)
    return makeError(ErrorCode::kReadOnly, "the event log is open read-only");
  if (failed_.load(std::memory_order_acquire)) return stoppedError();

  for (const auto& [stream, expected] : request.expectedVersions) {
    const std::uint64_t current = streamVersion(stream);
    if (current != expected)
      return makeError(ErrorCode::kVersionConflict,
                       "stream " + stream + " is at version " + std::to_string(current) +
                           ", expected " + std::to_string(expected));
  }

  // Appends are recycled: their batch keeps its buffer, which is large (growing it
  // event by event, or allocating it anew for every append, costs more than the
  // encoding).
  std::unique_ptr<PreparedAppend> prepared;
  {
    std::lock_guard lock(spareMu_);
    if (!spare_.empty()) {
      prepared = std::move(spare_.back());
      spare_.pop_back();
      spareBytes_ -= std::min(spareBytes_, prepared->batch.Data().capacity());
    }
  }
  if (!prepared) prepared = std::make_unique<PreparedAppend>();
  prepared->batch.Clear();
  prepared->result = {};
  prepared->keys = {};
  prepared->failure.reset();
  prepared->done = nullptr;
  rocksdb::WriteBatch& batch = prepared->batch;
  // Stream versions advance in place; `undo` restores them if this append is
  // refused half-way (an event that cannot be encoded).
  // (Entries move when the map grows: undo finds them again by their stream.)
  struct Undo {
    std::string_view stream;
    std::uint64_t before;
    bool inserted;
  };
  std::vector<Undo> undo;
  // (After `prepared`: a refused append's batch is let go only once it is done.)
  std::optional<PrefaultPages> prefault;
  auto refuse = [&](Error e) {
    for (auto u = undo.rbegin(); u != undo.rend(); ++u) {
      if (u->inserted) streamVersions_.erase(u->stream);
      else streamVersions_.find(u->stream)->second = u->before;
    }
    vault_->rollback();
    return e;
  };
  std::uint64_t position = preparedPosition_;
  Hash prev = preparedHash_;
  std::string value;
  std::size_t encoded = 0;
  for (const NewEvent& ev : request.events) {
    // A large append (a batch import) gets a batch sized for it once its first events
    // show how large they are: growing one of a hundred megabytes by doubling copies
    // it again and again, and faults its pages in anew each time. (Its pages are
    // faulted in beside, the reserve beyond the estimate too: an eighth more.)
    if (++encoded == kSizingEvents + 1 && request.events.size() > kLargeAppendEvents) {
      reserveFor(batch, batch.GetDataSize() / kSizingEvents * request.events.size());
      const std::string& data = batch.Data();
      prefault.emplace(data.data() + data.size(), data.data() + data.capacity());
    }
    auto [entry, inserted] = streamVersions_.try_emplace(ev.stream, 0);
    undo.push_back({ev.stream, entry->second, inserted});
    const std::uint64_t version = ++entry->second;
    ++position;

    const EnvelopeView env{position,     ev.stream,    version,      ev.occurredAt,
                           ev.actor,     ev.companyId, ev.commandId, ev.correlationId};

    value.assign(kHeaderBytes, '\0');
    value[0] = kRecordFormat;
    if (auto r = encodeEvent(env, ev.data, *vault_, value); !r) return refuse(r.error());
    const Hash h = eventHash(prev, std::string_view(value).substr(kHeaderBytes));
    std::memcpy(value.data() + 1, prev.data(), prev.size());
    std::memcpy(value.data() + 33, h.data(), h.size());
    const std::string key = positionKey(position);
    batch.Put(cf_.events, key, value);
    batch.Put(cf_.streams, streamKey(ev.stream, version), key);
    prev = h;
  }
  prepared->keys = vault_->stage(batch, request.shred);
  if (position != preparedPosition_) {
    batch.Put(cf_.meta, kHeadKey, positionKey(position));
    prepared->result.firstPosition = preparedPosition_ + 1;
    prepared->result.lastPosition = position;
  }
  if (request.alsoWrite) request.alsoWrite(batch, preparedPosition_ + 1);

  // From here on the append is as good as submitted: later appends build on it.
  preparedPosition_ = position;
  preparedHash_ = prev;
  return prepared;
}

void EventStore::appendAsync(const AppendRequest& request,
                             std::function<void(Result<AppendResult>)> done) {
  auto prepared = prepare(request);
  if (!prepared) {
    done(prepared.error());
    return;
  }
  (*prepared)->done = std::move(done);
  {
    std::unique_lock lock(queueMu_);
    queueSpace_.wait(lock, [&] { return queue_.size() < kMaxInFlight; });
    queue_.push_back(std::move(*prepared));
  }
  // (Threads are woken after the lock is let go throughout: woken under it, they
  // would only block on the mutex again.)
  queueReady_.notify_one();
}

Result<AppendResult> EventStore::append(const AppendRequest& request) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<AppendResult>> outcome;
  appendAsync(request, [&](Result<AppendResult> r) {
    std::lock_guard lock(mu);
    outcome.emplace(std::move(r));
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return outcome.has_value(); });
  return std::move(*outcome);
}

// Two threads make appends durable. The write thread applies each prepared batch
// (memtable and the WAL buffer: the DB runs with manual_wal_flush); the sync
// thread then writes out and fsyncs the WAL for everything applied so far with one
// FlushWAL, and only after that acknowledges those appends, in order. So the next
// batch's memtable work overlaps this one's fsync, and an fsync covers every batch
// applied while the previous one ran (group commit across appends).
void EventStore::writeLoop() {
  while (true) {
    std::unique_ptr<PreparedAppend> next;
    {
      std::unique_lock lock(queueMu_);
      writerWaiting_ = true;
      writerParked_.notify_all();
      queueReady_.wait(lock, [&] { return (!queue_.empty() && !writesHeld_) || stopping_; });
      writerWaiting_ = false;
      if (queue_.empty()) break;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    queueSpace_.notify_all();
    if (!failed_.load(std::memory_order_acquire)) {
      rocksdb::Status st = write(next->batch);
      if (!st.ok()) {
        // Fail-stop: nothing prepared after this batch may be written either.
        failed_.store(true, std::memory_order_release);
        next->failure = fromStatus(st, "appending to the event log failed");
      }
    } else {
      next->failure = stoppedError();
    }
    // Alone (nothing waiting behind it, the sync thread idle): make it durable here
    // rather than pay a hand-off; under load, let the sync thread overlap.
    bool alone;
    {
      std::lock_guard q(queueMu_);
      std::lock_guard lock(syncMu_);
      alone = queue_.empty() && syncQueue_.empty() && !syncBusy_;
      if (alone) syncBusy_ = true;
    }
    if (alone) {
      std::deque<std::unique_ptr<PreparedAppend>> one;
      one.push_back(std::move(next));
      makeDurable(one);
      {
        std::lock_guard lock(syncMu_);
        syncBusy_ = false;
      }
      syncReady_.notify_one();
      syncIdle_.notify_all();
      continue;
    }
    {
      std::lock_guard lock(syncMu_);
      syncQueue_.push_back(std::move(next));
    }
    syncReady_.notify_one();
  }
  std::lock_guard lock(syncMu_);
  writerDone_ = true;
  syncReady_.notify_one();
}

void EventStore::syncLoop() {
  while (true) {
    std::deque<std::unique_ptr<PreparedAppend>> applied;
    {
      std::unique_lock lock(syncMu_);
      syncReady_.wait(lock, [&] { return (!syncQueue_.empty() && !syncBusy_) || (writerDone_ && !syncBusy_); });
      if (syncQueue_.empty()) return;
      applied.swap(syncQueue_);
      syncBusy_ = true;
    }
    makeDurable(applied);
    {
      std::lock_guard lock(syncMu_);
      syncBusy_ = false;
    }
    syncIdle_.notify_all();
  }
}

void EventStore::makeDurable(std::deque<std::unique_ptr<PreparedAppend>>& applied) {
  // Each batch here was written (or carries why not) before this flush began, so a
  // flush that succeeds makes every one without a failure durable, also when a later
  // batch's write failed meanwhile: those are acknowledged, not denied. A failed
  // write of the WAL itself before the flush returned (any thread's) denies them all,
  // durable or not: which bytes it lost is not known (src/store/wal_file_system.h). Without a
  // flush (the log had stopped already) none of them is durable.
  bool flushed = false;
  if (!failed_.load(std::memory_order_acquire)) {
    rocksdb::Status st = flushWal(options_.sync);
    if (!st.ok()) {
      failed_.store(true, std::memory_order_release);
      for (auto& a : applied)
        if (!a->failure) a->failure = fromStatus(st, "making the event log durable failed");
    } else {
      flushed = true;
    }
  }
  std::uint64_t durable = 0;
  for (auto& a : applied) {
    if (!a->failure && !flushed) a->failure = stoppedError();
    if (a->failure) continue;
    vault_->committed(a->keys);
    if (a->result.lastPosition != 0) durable = a->result.lastPosition;
  }
  // One fsync made all of them durable: the listener (the projector's wake-up) hears
  // of them once, before their callbacks run, so that it applies them as one batch
  // while the callbacks run, rather than the first alone and the rest after.
  if (durable != 0) {
    lastPosition_.store(durable, std::memory_order_release);
    if (onDurable_) onDurable_(durable);
  }
  // After the head moved past them: whoever reads this count and then the head
  // finds every anonymization counted at or before it (a backup's compaction).
  for (auto& a : applied)
    if (!a->failure && !a->keys.shredded.empty()) shreds_.fetch_add(1, std::memory_order_release);
  for (auto& a : applied) {
    if (a->failure) a->done(*a->failure);
    else a->done(a->result);
    // What the callback holds (its command group: decisions, mail texts) goes now,
    // not when this append's slot is next used.
    a->done = nullptr;
  }
  std::lock_guard lock(spareMu_);
  for (auto& a : applied) {
    // A large append's batch is let go: kept, it would hold its memory for ever.
    const std::size_t bytes = a->batch.Data().capacity();
    if (spare_.size() < kMaxSpareAppends && bytes <= kMaxRecycledBatchBytes &&
        spareBytes_ + bytes <= kMaxSpareBytes) {
      spareBytes_ += bytes;
      spare_.push_back(std::move(a));
    }
  }
}

Result<void> EventStore::scan(std::uint64_t from, std::uint64_t limit,
                              const std::function<bool(const RawEvent&)>& fn) const {
  return scanRecords(from, limit, fn, true);
}

Result<void> EventStore::scanRecords(std::uint64_t from, std::uint64_t limit,
                                     const std::function<bool(const RawEvent&)>& fn, bool gapless) const {
  // The head first: every event up to it is in the memtables or table files by the
  // time the iterator below takes its view (an append is applied before it is durable,
  // with the head record in the same batch). The recorded head, not the newest event
  // stored: a read-only instance takes its last position from what is stored, so the
  // newest events gone (or a table file lost) would pass unseen.
  std::uint64_t head = lastPosition();
  if (gapless) {
    auto recorded = recordedHead();
    if (!recorded) return recorded.error();
    if (*recorded) head = std::max(head, **recorded);
  }
  rocksdb::ReadOptions ro;
  ro.readahead_size = kScanReadahead;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_.events));
  std::uint64_t n = 0;
  std::uint64_t expected = std::max<std::uint64_t>(from, 1);
  auto missing = [](std::uint64_t position, std::string next) {
    return makeError(ErrorCode::kCorrupt, "event " + std::to_string(position) + " is missing (" + next +
                                              "); run portal-replay verify");
  };
  for (it->Seek(positionKey(from)); it->Valid() && n < limit; it->Next(), ++n) {
    const std::uint64_t pos = decodeBigEndian(asView(it->key()));
    auto raw = parseRecord(pos, asView(it->value()));
    if (it->key().size() != 8 || !raw)
      return makeError(ErrorCode::kCorrupt,
                       "event " + std::to_string(pos) + " is not in this program's format");
    if (gapless && pos != expected) return missing(expected, "the next stored is " + std::to_string(pos));
    ++expected;
    if (!fn(*raw)) return {};
  }
  if (!it->status().ok()) return fromStatus(it->status(), "reading the event log failed");
  if (gapless && n < limit && expected <= head)
    return missing(expected, "the log's head is " + std::to_string(head));
  return {};
}

Result<std::vector<std::uint64_t>> EventStore::streamPositions(std::string_view stream) const {
  std::vector<std::uint64_t> out;
  std::string prefix(stream);
  prefix.push_back('\0');
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_.streams));
  const std::uint64_t durable = lastPosition();
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::uint64_t pos = decodeBigEndian(asView(it->value()));
    if (pos <= durable) out.push_back(pos);  // applied but not yet durable: not there yet
  }
  if (!it->status().ok()) return fromStatus(it->status(), "reading the stream index failed");
  return out;
}

Error EventStore::absentEvent(std::uint64_t position) const {
  std::uint64_t head = lastPosition();
  if (auto recorded = recordedHead(); recorded && *recorded) head = std::max(head, **recorded);
  if (position >= 1 && position <= head)
    return makeError(ErrorCode::kCorrupt, "event " + std::to_string(position) +
                                              " is missing (the log's head is " +
                                              std::to_string(head) + "); run portal-replay verify");
  return makeError(ErrorCode::kNotFound, "there is no event " + std::to_string(position));
}

Result<std::string> EventStore::readJson(std::uint64_t position) const {
  std::string value;
  rocksdb::Status st = db_->Get(rocksdb::ReadOptions(), cf_.events, positionKey(position), &value);
  if (st.IsNotFound()) return absentEvent(position);
  if (!st.ok()) return fromStatus(st, "reading event " + std::to_string(position) + " failed");
  if (!parseRecord(position, value))
    return makeError(ErrorCode::kCorrupt,
                     "event " + std::to_string(position) + " is not in this program's format");
  return value.substr(kHeaderBytes);
}

namespace {

// What is wrong with the event's own hash (its bytes against its recorded hash,
// over its recorded prevHash); nullopt when they match.
std::optional<std::string> hashProblem(const RawEvent& raw) {
  const Hash h = eventHash(*raw.prevHash, raw.json);
  if (h == *raw.hash) return std::nullopt;
  return "its bytes hash to " + toHex(h) + " but its recorded hash is " + toHex(*raw.hash);
}

}  // namespace

Result<void> EventStore::checkHash(const RawEvent& raw) const {
  if (auto problem = hashProblem(raw))
    return makeError(ErrorCode::kCorrupt, "event " + std::to_string(raw.position) +
                                              " was changed after it was written: " + *problem +
                                              " (portal-replay verify checks the whole chain)");
  return {};
}

Result<RecordedEvent> EventStore::decode(const RawEvent& raw) const {
  if (options_.checkHashes)
    if (auto checked = checkHash(raw); !checked) return checked.error();
  auto ev = decodeEvent(raw.json, *vault_);
  if (!ev) return ev;
  if (ev->envelope.position != raw.position)
    return makeError(ErrorCode::kCorrupt, "event stored at " + std::to_string(raw.position) +
                                              " says it is event " +
                                              std::to_string(ev->envelope.position));
  ev->envelope.prevHash = *raw.prevHash;
  ev->envelope.hash = *raw.hash;
  return ev;
}

Result<RecordedEvent> EventStore::readAt(std::uint64_t position) const {
  std::string value;
  rocksdb::Status st = db_->Get(rocksdb::ReadOptions(), cf_.events, positionKey(position), &value);
  if (st.IsNotFound()) return absentEvent(position);
  if (!st.ok()) return fromStatus(st, "reading event " + std::to_string(position) + " failed");
  return decodeStored(position, value);
}

Result<RecordedEvent> EventStore::decodeStored(std::uint64_t position, std::string_view record) const {
  auto raw = parseRecord(position, record);
  if (!raw)
    return makeError(ErrorCode::kCorrupt,
                     "event " + std::to_string(position) + " is not in this program's format");
  // Point reads and cursors serve the audit trail and timelines.
  return decodeChecked(*raw);
}

Result<RecordedEvent> EventStore::decodeChecked(const RawEvent& raw) const {
  // decode() checks the hash itself when the store was opened with checkHashes.
  if (!options_.checkHashes)
    if (auto checked = checkHash(raw); !checked) return checked.error();
  return decode(raw);
}

EventStore::Cursor::Cursor(const EventStore& store) : store_(store) {
  it_.reset(store_.db_->NewIterator(rocksdb::ReadOptions(), store_.cf_.events));
}

EventStore::Cursor::~Cursor() = default;

Result<RecordedEvent> EventStore::Cursor::at(std::uint64_t position) {
  // A long list reads most blocks of its stretch of the log (a user with many
  // events has one in every few): from then on the file is read ahead in large
  // reads, as a scan does. A short one reads only its own blocks.
  constexpr std::uint64_t kReadsBeforeReadahead = 32;
  if (++reads_ == kReadsBeforeReadahead) {
    rocksdb::ReadOptions ro;
    ro.readahead_size = kScanReadahead;
    it_.reset(store_.db_->NewIterator(ro, store_.cf_.events));
  }
  // The position the iterator is at; nullopt when it is at none.
  auto here = [this]() -> std::optional<std::uint64_t> {
    if (!it_->Valid() || it_->key().size() != 8) return std::nullopt;
    return decodeBigEndian(asView(it_->key()));
  };
  // A few steps forward cost less than a seek (a search of the table's index).
  constexpr int kStepsBeforeSeek = 8;
  for (int steps = 0; steps < kStepsBeforeSeek && here().value_or(position) < position; ++steps)
    it_->Next();
  if (here() != position) it_->Seek(positionKey(position));
  if (!it_->status().ok()) return fromStatus(it_->status(), "reading the event log failed");
  if (here() != position) return store_.absentEvent(position);
  return store_.decodeStored(position, asView(it_->value()));
}

Result<std::vector<RecordedEvent>> EventStore::read(std::uint64_t from, std::uint64_t limit) const {
  std::vector<RecordedEvent> out;
  std::optional<Error> failure;
  auto r = scan(from, limit, [&](const RawEvent& raw) {
    auto ev = decode(raw);
    if (!ev) {
      failure = ev.error();
      return false;
    }
    out.push_back(std::move(*ev));
    return true;
  });
  if (!r) return r.error();
  if (failure) return *failure;
  return out;
}

Result<std::vector<RecordedEvent>> EventStore::readStream(std::string_view stream) const {
  auto positions = streamPositions(stream);
  if (!positions) return positions.error();
  std::vector<RecordedEvent> out;
  Cursor events(*this);
  for (std::uint64_t pos : *positions) {
    auto ev = events.at(pos);
    if (!ev) return ev.error();
    out.push_back(std::move(*ev));
  }
  return out;
}

namespace {

// What is wrong with how `raw` links to the event before it, whose hash is `prev`.
std::optional<std::string> linkProblem(const Hash& prev, const RawEvent& raw) {
  if (*raw.prevHash == prev) return std::nullopt;
  return "its prevHash " + toHex(*raw.prevHash) + " is not the hash of the event before it, " +
         toHex(prev);
}

// Recomputes the hashes of events that verify has read and linked, on a thread of
// its own while verify reads the next ones: reading and hashing cost about the same,
// so the chain is checked at about the speed of reading the log. Each event's own
// hash depends only on its bytes and its recorded prevHash, so batches are checked
// apart from the reading; the reader checks that each prevHash is the hash before.
class ChainHasher {
 public:
  ChainHasher() : thread_([this] { run(); }) {}
  ChainHasher(const ChainHasher&) = delete;
  ChainHasher& operator=(const ChainHasher&) = delete;
  ~ChainHasher() { finish(); }

  // Queues an event (copied) to be hashed.
  void add(const RawEvent& raw) {
    const std::size_t start = filling_.bytes.size();
    filling_.bytes.append(reinterpret_cast<const char*>(raw.prevHash->data()), sizeof(Hash));
    filling_.bytes.append(reinterpret_cast<const char*>(raw.hash->data()), sizeof(Hash));
    filling_.bytes.append(raw.json);
    filling_.events.push_back({raw.position, start, filling_.bytes.size()});
    if (filling_.bytes.size() >= kBatchBytes) handOver();
  }

  // True once a hash did not match: the reader can stop.
  bool failed() const { return failed_.load(std::memory_order_relaxed); }

  // Hashes what is queued and stops the thread. The first event whose bytes do not
  // hash to its recorded hash, with its prevHash (the hash of the last good event).
  struct Bad {
    std::uint64_t position;
    std::string problem;
    Hash before;
  };
  std::optional<Bad> finish() {
    if (thread_.joinable()) {
      handOver();
      {
        std::lock_guard lock(mutex_);
        done_ = true;
      }
      changed_.notify_all();
      thread_.join();
    }
    return bad_;
  }

 private:
  static constexpr std::size_t kBatchBytes = 1 << 20;
  static constexpr std::size_t kInFlight = 2;
  struct Event {
    std::uint64_t position;
    std::size_t begin, end;  // prevHash, hash, json in `bytes`
  };
  struct Batch {
    std::string bytes;
    std::vector<Event> events;
  };

  void handOver() {
    if (filling_.events.empty()) return;
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return queued_.size() < kInFlight || failed(); });
    queued_.push_back(std::move(filling_));
    filling_ = Batch{};
    if (!spare_.empty()) {
      filling_ = std::move(spare_.back());
      spare_.pop_back();
    }
    lock.unlock();
    changed_.notify_all();
  }

  void run() {
    for (;;) {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return !queued_.empty() || done_; });
      if (queued_.empty()) return;
      Batch batch = std::move(queued_.front());
      queued_.pop_front();
      lock.unlock();
      if (!failed()) check(batch);
      batch.bytes.clear();
      batch.events.clear();
      lock.lock();
      spare_.push_back(std::move(batch));
      lock.unlock();
      changed_.notify_all();
    }
  }

  void check(const Batch& batch) {
    for (const Event& e : batch.events) {
      const char* at = batch.bytes.data() + e.begin;
      const RawEvent raw{
          e.position, reinterpret_cast<const Hash*>(at),
          reinterpret_cast<const Hash*>(at + sizeof(Hash)),
          std::string_view(at + 2 * sizeof(Hash), e.end - e.begin - 2 * sizeof(Hash))};
      auto problem = hashProblem(raw);
      if (!problem) problem = envelopeProblem(raw.json, raw.position);
      if (problem) {
        bad_ = Bad{e.position, std::move(*problem), *raw.prevHash};
        failed_.store(true, std::memory_order_relaxed);  // run() wakes the reader
        return;
      }
    }
  }

  Batch filling_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> queued_;
  std::vector<Batch> spare_;
  bool done_ = false;
  std::atomic<bool> failed_{false};
  std::optional<Bad> bad_;  // written by the thread, read after it is joined
  std::thread thread_;      // last: it starts once the members above are made
};

}  // namespace

std::optional<std::string> chainProblem(const Hash& prev, const RawEvent& raw) {
  if (auto problem = linkProblem(prev, raw)) return problem;
  return hashProblem(raw);
}

Result<VerifyReport> EventStore::verify(std::uint64_t from, std::uint64_t to) const {
  VerifyReport report;
  if (from == 0) from = 1;
  const std::uint64_t last = lastPosition();
  if (to == 0 || to > last) to = last;
  Hash prev{};
  if (from > 1) {
    std::string value;
    rocksdb::Status st =
        db_->Get(rocksdb::ReadOptions(), cf_.events, positionKey(from - 1), &value);
    auto raw = st.ok() ? parseRecord(from - 1, value) : std::nullopt;
    if (!raw) {
      report.firstBad = from - 1;
      report.problem = "event " + std::to_string(from - 1) + " is missing or unreadable";
      return report;
    }
    prev = *raw->hash;
  }
  report.head = prev;
  std::uint64_t expected = from;
  auto fail = [&](std::uint64_t pos, std::string problem) {
    report.firstBad = pos;
    report.problem = std::move(problem);
    return false;
  };
  ChainHasher hasher;
  auto r = scanRecords(
      from, to >= from ? to - from + 1 : 0,
      [&](const RawEvent& raw) {
        if (hasher.failed()) return false;
        if (raw.position != expected)
          return fail(expected, "event " + std::to_string(expected) +
                                    " is missing (the next stored is " +
                                    std::to_string(raw.position) + ")");
        if (auto problem = linkProblem(prev, raw)) return fail(raw.position, std::move(*problem));
        hasher.add(raw);
        prev = *raw.hash;
        report.head = prev;
        ++report.checked;
        ++expected;
        return true;
      },
      false);
  if (!r && r.error().code != ErrorCode::kCorrupt) return r.error();
  if (!r) fail(expected, r.error().message);
  // The first problem is the earliest event's: an event that does not hash right
  // comes before one the reader found wrong after it. At the same event, the link
  // is told first, and the reader never hands on an event that does not link.
  if (auto bad = hasher.finish();
      bad && (report.firstBad == 0 || bad->position < report.firstBad)) {
    report.firstBad = bad->position;
    report.problem = std::move(bad->problem);
    report.checked = bad->position - from;
    report.head = bad->before;
  }
  if (report.firstBad != 0) return report;
  if (expected <= to) {
    fail(expected, "event " + std::to_string(expected) + " is missing");
    return report;
  }
  // The head recorded with every append catches the removal of the newest events.
  // The head is written in the same batch as its events, so compare it with the
  // newest event stored (which may be applied but not yet durable), not with `last`.
  // Both are read from one snapshot: an append in between (verify beside a running
  // server) would otherwise show events stored that the head read before it lacks,
  // which on an empty log reads as a removed head record.
  if (to == last) {
    // (A secondary instance, read-only, takes no snapshots; it changes only when it
    // catches up with its primary, which nothing does during a verify.)
    rocksdb::ManagedSnapshot snapshot(db_, options_.readOnly ? nullptr : db_->GetSnapshot());
    rocksdb::ReadOptions read;
    read.snapshot = snapshot.snapshot();
    auto head = readHead(*db_, cf_.meta, read);
    if (!head) return head.error();
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, cf_.events));
    it->SeekToLast();
    const std::uint64_t stored = it->Valid() ? decodeBigEndian(asView(it->key())) : 0;
    if (!*head)
      fail(std::max<std::uint64_t>(stored, 1), "the log's head record is not a position (it was edited)");
    else if (**head > stored)
      fail(stored + 1, "event " + std::to_string(stored + 1) + " is missing (the log recorded " +
                           std::to_string(**head) + " events)");
    else if (**head == 0 && stored > 0)
      fail(stored, "the log's head record is missing (it was removed), so removed newest "
                   "events cannot be told");
    else if (**head < stored)
      fail(**head + 1, "event " + std::to_string(**head + 1) +
                           " is past the log's recorded head of " + std::to_string(**head) +
                           " events (added outside the portal, or the head record was edited)");
  }
  return report;
}

Result<void> EventStore::compact(const ViewsSettle& settle) {
  if (options_.readOnly) return makeError(ErrorCode::kReadOnly, "the event log is open read-only");
  if (settle)
    if (auto settled = settle(lastPosition()); !settled) return settled.error();
  // Nothing is compacted (or, through backup, copied) over a damaged log (a hole, an
  // event edited or unreadable, its newest events removed): it would hide the damage
  // in new files, or hand it on as a backup. The chain is checked whole (verify(),
  // about 2 s for a million events, beside the compaction's own minutes).
  auto report = verify();
  if (!report) return report.error();
  if (report->firstBad != 0) {
    const std::string where = "event " + std::to_string(report->firstBad);
    return makeError(ErrorCode::kCorrupt,
                     (report->problem.rfind("event ", 0) == 0 ? "" : where + ": ") + report->problem +
                         "; run portal-replay verify");
  }
  std::shared_lock lock(familiesMu_);
  // A flush or compaction that failed on the disk (a read-only remount, a full disk, an
  // immutable directory) leaves RocksDB refusing every write after it, and a server
  // then stopped at its next command, minutes later and unsaid (a review). RocksDB
  // is asked to resume at once (it writes what it holds again); when it cannot, the
  // error says what follows.
  auto failed = [&](const rocksdb::Status& st, const std::string& what) -> Result<void> {
    Error e = fromStatus(st, what);
    if (!db_->Resume().ok())
      e.message +=
          "; the event log refuses every write since: a server on it stops at its next "
          "command; mend the cause and start it again";
    return e;
  };
  rocksdb::Status st = flush(handles_);
  if (!st.ok()) return failed(st, "flushing failed");
  rocksdb::CompactRangeOptions cro;
  cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (auto* h : handles_) {
    st = db_->CompactRange(cro, h, nullptr, nullptr);
    if (!st.ok()) return failed(st, "compacting failed");
  }
  // The MANIFEST written at the last compaction still lists the files it replaced,
  // with their first and last keys (a name from the search index, a deleted row's
  // key). One more change starts a MANIFEST that lists only the live files; then
  // the old one is deleted with the other obsolete files.
  rocksdb::ColumnFamilyHandle* roll = nullptr;
  st = db_->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), kManifestRollCf, &roll);
  if (st.ok()) {
    st = db_->DropColumnFamily(roll);
    db_->DestroyColumnFamilyHandle(roll);
  }
  if (!st.ok()) return failed(st, "cannot start a new MANIFEST");
  // Readers' holds (holdFiles) keep what the compaction replaced: none is taken from
  // here on, and those held end first (a reader releases its own once opened, a
  // server ends any within half a minute), so that what an anonymization erased has
  // left the disk when this returns (a review: holds taken one after another kept
  // it there after `portalctl compact` said done).
  std::unique_lock holding(holdMu_);
  purging_ = true;
  holdsEnded_.wait(holding, [&] { return holds_ == 0; });
  // Deletes obsolete files now (unless a backup is holding them, which then does).
  st = db_->DisableFileDeletions();
  if (st.ok()) st = db_->EnableFileDeletions(false);
  purging_ = false;
  if (!st.ok()) return fromStatus(st, "cannot delete obsolete files");
  return {};
}

Result<std::string> EventStore::backupTarget(const std::string& dataPath, const std::string& dir) {
  std::error_code ec;
  if (dir.empty()) return makeError(ErrorCode::kInvalidArgument, "no backup directory given");
  // "/backups/today/" names the directory "/backups/today", whose parent is "/backups".
  fs::path target = fs::path(dir).lexically_normal();
  if (target.filename().empty() && target.has_parent_path() && target != target.root_path())
    target = target.parent_path();
  // Inside the data directory, its hard-linked table files would keep what a
  // compaction removes (anonymized people's data) there.
  {
    auto resolved = [&](const fs::path& p) {
      fs::path r = fs::weakly_canonical(p, ec);
      return r.filename().empty() ? r.parent_path() : r;  // no trailing separator
    };
    const fs::path data = resolved(dataPath), to = resolved(target);
    const auto [d, t] = std::mismatch(data.begin(), data.end(), to.begin(), to.end());
    if (!ec && !data.empty() && d == data.end())
      return makeError(ErrorCode::kInvalidArgument,
                       "the backup must go outside the data directory " + dataPath);
  }
  if (target.has_parent_path() && !fs::is_directory(target.parent_path(), ec))
    return makeError(ErrorCode::kNotFound, "no such directory: " + target.parent_path().string());
  // Empty, or holding only what a backup into it that was cut short left (see backup()).
  auto emptyButLeftovers = [&] {
    for (const auto& e : fs::directory_iterator(target, ec)) {
      const std::string name = e.path().filename().string();
      if (name != kBackupInside && name != std::string(kBackupInside) + ".tmp") return false;
    }
    return !ec;
  };
  const bool exists = fs::exists(target, ec);
  if (!exists && fs::is_symlink(fs::symlink_status(target, ec)))
    return makeError(ErrorCode::kInvalidArgument,
                     dir + " is a symbolic link to " + fs::read_symlink(target, ec).string() +
                         ", which does not exist: make that directory, or name another");
  if (exists && !fs::is_directory(target, ec))
    return makeError(ErrorCode::kInvalidArgument, dir + " exists and is not a directory");
  if (exists && !emptyButLeftovers())
    return makeError(ErrorCode::kInvalidArgument, dir + " exists and is not an empty directory");
  // A new directory is made as DIR.tmp and renamed: RocksDB first empties a DIR.tmp
  // that is there, whatever it is (a review lost an operator's file in one, and the
  // files of a directory a symbolic link of that name pointed to).
  if (const fs::path staging = target.string() + ".tmp";
      !exists && fs::symlink_status(staging, ec).type() != fs::file_type::not_found)
    return makeError(ErrorCode::kInvalidArgument,
                     staging.string() +
                         " exists: the backup is made there first and then renamed; remove it "
                         "if a backup cut short left it, or name another directory");
  // Where the copy's files are made must take them: found now, not after the
  // compaction that comes first (minutes on a large log), nor as RocksDB's words.
  const fs::path into =
      exists ? target : (target.has_parent_path() ? target.parent_path() : fs::path("."));
  const fs::path probe = into / (".portal-backup-probe-" + std::to_string(::getpid()));
  if (::mkdir(probe.c_str(), 0700) != 0)
    return makeError(ErrorCode::kIoError, "cannot back up to " + dir + ": cannot write in " +
                                              into.string() + " (" + std::strerror(errno) + ")");
  ::rmdir(probe.c_str());
  return target.string();
}

namespace {

// RocksDB's info log, for a look into a copy that must gain no file (a LOG).
class SilentLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

// The head recorded in the database at `path` (a backup just made), read without
// writing anything there.
Result<std::uint64_t> headOfCopy(const std::string& path) {
  rocksdb::DBOptions o;
  o.info_log = std::make_shared<SilentLogger>();
  o.max_open_files = 16;
  // Read-only, a subset of the families may be opened.
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {kMetaCf, rocksdb::ColumnFamilyOptions()}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st = rocksdb::DB::OpenForReadOnly(o, path, families, &handles, &raw);
  if (!st.ok()) return fromStatus(st, "the backup in " + path + " cannot be read back");
  std::unique_ptr<rocksdb::DB> db(raw);
  auto head = readHead(*db, handles[1], rocksdb::ReadOptions());
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  if (!head) return head.error();
  if (!*head)
    return makeError(ErrorCode::kCorrupt, "the backup in " + path + " records no readable head");
  return **head;
}

}  // namespace

// Holds the write thread back while it lives, once everything it wrote is
// durable: the log's head stays where it is (a backup's checkpoint).
class EventStore::HeldWrites {
 public:
  explicit HeldWrites(EventStore& store) : store_(store) {
    {
      std::unique_lock lock(store_.queueMu_);
      store_.writesHeld_ = true;
      store_.writerParked_.wait(lock, [&] { return store_.writerWaiting_ || store_.stopping_; });
    }
    std::unique_lock lock(store_.syncMu_);
    store_.syncIdle_.wait(lock, [&] { return store_.syncQueue_.empty() && !store_.syncBusy_; });
  }
  ~HeldWrites() {
    {
      std::lock_guard lock(store_.queueMu_);
      store_.writesHeld_ = false;
    }
    store_.queueReady_.notify_all();
  }
  HeldWrites(const HeldWrites&) = delete;
  HeldWrites& operator=(const HeldWrites&) = delete;

 private:
  EventStore& store_;
};

namespace {

// Tidies and compacts a backup's copy in place (opened as a server would, and
// closed again).
Result<void> compactCopy(const std::string& path, const EventStore::CopyTidy& tidy) {
  StoreOptions o;
  o.path = path;
  o.recoverDamagedWal = false;
  auto copy = EventStore::open(o);
  if (!copy) return copy.error();
  if (tidy)
    if (auto tidied = tidy(**copy); !tidied) return tidied.error();
  return (*copy)->compact();
}

}  // namespace

Result<std::uint64_t> EventStore::backup(const std::string& dir, const ViewsSettle& settle,
                                         const CopyTidy& tidy) {
  if (options_.readOnly) return makeError(ErrorCode::kReadOnly, "the event log is open read-only");
  auto checked = backupTarget(options_.path, dir);
  if (!checked) return checked.error();
  const fs::path target(*checked);
  // A checkpoint links the table files as they are: those written before an
  // anonymization still hold the person's rows and data key until a compaction
  // rewrites them. Compacting first keeps every erasure made so far out of the copy;
  // one made while it ran (a review: 2 backups of 6 under load held the names and
  // email of a person whose erasure they also held) is taken out of the copy after.
  // (Read before the head: every anonymization counted is at or before it.)
  const std::uint64_t shredsBefore = shreds_.load(std::memory_order_acquire);
  if (auto compacted = compact(settle); !compacted) return compacted.error();
  // A checkpoint makes its directory itself. Into an empty directory that exists (a
  // mounted backup volume, whose parent nobody may write), it goes into one inside,
  // whose files then move up.
  std::error_code ec;
  const bool existed = fs::is_directory(target, ec);
  const fs::path into = existed ? target / kBackupInside : target;
  if (existed) {  // what a backup into it that was cut short left
    fs::remove_all(into, ec);
    fs::remove_all(into.string() + ".tmp", ec);
  }
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status st = rocksdb::Checkpoint::Create(db_, &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // The copy's views hold every event it holds: an anonymization in it has
  // overwritten the person's rows there, which compacting the copy then removes.
  bool erasedMeanwhile = false;
  // The views catch up with what came during the compaction first, and then,
  // appends held, with the little that came meanwhile.
  if (settle)
    if (auto settled = settle(lastPosition()); !settled) return settled.error();
  if (st.ok()) {
    HeldWrites held(*this);
    if (settle)
      if (auto settled = settle(lastPosition()); !settled) return settled.error();
    erasedMeanwhile = shreds_.load(std::memory_order_acquire) != shredsBefore;
    st = checkpoint->CreateCheckpoint(into.string());
    // Its flush of the memtables may have put there writes that a failed write of
    // the WAL kept from being durable here.
    if (st.ok() && walFailure_) st = walFailure_->status();
  }
  // The entries of a directory, listed before any of them moves or goes.
  auto entries = [](const fs::path& d, std::error_code& e) {
    std::vector<fs::path> out;
    for (const auto& entry : fs::directory_iterator(d, e)) out.push_back(entry.path());
    return out;
  };
  if (st.ok() && existed) {
    for (const fs::path& file : entries(into, ec)) {
      if (ec) break;
      fs::rename(file, target / file.filename(), ec);
    }
    if (!ec) fs::remove(into, ec);
    if (ec) st = rocksdb::Status::IOError(ec.message());
  }
  // What it wrote goes when it fails; a directory that was there stays, empty as it was.
  auto removeCopy = [&] {
    std::error_code ignored;
    if (!existed)
      fs::remove_all(target, ignored);
    else
      for (const fs::path& entry : entries(target, ignored)) fs::remove_all(entry, ignored);
  };
  if (!st.ok()) {
    removeCopy();
    return fromStatus(st, "cannot back up to " + dir);
  }
  if (erasedMeanwhile) {
    if (auto compacted = compactCopy(target.string(), tidy); !compacted) {
      removeCopy();
      return makeError(compacted.error().code,
                       "cannot compact the copy in " + dir + ": " + compacted.error().message);
    }
  }
  // Read back: what it holds, and that it opens (a copy that does not is no backup).
  auto head = headOfCopy(target.string());
  if (!head) removeCopy();
  return head;
}

}  // namespace portal
