#include "projections/projector.h"

#include <pthread.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#include "events/log.h"
#include "events/string_map.h"
#include "projections/generation_builder.h"
#include "projections/row_changes.h"

namespace portal {
namespace {

constexpr std::uint64_t kChunk = 2000;  // events per projection WriteBatch
// Stretches of the log at least this long are decoded a chunk ahead, on a second thread.
constexpr std::uint64_t kDecodeAheadEvents = 2 * kChunk;
// Chunks the reading thread may be ahead of the slowest projection.
constexpr std::uint64_t kRebuildWindow = 6;
// The threads that apply chunks in a rebuild (this one and one beside it).
constexpr std::uint64_t kRebuildThreads = 2;
// Where a rebuild writes its table files before the database ingests them.
constexpr const char* kRebuildScratch = "rebuild.tmp";

// True when no projection takes the event, of the types `wanted` (those some
// projection handles): it is passed over undecoded. One of a type this program does
// not know is decoded, which stops the projections at it, never passed over.
bool noneTakes(const RawEvent& raw, const std::set<std::string_view>& wanted) {
  const std::optional<std::string_view> type = peekEventType(raw.json);
  return type && !wanted.count(*type) && isEventTypeName(*type);
}

// A chunk of a long catch-up: its events as read, and each one's decoding (nullopt:
// not decoded, for no projection takes it).
struct AheadChunk {
  RawEvents raw;
  std::vector<std::optional<Result<RecordedEvent>>> decoded;
  std::exception_ptr thrown;  // what decoding threw (memory ran out), for take()
};

// Decodes the chunks handed to it, in the order handed, on one thread of its own
// that lasts as long as it does; on the caller's thread, in hand(), when no thread
// can be started.
class DecodeAhead {
 public:
  explicit DecodeAhead(std::function<void(AheadChunk&)> decode) : decode_(std::move(decode)) {
    try {
      thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "projector-dec");
        run();
      });
    } catch (const std::system_error&) {
      // No thread: hand() decodes.
    }
  }
  DecodeAhead(const DecodeAhead&) = delete;
  DecodeAhead& operator=(const DecodeAhead&) = delete;
  ~DecodeAhead() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void hand(std::shared_ptr<AheadChunk> chunk) {
    if (!thread_.joinable()) {
      decodeCatching(*chunk);
      std::lock_guard lock(mu_);
      decoded_.push_back(std::move(chunk));
      return;
    }
    {
      std::lock_guard lock(mu_);
      todo_.push_back(std::move(chunk));
    }
    changed_.notify_all();
  }

  // The oldest chunk handed and not yet taken, once decoded (nullptr: none handed).
  std::shared_ptr<AheadChunk> take() {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return !decoded_.empty() || todo_.empty(); });
    if (decoded_.empty()) return nullptr;
    auto chunk = std::move(decoded_.front());
    decoded_.pop_front();
    lock.unlock();
    if (chunk->thrown) std::rethrow_exception(chunk->thrown);
    return chunk;
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    while (true) {
      changed_.wait(lock, [&] { return !todo_.empty() || stopping_; });
      if (todo_.empty()) return;
      std::shared_ptr<AheadChunk> chunk = todo_.front();
      lock.unlock();
      decodeCatching(*chunk);
      lock.lock();
      todo_.pop_front();
      decoded_.push_back(std::move(chunk));
      changed_.notify_all();
    }
  }
  void decodeCatching(AheadChunk& chunk) {
    try {
      decode_(chunk);
    } catch (...) {
      chunk.thrown = std::current_exception();
    }
  }

  std::function<void(AheadChunk&)> decode_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<AheadChunk>> todo_;     // handed; the first being decoded
  std::deque<std::shared_ptr<AheadChunk>> decoded_;  // decoded, not yet taken
  bool stopping_ = false;
  std::thread thread_;  // last: it starts once the members above are made
};

std::string checkpointKey(const std::string& name, std::uint64_t generation) {
  return name + "#g" + std::to_string(generation);
}
std::string generationKey(const std::string& name) { return "gen/" + name; }
std::string familyName(const std::string& projection, const std::string& family,
                       std::uint64_t generation) {
  return projection + "." + family + ".g" + std::to_string(generation);
}


// The rows of one projection generation plus the changes of the batch being built.
class BatchView final : public RowView {
 public:
  BatchView(rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles)
      : db_(db), handles_(handles) {
    overlay_.reserve(handles.size());
    for (std::size_t i = 0; i < handles.size(); ++i)
      overlay_.emplace_back(std::size_t{4} << 10, std::size_t{256} << 10);
  }

  std::optional<std::string> get(int family, std::string_view key) override {
    if (const RowOverlay::State* state = overlay_[static_cast<std::size_t>(family)].find(key))
      return RowOverlay::owned(*state);
    std::string value;
    if (db_->Get(rocksdb::ReadOptions(), handles_[family], rocksdb::Slice(key.data(), key.size()),
                 &value)
            .ok())
      return value;
    return std::nullopt;
  }
  void put(int family, std::string_view key, std::string_view value) override {
    overlay_[static_cast<std::size_t>(family)].set(key, value);
  }
  void remove(int family, std::string_view key) override {
    overlay_[static_cast<std::size_t>(family)].set(key, std::nullopt);
  }
  void scan(int family, std::string_view prefix,
            const std::function<bool(std::string_view, std::string_view)>& fn) override {
    std::map<std::string, std::optional<std::string>> changes;
    overlay_[static_cast<std::size_t>(family)].addPrefixed(prefix, changes);
    scanWithChanges(db_, handles_[family], prefix, std::move(changes), fn);
  }
  bool empty() const {
    return std::all_of(overlay_.begin(), overlay_.end(),
                       [](const RowOverlay& rows) { return rows.empty(); });
  }
  // The batch of the chunk: the final state of each row it touched, in key order
  // (RocksDB inserts sorted keys far faster, and a row changed twice is written once).
  void appendTo(rocksdb::WriteBatch& batch) const {
    for (std::size_t f = 0; f < overlay_.size(); ++f) {
      sorted_.clear();
      overlay_[f].appendTo(sorted_);
      sortByKey(sorted_, sortBuffer_);
      for (const RowChange& change : sorted_) {
        const rocksdb::Slice key(change.key.data(), change.key.size());
        if (change.value)
          batch.Put(handles_[f], key, rocksdb::Slice(change.value->data(), change.value->size()));
        else
          batch.Delete(handles_[f], key);
      }
    }
  }
  void clear() {
    for (RowOverlay& rows : overlay_) rows.clear();
  }

 private:
  rocksdb::DB* db_;
  const std::vector<rocksdb::ColumnFamilyHandle*>& handles_;
  // By family: each row's last state, its bytes in blocks kept from chunk to chunk.
  // (A chunk changes thousands of rows: a string allocated and freed for each key
  // and value cost about a tenth of the projector's work.)
  std::vector<RowOverlay> overlay_;
  mutable std::vector<RowChange> sorted_, sortBuffer_;  // appendTo's scratch
};

}  // namespace

std::string positionBytes(std::uint64_t pos) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i, pos >>= 8) k[i] = static_cast<char>(pos & 0xff);
  return k;
}

std::uint64_t positionFromBytes(std::string_view bytes) {
  std::uint64_t v = 0;
  for (unsigned char c : bytes) v = (v << 8) | c;
  return v;
}

Result<ServingProjection> servingProjection(const EventStore& store, const Projection& projection) {
  EventStore& s = const_cast<EventStore&>(store);  // reads only
  const std::string name = projection.name();
  ServingProjection out;
  std::uint64_t generation = 1;
  std::string value;
  rocksdb::Status st = s.db()->Get(rocksdb::ReadOptions(), s.checkpoints(), generationKey(name), &value);
  if (st.ok()) generation = positionFromBytes(value);
  else if (!st.IsNotFound())
    return makeError(ErrorCode::kIoError, "cannot read the generation of " + name + ": " + st.ToString());
  for (const auto& family : projection.families()) {
    auto* h = store.columnFamily(familyName(name, family, generation));
    if (h == nullptr)
      return makeError(ErrorCode::kNotFound, "the projection " + name + " has not been built in " +
                                                 store.path() + " (run portalctl rebuild)");
    out.families.push_back(h);
  }
  st = s.db()->Get(rocksdb::ReadOptions(), s.checkpoints(), checkpointKey(name, generation), &value);
  if (st.ok()) out.checkpoint = positionFromBytes(value);
  else if (!st.IsNotFound())
    return makeError(ErrorCode::kIoError, "cannot read the checkpoint of " + name + ": " + st.ToString());
  return out;
}

struct Projector::Slot {
  std::shared_ptr<Projection> projection;  // shared with a rebuild's fresh slot
  std::string name;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::uint64_t generation = 1;
  std::atomic<std::uint64_t> checkpoint{0};
  std::atomic<bool> failed{false};
  std::string error;  // guarded by progressMu_
  // A rebuild's fresh generation: its stop is the rebuild's error, which whoever
  // asked for the rebuild is told (said here too, it gave a line per projection).
  bool quiet = false;
};

Projector::Projector(EventStore& store) : store_(store) {}

Result<std::unique_ptr<Projector>> Projector::open(
    EventStore& store, std::vector<std::unique_ptr<Projection>> projections) {
  std::unique_ptr<Projector> p(new Projector(store));
  // Table files of a rebuild a crash cut short hold view rows (names, emails) that
  // no compaction reaches: they go at the writer's start, before anyone is erased.
  std::error_code ec;
  std::filesystem::remove_all(store.path() + "/" + kRebuildScratch, ec);
  rocksdb::DB* db = store.db();
  for (auto& projection : projections) {
    auto slot = std::make_unique<Slot>();
    slot->name = projection->name();
    std::string value;
    auto read = [&](const std::string& key) -> Result<bool> {
      rocksdb::Status st = db->Get(rocksdb::ReadOptions(), store.checkpoints(), key, &value);
      if (st.IsNotFound()) return false;
      if (!st.ok())
        return makeError(ErrorCode::kIoError, "cannot read the checkpoint of " + slot->name +
                                                  ": " + st.ToString());
      return true;
    };
    auto hasGeneration = read(generationKey(slot->name));
    if (!hasGeneration) return hasGeneration.error();
    if (*hasGeneration) slot->generation = positionFromBytes(value);
    for (const auto& family : projection->families()) {
      auto h = store.createColumnFamily(familyName(slot->name, family, slot->generation));
      if (!h) return h.error();
      slot->handles.push_back(*h);
    }
    auto hasCheckpoint = read(checkpointKey(slot->name, slot->generation));
    if (!hasCheckpoint) return hasCheckpoint.error();
    if (*hasCheckpoint) slot->checkpoint = positionFromBytes(value);
    // A view that has seen events the log no longer holds would skip the ones
    // appended at their positions next (a reader's view may be ahead of the log it
    // caught up with, so only a writer checks).
    if (!store.readOnly() && slot->checkpoint > store.lastPosition())
      return makeError(ErrorCode::kCorrupt,
                       "the " + slot->name + " view has seen " + std::to_string(slot->checkpoint) +
                           " events but the log holds " + std::to_string(store.lastPosition()) +
                           ": the log lost its newest events (with its head record, so the "
                           "events left still verify); restore a backup");
    // A rebuild that stopped before its switch left another generation behind.
    const std::string prefix = slot->name + ".";
    const std::string current = ".g" + std::to_string(slot->generation);
    for (const auto& cf : store.columnFamilyNames())
      if (cf.rfind(prefix, 0) == 0 &&
          (cf.size() < current.size() || cf.compare(cf.size() - current.size(), current.size(), current) != 0))
        if (auto r = store.dropColumnFamily(cf); !r) return r.error();
    // And its checkpoint, when it had written one (a rebuild makes the next one).
    if (!store.readOnly()) {
      if (rocksdb::Status st =
              store.erase(store.checkpoints(), checkpointKey(slot->name, slot->generation + 1));
          !st.ok())
        return makeError(ErrorCode::kIoError, "cannot remove a stale checkpoint of " + slot->name +
                                                  ": " + st.ToString());
    }
    if (auto r = dropSupersededVersions(store, slot->name); !r) return r.error();
    slot->projection = std::move(projection);
    p->slots_.push_back(std::move(slot));
  }
  return p;
}

// A projection whose logic changed got a new version ("users_v2"), built from the log
// at open: the other versions' checkpoints and families go. Their rows would stay
// for ever otherwise, updated by no event, personal data of people anonymized since
// among them. (An older program opened on the directory again drops the newer
// version the same way and rebuilds its own.) Old versions are found by their
// checkpoints and by their families alike, so a stop half-way is finished at the
// next open.
Result<void> Projector::dropSupersededVersions(EventStore& store, const std::string& name) {
  const auto v = name.rfind("_v");
  auto isVersion = [](std::string_view digits) {
    return !digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (v == std::string::npos || !isVersion(std::string_view(name).substr(v + 2))) return {};
  const std::string stem = name.substr(0, v + 2);  // "users_v"
  // "users_v1" of "users_v1.rows.g3", "users_v1#g3" or "gen/users_v1", when another version.
  auto otherVersion = [&](std::string_view text, std::string_view end) -> std::optional<std::string> {
    if (text.rfind(stem, 0) != 0) return std::nullopt;
    const std::string_view owner = text.substr(0, std::min(text.find_first_of(end), text.size()));
    if (owner == name || !isVersion(owner.substr(stem.size()))) return std::nullopt;
    return std::string(owner);
  };
  std::set<std::string> old;
  {
    std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(rocksdb::ReadOptions(), store.checkpoints()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view key(it->key().data(), it->key().size());
      if (key.rfind("gen/", 0) == 0) key.remove_prefix(4);
      if (auto owner = otherVersion(key, "#")) old.insert(*owner);
    }
    if (!it->status().ok())
      return makeError(ErrorCode::kIoError, "cannot read the checkpoints: " + it->status().ToString());
  }
  std::vector<std::string> families;
  for (const auto& cf : store.columnFamilyNames())
    if (auto owner = otherVersion(cf, ".")) families.push_back(cf);
  for (const auto& owner : old) {
    rocksdb::WriteBatch batch;
    batch.Delete(store.checkpoints(), generationKey(owner));
    batch.DeleteRange(store.checkpoints(), owner + "#g", owner + "#h");
    rocksdb::Status st = store.write(batch);
    if (!st.ok())
      return makeError(ErrorCode::kIoError, "cannot remove the checkpoints of " + owner + ": " + st.ToString());
  }
  if (auto r = store.dropColumnFamilies(families); !r) return r.error();
  return {};
}

Projector::~Projector() { shutDown(); }

void Projector::shutDown() {
  std::lock_guard once(shutDownMu_);
  {
    std::lock_guard lock(wakeMu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (follower_.joinable()) follower_.join();
  std::multimap<std::uint64_t, Callback> left;
  {
    std::lock_guard lock(progressMu_);
    ended_ = true;
    left.swap(callbacks_);
  }
  for (auto& [position, callback] : left) callback.fn(false);
}

void Projector::stop(Slot* s, std::string why) {
  std::lock_guard lock(progressMu_);
  if (!s->quiet && (!s->failed.load() || s->error != why))
    logLine("projection " + s->name + " (generation " + std::to_string(s->generation) +
            ") stopped: " + why);
  s->failed = true;
  s->error = std::move(why);
  // With every projection stopped nothing will be reached: who waits hears it now.
  if (allStopped())
    for (auto& [position, waiter] : waiters_) waiter->notify_one();
}

Result<RecordedEvent> Projector::decodeOrStop(const std::vector<Slot*>& slots, const RawEvent& raw,
                                              std::optional<Result<RecordedEvent>>* ahead) {
  Result<RecordedEvent> decoded =
      ahead != nullptr && *ahead ? std::move(**ahead) : store_.decode(raw);
  if (!decoded)
    for (Slot* s : slots)  // one stopped already keeps its reason
      if (!s->failed.load())
        stop(s, "cannot decode event " + std::to_string(raw.position) + ": " +
                    decoded.error().message);
  return decoded;
}

Projector::Slot* Projector::find(std::string_view name) const {
  for (const auto& s : slots_)
    if (s->name == name) return s.get();
  return nullptr;
}

Result<void> Projector::applyRange(std::vector<Slot*> slots, std::uint64_t upTo, bool followerSlots,
                                   const std::function<void(std::uint64_t)>& onProgress,
                                   const std::atomic<bool>* cancel, bool stoppedToo) {
  std::erase_if(slots, [&](Slot* s) {
    return (!stoppedToo && s->failed.load()) || s->checkpoint.load() >= upTo;
  });
  if (slots.empty()) return {};
  std::uint64_t from = upTo;
  for (Slot* s : slots) from = std::min(from, s->checkpoint.load() + 1);

  std::vector<std::unique_ptr<BatchView>> views;
  for (Slot* s : slots) views.push_back(std::make_unique<BatchView>(store_.db(), s->handles));
  std::vector<std::uint64_t> reached(slots.size());
  for (std::size_t i = 0; i < slots.size(); ++i) reached[i] = slots[i]->checkpoint.load();

  // The follower writes every projection's rows and checkpoint in one batch (one
  // WAL record, one write per chunk however many projections follow); a rebuild
  // writes each projection on its own, beside the others' threads.
  rocksdb::WriteBatch batch;
  auto commit = [&]() -> Result<void> {
    std::vector<std::size_t> written;
    auto write = [&]() -> Result<void> {
      if (written.empty()) return {};
      // A rebuild fills a generation nobody serves yet: it skips the WAL and is
      // flushed to table files before the switch instead.
      rocksdb::Status st = store_.write(batch, /*wal=*/followerSlots);
      // The store flushes the WAL by hand (after each append): without this the
      // views' last change would wait in its buffer for the next command, and a
      // reader beside the server (portal-replay) would see them a command late.
      if (st.ok() && followerSlots) st = store_.flushWal(false);
      batch.Clear();
      for (std::size_t i : written) {
        Slot* s = slots[i];
        views[i]->clear();
        if (!st.ok()) {
          stop(s, "cannot write its rows: " + st.ToString());
        } else {
          s->checkpoint.store(reached[i]);
        }
      }
      written.clear();
      if (!st.ok()) {
        if (followerSlots) {
          std::lock_guard lock(writeFailureMu_);
          if (onWriteFailure_) onWriteFailure_("projections: " + st.ToString());
        }
        return makeError(ErrorCode::kIoError, "projections: " + st.ToString());
      }
      return {};
    };
    for (std::size_t i = 0; i < slots.size(); ++i) {
      Slot* s = slots[i];
      if (reached[i] == s->checkpoint.load() && views[i]->empty()) continue;
      views[i]->appendTo(batch);
      batch.Put(store_.checkpoints(), checkpointKey(s->name, s->generation), positionBytes(reached[i]));
      written.push_back(i);
      if (!followerSlots)
        if (auto r = write(); !r) return r;
    }
    if (auto r = write(); !r) return r;
    if (followerSlots) {
      Due due;
      {
        std::lock_guard lock(progressMu_);
        due = wakeReached();
      }
      for (auto& [fn, reached] : due) fn(reached);
    }
    return {};
  };

  std::optional<Error> failure;
  // The projections that refused an event in this range, at that position: stopped
  // at once (the waits for the others pass them over), and once the range is
  // written, given the rows of the events before it in its chunk.
  std::vector<std::uint64_t> refusedAt(slots.size(), 0);
  auto applyBeforeRefusals = [&] {
    for (std::size_t i = 0; i < slots.size(); ++i) {
      Slot* s = slots[i];
      if (refusedAt[i] == 0 || refusedAt[i] - 1 <= s->checkpoint.load()) continue;
      // Their chunk's rows went with the refused event's (a chunk is written
      // whole): the events before it are applied again, alone, the projection
      // stopped throughout (its readers, the mailer and the sign-ins go by that).
      // (A review: a view said "stopped at event N" and showed the log as it was up
      // to 1,999 events before.) A second refusal there names the earlier event.
      (void)applyRange({s}, refusedAt[i] - 1, followerSlots, nullptr, nullptr, true);
    }
  };
  std::uint64_t inChunk = 0;
  // Applies one event to each projection that wants it; `ahead`, when not null, is
  // its decoding done beforehand (nullopt: not done). False ends the read.
  auto step = [&](const RawEvent& raw, std::optional<Result<RecordedEvent>>* ahead) {
    if (failure) return false;
    if (cancel != nullptr && cancel->load()) return false;
    // Decode once, and only when some projection wants the event.
    // An event of a type this program does not know is decoded, which stops the
    // projection at it: never passed over as one no projection takes.
    std::optional<std::string_view> type = peekEventType(raw.json);
    if (type && !isEventTypeName(*type)) type.reset();
    std::optional<RecordedEvent> event;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      Slot* s = slots[i];
      if ((!stoppedToo && s->failed.load()) || refusedAt[i] != 0 || raw.position <= reached[i])
        continue;
      if (type && !s->projection->handles().count(*type)) {
        reached[i] = raw.position;
        continue;
      }
      if (!event) {
        auto decoded = decodeOrStop(slots, raw, ahead);
        if (!decoded) {
          failure = decoded.error();
          return false;
        }
        event = std::move(*decoded);
      }
      if (auto applied = s->projection->apply(*event, *views[i]); !applied) {
        stop(s,
             "stopped at event " + std::to_string(raw.position) + ": " + applied.error().message);
        refusedAt[i] = raw.position;
        // The rows of this chunk are dropped with the batch (the refused event may
        // have changed some): so is its progress, so that the checkpoint stays
        // where the last written rows are (applyBeforeRefusals writes the others).
        views[i]->clear();
        reached[i] = s->checkpoint.load();
        continue;
      }
      reached[i] = raw.position;
    }
    if (++inChunk >= kChunk) {
      inChunk = 0;
      if (auto c = commit(); !c) {
        failure = c.error();
        return false;
      }
      if (onProgress) onProgress(raw.position);
    }
    return true;
  };
  Result<void> r;
  if (upTo - from + 1 < kDecodeAheadEvents) {
    r = store_.scan(from, upTo - from + 1, [&](const RawEvent& raw) { return step(raw, nullptr); });
  } else {
    // A long stretch (a batch import, a rebuild's catch-up): the chunk after the
    // one being applied is decoded meanwhile on a second thread, one for the whole
    // stretch. (Decoding, the JSON and the sealed fields, was about a third of the
    // work, and the other core idle.) Events no projection takes are left
    // undecoded, as above.
    std::set<std::string_view> wanted;
    for (Slot* s : slots)
      wanted.insert(s->projection->handles().begin(), s->projection->handles().end());
    auto decodeAll = [this, &wanted](AheadChunk& chunk) {
      chunk.decoded.resize(chunk.raw.size());
      for (std::size_t i = 0; i < chunk.raw.size(); ++i) {
        const RawEvent raw = chunk.raw[i];
        if (noneTakes(raw, wanted)) continue;
        chunk.decoded[i] = store_.decode(raw);
      }
    };
    auto applyAll = [&](AheadChunk& chunk) {
      for (std::size_t i = 0; i < chunk.raw.size(); ++i)
        if (!step(chunk.raw[i], &chunk.decoded[i])) return false;
      return true;
    };
    DecodeAhead ahead(decodeAll);
    auto reading = std::make_shared<AheadChunk>();
    reading->raw.reserve(kChunk);
    bool going = true, handedBefore = false;
    r = store_.scan(from, upTo - from + 1, [&](const RawEvent& raw) {
      reading->raw.add(raw);
      if (reading->raw.size() < kChunk) return true;
      ahead.hand(std::move(reading));
      reading = std::make_shared<AheadChunk>();
      reading->raw.reserve(kChunk);
      // The chunk handed before this one is applied while this one is decoded.
      if (handedBefore) going = applyAll(*ahead.take());
      handedBefore = true;
      return going;
    });
    // What was read before the read ended is applied, also when it ended on an
    // error: as one thread applies events as it reads them, so that an event
    // before the error that cannot be decoded is the one named, and the rows
    // before it are written.
    if (handedBefore) {
      auto last = ahead.take();
      if (going) going = applyAll(*last);
    }
    if (going && !reading->raw.empty()) {
      decodeAll(*reading);
      applyAll(*reading);
    }
  }
  if (!r && !failure) {
    // The log itself could not be read there: every projection stops and says so.
    for (Slot* s : slots) stop(s, "cannot read the log: " + r.error().message);
    return r.error();
  }
  if (auto c = commit(); !c) return c.error();
  applyBeforeRefusals();
  if (failure) return *failure;
  if (onProgress) onProgress(upTo);
  return {};
}

Result<void> Projector::fill(const std::vector<Slot*>& slots, std::uint64_t upTo,
                             const std::function<void(std::uint64_t)>& onProgress,
                             const std::atomic<bool>* cancel) {
  if (slots.empty()) return {};
  std::uint64_t from = upTo;
  for (Slot* s : slots) from = std::min(from, s->checkpoint.load() + 1);
  const std::string scratch = store_.path() + "/" + kRebuildScratch;
  // A lane applies one projection's chunks in order into its own builder. A
  // projection whose events are independent gets one lane per applying thread,
  // each taking every other chunk, so that the costliest projection (the audit
  // index) is not one thread's chain that the other thread waits on.
  struct Lane {
    std::size_t slot = 0;
    std::uint64_t first = 0, stride = 1;  // the chunks it applies: first, first + stride, …
    std::unique_ptr<GenerationBuilder> builder;
    HandledTypes handled;
  };
  std::vector<Lane> lanes;
  std::set<std::string_view> wanted;  // the types some projection handles
  for (std::size_t i = 0; i < slots.size(); ++i) {
    Slot* s = slots[i];
    const std::uint64_t stride = s->projection->eventsIndependent() ? kRebuildThreads : 1;
    for (std::uint64_t l = 0; l < stride; ++l)
      lanes.push_back({i, l, stride,
                       std::make_unique<GenerationBuilder>(
                           store_.db(), s->handles, scratch + "/" + s->name + "." + std::to_string(l),
                           std::max<std::size_t>(1, rebuildMemory_ / slots.size() / stride)),
                       HandledTypes(s->projection->handles())});
    wanted.insert(s->projection->handles().begin(), s->projection->handles().end());
  }
  // This thread reads the log into chunks of raw events; both threads decode them
  // and apply them. A task is decoding the oldest chunk not yet decoded, or one lane
  // applying its next decoded chunk (or, after the last, writing out its rows), so
  // each lane sees its chunks in order, on whichever thread is free: the work shares
  // itself out however the projections' costs differ, and decoding (a third of it)
  // is no longer one thread's alone.
  struct Chunk {
    RawEvents raw;
    std::vector<RecordedEvent> events;  // once decoded: those some projection handles
  };
  enum class Stage : std::uint8_t { kRead, kDecoding, kDecoded };
  const std::size_t n = lanes.size();
  std::mutex mu;
  std::condition_variable changed;
  std::deque<std::shared_ptr<Chunk>> window;  // chunks some lane still needs
  std::deque<Stage> stage;                    // each one's, alike
  std::uint64_t base = 0;                     // the index of window.front()
  std::uint64_t produced = 0;
  std::uint64_t applied = 0;  // the last event every lane has applied (for progress)
  bool closed = false;  // no more chunks
  std::vector<std::uint64_t> next(n);
  for (std::size_t e = 0; e < n; ++e) next[e] = lanes[e].first;
  std::vector<bool> busy(n, false), done(n, false);
  std::optional<Error> writeFailure, failure;
  // The earliest event that could not be decoded (`failure`'s): reading stops, and
  // decoding goes on only before it, so that an earlier one still found is named
  // whichever thread decodes which chunk first.
  constexpr std::uint64_t kReadable = ~std::uint64_t{0};
  std::atomic<std::uint64_t> failedAt{kReadable};

  // Writes out lane e's rows; false (and its projection stops) when that fails.
  auto writeOut = [&](std::size_t e) {
    auto w = lanes[e].builder->flush();
    if (w) return true;
    stop(slots[lanes[e].slot], w.error().message);
    std::lock_guard lock(mu);
    writeFailure = w.error();
    return false;
  };
  auto runTask = [&](std::size_t e, const std::shared_ptr<Chunk>& chunk) {
    Slot* s = slots[lanes[e].slot];
    GenerationBuilder& builder = *lanes[e].builder;
    if (cancel != nullptr && cancel->load()) return;
    if (!chunk) {
      if (!s->failed.load()) writeOut(e);
      return;
    }
    const HandledTypes& handled = lanes[e].handled;
    for (const RecordedEvent& event : chunk->events) {
      if (s->failed.load()) return;
      if (!handled(event.data)) continue;
      if (auto r = s->projection->apply(event, builder); !r) {
        stop(s, "stopped at event " + std::to_string(event.envelope.position) + ": " + r.error().message);
        return;
      }
      if (builder.full() && !writeOut(e)) return;
    }
  };
  // Decodes the events of a chunk that some projection handles; on an event that
  // cannot be decoded every projection stops, with the earliest such event's error,
  // and reading ends.
  auto decodeChunk = [&](Chunk& chunk) {
    chunk.events.reserve(chunk.raw.size());
    for (std::size_t i = 0; i < chunk.raw.size(); ++i) {
      const RawEvent raw = chunk.raw[i];
      if (raw.position > failedAt.load() || (cancel != nullptr && cancel->load())) return;
      // A rebuild reads every event once: each is checked against its recorded hash
      // (0.4 us), so that an event edited in the files is refused, not built into
      // the views. One of a type no projection takes is passed over undecoded; one
      // of a type this program does not know (a newer program's, or an edited
      // record) is decoded, which stops the rebuild with its position.
      Result<RecordedEvent> decoded = makeError(ErrorCode::kCorrupt, "not decoded");
      if (auto checked = store_.checkHash(raw); !checked) {
        decoded = checked.error();
      } else {
        if (noneTakes(raw, wanted)) continue;
        decoded = store_.decode(raw);
      }
      if (!decoded) {
        Error e = decoded.error();
        const std::string where = "event " + std::to_string(raw.position);
        if (e.message.find(where) == std::string::npos) e.message = "cannot decode " + where + ": " + e.message;
        std::lock_guard lock(mu);
        if (raw.position < failedAt.load()) {  // the first, when both threads fail
          for (Slot* s : slots) stop(s, e.message);
          failure = std::move(e);
          failedAt = raw.position;
        }
        return;
      }
      chunk.events.push_back(std::move(*decoded));
    }
  };
  // Takes a task (holding `lock`): false when there is none now. Applying comes
  // first (it frees the window); decoding when no lane has a chunk to apply.
  auto takeTask = [&](std::unique_lock<std::mutex>& lock) {
    for (std::size_t e = 0; e < n; ++e) {
      if (busy[e] || done[e]) continue;
      std::shared_ptr<Chunk> chunk;
      if (next[e] < produced) {
        if (stage[next[e] - base] != Stage::kDecoded) continue;
        chunk = window[next[e] - base];
      } else if (!closed) {
        continue;
      }
      busy[e] = true;
      lock.unlock();
      runTask(e, chunk);
      lock.lock();
      busy[e] = false;
      if (chunk) next[e] += lanes[e].stride;
      else done[e] = true;
      while (!window.empty() && std::all_of(next.begin(), next.end(), [&](std::uint64_t c) { return c > base; })) {
        applied = window.front()->raw.lastPosition();
        window.pop_front();
        stage.pop_front();
        ++base;
      }
      changed.notify_all();
      return true;
    }
    for (std::size_t i = 0; i < window.size(); ++i) {
      if (stage[i] != Stage::kRead) continue;
      stage[i] = Stage::kDecoding;
      const std::uint64_t index = base + i;  // the window cannot move past it meanwhile
      std::shared_ptr<Chunk> chunk = window[i];
      lock.unlock();
      decodeChunk(*chunk);
      lock.lock();
      stage[index - base] = Stage::kDecoded;
      changed.notify_all();
      return true;
    }
    return false;
  };
  auto allDone = [&] { return std::all_of(done.begin(), done.end(), [](bool d) { return d; }); };
  std::thread beside([&] {
    pthread_setname_np(pthread_self(), "rebuild");
    std::unique_lock lock(mu);
    while (!allDone()) {
      if (!takeTask(lock)) changed.wait(lock);
    }
  });

  auto chunk = std::make_shared<Chunk>();
  chunk->raw.reserve(kChunk);
  // Progress is what every projection has applied, not what was read: a rebuild
  // stopped by an event past the last report never said "100%".
  auto hand = [&] {
    std::uint64_t shown = 0;
    {
      std::unique_lock lock(mu);
      window.push_back(std::move(chunk));
      stage.push_back(Stage::kRead);
      ++produced;
      // Far enough ahead: decode and apply until the slowest projection catches up.
      while (produced - base >= kRebuildWindow)
        if (!takeTask(lock)) changed.wait(lock);
      shown = applied;
    }
    changed.notify_all();
    if (onProgress && shown != 0) onProgress(shown);
    chunk = std::make_shared<Chunk>();
    chunk->raw.reserve(kChunk);
  };
  auto r = store_.scan(from, upTo - from + 1, [&](const RawEvent& raw) {
    if (failedAt.load() != kReadable) return false;
    if (cancel != nullptr && cancel->load()) return false;
    chunk->raw.add(raw);
    if (chunk->raw.size() >= kChunk) hand();
    return true;
  });
  if (!chunk->raw.empty()) hand();
  {
    std::unique_lock lock(mu);
    closed = true;
    changed.notify_all();
    while (!allDone())
      if (!takeTask(lock)) changed.wait(lock);
  }
  beside.join();
  if (!r) {
    for (Slot* s : slots) stop(s, "cannot read the log: " + r.error().message);
    return r.error();
  }
  if (failure) return *failure;
  if (writeFailure) return *writeFailure;
  if (cancel != nullptr && cancel->load()) return {};
  for (Slot* s : slots)
    if (!s->failed.load()) s->checkpoint.store(upTo);
  if (onProgress) onProgress(upTo);
  return {};
}

Result<void> Projector::catchUp(bool sayBuilt) {
  std::lock_guard lock(applyMu_);
  std::vector<Slot*> slots;
  const std::uint64_t head = store_.lastPosition();
  // A view new to this data directory (a new version after an upgrade) is built from
  // the whole log before the server serves: said, so that a slow start says why (a
  // review: an upgrade's start said nothing until it listened).
  std::string fresh;
  for (auto& s : slots_) {
    slots.push_back(s.get());
    if (sayBuilt && s->checkpoint.load() == 0 && head > 0)
      fresh += (fresh.empty() ? "" : ", ") + s->name;
  }
  const auto started = std::chrono::steady_clock::now();
  if (!fresh.empty())
    logLine("portal: building " + fresh + " from the log's " + std::to_string(head) +
            " events before serving");
  auto r = applyRange(slots, head, true, nullptr, nullptr);
  if (r && !fresh.empty()) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    logLine("portal: built " + fresh + " in " + std::to_string(ms) + " ms");
  }
  return r;
}

void Projector::start() {
  follower_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "projector");
    follow();
  });
}

void Projector::notify() {
  {
    std::lock_guard lock(wakeMu_);
    ++notified_;
  }
  wake_.notify_one();
}

void Projector::follow() {
  std::uint64_t seen = 0;
  while (true) {
    {
      std::unique_lock lock(wakeMu_);
      wake_.wait_for(lock, std::chrono::milliseconds(200),
                     [&] { return stopping_ || notified_ != seen; });
      if (stopping_) return;
      seen = notified_;
    }
    (void)catchUp();  // failures are recorded per projection in status()
    // Callbacks whose time ran out are answered even when nothing was applied.
    Due due;
    {
      std::lock_guard lock(progressMu_);
      due = wakeReached();
    }
    for (auto& [fn, reached] : due) fn(reached);
  }
}

std::uint64_t Projector::position() const {
  std::uint64_t lowest = ~std::uint64_t{0};
  for (const auto& s : slots_)
    if (!s->failed.load()) lowest = std::min(lowest, s->checkpoint.load());
  return lowest == ~std::uint64_t{0} ? 0 : lowest;
}

bool Projector::waitFor(std::uint64_t position, std::chrono::milliseconds timeout) {
  std::unique_lock lock(progressMu_);
  if (this->position() >= position) return true;
  if (allStopped()) return false;
  std::condition_variable reached;
  auto me = waiters_.emplace(position, &reached);
  bool ok = false;
  reached.wait_for(lock, timeout, [&] {
    ok = this->position() >= position;
    return ok || allStopped();
  });
  waiters_.erase(me);
  return ok;
}

void Projector::whenReached(std::uint64_t position, std::chrono::milliseconds timeout,
                            std::function<void(bool)> fn) {
  {
    std::lock_guard lock(progressMu_);
    if (!ended_ && this->position() < position && !allStopped()) {
      callbacks_.emplace(position, Callback{std::move(fn), std::chrono::steady_clock::now() + timeout});
      return;
    }
  }
  fn(this->position() >= position);
}

bool Projector::allStopped() const {
  for (const auto& s : slots_)
    if (!s->failed.load()) return false;
  return true;
}

Projector::Due Projector::wakeReached() {
  const std::uint64_t now = position();
  for (auto it = waiters_.begin(); it != waiters_.end() && it->first <= now; ++it) it->second->notify_one();
  Due due;
  const bool none = allStopped();
  const auto clock = std::chrono::steady_clock::now();
  for (auto it = callbacks_.begin(); it != callbacks_.end();) {
    if (none || it->first <= now || it->second.deadline <= clock) {
      due.emplace_back(std::move(it->second.fn), it->first <= now);
      it = callbacks_.erase(it);
    } else {
      ++it;
    }
  }
  return due;
}

bool Projector::stopped(std::string_view name) const {
  const Slot* s = find(name);
  return s != nullptr && s->failed.load();
}

std::vector<ProjectionStatus> Projector::status() const {
  std::vector<ProjectionStatus> out;
  std::lock_guard lock(progressMu_);
  for (const auto& s : slots_)
    out.push_back({s->name, s->checkpoint.load(), s->generation, s->failed.load(), s->error});
  return out;
}

rocksdb::ColumnFamilyHandle* Projector::handle(std::string_view projection, int family) const {
  Slot* s = find(projection);
  if (s == nullptr || family < 0 || static_cast<std::size_t>(family) >= s->handles.size())
    return nullptr;
  return s->handles[static_cast<std::size_t>(family)];
}

Result<void> Projector::rebuild(const std::string& name,
                                const std::function<void(const RebuildProgress&)>& progress,
                                const std::atomic<bool>* cancel) {
  std::unique_lock rebuilding(rebuildMu_, std::try_to_lock);
  if (!rebuilding.owns_lock())
    return makeError(ErrorCode::kBusy, "a rebuild is already running; wait for it to finish");
  if (switchFailed_)
    return makeError(ErrorCode::kIoError,
                     "an earlier rebuild could not record its switch; restart the portal first");
  std::vector<Slot*> targets;
  for (auto& s : slots_)
    if (name == "all" || s->name == name) targets.push_back(s.get());
  if (targets.empty())
    return makeError(ErrorCode::kInvalidArgument, "there is no projection named '" + name + "'");

  // Fresh slots on the next generation, filled beside the serving ones. Their
  // families are made (and dropped) all at once: RocksDB rewrites its OPTIONS file,
  // which lists every family, at each such call.
  std::vector<std::unique_ptr<Slot>> fresh;
  std::vector<Slot*> freshPtrs;
  std::vector<std::string> freshFamilies;
  for (Slot* t : targets) {
    auto f = std::make_unique<Slot>();
    f->name = t->name;
    f->generation = t->generation + 1;
    f->quiet = true;
    for (const auto& family : t->projection->families())
      freshFamilies.push_back(familyName(f->name, family, f->generation));
    freshPtrs.push_back(f.get());
    fresh.push_back(std::move(f));
  }
  // What a rebuild that does not switch leaves: no family and no checkpoint of its
  // generation (its catch-up writes that key as it goes).
  auto dropFresh = [&] {
    (void)store_.dropColumnFamilies(freshFamilies);
    rocksdb::WriteBatch batch;
    for (Slot* f : freshPtrs)
      batch.Delete(store_.checkpoints(), checkpointKey(f->name, f->generation));
    (void)store_.write(batch);
  };
  if (auto r = store_.dropColumnFamilies(freshFamilies); !r) return r;  // stale ones from a crash
  // No compaction while the fill ingests table files into them (see below).
  auto made = store_.createColumnFamilies(freshFamilies, /*autoCompactions=*/false);
  if (!made) {
    dropFresh();
    return made.error();
  }
  for (std::size_t i = 0, next = 0; i < fresh.size(); ++i)
    for (std::size_t k = 0; k < targets[i]->projection->families().size(); ++k)
      fresh[i]->handles.push_back((*made)[next++]);
  // Each fresh slot applies with its target's reducers.
  for (std::size_t i = 0; i < fresh.size(); ++i) fresh[i]->projection = targets[i]->projection;

  const std::uint64_t total = store_.lastPosition();
  const auto started = std::chrono::steady_clock::now();
  auto report = [&](std::uint64_t done) {
    if (!progress) return;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    progress({done, std::max(total, done), secs > 0 ? static_cast<double>(done) / secs : 0});
  };
  // Table files a rebuild cut short by a crash left behind.
  std::error_code ec;
  std::filesystem::remove_all(store_.path() + "/" + kRebuildScratch, ec);
  auto filled = fill(freshPtrs, total, report, cancel);
  // Its files are ingested by now, or unfinished: none is left (they hold names).
  std::filesystem::remove_all(store_.path() + "/" + kRebuildScratch, ec);
  if (!filled) {
    dropFresh();
    return filled;
  }
  // The fill ingested overlapping table files (one set per write-out); RocksDB
  // compacts them from here on, once nothing is ingested any more. With compactions
  // running beside the ingestions, a rebuild lost rows of a later write-out, rarely
  // (twice in about a hundred runs of the test that rebuilds with 64 KiB of memory,
  // on a loaded machine), which points at a race in RocksDB 7.8 between the two.
  for (Slot* f : freshPtrs)
    for (auto* h : f->handles)
      if (rocksdb::Status st = store_.db()->SetOptions(h, {{"disable_auto_compactions", "false"}}); !st.ok()) {
        dropFresh();
        return makeError(ErrorCode::kIoError, "cannot set up the rebuilt projection: " + st.ToString());
      }
  auto cancelled = [&]() -> Result<void> {
    dropFresh();
    return makeError(ErrorCode::kInvalidArgument, "rebuild cancelled; the old projection is kept");
  };
  if (cancel != nullptr && cancel->load()) return cancelled();
  // A fresh generation that stopped at an event (the fill, or the catch-up below)
  // is not switched to.
  auto freshFailed = [&]() -> std::optional<Error> {
    for (Slot* f : freshPtrs)
      if (f->failed.load())
        return makeError(ErrorCode::kCorrupt, "rebuild of " + f->name + " failed: " + f->error);
    return std::nullopt;
  };
  if (auto failed = freshFailed()) {
    dropFresh();
    return *failed;
  }

  // Catch up with what was appended meanwhile (a server under load appends while
  // the log is read) beside the follower, so that the stretch the follower waits
  // for below stays short.
  for (int round = 0; round < 4; ++round) {
    std::uint64_t behind = 0;
    const std::uint64_t head = store_.lastPosition();
    for (Slot* f : freshPtrs) behind = std::max(behind, head - std::min(head, f->checkpoint.load()));
    if (behind < kChunk) break;
    if (auto r = applyRange(freshPtrs, head, false, report, cancel); !r) {
      dropFresh();
      return r;
    }
    if (cancel != nullptr && cancel->load()) return cancelled();
    if (auto failed = freshFailed()) {
      dropFresh();
      return *failed;
    }
  }
  // The rest while the follower waits, then switch once no reader holds the old
  // generation. A reader may be waiting for the follower (a request that reads a view
  // and then runs a command waits for its events to be projected): when readers hold
  // it, the follower is let go on for a moment and the fresh generation catches up
  // again, rather than the follower held while the switch waits for them.
  std::vector<std::string> oldFamilies;
  // Readers are short (no request holds one while it hashes or waits for a
  // command), so a moment without any comes soon. The switch never waits for them
  // while it holds the follower (applyMu_): that stopped every command's answer for
  // as long as one reader took (an import's check of a large file). Should no such
  // moment come within about two seconds, that is said once, and it keeps trying.
  constexpr std::uint64_t kSwitchTries = 2000;
  // From this many rounds on, new readers wait at the gate for the first kGateShut
  // rounds of every kGateCycle; it opens however this ends.
  constexpr std::uint64_t kGateAfter = 20, kGateShut = 10, kGateCycle = 100;
  struct GateOpener {
    Projector& p;
    ~GateOpener() { p.openGate(); }
  } gate{*this};
  for (std::uint64_t round = 0;; ++round) {
    // Between rounds the follower takes its turn (a mutex is not fair to it).
    if (round > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (round >= kGateAfter && (round - kGateAfter) % kGateCycle == 0) closeGate();
    if (round >= kGateAfter && (round - kGateAfter) % kGateCycle == kGateShut) openGate();
    std::unique_lock applying(applyMu_);
    if (auto r = applyRange(freshPtrs, store_.lastPosition(), false, report, nullptr); !r) {
      dropFresh();
      return r;
    }
    if (auto failed = freshFailed()) {
      dropFresh();
      return *failed;
    }
    std::unique_lock switching(switchMu_, std::try_to_lock);
    if (!switching.owns_lock()) {
      applying.unlock();
      // Progress is told every round, not only when events come to apply: it is
      // where a caller notices its own end (an operator's Ctrl-C, a client gone),
      // and sets `cancel` (a wait with nothing appended never told it, and went on).
      std::uint64_t done = ~std::uint64_t{0};
      for (Slot* f : freshPtrs) done = std::min(done, f->checkpoint.load());
      report(done);
      if (cancel != nullptr && cancel->load()) return cancelled();
      if (round + 1 == kSwitchTries)
        logLine(
            "projector: the rebuilt projection waits to be switched to until no request reads "
            "the old one (one has been reading for 2 s)");
      continue;  // applyMu_ is released: the follower goes on
    }
    // The fresh rows were written without the WAL: on disk before the switch says
    // they are there (once, in the round that switches).
    {
      std::vector<rocksdb::ColumnFamilyHandle*> filled;
      for (Slot* f : freshPtrs) filled.insert(filled.end(), f->handles.begin(), f->handles.end());
      if (rocksdb::Status st = store_.flush(filled); !st.ok()) {
        switching.unlock();
        dropFresh();
        return makeError(ErrorCode::kIoError, "cannot flush the rebuilt projection: " + st.ToString());
      }
    }
    rocksdb::WriteBatch batch;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      Slot* t = targets[i];
      Slot* f = fresh[i].get();
      batch.Put(store_.checkpoints(), generationKey(t->name), positionBytes(f->generation));
      // Its checkpoint was written without the WAL: make it durable with the switch.
      batch.Put(store_.checkpoints(), checkpointKey(f->name, f->generation),
                positionBytes(f->checkpoint.load()));
      batch.Delete(store_.checkpoints(), checkpointKey(t->name, t->generation));
    }
    rocksdb::Status st = store_.writeDurably(batch);
    if (!st.ok()) {
      // The switch may be on disk all the same (a write that failed at its fsync):
      // the fresh generation stays, so that the next start serves whichever one the
      // disk names (and drops the other), never a generation whose rows are gone.
      // A server stops here, as for any write of its views that failed.
      const std::string why = "cannot switch to the rebuilt projection: " + st.ToString();
      switchFailed_ = true;
      {
        std::lock_guard lock(writeFailureMu_);
        if (onWriteFailure_) onWriteFailure_("projections: " + why);
      }
      return makeError(ErrorCode::kIoError, why);
    }
    for (std::size_t i = 0; i < targets.size(); ++i) {
      Slot* t = targets[i];
      Slot* f = fresh[i].get();
      for (const auto& family : t->projection->families())
        oldFamilies.push_back(familyName(t->name, family, t->generation));
      std::lock_guard lock(progressMu_);
      t->handles = f->handles;
      t->generation = f->generation;
      t->checkpoint.store(f->checkpoint.load());
      t->failed = false;
      t->error.clear();
    }
    break;
  }
  if (auto r = store_.dropColumnFamilies(oldFamilies); !r) return r;
  Due due;
  {
    std::lock_guard lock(progressMu_);
    due = wakeReached();
  }
  for (auto& [fn, reached] : due) fn(reached);
  return {};
}

std::shared_mutex& Projector::admitReader() const {
  if (gateClosed_.load()) {
    std::unique_lock lock(gateMu_);
    gateOpened_.wait_for(lock, kGateWait, [&] { return !gateClosed_.load(); });
  }
  return switchMu_;
}

void Projector::closeGate() { gateClosed_.store(true); }

void Projector::openGate() {
  if (!gateClosed_.exchange(false)) return;
  { std::lock_guard lock(gateMu_); }  // a reader between its check and its wait sees it
  gateOpened_.notify_all();
}

std::vector<std::vector<std::pair<std::string, std::string>>> Projector::dump(
    std::string_view name) const {
  std::vector<std::vector<std::pair<std::string, std::string>>> out;
  Reading reading(*this);
  Slot* s = find(name);
  if (s == nullptr) return out;
  for (auto* h : s->handles) {
    auto& rows = out.emplace_back();
    std::unique_ptr<rocksdb::Iterator> it(store_.db()->NewIterator(rocksdb::ReadOptions(), h));
    for (it->SeekToFirst(); it->Valid(); it->Next())
      rows.emplace_back(it->key().ToString(), it->value().ToString());
  }
  return out;
}

}  // namespace portal
