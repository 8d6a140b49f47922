#include "src/app/idempotency.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>

#include <cstring>
#include <memory>
#include <tuple>

#include "src/store/event_store.h"
#include "src/store/sha256.h"

namespace portal {
namespace {

constexpr std::string_view kPrefix = "key-";
// The secret; the mark that records are keyed by it (written with it: a directory
// with the mark and no secret has lost it); the mark of the version before, which
// hashed keys without a secret (kept, and written on new directories too, so that
// that version, run again on the directory, takes its records for hashed ones and
// moves none of them). No record's key starts with a NUL (they start with a company
// id).
constexpr std::string_view kSecretKey{"\0keys-secret", 12};
constexpr std::string_view kKeyedMarker{"\0keys-keyed", 11};
constexpr std::string_view kHashedMarker{"\0keys-hashed", 12};

std::string scopedHash(std::string_view companyId, std::string_view actor, std::string_view scope,
                       std::string_view key) {
  std::string scoped;
  scoped.reserve(companyId.size() + actor.size() + scope.size() + 3);
  scoped.append(companyId).append(1, '\n').append(actor).append(1, '\n').append(scope).append(1, '\n');
  const Hash h = sha256(scoped, key);
  return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

Error unreadable(const rocksdb::Status& st) {
  return makeError(ErrorCode::kIoError, "cannot read the idempotency records: " + st.ToString());
}

// The KDF's context (8 bytes) and the subkey ids of each use of the secret.
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "portal__";
enum : std::uint64_t { kCommandIds = 1, kCursors = 2, kFingerprints = 3 };

std::string hmacHex(const IdempotencyKeys::Key& key, std::string_view text) {
  std::array<unsigned char, crypto_auth_hmacsha256_BYTES> mac;
  crypto_auth_hmacsha256(mac.data(), reinterpret_cast<const unsigned char*>(text.data()),
                         text.size(), key.data());
  return toHex(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

}  // namespace

IdempotencyKeys::~IdempotencyKeys() {
  sodium_memzero(secret_.data(), secret_.size());
  sodium_memzero(hmacKey_.data(), hmacKey_.size());
  sodium_memzero(requestKey_.data(), requestKey_.size());
}

IdempotencyKeys::IdempotencyKeys(IdempotencyKeys&& other) noexcept
    : secret_(other.secret_), hmacKey_(other.hmacKey_), requestKey_(other.requestKey_) {
  sodium_memzero(other.secret_.data(), other.secret_.size());
  sodium_memzero(other.hmacKey_.data(), other.hmacKey_.size());
  sodium_memzero(other.requestKey_.data(), other.requestKey_.size());
}

void IdempotencyKeys::derive() {
  static_assert(crypto_kdf_KEYBYTES == std::tuple_size_v<Key>);
  crypto_kdf_derive_from_key(hmacKey_.data(), hmacKey_.size(), kCommandIds, kKdfContext,
                             secret_.data());
  crypto_kdf_derive_from_key(requestKey_.data(), requestKey_.size(), kFingerprints, kKdfContext,
                             secret_.data());
}

std::string IdempotencyKeys::keyedFingerprint(std::string_view fingerprint) const {
  return hmacHex(requestKey_, fingerprint);
}

IdempotencyKeys::Key IdempotencyKeys::cursorKey() const {
  Key key;
  crypto_kdf_derive_from_key(key.data(), key.size(), kCursors, kKdfContext, secret_.data());
  return key;
}

std::string IdempotencyKeys::keyed(std::string_view hash) const {
  return std::string(kPrefix) + hmacHex(hmacKey_, hash);
}

std::string IdempotencyKeys::commandIdOf(std::string_view companyId, std::string_view actor,
                                         std::string_view scope, std::string_view key) const {
  return keyed(scopedHash(companyId, actor, scope, key));
}

Result<IdempotencyKeys> IdempotencyKeys::open(EventStore& store,
                                              rocksdb::ColumnFamilyHandle* commands) {
  rocksdb::DB& db = *store.db();
  static_assert(crypto_auth_hmacsha256_KEYBYTES == std::tuple_size_v<Key>);
  if (sodium_init() < 0) return makeError(ErrorCode::kCrypto, "libsodium failed to initialise");
  IdempotencyKeys keys;
  const rocksdb::Slice secretKey(kSecretKey.data(), kSecretKey.size());
  std::string stored;
  rocksdb::Status st = db.Get(rocksdb::ReadOptions(), commands, secretKey, &stored);
  if (st.ok()) {
    if (stored.size() != keys.secret_.size())
      return makeError(ErrorCode::kCorrupt, "the idempotency records' secret is damaged (" +
                                                std::to_string(stored.size()) + " bytes, not 32)");
    std::memcpy(keys.secret_.data(), stored.data(), stored.size());
    sodium_memzero(stored.data(), stored.size());
    keys.derive();
    return keys;
  }
  if (!st.IsNotFound()) return unreadable(st);
  const rocksdb::Slice keyedKey(kKeyedMarker.data(), kKeyedMarker.size());
  std::string marker;
  st = db.Get(rocksdb::ReadOptions(), commands, keyedKey, &marker);
  if (st.ok())
    return makeError(
        ErrorCode::kCorrupt,
        "the idempotency records' secret is missing from the data directory: the first "
        "answers they keep could not be found by their keys (a retry would run its "
        "command again); restore the directory from a backup");
  if (!st.IsNotFound()) return unreadable(st);
  randombytes_buf(keys.secret_.data(), keys.secret_.size());
  keys.derive();

  const rocksdb::Slice hashedKey(kHashedMarker.data(), kHashedMarker.size());
  st = db.Get(rocksdb::ReadOptions(), commands, hashedKey, &marker);
  if (!st.ok() && !st.IsNotFound()) return unreadable(st);
  const bool hashed = st.ok();
  // A record's key: company, NUL, actor, LF, scope, LF, command id: the key as sent
  // (the oldest versions), or "key-" and the hex of its plain hash (hashed). One
  // batch with the secret, so that a crash leaves all moved or none (a key moved
  // twice would be lost).
  rocksdb::WriteBatch batch;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), commands));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    const std::size_t nul = key.find('\0');
    const std::size_t lf1 = nul == std::string_view::npos ? nul : key.find('\n', nul);
    const std::size_t lf2 = lf1 == std::string_view::npos ? lf1 : key.find('\n', lf1 + 1);
    if (nul == 0 || lf2 == std::string_view::npos) continue;  // not a client's key
    const std::string_view id = key.substr(lf2 + 1);
    std::string hash;
    if (!hashed) {
      hash = scopedHash(key.substr(0, nul), key.substr(nul + 1, lf1 - nul - 1),
                        key.substr(lf1 + 1, lf2 - lf1 - 1), id);
    } else {
      hash.resize(sizeof(Hash));
      std::size_t length = 0;
      if (!id.starts_with(kPrefix) ||
          sodium_hex2bin(reinterpret_cast<unsigned char*>(hash.data()), hash.size(),
                         id.data() + kPrefix.size(), id.size() - kPrefix.size(), nullptr, &length,
                         nullptr) != 0 ||
          length != hash.size() || id.size() != kPrefix.size() + 2 * hash.size())
        continue;  // written by nothing of ours: no retry can name it
    }
    batch.Put(commands, std::string(key.substr(0, lf2 + 1)) + keys.keyed(hash), it->value());
    batch.Delete(commands, it->key());
  }
  if (!it->status().ok()) return unreadable(it->status());
  batch.Put(
      commands, secretKey,
      rocksdb::Slice(reinterpret_cast<const char*>(keys.secret_.data()), keys.secret_.size()));
  batch.Put(commands, keyedKey, "");
  if (!hashed) batch.Put(commands, hashedKey, "");
  st = store.writeDurably(batch);
  if (!st.ok())
    return makeError(ErrorCode::kIoError, "cannot move the idempotency records: " + st.ToString());
  return keys;
}

Rejection keyReusedRejection() {
  return Rejection{
      RejectionKind::kInvalid,
      std::string(kKeyReusedCode),
      "This Idempotency-Key was first sent with another request (another path, "
      "body or If-Match), which it answers; nothing was done for this one. Use a new key for a "
      "new request.",
      {},
      {}};
}

std::string requestDigest(std::string_view target, std::string_view body) {
  std::string head(target);
  head.push_back('\n');
  return toHex(sha256(head, body));
}

}  // namespace portal
