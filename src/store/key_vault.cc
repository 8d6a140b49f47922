#include "src/store/key_vault.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>

#include <array>
#include <cstring>

namespace portal {
namespace {

constexpr std::string_view kBoxPrefix = "x1.";  // XChaCha20-Poly1305, format 1
constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::size_t kMaxCachedKeys = 200'000;
// Base64url without padding. libsodium's codec is constant-time and several times
// slower; ciphertext needs no such care.
constexpr char kB64Chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void appendBase64(std::string& out, const unsigned char* p, std::size_t n) {
  // Sized once and written through a pointer: a push_back a character (a call each,
  // as GCC compiles it) was a tenth of the command processor's time.
  const std::size_t at = out.size();
  out.resize(at + n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1));
  char* o = out.data() + at;
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3, o += 4) {
    const std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    o[0] = kB64Chars[v >> 18];
    o[1] = kB64Chars[(v >> 12) & 63];
    o[2] = kB64Chars[(v >> 6) & 63];
    o[3] = kB64Chars[v & 63];
  }
  if (n - i == 1) {
    const std::uint32_t v = p[i] << 16;
    o[0] = kB64Chars[v >> 18];
    o[1] = kB64Chars[(v >> 12) & 63];
  } else if (n - i == 2) {
    const std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8);
    o[0] = kB64Chars[v >> 18];
    o[1] = kB64Chars[(v >> 12) & 63];
    o[2] = kB64Chars[(v >> 6) & 63];
  }
}

// Decodes `s` into `out` (its room reused); false on a character outside the
// alphabet or an impossible length. Four characters at a time: this runs once per
// event that holds personal data on every replay of the log.
bool decodeBase64(std::string_view s, std::string& out) {
  static constexpr auto kValue = [] {
    std::array<std::uint8_t, 256> t{};
    t.fill(0xff);
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kB64Chars[i])] = static_cast<std::uint8_t>(i);
    return t;
  }();
  const std::size_t n = s.size();
  if (n % 4 == 1) return false;
  out.resize(n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1));
  const auto* in = reinterpret_cast<const unsigned char*>(s.data());
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  std::uint32_t bad = 0;  // any value past 63 is a character outside the alphabet
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4, o += 3) {
    const std::uint32_t a = kValue[in[i]], b = kValue[in[i + 1]], c = kValue[in[i + 2]],
                        d = kValue[in[i + 3]];
    bad |= a | b | c | d;
    const std::uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
    o[0] = static_cast<unsigned char>(v >> 16);
    o[1] = static_cast<unsigned char>(v >> 8);
    o[2] = static_cast<unsigned char>(v);
  }
  if (n - i >= 2) {  // 2 or 3 characters left: 1 or 2 bytes
    const std::uint32_t a = kValue[in[i]], b = kValue[in[i + 1]],
                        c = n - i == 3 ? kValue[in[i + 2]] : 0;
    bad |= a | b | c;
    const std::uint32_t v = (a << 18) | (b << 12) | (c << 6);
    o[0] = static_cast<unsigned char>(v >> 16);
    if (n - i == 3) o[1] = static_cast<unsigned char>(v >> 8);
  }
  return bad < 64;
}

}  // namespace

KeyVault::Key KeyVault::freshKey() {
  // Keys come from a pool filled by the system's CSPRNG 4 KiB at a time: one
  // getrandom() call per 128 keys instead of one per key.
  Key fresh;
  if (randomUsed_ + fresh.size() > randomPool_.size()) {
    randombytes_buf(randomPool_.data(), randomPool_.size());
    randomUsed_ = 0;
  }
  std::memcpy(fresh.data(), randomPool_.data() + randomUsed_, fresh.size());
  sodium_memzero(randomPool_.data() + randomUsed_, fresh.size());
  randomUsed_ += fresh.size();
  return fresh;
}

KeyVault::~KeyVault() { sodium_memzero(randomPool_.data(), randomPool_.size()); }

KeyVault::KeyVault(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* keys) : db_(db), keys_(keys) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  // A random per-instance prefix and a counter make every 192-bit nonce unique
  // without a system call per seal.
  randombytes_buf(noncePrefix_.data(), noncePrefix_.size());
}

Result<void> KeyVault::loadAll() {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, keys_));
  KeyMap all;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->value().size() != sizeof(Key))
      return makeError(ErrorCode::kCorrupt, "the key vault holds a malformed key");
    Key key;
    std::memcpy(key.data(), it->value().data(), key.size());
    all.emplace(it->key().ToString(), key);
  }
  if (!it->status().ok())
    return makeError(ErrorCode::kIoError, "cannot read the key vault: " + it->status().ToString());
  std::lock_guard lock(mu_);
  cache_ = std::move(all);
  complete_ = true;
  return {};
}

Result<std::optional<KeyVault::Key>> KeyVault::lookup(std::string_view subject) {
  std::uint64_t epoch;
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(subject); it != cache_.end()) return std::optional<Key>(it->second);
    if (complete_) return std::optional<Key>();
    epoch = shredEpoch_;
  }
  const std::string s(subject);
  std::string value;
  rocksdb::Status st = db_->Get(rocksdb::ReadOptions(), keys_, s, &value);
  if (st.IsNotFound()) return std::optional<Key>();
  if (!st.ok())
    return makeError(ErrorCode::kIoError, "cannot read the key vault: " + st.ToString());
  if (value.size() != sizeof(Key))
    return makeError(ErrorCode::kCorrupt, "the key vault holds a malformed key");
  Key key;
  std::memcpy(key.data(), value.data(), key.size());
  std::lock_guard lock(mu_);
  // A shred committed while we read must not be undone by caching what we read.
  if (epoch == shredEpoch_ && !shredding_.count(s)) {
    if (cache_.size() >= kMaxCachedKeys && !complete_) forgetAll();
    cache_[s] = key;
  }
  return std::optional<Key>(key);
}

Result<std::string> KeyVault::seal(std::string_view subject, std::string_view plaintext) {
  std::optional<Key> key;
  std::string s(subject);
  {
    std::lock_guard lock(mu_);
    if (!shredding_.empty() && shredding_.count(s))
      return makeError(ErrorCode::kInvalidArgument,
                       "personal data of " + s + " cannot be stored: their key is being shredded");
    if (complete_) {
      // A writer's map holds every key: one probe finds the person's key or makes
      // room for a new one (a new person, the common case, costs no second probe).
      auto [it, inserted] = cache_.try_emplace(s);
      if (inserted) {
        // A new key goes straight into the map: only events not yet durable use
        // it, and if their append is refused, rollback() takes it out again.
        it->second = freshKey();
        fresh_.emplace_back(std::move(s), it->second);
      }
      key = it->second;
    } else if (auto it = cache_.find(s); it != cache_.end()) {
      key = it->second;
    }
  }
  if (!key) {
    auto found = lookup(subject);
    if (!found) return found.error();
    key = *found;
  }
  if (!key) {
    const Key fresh = freshKey();
    std::lock_guard lock(mu_);
    cache_.emplace(s, fresh);
    fresh_.emplace_back(std::move(s), fresh);
    key = fresh;
  }
  std::uint8_t box[kNonceBytes];
  std::memcpy(box, noncePrefix_.data(), noncePrefix_.size());
  const std::uint64_t counter = ++nonceCounter_;
  std::memcpy(box + noncePrefix_.size(), &counter, sizeof counter);

  thread_local std::string raw;  // scratch, reused: this runs once per event
  raw.resize(kNonceBytes + plaintext.size() + kTagBytes);
  std::memcpy(raw.data(), box, kNonceBytes);
  unsigned long long ctLen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_encrypt(
          reinterpret_cast<unsigned char*>(raw.data() + kNonceBytes), &ctLen,
          reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
          reinterpret_cast<const unsigned char*>(subject.data()), subject.size(), nullptr, box,
          key->data()) != 0)
    return makeError(ErrorCode::kCrypto, "sealing personal data failed");

  std::string out(kBoxPrefix);
  out.reserve(out.size() + (raw.size() + 2) / 3 * 4);
  appendBase64(out, reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  return out;
}

Result<std::optional<std::string>> KeyVault::open(std::string_view subject,
                                                  std::string_view sealed) {
  if (sealed.substr(0, kBoxPrefix.size()) != kBoxPrefix)
    return makeError(ErrorCode::kCorrupt, "sealed personal data has an unknown format");
  sealed.remove_prefix(kBoxPrefix.size());
  thread_local std::string raw;  // scratch, reused: this runs once per event
  if (!decodeBase64(sealed, raw) || raw.size() < kNonceBytes + kTagBytes)
    return makeError(ErrorCode::kCorrupt, "sealed personal data is not valid base64");
  const std::size_t rawLen = raw.size();
  auto found = lookup(subject);
  if (!found) return found.error();
  const std::optional<Key>& key = *found;
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

KeyVault::Staged KeyVault::stage(rocksdb::WriteBatch& batch,
                                  const std::vector<std::string>& shred) {
  Staged staged;
  std::lock_guard lock(mu_);
  for (auto& [subject, key] : fresh_) {
    batch.Put(keys_, subject, rocksdb::Slice(reinterpret_cast<const char*>(key.data()), key.size()));
    sodium_memzero(key.data(), key.size());  // the map keeps the one copy
  }
  fresh_.clear();
  for (const auto& subject : shred) {
    batch.Delete(keys_, subject);
    ++shredding_[subject];
    staged.shredded.push_back(subject);
  }
  return staged;
}

void KeyVault::zero(void* p, std::size_t bytes) noexcept { sodium_memzero(p, bytes); }

void KeyVault::forget(std::string_view subject) {
  if (auto it = cache_.find(subject); it != cache_.end()) {
    sodium_memzero(it->second.data(), it->second.size());
    cache_.erase(it);
  }
}

void KeyVault::forgetAll() {
  for (auto& [subject, key] : cache_) sodium_memzero(key.data(), key.size());
  cache_.clear();
}

void KeyVault::rollback() {
  std::lock_guard lock(mu_);
  for (auto& [subject, key] : fresh_) {
    forget(subject);
    sodium_memzero(key.data(), key.size());
  }
  fresh_.clear();
}

void KeyVault::committed(const Staged& staged) {
  if (staged.shredded.empty()) return;
  std::lock_guard lock(mu_);
  for (const auto& subject : staged.shredded) {
    forget(subject);
    if (auto it = shredding_.find(subject); it != shredding_.end() && --it->second == 0)
      shredding_.erase(it);
  }
  ++shredEpoch_;
}

bool KeyVault::hasKey(std::string_view subject) {
  auto found = lookup(subject);
  return found.ok() && found->has_value();
}

void KeyVault::dropCache() {
  std::lock_guard lock(mu_);
  if (complete_) return;  // the complete map is the writer's index, not a cache
  forgetAll();
  ++shredEpoch_;
}

}  // namespace portal
