#include "projections/generation_builder.h"

#include <rocksdb/db.h>
#include <rocksdb/sst_file_writer.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <map>

namespace portal {
namespace {

// What a change in a list costs besides its bytes.
constexpr std::size_t kChangeOverhead = sizeof(GenerationBuilder::Change);
// A list family reserves room for at most this many changes up front (160 MiB of
// address space); a larger budget grows it past that by doubling.
constexpr std::size_t kMaxReservedChanges = std::size_t{4} << 20;

}  // namespace

GenerationBuilder::GenerationBuilder(rocksdb::DB* db,
                                     std::vector<rocksdb::ColumnFamilyHandle*> families,
                                     std::string scratch, std::size_t memoryBudget)
    : db_(db),
      handles_(std::move(families)),
      scratch_(std::move(scratch)),
      budget_(memoryBudget),
      families_(handles_.size()) {}

GenerationBuilder::~GenerationBuilder() {
  std::error_code ec;
  std::filesystem::remove_all(scratch_, ec);  // files left by a failed ingestion
}

void GenerationBuilder::index(Family& f) {
  f.indexed = true;
  f.rows.reserve(f.log.size());
  for (const Change& c : f.log) {
    bytes_ += f.rows.set(c.key, c.value);
    forget(c.key.size() + kChangeOverhead + (c.value ? c.value->size() : 0));
  }
  std::vector<Change>().swap(f.log);
  f.bytes.release();
}

std::optional<std::string> GenerationBuilder::get(int family, std::string_view key) {
  Family& f = families_[static_cast<std::size_t>(family)];
  if (!f.indexed) index(f);
  if (const RowOverlay::State* state = f.rows.find(key)) return RowOverlay::owned(*state);
  if (!written_) return std::nullopt;
  std::string value;
  if (!db_->Get(rocksdb::ReadOptions(), handles_[static_cast<std::size_t>(family)],
                rocksdb::Slice(key.data(), key.size()), &value)
           .ok())
    return std::nullopt;
  // Kept, so that a row read again (the company's owner, at each new user) is a
  // lookup, not a read of the database; the next flush writes it again, unchanged.
  bytes_ += f.rows.set(key, value);
  return value;
}

void GenerationBuilder::record(Family& f, std::string_view key, std::optional<std::string_view> value) {
  // Room for as many changes as the budget allows, taken once: grown by doubling,
  // the list would be moved (and its pages faulted in) again and again. Pages
  // never written are never touched.
  if (f.log.capacity() == 0) f.log.reserve(std::min(budget_ / kChangeOverhead + 1, kMaxReservedChanges));
  if (value) value = f.bytes.keep(*value);
  f.log.push_back({f.bytes.keep(key), value});
  bytes_ += key.size() + (value ? value->size() : 0) + kChangeOverhead;
}

void GenerationBuilder::put(int family, std::string_view key, std::string_view value) {
  Family& f = families_[static_cast<std::size_t>(family)];
  if (!f.indexed) return record(f, key, value);
  bytes_ += f.rows.set(key, value);
}

void GenerationBuilder::remove(int family, std::string_view key) {
  Family& f = families_[static_cast<std::size_t>(family)];
  if (!f.indexed) return record(f, key, std::nullopt);
  // (The bytes a row held stay taken until the next flush.)
  if (!written_)
    f.rows.erase(key);  // nothing older to hide
  else
    bytes_ += f.rows.set(key, std::nullopt);
}

void scanWithChanges(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family, std::string_view prefix,
                     std::map<std::string, std::optional<std::string>> changes,
                     const std::function<bool(std::string_view, std::string_view)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), family));
  const rocksdb::Slice start(prefix.data(), prefix.size());
  for (it->Seek(start); it->Valid() && it->key().starts_with(start); it->Next())
    changes.try_emplace(it->key().ToString(), it->value().ToString());  // a change wins
  for (const auto& [key, value] : changes)
    if (value && !fn(key, *value)) return;
}

void GenerationBuilder::scan(int family, std::string_view prefix,
                             const std::function<bool(std::string_view, std::string_view)>& fn) {
  std::map<std::string, std::optional<std::string>> changes;
  const Family& f = families_[static_cast<std::size_t>(family)];
  f.rows.addPrefixed(prefix, changes);
  for (const auto& [key, value] : f.log)
    if (key.starts_with(prefix)) changes[std::string(key)] = RowOverlay::owned(value);
  scanWithChanges(db_, handles_[static_cast<std::size_t>(family)], prefix, std::move(changes), fn);
}

Result<void> GenerationBuilder::write(std::size_t family, const std::vector<Change>& sorted) {
  const std::string file = scratch_ + "/" + std::to_string(++files_) + ".sst";
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), db_->GetOptions(handles_[family]),
                                handles_[family]);
  rocksdb::Status st = writer.Open(file);
  std::size_t rows = 0;
  for (std::size_t i = 0; st.ok() && i < sorted.size(); ++i) {
    const auto& [key, value] = sorted[i];
    if (!value && !written_) continue;  // a deletion with nothing older to hide
    const rocksdb::Slice k(key.data(), key.size());
    st = value ? writer.Put(k, rocksdb::Slice(value->data(), value->size())) : writer.Delete(k);
    ++rows;
  }
  if (st.ok() && rows == 0) {
    std::error_code ec;
    std::filesystem::remove(file, ec);
    return {};
  }
  if (st.ok()) st = writer.Finish();
  if (st.ok()) {
    rocksdb::IngestExternalFileOptions io;
    io.move_files = true;
    st = db_->IngestExternalFile(handles_[family], {file}, io);
  }
  if (!st.ok())
    return makeError(ErrorCode::kIoError, "cannot write the rebuilt rows: " + st.ToString());
  return {};
}

Result<void> GenerationBuilder::flush() {
  std::error_code ec;
  std::filesystem::create_directories(scratch_, ec);
  if (ec) return makeError(ErrorCode::kIoError, "cannot create " + scratch_ + ": " + ec.message());
  for (std::size_t i = 0; i < families_.size(); ++i) {
    Family& f = families_[i];
    // An indexed family's rows are listed for the sort; a list is sorted in place.
    std::vector<Change>& sorted = f.indexed ? sorted_ : f.log;
    if (f.indexed) {
      sorted.clear();
      sorted.reserve(f.rows.size());
      f.rows.appendTo(sorted);
      sortByKey(sorted, sortBuffer_);
    } else {
      // The last change of each key wins.
      sortByKey(sorted, sortBuffer_);
      std::size_t kept = 0;
      for (std::size_t j = 0; j < sorted.size(); ++j) {
        if (j + 1 < sorted.size() && sorted[j + 1].key == sorted[j].key) continue;
        sorted[kept++] = sorted[j];
      }
      sorted.resize(kept);
    }
    if (!sorted.empty())
      if (auto r = write(i, sorted); !r) return r;
    // A list's memory stays, to be filled again (memory already touched costs no
    // page faults: the list and its sort are most of a rebuild's new memory); the
    // rows' goes back, so that what a family held at its peak is not kept beside the
    // budget the next fill counts.
    if (f.indexed) {
      f.rows.release();
    } else {
      f.log.clear();
      f.bytes.reuse();
    }
  }
  bytes_ = 0;
  written_ = true;
  return {};
}

}  // namespace portal
