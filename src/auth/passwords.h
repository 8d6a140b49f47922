#pragma once
// Argon2id password hashing (libsodium crypto_pwhash_str) with a cost that is a
// setting: the server uses libsodium's "interactive" limits; tests that sign in many
// times use the minimum, never zero. Slow on purpose: call it off the network
// threads. Thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "events/result.h"
#include "events/timestamp.h"

namespace portal {

// A temporary password (provisioning's) signs in for a week from when it was set
// (`setAt`; 0: not known, from a row written before it was kept); then it has lain
// in a mailbox long enough, and a reset sets a password instead.
inline constexpr std::int64_t kTemporaryPasswordMicros = 7LL * 24 * 3600 * 1'000'000;
inline bool temporaryPasswordExpired(bool temporary, Timestamp setAt, Timestamp now) {
  return temporary && setAt.micros > 0 && now.micros - setAt.micros > kTemporaryPasswordMicros;
}

struct HashCost {
  std::uint64_t opsLimit;
  std::size_t memLimit;  // bytes

  static HashCost interactive();  // crypto_pwhash_OPSLIMIT/MEMLIMIT_INTERACTIVE
  static HashCost minimum();      // the least libsodium accepts, for tests
};

class PasswordHasher {
 public:
  explicit PasswordHasher(HashCost cost);

  // The encoded hash ("$argon2id$v=19$m=…") of the password in NFKC (`nfkc`), with
  // its own random salt.
  Result<std::string> hash(std::string_view password) const;
  // Whether `password` matches `encoded`, in NFKC or as typed (hashes made before
  // passwords were normalized); false for a malformed hash.
  bool verify(std::string_view encoded, std::string_view password) const;
  // Whether `encoded` was made at a lower cost than this hasher's (or is no Argon2id
  // hash), and so should be made again when the password is known. One made at a
  // higher cost stays: a server run at the minimum for a test must not weaken them.
  bool needsRehash(std::string_view encoded) const;

 private:
  HashCost cost_;
};

// Initialises libsodium (once; later calls are cheap); throws when it cannot.
void initSodium();
// A secret for a link or a session: 256 random bits as base64url (43 characters).
std::string newToken();
// What is stored of a token: its SHA-256, in hexadecimal.
std::string tokenHash(std::string_view token);
// A temporary password people can read and type: 4 groups of 5 characters from an
// alphabet of 31 without look-alikes (about 99 bits), e.g. "k7mqz-w3rtp-…".
std::string newTemporaryPassword();
// What of a password someone copying a temporary password keeps, whatever they
// did to it: its ASCII letters, in lower case, and its digits.
std::string temporaryPasswordLetters(std::string_view password);
// The temporary password that `password` spells when its letters and digits
// (temporaryPasswordLetters) are the 20 of one: in lower case and in its groups
// ("K7MQZ W3RTP …" gives "k7mqz-w3rtp-…"); nullopt otherwise.
std::optional<std::string> asTemporaryPassword(std::string_view password);

}  // namespace portal
