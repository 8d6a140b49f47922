#include "src/app/import_logs.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <memory>

namespace portal {
namespace {

// company, NUL, import id -> 8 bytes of expiry (micros, big-endian), then the CSV.
std::string logKey(std::string_view companyId, std::string_view importId) {
  std::string k(companyId);
  k.push_back('\0');
  k.append(importId);
  return k;
}

std::string encodeExpiry(std::int64_t micros) {
  std::string out(8, '\0');
  auto v = static_cast<std::uint64_t>(micros);
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

std::optional<std::int64_t> decodeExpiry(std::string_view value) {
  if (value.size() < 8) return std::nullopt;
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(value[i]);
  return static_cast<std::int64_t>(v);
}

}  // namespace

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
  std::string value = encodeExpiry(now.micros + keep_.count());
  value.append(csv);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status st = db_->Put(wo, family_, logKey(companyId, importId), value);
  if (!st.ok()) return makeError(ErrorCode::kIoError, "cannot keep the import's log: " + st.ToString());
  return true;
}

std::optional<std::string> ImportLogs::get(std::string_view companyId, std::string_view importId,
                                           Timestamp now) const {
  std::string value;
  rocksdb::Status st =
      db_->Get(rocksdb::ReadOptions(), family_, logKey(companyId, importId), &value);
  if (!st.ok()) return std::nullopt;
  auto expiry = decodeExpiry(value);
  if (!expiry || *expiry <= now.micros) return std::nullopt;
  return value.substr(8);
}

Result<void> ImportLogs::dropCompany(std::string_view companyId) {
  // Keys are the company's id, NUL, the import's id: they all sort below the id
  // followed by byte 1.
  std::string end(companyId);
  end.push_back('\1');
  rocksdb::WriteOptions wo;
  wo.sync = true;
  std::lock_guard lock(mu_);
  ++drops_[std::string(companyId)];
  rocksdb::Status st = db_->DeleteRange(wo, family_, logKey(companyId, ""), end);
  if (!st.ok()) return makeError(ErrorCode::kIoError, "cannot remove the import logs: " + st.ToString());
  return {};
}

Result<std::size_t> ImportLogs::purgeExpired(Timestamp now) {
  rocksdb::WriteBatch batch;
  std::size_t n = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), family_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto expiry = decodeExpiry(it->value().ToStringView());
    if (!expiry || *expiry <= now.micros) {
      batch.Delete(family_, it->key());
      ++n;
    }
  }
  if (!it->status().ok())
    return makeError(ErrorCode::kIoError, "cannot read the import logs: " + it->status().ToString());
  if (n == 0) return n;
  rocksdb::Status st = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!st.ok()) return makeError(ErrorCode::kIoError, "cannot remove expired import logs: " + st.ToString());
  return n;
}

}  // namespace portal
