#include "src/app/idempotency.h"

#include <memory>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "src/store/sha256.h"

namespace portal {
namespace {

constexpr std::string_view kPrefix = "key-";
// Written with the move, in the same batch: the records there are since all keyed
// by hashes (a client's own key may look like one, so the keys cannot tell). No
// record's key starts with a NUL (they start with a company id).
constexpr std::string_view kHashedMarker{"\0keys-hashed", 12};

}  // namespace

std::string commandIdOfKey(std::string_view companyId, std::string_view actor, std::string_view scope,
                           std::string_view key) {
  std::string scoped;
  scoped.reserve(companyId.size() + actor.size() + scope.size() + 3);
  scoped.append(companyId).append(1, '\n').append(actor).append(1, '\n').append(scope).append(1, '\n');
  return std::string(kPrefix) + toHex(sha256(scoped, key));
}

std::string requestDigest(std::string_view target, std::string_view body) {
  std::string head(target);
  head.push_back('\n');
  return toHex(sha256(head, body));
}

Result<std::size_t> rekeyIdempotencyRecords(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* commands) {
  const rocksdb::Slice markerKey(kHashedMarker.data(), kHashedMarker.size());
  std::string marker;
  rocksdb::Status st = db.Get(rocksdb::ReadOptions(), commands, markerKey, &marker);
  if (st.ok()) return std::size_t{0};
  if (!st.IsNotFound())
    return makeError(ErrorCode::kIoError, "cannot read the idempotency records: " + st.ToString());
  // A record's key: company, NUL, actor, LF, scope, LF, command id. One batch with
  // the marker, so that a crash leaves all moved or none (a key moved twice would
  // be lost).
  rocksdb::WriteBatch batch;
  std::size_t moved = 0;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), commands));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    const std::size_t nul = key.find('\0');
    const std::size_t lf1 = nul == std::string_view::npos ? nul : key.find('\n', nul);
    const std::size_t lf2 = lf1 == std::string_view::npos ? lf1 : key.find('\n', lf1 + 1);
    if (nul == 0 || lf2 == std::string_view::npos) continue;  // not a client's key
    const std::string_view company = key.substr(0, nul), actor = key.substr(nul + 1, lf1 - nul - 1),
                           scope = key.substr(lf1 + 1, lf2 - lf1 - 1), id = key.substr(lf2 + 1);
    std::string rekeyed = std::string(key.substr(0, lf2 + 1)) + commandIdOfKey(company, actor, scope, id);
    batch.Put(commands, rekeyed, it->value());
    batch.Delete(commands, it->key());
    ++moved;
  }
  if (!it->status().ok())
    return makeError(ErrorCode::kIoError, "cannot read the idempotency records: " + it->status().ToString());
  batch.Put(commands, markerKey, "");
  st = db.Write(rocksdb::WriteOptions(), &batch);
  if (st.ok()) st = db.FlushWAL(true);
  if (!st.ok()) return makeError(ErrorCode::kIoError, "cannot move the idempotency records: " + st.ToString());
  return moved;
}

}  // namespace portal
