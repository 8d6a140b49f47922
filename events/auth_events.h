#pragma once
// Events of signing in, on the stream of the user concerned ("user-<userId>"), or on
// the company stream for a failed sign-in with an email that is not in the pool.
// Secrets never appear here: passwords only as Argon2id hashes (sealed as personal
// data), tokens only as SHA-256 hashes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "events/fields.h"
#include "events/personal.h"

namespace portal {

struct PasswordSet {
  static constexpr std::string_view kType = "PasswordSet";
  static constexpr int kSchema = 1;
  std::string userId;
  Personal passwordHash;  // Argon2id, crypto_pwhash_str format
  bool temporary = false;  // true: the user must change it at next sign-in
  std::string reason;      // provisioned | changed | reset | created
  std::optional<std::string> personalSubject() const { return userId; }
  PORTAL_FIELDS(PasswordSet, userId, passwordHash, temporary, reason)
};

struct PasswordResetRequested {
  static constexpr std::string_view kType = "PasswordResetRequested";
  static constexpr int kSchema = 1;
  // Empty (and so the others), in the company's stream, for an address that is no
  // active user: nothing is sent, and the request is recorded without the address.
  std::string userId;
  std::string tokenHash;  // hex SHA-256 of the token sent by email
  std::string expiresAt;  // RFC 3339
  PORTAL_FIELDS(PasswordResetRequested, userId, tokenHash, expiresAt)
};

struct PasswordResetCompleted {
  static constexpr std::string_view kType = "PasswordResetCompleted";
  static constexpr int kSchema = 1;
  std::string userId;
  std::string tokenHash;
  PORTAL_FIELDS(PasswordResetCompleted, userId, tokenHash)
};

struct LoginSucceeded {
  static constexpr std::string_view kType = "LoginSucceeded";
  static constexpr int kSchema = 1;
  std::string userId;
  std::string sessionHash;  // hex SHA-256 of the bearer token
  std::string expiresAt;    // RFC 3339, the absolute expiry
  std::optional<Personal> clientAddress;
  // The password, which matched a hash made at a lower Argon2id cost than the
  // server's, hashed again at the server's; it replaces the stored hash only if that
  // is still the one whose hex SHA-256 is `replacesHash` (a password set between the
  // check and this event stays).
  std::optional<Personal> passwordHash;
  std::optional<std::string> replacesHash;
  std::optional<std::string> personalSubject() const { return userId; }
  PORTAL_FIELDS(LoginSucceeded, userId, sessionHash, expiresAt, clientAddress, passwordHash,
                replacesHash)
};

// A refused sign-in. userId is absent when the email is not in the pool; then no
// personal data is kept at all.
struct LoginFailed {
  static constexpr std::string_view kType = "LoginFailed";
  static constexpr int kSchema = 1;
  std::optional<std::string> userId;
  std::string reason;  // bad-credentials | inactive | throttled
  std::optional<Personal> clientAddress;
  std::optional<std::string> personalSubject() const { return userId; }
  PORTAL_FIELDS(LoginFailed, userId, reason, clientAddress)
};

}  // namespace portal
