#include "src/auth/passwords.h"

#include <sodium.h>

#include <charconv>
#include <stdexcept>

#include "events/text.h"

namespace portal {

void initSodium() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

HashCost HashCost::interactive() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

HashCost HashCost::minimum() { return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN}; }

PasswordHasher::PasswordHasher(HashCost cost) : cost_(cost) { initSodium(); }

Result<std::string> PasswordHasher::hash(std::string_view password) const {
  const std::string normalized = nfkc(password);
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, normalized.data(), normalized.size(), cost_.opsLimit,
                        cost_.memLimit) != 0)
    return makeError(ErrorCode::kCrypto, "hashing the password failed (out of memory?)");
  return std::string(out);
}

bool PasswordHasher::verify(std::string_view encoded, std::string_view password) const {
  if (encoded.empty() || encoded.size() >= crypto_pwhash_STRBYTES) return false;
  char buf[crypto_pwhash_STRBYTES] = {};
  encoded.copy(buf, encoded.size());
  const std::string normalized = nfkc(password);
  if (crypto_pwhash_str_verify(buf, normalized.data(), normalized.size()) == 0) return true;
  // Hashes made before passwords were normalized are of the password as typed; the
  // second hash costs only those whose password NFKC changes.
  return normalized != password &&
         crypto_pwhash_str_verify(buf, password.data(), password.size()) == 0;
}

bool PasswordHasher::needsRehash(std::string_view encoded) const {
  // "$argon2id$v=19$m=<KiB>,t=<passes>,p=1$<salt>$<hash>": libsodium's opslimit is
  // the passes, its memlimit the KiB times 1,024.
  constexpr std::string_view kPrefix = "$argon2id$v=19$m=";
  if (!encoded.starts_with(kPrefix)) return true;
  std::uint64_t kib = 0, passes = 0;
  const char* p = encoded.data() + kPrefix.size();
  const char* end = encoded.data() + encoded.size();
  auto [afterM, e1] = std::from_chars(p, end, kib);
  if (e1 != std::errc() || end - afterM < 3 || std::string_view(afterM, 3) != ",t=") return true;
  auto [afterT, e2] = std::from_chars(afterM + 3, end, passes);
  if (e2 != std::errc() || afterT == end || *afterT != ',') return true;
  return passes < cost_.opsLimit || kib * 1024 < cost_.memLimit;
}

std::string newToken() {
  initSodium();
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char out[sodium_base64_ENCODED_LEN(sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(out, sizeof out, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  return out;
}

std::string tokenHash(std::string_view token) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

namespace {

constexpr std::string_view kTemporaryAlphabet =
    "abcdefghjkmnpqrstuvwxyz23456789";  // no i, l, o, 0, 1
constexpr std::size_t kTemporaryGroups = 4, kTemporaryGroupSize = 5;

// `letters` (kTemporaryGroups × kTemporaryGroupSize of them) in their groups.
std::string inGroups(std::string_view letters) {
  std::string out;
  for (std::size_t i = 0; i < letters.size(); ++i) {
    if (i > 0 && i % kTemporaryGroupSize == 0) out.push_back('-');
    out.push_back(letters[i]);
  }
  return out;
}

}  // namespace

std::string newTemporaryPassword() {
  initSodium();
  std::string letters;
  for (std::size_t i = 0; i < kTemporaryGroups * kTemporaryGroupSize; ++i)
    letters.push_back(kTemporaryAlphabet[randombytes_uniform(
        static_cast<std::uint32_t>(kTemporaryAlphabet.size()))]);
  return inGroups(letters);
}

std::string temporaryPasswordLetters(std::string_view password) {
  std::string out;
  for (char c : password) {
    if (c >= 'A' && c <= 'Z')
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
      out.push_back(c);
  }
  return out;
}

std::optional<std::string> asTemporaryPassword(std::string_view password) {
  const std::string letters = temporaryPasswordLetters(password);
  if (letters.size() != kTemporaryGroups * kTemporaryGroupSize ||
      letters.find_first_not_of(kTemporaryAlphabet) != std::string::npos)
    return std::nullopt;
  return inGroups(letters);
}

}  // namespace portal
