#pragma once
// Rows changed in memory before they are written: their bytes copied into large
// blocks (no allocation per row) that are filled again once written, and sorted by
// key for writing (RocksDB takes sorted keys far faster, and a table file needs
// them so). Shared by the projector's batches and a rebuild's generation builder.

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/string_map.h"

namespace portal {

// A row to write: views of its key and value (nullopt: deleted).
struct RowChange {
  std::string_view key;
  std::optional<std::string_view> value;
};

// Copies of byte strings, kept in blocks until reuse(): the first of `firstBlock`
// bytes, each next one twice as large up to `mostBlock` (or one of their own, when
// longer). The blocks outlive reuse() and are filled again: memory already touched
// costs no page faults.
class ByteBlocks {
 public:
  explicit ByteBlocks(std::size_t firstBlock = std::size_t{4} << 20,
                      std::size_t mostBlock = std::size_t{4} << 20)
      : nextBlock_(firstBlock), mostBlock_(mostBlock) {}
  // A copy of `bytes`, valid until reuse() or release().
  std::string_view keep(std::string_view bytes);
  // A copy of `bytes` in the place of `old` (a copy this keeps, given up) when it
  // fits there, else as keep() makes it.
  std::string_view keepOver(std::string_view old, std::string_view bytes);
  // Forgets every copy, keeping the blocks.
  void reuse();
  // Forgets every copy and gives the blocks back.
  void release();

 private:
  struct Block {
    std::unique_ptr<char[]> bytes;
    std::size_t size = 0;
  };
  std::size_t nextBlock_, mostBlock_;
  std::vector<Block> blocks_;
  std::size_t used_ = 0;    // blocks_[0, used_) hold copies
  char* cursor_ = nullptr;  // the free bytes of the last block used
  std::size_t left_ = 0;
};

// Rows changed in memory: each key's last state (nullopt: deleted), keys and values
// copied into blocks. A value that fits where the key's last one was is written
// over it; blocks are filled again after clear().
class RowOverlay {
 public:
  using State = std::optional<std::string_view>;
  // An owned copy of a state.
  static std::optional<std::string> owned(State state) {
    return state ? std::optional<std::string>(*state) : std::nullopt;
  }
  explicit RowOverlay(std::size_t firstBlock = std::size_t{4} << 20,
                      std::size_t mostBlock = std::size_t{4} << 20)
      : bytes_(firstBlock, mostBlock) {}
  // Sets the state of `key`; answers the bytes newly taken from the blocks.
  std::size_t set(std::string_view key, State value);
  // The state of `key`, nullptr when it has none here.
  const State* find(std::string_view key) const {
    auto it = rows_.find(key);
    return it == rows_.end() ? nullptr : &it->second;
  }
  // Forgets the state of `key` (its bytes stay taken until clear()).
  void erase(std::string_view key) { rows_.erase(key); }
  std::size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  // Adds the rows whose key starts with `prefix` to `out`, copied.
  void addPrefixed(std::string_view prefix,
                   std::map<std::string, std::optional<std::string>>& out) const {
    for (const auto& [key, value] : rows_)
      if (key.starts_with(prefix)) out[std::string(key)] = owned(value);
  }
  // Every row, in no order.
  void appendTo(std::vector<RowChange>& out) const {
    for (const auto& [key, value] : rows_) out.push_back({key, value});
  }
  // Forgets every row, keeping the blocks and the table.
  void clear() {
    rows_.clear();
    bytes_.reuse();
  }
  // Forgets every row and gives the blocks and the table back.
  void release() {
    decltype(rows_)().swap(rows_);
    bytes_.release();
  }
  void reserve(std::size_t rows) { rows_.reserve(rows); }
  // What one row costs besides its bytes (its slot in the table, about).
  static constexpr std::size_t kRowOverhead = 2 * sizeof(std::string_view) + 16;

 private:
  ByteBlocks bytes_;
  boost::unordered_flat_map<std::string_view, State, StringHash, std::equal_to<>> rows_;
};

// Sorts changes by key; of changes to one key, the later one ends last. `buffer`
// is scratch, kept by the caller from sort to sort.
void sortByKey(std::vector<RowChange>& changes, std::vector<RowChange>& buffer);

}  // namespace portal
