#pragma once
// Seals short texts that a client hands back unchanged, such as the users list's
// cursor (a place in the order by name: it holds names, which must not travel in
// URLs, and so access logs, in clear): XChaCha20-Poly1305 under a random key of the
// process (a restart makes earlier seals unreadable: open() says so, and the client
// starts over) or a key given (one of the data directory's, for seals that hold no
// personal data and should outlive a restart), as base64url. A seal cannot be read
// or forged without the key.
// Thread-safe.

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace portal {

class Sealer {
 public:
  Sealer();  // a fresh random key
  explicit Sealer(const std::array<unsigned char, 32>& key);
  ~Sealer();  // zeroes it
  Sealer(const Sealer&) = delete;
  Sealer& operator=(const Sealer&) = delete;

  std::string seal(std::string_view plain) const;
  // nullopt when `sealed` is not a seal of this key.
  std::optional<std::string> open(std::string_view sealed) const;

 private:
  unsigned char key_[32];
};

}  // namespace portal
