#include "src/app/system.h"

#include <sodium.h>

#include <chrono>
#include <cstring>

namespace portal {

Timestamp SystemClock::now() {
  return Timestamp{std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count()};
}

std::string RandomIds::newId() {
  std::uint8_t b[16];
  {
    std::lock_guard lock(mu_);
    if (used_ + sizeof b > pool_.size()) {
      if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
      randombytes_buf(pool_.data(), pool_.size());
      used_ = 0;
    }
    std::memcpy(b, pool_.data() + used_, sizeof b);
    used_ += sizeof b;
  }
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) id.push_back('-');
    id.push_back(kHex[b[i] >> 4]);
    id.push_back(kHex[b[i] & 0xf]);
  }
  return id;
}

}  // namespace portal
