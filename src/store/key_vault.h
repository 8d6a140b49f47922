#pragma once
// The key vault: one random 256-bit data key per person, kept in the "keys" column
// family, under which that person's personal fields are sealed with
// XChaCha20-Poly1305 (the person's id is the associated data, so a box cannot be
// moved to another person). Shredding a key (GDPR erasure) deletes it in the same
// WriteBatch as the UserAnonymized event; from then on the person's boxes open to
// nullopt ("anonymized") while their events still verify.
//
// Thread-safety: seal(), stage and commit calls come from the store's single writer;
// open() and hasKey() may be called from any number of threads at once.

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "events/personal.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace portal {

class KeyVault final : public PersonalDataSealer, public PersonalDataOpener {
 public:
  using Key = std::array<std::uint8_t, 32>;

  // `db` and `keys` stay owned by the caller and must outlive the vault.
  KeyVault(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* keys);
  KeyVault(const KeyVault&) = delete;
  KeyVault& operator=(const KeyVault&) = delete;

  // Seals under the subject's key, creating the key when the subject has none; a
  // created key is pending until stagePending() + commitPending().
  Result<std::string> seal(std::string_view subject, std::string_view plaintext) override;
  Result<std::optional<std::string>> open(std::string_view subject,
                                          std::string_view sealed) override;

  // Writer side: put the keys created since the last commit into `batch`; after the
  // batch is durable, commitPending(); if it failed, abortPending().
  void stagePending(rocksdb::WriteBatch& batch);
  // Deletes the subject's key in `batch`; takes effect in memory at commitPending().
  void stageShred(std::string_view subject, rocksdb::WriteBatch& batch);
  void commitPending();
  void abortPending();

  bool hasKey(std::string_view subject);

  // Drops every cached key; the next use reads the column family again.
  void dropCache();

 private:
  // The committed key of a subject (cache, then the column family).
  std::optional<Key> lookup(std::string_view subject);

  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* keys_;
  std::mutex mu_;  // guards cache_ and shredEpoch_
  std::unordered_map<std::string, Key> cache_;
  std::uint64_t shredEpoch_ = 0;
  // Writer only:
  std::unordered_map<std::string, Key> pending_;
  std::vector<std::string> pendingShreds_;
  std::array<std::uint8_t, 16> noncePrefix_{};
  std::uint64_t nonceCounter_ = 0;
};

}  // namespace portal
