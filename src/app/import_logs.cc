#include "src/app/import_logs.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "src/store/event_store.h"

namespace portal {
namespace {

// company, NUL, import id -> 8 bytes of expiry (micros, big-endian), then the CSV.
std::string logKey(std::string_view companyId, std::string_view importId) {
  std::string k(companyId);
  k.push_back('\0');
  k.append(importId);
  return k;
}

// A log's key as its company and its import's id.
std::pair<std::string_view, std::string_view> splitLogKey(std::string_view key) {
  const std::size_t nul = std::min(key.find('\0'), key.size());
  return {key.substr(0, nul), key.substr(std::min(nul + 1, key.size()))};
}

// 8 bytes, big-endian: an expiry in micros, or a size.
std::string encode8(std::int64_t number) {
  std::string out(8, '\0');
  auto v = static_cast<std::uint64_t>(number);
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

// The expiry index, after every log key (company ids are printable): 0xFF, the
// expiry (8 bytes, big-endian), the log's key -> nothing. Purging reads the expired
// entries only, not every log kept.
constexpr char kIndexPrefix = '\xFF';

std::string indexKey(std::int64_t expiry, std::string_view logKey) {
  std::string k(1, kIndexPrefix);
  k.append(encode8(expiry));
  k.append(logKey);
  return k;
}

// The companies' indexes, after the logs: 0xFD, company, NUL, the expiry (8 bytes,
// big-endian), the import's id -> the log's size (8 bytes, big-endian). Keeping a
// log reads its company's entries, oldest first, to keep within the bounds.
constexpr char kCompanyPrefix = '\xFD';

std::string companyIndexPrefix(std::string_view companyId) {
  std::string k(1, kCompanyPrefix);
  k.append(companyId);
  k.push_back('\0');
  return k;
}

std::string companyIndexKey(std::string_view companyId, std::int64_t expiry,
                            std::string_view importId) {
  std::string k = companyIndexPrefix(companyId);
  k.append(encode8(expiry));
  k.append(importId);
  return k;
}

// Whether a key of the family is a log's (company ids are printable).
bool isLogKey(std::string_view key) {
  return !key.empty() &&
         static_cast<unsigned char>(key[0]) < static_cast<unsigned char>(kCompanyPrefix);
}

// Anonymizations under way, between the companies' indexes and the expiry index:
// 0xFE, company, NUL, user id -> nothing.
constexpr char kPendingPrefix = '\xFE';

std::string pendingKey(std::string_view companyId, std::string_view userId) {
  std::string k(1, kPendingPrefix);
  k.append(logKey(companyId, userId));
  return k;
}

std::optional<std::int64_t> decode8(std::string_view value) {
  if (value.size() < 8) return std::nullopt;
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(value[i]);
  return static_cast<std::int64_t>(v);
}

}  // namespace

ImportLogs::ImportLogs(EventStore& store, rocksdb::ColumnFamilyHandle* family,
                       std::chrono::microseconds keep, Bounds bounds)
    : store_(store), db_(store.db()), family_(family), keep_(keep), bounds_(bounds) {}

std::uint64_t ImportLogs::generation(std::string_view companyId) const {
  std::lock_guard lock(mu_);
  auto it = drops_.find(companyId);
  return it == drops_.end() ? 0 : it->second;
}

Result<bool> ImportLogs::put(std::string_view companyId, std::string_view importId,
                             Timestamp now, std::string_view csv, std::uint64_t seen) {
  if (auto purged = purgeExpired(now); !purged) return purged.error();
  std::lock_guard lock(mu_);
  if (auto it = drops_.find(companyId); it != drops_.end() && it->second != seen) return false;
  const std::int64_t expiry = now.micros + keep_.count();
  std::string value = encode8(expiry);
  value.append(csv);
  const std::string key = logKey(companyId, importId);
  rocksdb::WriteBatch batch;
  // The deletes first: the same import kept again may have had these very keys.
  if (auto bounded = keepWithinBounds(batch, companyId, importId, csv.size()); !bounded)
    return bounded.error();
  batch.Put(family_, key, value);
  batch.Put(family_, indexKey(expiry, key), "");
  batch.Put(family_, companyIndexKey(companyId, expiry, importId),
            encode8(static_cast<std::int64_t>(csv.size())));
  rocksdb::Status st = store_.writeDurably(batch);
  if (!st.ok()) return makeError(ErrorCode::kIoError, "cannot keep the import's log: " + st.ToString());
  return true;
}

Result<void> ImportLogs::keepWithinBounds(rocksdb::WriteBatch& batch, std::string_view companyId,
                                          std::string_view importId, std::size_t bytes) {
  struct Kept {
    std::string entry;
    std::int64_t expiry;
    std::string importId;
    std::uint64_t bytes;
  };
  std::vector<Kept> kept;  // oldest first
  const std::string prefix = companyIndexPrefix(companyId);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), family_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string_view entry = it->key().ToStringView();
    const auto expiry = decode8(entry.substr(prefix.size()));
    if (!expiry) continue;
    const std::string_view id = entry.substr(prefix.size() + 8);
    if (id == importId) {
      // Kept again (the same import answered again): its old entries go, its log is
      // written anew.
      batch.Delete(family_, it->key());
      batch.Delete(family_, indexKey(*expiry, logKey(companyId, id)));
      continue;
    }
    const auto size = decode8(it->value().ToStringView());
    kept.push_back({std::string(entry), *expiry, std::string(id),
                    static_cast<std::uint64_t>(size.value_or(0))});
  }
  if (!it->status().ok())
    return makeError(ErrorCode::kIoError,
                     "cannot read the import logs: " + it->status().ToString());
  std::size_t count = kept.size() + 1;
  std::uint64_t total = bytes;
  for (const Kept& k : kept) total += k.bytes;
  for (const Kept& k : kept) {
    if (count <= bounds_.logs && total <= bounds_.bytes) break;
    const std::string log = logKey(companyId, k.importId);
    batch.Delete(family_, log);
    batch.Delete(family_, indexKey(k.expiry, log));
    batch.Delete(family_, k.entry);
    --count;
    total -= k.bytes;
  }
  return {};
}

std::optional<std::string> ImportLogs::get(std::string_view companyId, std::string_view importId,
                                           Timestamp now) const {
  std::string value;
  rocksdb::Status st =
      db_->Get(rocksdb::ReadOptions(), family_, logKey(companyId, importId), &value);
  if (!st.ok()) return std::nullopt;
  auto expiry = decode8(value);
  if (!expiry || *expiry <= now.micros) return std::nullopt;
  return value.substr(8);
}

Result<void> ImportLogs::write(rocksdb::WriteBatch& batch, std::string_view companyId,
                               bool dropping, std::string_view what) {
  if (dropping) {
    // Keys are the company's id, NUL, the import's id: they all sort below the id
    // followed by byte 1.
    std::string end(companyId);
    end.push_back('\1');
    batch.DeleteRange(family_, logKey(companyId, ""), end);
    std::string indexEnd = companyIndexPrefix(companyId);
    indexEnd.back() = '\1';
    batch.DeleteRange(family_, companyIndexPrefix(companyId), indexEnd);
  }
  if (dropping) ++drops_[std::string(companyId)];
  rocksdb::Status st = store_.writeDurably(batch);
  if (!st.ok()) return makeError(ErrorCode::kIoError, std::string(what) + ": " + st.ToString());
  return {};
}

Result<bool> ImportLogs::beginAnonymization(std::string_view companyId, std::string_view userId,
                                            bool dropNow) {
  rocksdb::WriteBatch batch;
  batch.Put(family_, pendingKey(companyId, userId), "");
  std::lock_guard lock(mu_);
  auto there = pendingLocked(companyId, userId);
  if (!there) return there.error();
  if (auto w = write(batch, companyId, dropNow,
                     dropNow ? "cannot remove the import logs" : "cannot mark the anonymization");
      !w)
    return w.error();
  return !*there;
}

Result<void> ImportLogs::endAnonymization(std::string_view companyId, std::string_view userId,
                                          bool accepted) {
  rocksdb::WriteBatch batch;
  batch.Delete(family_, pendingKey(companyId, userId));
  std::lock_guard lock(mu_);
  return write(batch, companyId, accepted,
               accepted ? "cannot remove the import logs" : "cannot unmark the anonymization");
}

Result<bool> ImportLogs::anonymizationPending(std::string_view companyId,
                                              std::string_view userId) const {
  std::lock_guard lock(mu_);
  return pendingLocked(companyId, userId);
}

Result<bool> ImportLogs::pendingLocked(std::string_view companyId, std::string_view userId) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status st =
      db_->Get(rocksdb::ReadOptions(), family_, pendingKey(companyId, userId), &value);
  if (st.IsNotFound()) return false;
  if (!st.ok())
    return makeError(ErrorCode::kIoError, "cannot read the import logs: " + st.ToString());
  return true;
}

Result<std::size_t> ImportLogs::purgeExpired(Timestamp now) {
  rocksdb::WriteBatch batch;
  std::size_t n = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), family_));
  for (it->Seek(std::string(1, kIndexPrefix)); it->Valid(); it->Next()) {
    const std::string_view entry = it->key().ToStringView();
    auto expiry = decode8(entry.substr(1));
    if (expiry && *expiry > now.micros) break;  // in expiry order: the rest are later
    batch.Delete(family_, it->key());
    // The log itself, unless kept again since with a later expiry (the same import
    // answered again).
    if (entry.size() > 9) {
      const rocksdb::Slice log(entry.data() + 9, entry.size() - 9);
      // Pinned, not copied: only the first 8 bytes (the expiry) are looked at.
      rocksdb::PinnableSlice value;
      rocksdb::Status st = db_->Get(rocksdb::ReadOptions(), family_, log, &value);
      if (!st.ok() && !st.IsNotFound())
        return makeError(ErrorCode::kIoError, "cannot read the import logs: " + st.ToString());
      auto kept = st.ok() ? decode8(value.ToStringView()) : std::nullopt;
      if (st.ok() && (!kept || *kept <= now.micros)) {
        batch.Delete(family_, log);
        if (kept) {
          const auto [company, importId] = splitLogKey(log.ToStringView());
          batch.Delete(family_, companyIndexKey(company, *kept, importId));
        }
        ++n;
      }
    }
  }
  if (!it->status().ok())
    return makeError(ErrorCode::kIoError, "cannot read the import logs: " + it->status().ToString());
  if (batch.Count() == 0) return n;
  rocksdb::Status st = store_.write(batch);
  if (!st.ok()) return makeError(ErrorCode::kIoError, "cannot remove expired import logs: " + st.ToString());
  return n;
}

Result<std::size_t> ImportLogs::purgeAll(Timestamp now) {
  // Every log, with its index entries written again (logs kept by builds before the
  // indexes have none); the expired go.
  rocksdb::WriteBatch batch;
  std::size_t n = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), family_));
  for (it->SeekToFirst(); it->Valid() && isLogKey(it->key().ToStringView()); it->Next()) {
    const std::string_view value = it->value().ToStringView();
    auto expiry = decode8(value);
    const auto [company, importId] = splitLogKey(it->key().ToStringView());
    if (!expiry || *expiry <= now.micros) {
      batch.Delete(family_, it->key());
      if (expiry) batch.Delete(family_, companyIndexKey(company, *expiry, importId));
      ++n;
    } else {
      batch.Put(family_, indexKey(*expiry, it->key().ToStringView()), "");
      batch.Put(family_, companyIndexKey(company, *expiry, importId),
                encode8(static_cast<std::int64_t>(value.size() - 8)));
    }
  }
  if (!it->status().ok())
    return makeError(ErrorCode::kIoError, "cannot read the import logs: " + it->status().ToString());
  if (batch.Count() > 0) {
    rocksdb::Status st = store_.write(batch);
    if (!st.ok())
      return makeError(ErrorCode::kIoError, "cannot remove expired import logs: " + st.ToString());
  }
  // Anonymizations left under way: their companies' logs go (the person may be
  // anonymized, their command durable before the drop after it was made).
  std::vector<std::pair<std::string, std::string>> pending;
  for (it->Seek(std::string(1, kPendingPrefix)); it->Valid() && it->key()[0] == kPendingPrefix;
       it->Next()) {
    const std::string_view key = it->key().ToStringView().substr(1);
    const std::size_t nul = key.find('\0');
    if (nul == std::string_view::npos) continue;
    pending.emplace_back(key.substr(0, nul), key.substr(nul + 1));
  }
  if (!it->status().ok())
    return makeError(ErrorCode::kIoError,
                     "cannot read the import logs: " + it->status().ToString());
  for (const auto& [company, user] : pending)
    if (auto r = endAnonymization(company, user, true); !r) return r.error();
  // And the index entries of logs gone meanwhile (expired, or dropped with their company).
  if (auto r = purgeExpired(now); !r) return r.error();
  return n;
}

}  // namespace portal
