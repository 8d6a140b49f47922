#pragma once
// The data directory's secret, and idempotency keys as the log keeps them. A client's
// `Idempotency-Key` may hold personal data ("create-ann@acme.example"), and the command id it
// becomes is written into every event of its command, which no erasure rewrites, and which
// `/events` shows: so the key itself is kept nowhere, only a keyed hash (HMAC) of
// it with its scope, under a secret kept in the data directory (and its backups). A
// plain hash could be confirmed by guessing: the company, actor and route beside it
// are in the events, and emails are guessable.

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "events/result.h"
#include "src/domain/rejection.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace portal {

class EventStore;

class IdempotencyKeys {
 public:
  // Reads the secret from the `commands` family. On a directory without one (new,
  // or of an older version) it is created, and every record there is moved under
  // its keyed id (the same answer, found by a retry as before), in one durable batch
  // with the secret: a crash leaves all moved or none. kCorrupt when the secret is
  // damaged, or missing where records were keyed by it.
  static Result<IdempotencyKeys> open(EventStore& store, rocksdb::ColumnFamilyHandle* commands);

  // "key-" and the HMAC-SHA-256 (hex) of the SHA-256 of the company, the actor,
  // the scope (method and route) and the key.
  std::string commandIdOf(std::string_view companyId, std::string_view actor,
                          std::string_view scope, std::string_view key) const;

  // A key for sealing what clients hand back (the lists' cursors), derived from the
  // secret for that use alone (libsodium's KDF, BLAKE2b): the same across restarts of
  // this directory, so that a client paging through a restart goes on.
  using Key = std::array<unsigned char, 32>;
  Key cursorKey() const;

  // A request's fingerprint (requestDigest) as its idempotency record keeps it:
  // the hex of an HMAC under a key derived for that use alone.
  std::string keyedFingerprint(std::string_view fingerprint) const;

  ~IdempotencyKeys();  // zeroes the keys
  IdempotencyKeys(IdempotencyKeys&& other) noexcept;
  IdempotencyKeys& operator=(IdempotencyKeys&&) = delete;
  IdempotencyKeys(const IdempotencyKeys&) = delete;
  IdempotencyKeys& operator=(const IdempotencyKeys&) = delete;

 private:
  IdempotencyKeys() = default;
  void derive();
  Key secret_{};   // as stored
  Key hmacKey_{};  // derived: the command ids' HMAC
  Key requestKey_{};  // derived: the fingerprints' HMAC
  std::string keyed(std::string_view hash) const;
};

// Whether a key of the `commands` family is an idempotency record's: the secret's
// and the marks' begin with a zero byte, which no company id does.
inline bool isRecordKey(std::string_view key) { return !key.empty() && key.front() != '\0'; }

// What a request with an Idempotency-Key asked for: the SHA-256 of its target (path
// and query) and body. A key sent again with another request is refused rather than
// answered with the first request's outcome (a create of another person answered
// 201 with the first one, and nothing created).
std::string requestDigest(std::string_view target, std::string_view body);

// The refusal of a key reused for another request (422 idempotency-key-reused).
inline constexpr std::string_view kKeyReusedCode = "idempotency-key-reused";
// That refusal, as every route gives it.
Rejection keyReusedRejection();

}  // namespace portal
