#include "src/store/key_vault.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>

#include <cstring>

namespace portal {
namespace {

constexpr std::string_view kBoxPrefix = "x1.";  // XChaCha20-Poly1305, format 1
constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::size_t kMaxCachedKeys = 200'000;
constexpr int kB64 = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

}  // namespace

KeyVault::KeyVault(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* keys) : db_(db), keys_(keys) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  // A random per-instance prefix and a counter make every 192-bit nonce unique
  // without a system call per seal.
  randombytes_buf(noncePrefix_.data(), noncePrefix_.size());
}

std::optional<KeyVault::Key> KeyVault::lookup(std::string_view subject) {
  std::string s(subject);
  std::uint64_t epoch;
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(s); it != cache_.end()) return it->second;
    epoch = shredEpoch_;
  }
  std::string value;
  rocksdb::Status st = db_->Get(rocksdb::ReadOptions(), keys_, s, &value);
  if (!st.ok() || value.size() != sizeof(Key)) return std::nullopt;
  Key key;
  std::memcpy(key.data(), value.data(), key.size());
  std::lock_guard lock(mu_);
  // A shred committed while we read must not be undone by caching what we read.
  if (epoch == shredEpoch_) {
    if (cache_.size() >= kMaxCachedKeys) cache_.clear();
    cache_[s] = key;
  }
  return key;
}

Result<std::string> KeyVault::seal(std::string_view subject, std::string_view plaintext) {
  std::optional<Key> key;
  if (auto it = pending_.find(std::string(subject)); it != pending_.end()) key = it->second;
  else key = lookup(subject);
  if (!key) {
    Key fresh;
    randombytes_buf(fresh.data(), fresh.size());
    pending_[std::string(subject)] = fresh;
    key = fresh;
  }
  std::uint8_t box[kNonceBytes];
  std::memcpy(box, noncePrefix_.data(), noncePrefix_.size());
  const std::uint64_t counter = ++nonceCounter_;
  std::memcpy(box + noncePrefix_.size(), &counter, sizeof counter);

  std::string raw(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  std::memcpy(raw.data(), box, kNonceBytes);
  unsigned long long ctLen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_encrypt(
          reinterpret_cast<unsigned char*>(raw.data() + kNonceBytes), &ctLen,
          reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
          reinterpret_cast<const unsigned char*>(subject.data()), subject.size(), nullptr, box,
          key->data()) != 0)
    return makeError(ErrorCode::kCrypto, "sealing personal data failed");

  std::string out(kBoxPrefix);
  const std::size_t b64Len = sodium_base64_encoded_len(raw.size(), kB64);
  const std::size_t at = out.size();
  out.resize(at + b64Len);
  sodium_bin2base64(out.data() + at, b64Len, reinterpret_cast<const unsigned char*>(raw.data()),
                    raw.size(), kB64);
  out.resize(at + b64Len - 1);  // drop the terminating NUL sodium writes
  return out;
}

Result<std::optional<std::string>> KeyVault::open(std::string_view subject,
                                                  std::string_view sealed) {
  if (sealed.substr(0, kBoxPrefix.size()) != kBoxPrefix)
    return makeError(ErrorCode::kCorrupt, "sealed personal data has an unknown format");
  sealed.remove_prefix(kBoxPrefix.size());
  std::string raw(sealed.size(), '\0');
  std::size_t rawLen = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), sealed.data(),
                        sealed.size(), nullptr, &rawLen, nullptr, kB64) != 0 ||
      rawLen < kNonceBytes + kTagBytes)
    return makeError(ErrorCode::kCorrupt, "sealed personal data is not valid base64");
  std::optional<Key> key = lookup(subject);
  if (!key) return std::optional<std::string>();  // shredded: reads as anonymized
  std::string plain(rawLen - kNonceBytes - kTagBytes, '\0');
  unsigned long long plainLen = 0;
  const auto* u = reinterpret_cast<const unsigned char*>(raw.data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &plainLen, nullptr, u + kNonceBytes,
          rawLen - kNonceBytes, reinterpret_cast<const unsigned char*>(subject.data()),
          subject.size(), u, key->data()) != 0)
    return makeError(ErrorCode::kCorrupt, "sealed personal data does not open with its key");
  plain.resize(plainLen);
  return std::optional<std::string>(std::move(plain));
}

void KeyVault::stagePending(rocksdb::WriteBatch& batch) {
  for (const auto& [subject, key] : pending_)
    batch.Put(keys_, subject,
              rocksdb::Slice(reinterpret_cast<const char*>(key.data()), key.size()));
}

void KeyVault::stageShred(std::string_view subject, rocksdb::WriteBatch& batch) {
  batch.Delete(keys_, rocksdb::Slice(subject.data(), subject.size()));
  pendingShreds_.emplace_back(subject);
}

void KeyVault::commitPending() {
  std::lock_guard lock(mu_);
  for (auto& [subject, key] : pending_) {
    if (cache_.size() >= kMaxCachedKeys) cache_.clear();
    cache_[subject] = key;
  }
  for (const auto& s : pendingShreds_) cache_.erase(s);
  if (!pendingShreds_.empty()) ++shredEpoch_;
  pending_.clear();
  pendingShreds_.clear();
}

void KeyVault::abortPending() {
  pending_.clear();
  pendingShreds_.clear();
}

bool KeyVault::hasKey(std::string_view subject) { return lookup(subject).has_value(); }

void KeyVault::dropCache() {
  std::lock_guard lock(mu_);
  cache_.clear();
  ++shredEpoch_;
}

}  // namespace portal
