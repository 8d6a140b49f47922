#pragma once
// Rows changed in memory before they are written: their bytes copied into large
// blocks (no allocation per row) that are filled again once written, and sorted by
// key for writing (RocksDB takes sorted keys far faster, and a table file needs
// them so). Shared by the projector's batches and a rebuild's generation builder.

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

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

// Sorts changes by key; of changes to one key, the later one ends last. `buffer`
// is scratch, kept by the caller from sort to sort.
void sortByKey(std::vector<RowChange>& changes, std::vector<RowChange>& buffer);

}  // namespace portal
