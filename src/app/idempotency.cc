#include "src/app/idempotency.h"

#include <memory>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "src/store/sha256.h"

namespace portal {
namespace {

constexpr std::string_view kPrefix = "key-";

bool isHashedId(std::string_view id) {
  if (id.size() != kPrefix.size() + 64 || !id.starts_with(kPrefix)) return false;
  for (char c : id.substr(kPrefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::string commandIdOfKey(std::string_view companyId, std::string_view actor, std::string_view scope,
                           std::string_view key) {
  std::string scoped;
  scoped.reserve(companyId.size() + actor.size() + scope.size() + 3);
  scoped.append(companyId).append(1, '\n').append(actor).append(1, '\n').append(scope).append(1, '\n');
  return std::string(kPrefix) + toHex(sha256(scoped, key));
}

Result<std::size_t> rekeyIdempotencyRecords(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* commands) {
  // A record's key: company, NUL, actor, LF, scope, LF, command id. Written in
  // batches of a bounded size; the iterator reads the records as they were when
  // it began, and a record moved already is skipped if met again.
  rocksdb::WriteBatch batch;
  std::size_t moved = 0;
  auto write = [&]() -> rocksdb::Status {
    rocksdb::Status st = db.Write(rocksdb::WriteOptions(), &batch);
    batch.Clear();
    return st;
  };
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), commands));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    const std::size_t nul = key.find('\0');
    const std::size_t lf1 = key.find('\n', nul == std::string_view::npos ? 0 : nul);
    const std::size_t lf2 = lf1 == std::string_view::npos ? lf1 : key.find('\n', lf1 + 1);
    if (nul == std::string_view::npos || lf2 == std::string_view::npos) continue;  // not a client's key
    const std::string_view company = key.substr(0, nul), actor = key.substr(nul + 1, lf1 - nul - 1),
                           scope = key.substr(lf1 + 1, lf2 - lf1 - 1), id = key.substr(lf2 + 1);
    if (isHashedId(id)) continue;
    std::string rekeyed = std::string(key.substr(0, lf2 + 1)) + commandIdOfKey(company, actor, scope, id);
    batch.Put(commands, rekeyed, it->value());
    batch.Delete(commands, it->key());
    ++moved;
    if (batch.Count() >= 20'000)
      if (rocksdb::Status st = write(); !st.ok())
        return makeError(ErrorCode::kIoError, "cannot move the idempotency records: " + st.ToString());
  }
  if (!it->status().ok())
    return makeError(ErrorCode::kIoError, "cannot read the idempotency records: " + it->status().ToString());
  if (moved == 0) return moved;
  rocksdb::Status st = write();
  if (st.ok()) st = db.FlushWAL(true);
  if (!st.ok()) return makeError(ErrorCode::kIoError, "cannot move the idempotency records: " + st.ToString());
  return moved;
}

}  // namespace portal
