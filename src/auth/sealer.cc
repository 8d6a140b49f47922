#include "src/auth/sealer.h"

#include <sodium.h>

#include <algorithm>
#include <vector>

#include "src/auth/passwords.h"

namespace portal {

Sealer::Sealer() {
  initSodium();
  crypto_aead_xchacha20poly1305_ietf_keygen(key_);
}

Sealer::Sealer(const std::array<unsigned char, 32>& key) {
  static_assert(sizeof key_ == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
  initSodium();
  std::copy(key.begin(), key.end(), key_);
}

Sealer::~Sealer() { sodium_memzero(key_, sizeof key_); }

std::string Sealer::seal(std::string_view plain) const {
  constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  std::vector<unsigned char> out(kNonce + plain.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  randombytes_buf(out.data(), kNonce);
  unsigned long long sealedLength = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out.data() + kNonce, &sealedLength, reinterpret_cast<const unsigned char*>(plain.data()),
      plain.size(), nullptr, 0, nullptr, out.data(), key_);
  const std::size_t n = kNonce + static_cast<std::size_t>(sealedLength);
  std::string text(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(text.data(), text.size(), out.data(), n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  text.resize(text.size() - 1);  // the terminating NUL
  return text;
}

std::optional<std::string> Sealer::open(std::string_view sealed) const {
  constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (sealed.size() > 4096) return std::nullopt;
  std::vector<unsigned char> bytes(sealed.size());
  std::size_t n = 0;
  if (sodium_base642bin(bytes.data(), bytes.size(), sealed.data(), sealed.size(), nullptr, &n,
                        nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      n < kNonce + kTag)
    return std::nullopt;
  std::string plain(n - kNonce - kTag, '\0');
  unsigned long long plainLength = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &plainLength, nullptr,
          bytes.data() + kNonce, n - kNonce, nullptr, 0, bytes.data(), key_) != 0)
    return std::nullopt;
  plain.resize(static_cast<std::size_t>(plainLength));
  return plain;
}

}  // namespace portal
