#include "src/store/sha256.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace portal {

Hash sha256(std::string_view a, std::string_view b) {
  // One context per thread, reused: creating an EVP context costs more than hashing
  // a small event.
  struct Ctx {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Ctx tl;
  // Fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up on every init.
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  Hash out{};
  unsigned int len = 0;
  if (md == nullptr || tl.ctx == nullptr || EVP_DigestInit_ex(tl.ctx, md, nullptr) != 1 ||
      EVP_DigestUpdate(tl.ctx, a.data(), a.size()) != 1 ||
      (!b.empty() && EVP_DigestUpdate(tl.ctx, b.data(), b.size()) != 1) ||
      EVP_DigestFinal_ex(tl.ctx, out.data(), &len) != 1 || len != out.size())
    throw std::runtime_error("OpenSSL SHA-256 failed");  // programmer or platform error
  return out;
}

std::string toHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 0xf]);
  }
  return s;
}

std::string toHex(const Hash& h) {
  return toHex(std::string_view(reinterpret_cast<const char*>(h.data()), h.size()));
}

}  // namespace portal
