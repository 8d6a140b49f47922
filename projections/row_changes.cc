#include "projections/row_changes.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace portal {
namespace {

// Ranges this short are sorted by comparing keys.
constexpr std::size_t kCompareSortBelow = 64;

// Sorts [first, last) by key, stably, where every key holds the same `depth` bytes
// first: a most-significant-byte radix sort, bucket by bucket, into `buffer` and
// back. A range already in order is left as it is (the audit index's keys of one
// subject arrive in position order), and bytes all keys share cost one counting
// pass and no moves.
void radixSort(RowChange* first, RowChange* last, RowChange* buffer, std::size_t depth) {
  auto from = [&depth](const RowChange& a, const RowChange& b) {
    return a.key.substr(depth) < b.key.substr(depth);
  };
  // Bucket 0: keys that end at `depth`; 1 + b: keys whose next byte is b.
  auto bucket = [&depth](const RowChange& c) {
    return c.key.size() == depth ? 0 : 1 + static_cast<unsigned char>(c.key[depth]);
  };
  while (true) {
    const auto n = static_cast<std::size_t>(last - first);
    if (n < kCompareSortBelow) return std::stable_sort(first, last, from);
    if (std::is_sorted(first, last, from)) return;
    std::array<std::size_t, 258> start{};
    for (const RowChange* c = first; c != last; ++c) ++start[1 + bucket(*c)];
    if (const std::size_t b = bucket(*first); start[1 + b] == n) {
      if (b == 0) return;  // equal keys, in the order they came
      ++depth;             // a byte they all share
      continue;
    }
    for (std::size_t b = 1; b < start.size(); ++b) start[b] += start[b - 1];
    std::array<std::size_t, 257> at;
    std::copy(start.begin(), start.end() - 1, at.begin());
    for (RowChange* c = first; c != last; ++c) buffer[at[bucket(*c)]++] = *c;
    std::copy(buffer, buffer + n, first);
    for (std::size_t b = 1; b < 257; ++b)
      if (start[b + 1] - start[b] > 1)
        radixSort(first + start[b], first + start[b + 1], buffer, depth + 1);
    return;
  }
}

}  // namespace

// Comparisons start past the prefix all keys share (every key of a projection
// starts with the company's id).
void sortByKey(std::vector<RowChange>& changes, std::vector<RowChange>& buffer) {
  if (changes.empty()) return;
  const std::string_view first = changes[0].key;
  std::size_t common = first.size();
  for (const auto& c : changes) {
    // Nearly every key shares all `common` bytes: one memcmp settles it.
    if (c.key.size() >= common && std::memcmp(first.data(), c.key.data(), common) == 0) continue;
    const std::size_t most = std::min(common, c.key.size());
    common = static_cast<std::size_t>(
        std::mismatch(first.begin(), first.begin() + most, c.key.begin()).first - first.begin());
  }
  if (buffer.size() < changes.size()) buffer.resize(changes.size());
  radixSort(changes.data(), changes.data() + changes.size(), buffer.data(), common);
}

std::string_view ByteBlocks::keep(std::string_view bytes) {
  if (bytes.empty()) return {};
  if (bytes.size() > left_) {
    // The next block kept from an earlier fill that holds them, or a new one.
    while (used_ < blocks_.size() && blocks_[used_].size < bytes.size()) ++used_;
    if (used_ == blocks_.size()) {
      const std::size_t size = std::max(nextBlock_, bytes.size());
      blocks_.push_back({std::make_unique_for_overwrite<char[]>(size), size});
      nextBlock_ = std::min(nextBlock_ * 2, std::max(nextBlock_, mostBlock_));
    }
    cursor_ = blocks_[used_].bytes.get();
    left_ = blocks_[used_].size;
    ++used_;
  }
  char* at = cursor_;
  std::memcpy(at, bytes.data(), bytes.size());
  cursor_ += bytes.size();
  left_ -= bytes.size();
  return {at, bytes.size()};
}

std::string_view ByteBlocks::keepOver(std::string_view old, std::string_view bytes) {
  if (bytes.size() > old.size()) return keep(bytes);
  if (bytes.empty()) return {};
  // `old` is a copy in one of these blocks, which this owns and may write.
  char* at = const_cast<char*>(old.data());
  std::memmove(at, bytes.data(), bytes.size());
  return {at, bytes.size()};
}

std::size_t RowOverlay::set(std::string_view key, State value) {
  if (auto it = rows_.find(key); it != rows_.end()) {
    if (!value) {
      it->second.reset();
      return 0;
    }
    const std::string_view old = it->second.value_or(std::string_view());
    const std::string_view kept = bytes_.keepOver(old, *value);
    it->second = kept;
    return kept.data() == old.data() ? 0 : kept.size();  // written over: nothing taken
  }
  const std::string_view kept = bytes_.keep(key);
  if (value) value = bytes_.keep(*value);
  rows_.emplace(kept, value);
  return key.size() + (value ? value->size() : 0) + kRowOverhead;
}

void ByteBlocks::reuse() {
  used_ = 0;
  cursor_ = nullptr;
  left_ = 0;
}

void ByteBlocks::release() {
  std::vector<Block>().swap(blocks_);
  reuse();
}

}  // namespace portal
