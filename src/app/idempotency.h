#pragma once
// Idempotency keys as the log keeps them. A client's `Idempotency-Key` may hold
// personal data ("create-ann@acme.example"), and the command id it becomes is
// written into every event of its command, which no erasure rewrites: so the key
// itself is kept nowhere, only a hash of it with its scope.

#include <cstddef>
#include <string>
#include <string_view>

#include "events/result.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace portal {

// "key-" and the SHA-256 (hex) of the company, the actor, the scope (method and
// route) and the key.
std::string commandIdOfKey(std::string_view companyId, std::string_view actor, std::string_view scope,
                           std::string_view key);

// What a request with an Idempotency-Key asked for: the SHA-256 of its target (path
// and query) and body. A key sent again with another request is refused rather than
// answered with the first request's outcome (a create of another person answered
// 201 with the first one, and nothing created).
std::string requestDigest(std::string_view target, std::string_view body);

// The refusal of a key reused for another request (422 idempotency-key-reused).
inline constexpr std::string_view kKeyReusedCode = "idempotency-key-reused";

// Records written before keys were hashed are keyed by the key as sent: each is
// moved under its hashed key (the same answer, found by a retry as before) and
// the old key is deleted, durably. Returns how many were moved.
Result<std::size_t> rekeyIdempotencyRecords(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* commands);

}  // namespace portal
