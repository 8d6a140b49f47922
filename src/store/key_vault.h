#pragma once
// The key vault: one random 256-bit data key per person (and per address that a
// manager's email is kept as, "address-<uuid>"), kept in the "keys" column
// family, under which that person's personal fields are sealed with
// XChaCha20-Poly1305 (the person's id is the associated data, so a box cannot be
// moved to another person). Shredding a key (GDPR erasure) deletes it in the same
// WriteBatch as the UserAnonymized event; from then on the person's boxes open to
// nullopt ("anonymized") while their events still verify.
//
// Thread-safety: seal(), stage() and rollback() come from the thread that prepares
// appends, committed() from the store's write thread; open() and hasKey() may be
// called from any number of threads at once.

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/personal.h"
#include "events/string_map.h"
#include "events/result.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace portal {

class KeyVault final : public PersonalDataSealer, public PersonalDataOpener {
 public:
  using Key = std::array<std::uint8_t, 32>;

  // The keys created and the keys deleted by one append, from its preparation until
  // its batch is durable (or failed).
  struct Staged {
    std::vector<std::string> shredded;
  };

  // `db` and `keys` stay owned by the caller and must outlive the vault.
  KeyVault(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* keys);
  ~KeyVault() override;
  KeyVault(const KeyVault&) = delete;
  KeyVault& operator=(const KeyVault&) = delete;

  // Preparing thread: seals under the subject's key, creating the key when the
  // subject has none. A created key is used by later seals at once, and written by
  // the next stage(). Refused for a person whose key is being shredded.
  Result<std::string> seal(std::string_view subject, std::string_view plaintext) override;
  // Any thread. nullopt when the subject has no key (shredded).
  Result<std::optional<std::string>> open(std::string_view subject,
                                          std::string_view sealed) override;

  // Preparing thread: the keys created since the last stage() or rollback() go into
  // `batch`, and each subject of `shred` is deleted in it.
  Staged stage(rocksdb::WriteBatch& batch, const std::vector<std::string>& shred);
  // Preparing thread: forget the keys created since the last stage() (the append
  // being prepared was refused, so they were never used).
  void rollback();
  // Write thread: the batch holding `staged` is durable.
  void committed(const Staged& staged);

  // Writer: reads every key into memory once, so that sealing never reads the
  // column family (a new person's missing key is the common case). Without it,
  // keys are read on demand and cached up to a bound (read-only instances).
  Result<void> loadAll();

  bool hasKey(std::string_view subject);

  // Drops every cached key; the next use reads the column family again.
  void dropCache();

 private:
  // The committed key of a subject (cache, then the column family); nullopt when
  // there is none (shredded), an Error when the column family cannot be read.
  Result<std::optional<Key>> lookup(std::string_view subject);

  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* keys_;

  // Zeroes what it frees: the map's table is copied when it grows, and no copy of
  // a key may stay behind in freed memory (erase() and clear() zero the keys they
  // take out: forget() and forgetAll()).
  template <class T>
  struct ZeroingAllocator {
    using value_type = T;
    ZeroingAllocator() = default;
    template <class U>
    ZeroingAllocator(const ZeroingAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
    void deallocate(T* p, std::size_t n) noexcept {
      zero(p, n * sizeof(T));
      std::allocator<T>().deallocate(p, n);
    }
    template <class U>
    bool operator==(const ZeroingAllocator<U>&) const noexcept { return true; }
  };
  static void zero(void* p, std::size_t bytes) noexcept;
  using KeyMap = boost::unordered_flat_map<std::string, Key, StringHash, std::equal_to<>,
                                           ZeroingAllocator<std::pair<const std::string, Key>>>;
  void forget(std::string_view subject);
  void forgetAll();

  std::mutex mu_;  // guards everything below up to the preparing thread's own
  // Keys by person. For a writer (loadAll) it is complete and also holds the keys
  // created by appends not yet durable; otherwise a bounded cache.
  KeyMap cache_;
  // People whose key deletion is prepared but not yet durable.
  StringMap<int> shredding_;
  std::uint64_t shredEpoch_ = 0;
  bool complete_ = false;  // cache_ holds every committed key (loadAll)

  // Preparing thread only:
  // A new key from the random pool.
  Key freshKey();
  // Keys created since the last stage(), with their subjects.
  std::vector<std::pair<std::string, Key>> fresh_;
  std::array<std::uint8_t, 16> noncePrefix_{};
  std::uint64_t nonceCounter_ = 0;
  std::array<std::uint8_t, 4096> randomPool_{};
  std::size_t randomUsed_ = sizeof(randomPool_);
};

}  // namespace portal
