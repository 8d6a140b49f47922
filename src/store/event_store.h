#pragma once
// The event log: the only source of truth of the portal, kept in RocksDB.
//
// Column families:
//   events       position (8 bytes, big-endian) -> record: format byte, prevHash,
//                hash, then the event's JSON (events/codec.h)
//   streams      stream name, NUL, version (8 bytes BE) -> position
//   meta         "format" -> the data format; marks the directory as portal data
//   keys         person id -> 256-bit data key (the key vault)
//   checkpoints  projection name -> last position applied
//   commands     company id, NUL, actor, LF, scope, LF, command id -> the first
//                answer (idempotency; src/app/idempotency.h)
// Projections add column families of their own (projections/).
//
// Each event's hash is SHA-256(prevHash || its JSON bytes), the first prevHash being
// 32 zero bytes, so any change to a stored event outside this program breaks the
// chain at that position (verify()).
//
// Threads: the store has ONE writer by design. append(), appendAsync() and the
// other write calls must come from one thread at a time (the command processor's);
// the store's own write thread makes the prepared batches durable in order. Every
// read call is safe from any number of threads, concurrently with the writer. A second process
// opening the same directory for writing is refused (kBusy); read-only instances
// (RocksDB secondaries) may run beside the writer.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "events/codec.h"
#include "events/event.h"
#include "events/string_map.h"
#include "events/result.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Env;
class FileSystem;
class Iterator;
class Status;
class WriteBatch;
}  // namespace rocksdb

namespace portal {

class KeyVault;
class WalFailure;

// A reader's hold on the writer's deletion of files (StoreOptions::holdFiles): it
// lasts as long as this object, and as long as the writer keeps it (a running server
// ends one after half a minute).
class FileHold {
 public:
  virtual ~FileHold() = default;
  // False once the writer ended the hold.
  virtual bool held() const = 0;
};

struct StoreOptions {
  std::string path;
  // Open as a read-only RocksDB secondary instance, beside a running writer. Its own
  // scratch files go to a temporary directory, never into `path`.
  bool readOnly = false;
  // A read-only open's: asked before each attempt, for the writer's hold on its file
  // deletions (a running server's, through its operator socket), or null when there
  // is none (no server, or one that did not answer in time). While it is held, a
  // flush or compaction of the writer during the open (a new MANIFEST) deletes
  // nothing the open read, and no longer makes it try again.
  std::function<std::unique_ptr<FileHold>()> holdFiles = nullptr;
  // Create the directory and an empty log when there is none. Otherwise a missing
  // directory or one without portal data is refused with kNotPortalData.
  bool createIfMissing = false;
  // fsync every append. Only benchmarks of the non-durable path turn this off.
  bool sync = true;
  std::size_t blockCacheBytes = 64 << 20;
  // Recompute each event's hash as it is decoded and refuse one whose bytes do not
  // hash to what was recorded (an edited event), as the audit tools read: a
  // timeline or an export never shows an edited event as if it were the record.
  // (Checking the links between events is verify's job.)
  bool checkHashes = false;
  // A writer's open when the WAL is damaged before its end: start from the events
  // before the damage, saying so (the server: a power cut during an fsync looks the
  // same), or, false, refuse it as damaged files (kCorrupt), so that an offline
  // maintenance job (portalctl) makes no loss final: the server's start decides.
  bool recoverDamagedWal = true;
  // The file system RocksDB's files are written through; null: the machine's. (The
  // tests' fails some writes on demand.)
  std::shared_ptr<rocksdb::FileSystem> fileSystem = nullptr;
};

// A new event to append: the envelope fields that the caller decides. The store
// gives the position, the stream version and the hashes.
struct NewEvent {
  std::string stream;
  EventData data;
  Timestamp occurredAt;
  std::string actor;
  std::string companyId;
  std::string commandId;
  std::string correlationId;
};

// kNoStream: the stream must not exist yet.
inline constexpr std::uint64_t kNoStream = 0;

struct AppendRequest {
  std::vector<NewEvent> events;
  // Expected current version per stream; when any differs nothing is written and
  // append() fails with kVersionConflict. Streams not named here are not checked.
  std::map<std::string, std::uint64_t> expectedVersions;
  // People whose data keys are deleted in the same write (anonymization).
  std::vector<std::string> shred;
  // Extra writes committed in the same WriteBatch (idempotency records, outbox
  // entries); called after the events are in the batch, with the position the
  // first of them got.
  std::function<void(rocksdb::WriteBatch&, std::uint64_t firstPosition)> alsoWrite;
};

struct AppendResult {
  std::uint64_t firstPosition = 0;  // 0 when no events were appended
  std::uint64_t lastPosition = 0;
};

// A stored event as bytes, valid only during the callback that receives it.
struct RawEvent {
  std::uint64_t position;
  const Hash* prevHash;
  const Hash* hash;
  std::string_view json;
};

// Raw events copied out of a read of the log (whose views last only for its
// callback), to be decoded later or on another thread: the chunked readers (a
// rebuild, a long catch-up, the start) hand them over so.
class RawEvents {
 public:
  void reserve(std::size_t events) { entries_.reserve(events); }
  void add(const RawEvent& raw) {
    entries_.push_back({raw.position, *raw.prevHash, *raw.hash, text_.size(), raw.json.size()});
    text_.append(raw.json);
  }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Views into this, valid while it lives unchanged.
  RawEvent operator[](std::size_t i) const {
    const Entry& e = entries_[i];
    return {e.position, &e.prevHash, &e.hash, std::string_view(text_).substr(e.offset, e.size)};
  }
  std::uint64_t lastPosition() const { return entries_.empty() ? 0 : entries_.back().position; }

 private:
  struct Entry {
    std::uint64_t position = 0;
    Hash prevHash{}, hash{};
    std::size_t offset = 0, size = 0;  // its JSON in text_
  };
  std::string text_;  // the events' JSON, back to back
  std::vector<Entry> entries_;
};

// What is wrong with `raw` as the event after one whose hash is `prev` (zeros before
// the first): its prevHash is not `prev`, or its bytes do not hash to its recorded
// hash; nullopt when it links and hashes right. The chain's one check, for verify
// and for every read of the whole log.
std::optional<std::string> chainProblem(const Hash& prev, const RawEvent& raw);

struct VerifyReport {
  std::uint64_t checked = 0;     // events whose hash was recomputed and matched
  std::uint64_t firstBad = 0;    // 0 when the chain holds
  std::string problem;           // what is wrong at firstBad
  Hash head{};                   // hash of the last good event
};

class EventStore {
 public:
  // Opens (or creates) the log at options.path. Errors: kBusy when another process
  // writes there, kNotPortalData when there is no log and createIfMissing is false,
  // kIoError or kCorrupt from RocksDB. The caller owns the returned store.
  // Read-only, an open that meets the writer changing its column families (a
  // compaction's MANIFEST roll, a rebuild's new generation) is tried again.
  static Result<std::unique_ptr<EventStore>> open(const StoreOptions& options);
  // The checks open() makes of the data directory itself, for a program to make
  // before it acts on one otherwise: kNotFound when nothing is at `path` ("data
  // directory P does not exist"; open() says it with kNotPortalData), kNotPortalData
  // when it is not a directory ("P is not a directory"), kIoError when this process
  // may not list or enter it ("cannot read P: permission denied").
  static Result<void> checkDirectory(const std::string& path);
  ~EventStore();
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // Appends all events of `request` in one durable WriteBatch, or nothing, and
  // returns once it is durable. Writer thread only. After a failed write the store
  // refuses every later append (fail-stop): the caller must stop; reopening
  // rebuilds from what is durable.
  Result<AppendResult> append(const AppendRequest& request);

  // The pipelined form of append(): checks, encodes, seals and hashes the events on
  // the calling (writer) thread, then hands the batch to the store's write thread
  // and returns, so that the caller prepares the next append while this one is
  // written and fsync'd. Appends are written in the order they were submitted, each
  // in its own WriteBatch. `done` runs on the sync thread once the batch is durable,
  // or on the write thread when that made it durable itself, nothing else waiting
  // (or with the error: a refusal at once, on the calling thread; a failed write,
  // after which every later append fails too). `done` must be quick. Blocks while
  // kMaxInFlight appends are waiting to be written.
  void appendAsync(const AppendRequest& request, std::function<void(Result<AppendResult>)> done);
  static constexpr std::size_t kMaxInFlight = 4;
  // Appends of more events than this reserve their batch, from the size of their
  // first kSizingEvents, instead of growing it; batches past kMaxRecycledBatchBytes
  // are not reused.
  static constexpr std::size_t kLargeAppendEvents = 1024;
  static constexpr std::size_t kSizingEvents = 256;
  static constexpr std::size_t kMaxRecycledBatchBytes = 8u << 20;
  // Recycled appends kept at most, and their batches' bytes at most: while one fsync
  // runs, every batch written meanwhile waits for the next, so dozens are in flight
  // under load (keeping only a few made most appends allocate their batch anew).
  static constexpr std::size_t kMaxSpareAppends = 64;
  static constexpr std::size_t kMaxSpareBytes = 32u << 20;

  // Called on the sync thread after each fsync that made appends durable, with the
  // new last position (the projector's wake-up), before those appends' `done`
  // callbacks run. Set it before the first append.
  void onDurable(std::function<void(std::uint64_t)> listener) { onDurable_ = std::move(listener); }

  // What RocksDB's background work (a flush, a compaction, a write of its own
  // files) last failed with, while it has not recovered: RocksDB then takes no
  // write, for the log or the views. Empty when nothing failed or RocksDB recovered
  // (it does by itself once a full disk has room again). A failed write of the
  // write-ahead log comes first, and lasts (see flushWal).
  std::string backgroundError() const;

  // Writes out the WAL's buffer and, with `sync`, fsyncs it: how every writer of
  // the database (the views, the sessions, the outbox, the import logs) makes its
  // writes durable, never RocksDB's FlushWAL or WriteOptions::sync. A write of the
  // WAL that failed is kept from RocksDB (src/store/wal_file_system.h) and answered
  // here, by this call and every later one: nothing written since is durable.
  rocksdb::Status flushWal(bool sync);
  // Writes `batch` (without the WAL when `wal` is false: a rebuild's rows). Every
  // write of the database goes through here: once a write of the WAL failed, each is
  // refused with that failure, as RocksDB refuses writes after a failure it sees
  // (this one it is not shown).
  rocksdb::Status write(rocksdb::WriteBatch& batch, bool wal = true);
  // One row written or deleted in `family` through write() (in the WAL, not synced).
  rocksdb::Status put(rocksdb::ColumnFamilyHandle* family, std::string_view key,
                      std::string_view value);
  rocksdb::Status erase(rocksdb::ColumnFamilyHandle* family, std::string_view key);
  // Writes `batch` and makes it durable (flushWal(true)).
  rocksdb::Status writeDurably(rocksdb::WriteBatch& batch);
  // Flushes the memtables of `families` to table files, and waits. Refused once a
  // write of the WAL failed: the memtables may hold what it lost, and RocksDB 7.8
  // asked again for a flush it could not make (its new WAL file refused by the disk)
  // ends on an assertion (a memtable switched twice; a review).
  rocksdb::Status flush(const std::vector<rocksdb::ColumnFamilyHandle*>& families);

  // The position of the last durable event, 0 for an empty log.
  std::uint64_t lastPosition() const { return lastPosition_.load(std::memory_order_acquire); }

  // The current version of a stream, 0 when it does not exist, counting appends
  // submitted but not yet durable. Writer thread only (a read-only instance does
  // not track versions).
  std::uint64_t streamVersion(std::string_view stream) const;

  // Calls `fn` for each event from `from` (inclusive) in position order, at most
  // `limit` of them, until `fn` returns false. Stops with kCorrupt at a record that
  // is not in this program's format, and at a position that is missing: a gap, or
  // (read to the end) events before the durable head that are not there (a log
  // edited outside the program, a table file lost). Nothing is built on a log with
  // a hole in it: the write model, the views, a replay.
  Result<void> scan(std::uint64_t from, std::uint64_t limit,
                    const std::function<bool(const RawEvent&)>& fn) const;

  // Positions of the events of one stream, oldest first.
  Result<std::vector<std::uint64_t>> streamPositions(std::string_view stream) const;

  // One event's bytes; kNotFound when there is no such position.
  Result<std::string> readJson(std::uint64_t position) const;

  // Refuses an event whose bytes do not hash to its recorded hash: one edited after
  // it was written (kCorrupt, naming it). decode() checks this itself when the store
  // was opened with checkHashes.
  Result<void> checkHash(const RawEvent& raw) const;
  // Decodes a raw event with personal fields opened through the key vault.
  Result<RecordedEvent> decode(const RawEvent& raw) const;
  // decode(), with the hash checked whatever the store was opened with: for what
  // serves events as the record (the audit trail, the event feed, timelines).
  Result<RecordedEvent> decodeChecked(const RawEvent& raw) const;
  // Reads and decodes the event at `position` (a point read); kNotFound when there
  // is none. It and Cursor check the event's hash whatever the store was opened with
  // (they serve the audit trail: an edited event is kCorrupt, named).
  Result<RecordedEvent> readAt(std::uint64_t position) const;
  // Reads and decodes events at positions given in ascending order through one
  // iterator: neighbouring events share their block reads and the file is read
  // ahead, where a point read (readAt) reads a block for each. For a long list of
  // positions (a timeline, an as-of replay); kNotFound for a position with no event.
  class Cursor {
   public:
    explicit Cursor(const EventStore& store);
    ~Cursor();
    Cursor(const Cursor&) = delete;
    Cursor& operator=(const Cursor&) = delete;
    Result<RecordedEvent> at(std::uint64_t position);

   private:
    const EventStore& store_;
    std::unique_ptr<rocksdb::Iterator> it_;
    std::uint64_t reads_ = 0;
  };
  // Reads and decodes events [from, from + limit).
  Result<std::vector<RecordedEvent>> read(std::uint64_t from, std::uint64_t limit) const;
  // Reads and decodes one stream.
  Result<std::vector<RecordedEvent>> readStream(std::string_view stream) const;

  // Recomputes the hash chain over [from, to] (to = 0: up to the last event).
  Result<VerifyReport> verify(std::uint64_t from = 1, std::uint64_t to = 0) const;

  // Waits until the views hold every event up to a position (the server: its
  // projector), so that the rows an anonymization overwrites are overwritten before
  // the files are rewritten or copied; an error stops the compaction or backup.
  using ViewsSettle = std::function<Result<void>(std::uint64_t position)>;

  // Flushes memtables and compacts every column family down to the last level, so
  // that deleted keys and overwritten rows leave the disk, and old WAL files go.
  // With `settle`, the views first take in every durable event: an anonymization
  // acknowledged before this began then leaves nothing of the person on the disk.
  Result<void> compact(const ViewsSettle& settle = nullptr);

  // Writes a consistent copy of the log and every view to `dir` (a RocksDB
  // checkpoint: table files hard-linked when on the same file system, memtables
  // flushed first), from which a server can start, after a compaction (compact()),
  // so that it holds nothing an anonymization erased. With `settle`, the views
  // catch up after the compaction; the checkpoint is then taken with appends held
  // back while the views take in what came since (commonly well under a second);
  // when an anonymization was made during the compaction, the copy is compacted
  // too: no anonymization the copy holds leaves the person's data in its files.
  // `dir` must not exist or be empty; a failed backup removes what it wrote. Safe
  // beside appends. Returns the number of events the copy holds.
  // `tidy` runs on that copy, opened as a store, before it is compacted: what is
  // erased outside the log's batches after an anonymization is acknowledged (the
  // server: the company's import logs) is erased there too.
  using CopyTidy = std::function<Result<void>(EventStore& copy)>;
  Result<std::uint64_t> backup(const std::string& dir, const ViewsSettle& settle = nullptr,
                               const CopyTidy& tidy = nullptr);
  // The checks backup makes of `dir` before it writes anything, for a program to make
  // before it opens the log: outside `dataPath`, its parent a directory, itself
  // missing or an empty directory. Answers the directory's path without a trailing
  // separator.
  static Result<std::string> backupTarget(const std::string& dataPath, const std::string& dir);

  // The writer's: holds its deletion of obsolete files (table files, MANIFESTs and
  // WALs that a flush or compaction replaced) until every hold is released, when
  // they are deleted at once. A reader's open beside it reads the files that one
  // MANIFEST names, and would find some of them gone. kBusy while compact() waits
  // for the holds to end, so that what it replaced leaves the disk before it returns
  // (the holder must release its hold within a bounded time: a server ends each
  // within half a minute).
  Result<void> holdFiles();
  void releaseFiles();

  // Read-only instances: catch up with what the writer has written since.
  Result<void> refresh();

  // A column family of the log by name ("events", "keys", … or a projection's);
  // nullptr when there is none. Owned by the store; valid until dropped.
  rocksdb::ColumnFamilyHandle* columnFamily(std::string_view name) const;
  // The names of all column families.
  std::vector<std::string> columnFamilyNames() const;
  // Writer: creates a column family (for a projection), or returns the existing one.
  Result<rocksdb::ColumnFamilyHandle*> createColumnFamily(const std::string& name);
  // Writer: the same for several at once (in `names`' order), new ones taking no
  // compaction until SetOptions turns it on when `autoCompactions` is false.
  Result<std::vector<rocksdb::ColumnFamilyHandle*>> createColumnFamilies(
      const std::vector<std::string>& names, bool autoCompactions);
  // Writer: drops column families and their data (those that exist). The caller
  // makes sure nobody uses them.
  Result<void> dropColumnFamily(const std::string& name);
  Result<void> dropColumnFamilies(const std::vector<std::string>& names);

  KeyVault& vault() { return *vault_; }
  rocksdb::DB* db() { return db_; }
  rocksdb::ColumnFamilyHandle* checkpoints() { return cf_.checkpoints; }
  bool readOnly() const { return options_.readOnly; }
  const std::string& path() const { return options_.path; }
  const StoreOptions& options() const { return options_; }

 private:
  static Result<std::unique_ptr<EventStore>> openOnce(const StoreOptions& options);
  struct Families {
    rocksdb::ColumnFamilyHandle* events = nullptr;
    rocksdb::ColumnFamilyHandle* streams = nullptr;
    rocksdb::ColumnFamilyHandle* meta = nullptr;
    rocksdb::ColumnFamilyHandle* keys = nullptr;
    rocksdb::ColumnFamilyHandle* checkpoints = nullptr;
  };

  struct PreparedAppend;
  class BackgroundErrors;
  std::shared_ptr<BackgroundErrors> backgroundErrors_;
  // scan(), which refuses a gap when `gapless`; verify() reports gaps itself.
  Result<void> scanRecords(std::uint64_t from, std::uint64_t limit,
                           const std::function<bool(const RawEvent&)>& fn, bool gapless) const;
  // Parses and decodes the stored record of the event at `position`.
  Result<RecordedEvent> decodeStored(std::uint64_t position, std::string_view record) const;

  EventStore() = default;
  Result<std::optional<std::uint64_t>> recordedHead() const;
  // No event found at `position`: missing (kCorrupt, "run portal-replay verify")
  // when the log reaches past it, else not written yet (kNotFound).
  Error absentEvent(std::uint64_t position) const;
  Result<void> checkRecordedHead() const;
  Result<void> loadHead();
  Result<std::unique_ptr<PreparedAppend>> prepare(const AppendRequest& request);
  void writeLoop();
  void syncLoop();
  // FlushWAL once for `applied`, then acknowledge each in order.
  void makeDurable(std::deque<std::unique_ptr<PreparedAppend>>& applied);
  Result<void> loadStreamHeads();

  StoreOptions options_;
  std::string secondaryPath_;
  int scratchLock_ = -1;  // held on a file in secondaryPath_ while this lives
  rocksdb::DB* db_ = nullptr;
  // The writer's: the first failed write of a WAL file, and the Env whose file
  // system keeps it from RocksDB (it outlives db_).
  std::shared_ptr<WalFailure> walFailure_;
  // Whether a write of the WAL failed (the writer's; false for a reader).
  bool walFailed() const;
  std::unique_ptr<rocksdb::Env> env_;
  mutable std::shared_mutex familiesMu_;  // guards handles_ and handleNames_
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::vector<std::string> handleNames_;
  std::shared_ptr<void> cache_;  // the block cache shared by all families (rocksdb::Cache)
  Families cf_;
  std::unique_ptr<KeyVault> vault_;

  std::atomic<std::uint64_t> lastPosition_{0};  // durable
  std::atomic<bool> failed_{false};             // a write failed: fail-stop
  Hash lastHash_{};                             // of the last event at open

  // The write thread and the appends waiting for it; the sync thread and the
  // appends applied but not yet durable.
  std::thread writer_, syncer_;
  // Readers' holds of the files (holdFiles), and a compaction's wait for them to end.
  std::mutex holdMu_;
  std::condition_variable holdsEnded_;
  int holds_ = 0;         // under holdMu_
  bool purging_ = false;  // under holdMu_: compact() waits for the holds to end
  std::mutex syncMu_;
  std::condition_variable syncReady_;
  std::deque<std::unique_ptr<PreparedAppend>> syncQueue_;
  bool writerDone_ = false;
  bool syncBusy_ = false;  // a FlushWAL and its acknowledgements are under way
  std::mutex spareMu_;
  std::vector<std::unique_ptr<PreparedAppend>> spare_;  // recycled, buffers kept
  std::size_t spareBytes_ = 0;                           // their batches' bytes
  std::mutex queueMu_;
  std::condition_variable queueReady_, queueSpace_;
  std::deque<std::unique_ptr<PreparedAppend>> queue_;
  bool stopping_ = false;
  // A backup's checkpoint holds the write thread (under queueMu_): it writes
  // nothing while `writesHeld_`, and says when it waits (`writerParked_`).
  bool writesHeld_ = false;
  bool writerWaiting_ = false;
  std::condition_variable writerParked_;
  std::condition_variable syncIdle_;  // with syncMu_: the sync thread has nothing under way
  class HeldWrites;
  // Durable appends that deleted a data key (anonymizations) since the open; counted
  // once the head has moved past them.
  std::atomic<std::uint64_t> shreds_{0};
  std::function<void(std::uint64_t)> onDurable_;

  // Writer (preparing) thread only: the head including appends not yet durable.
  std::uint64_t preparedPosition_ = 0;
  Hash preparedHash_{};
  // The head version of every stream, read once at open (a key-only scan of the
  // stream index, cheap beside the replay a writer does at start anyway), so that
  // appends never look a version up on disk.
  StringMap<std::uint64_t> streamVersions_;
};

}  // namespace portal
