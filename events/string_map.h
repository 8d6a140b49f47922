#pragma once
// Hash maps keyed by strings and found by any std::string_view, without making a
// string to look one up.
//
// StringMap is Boost.Unordered's open-addressing flat map (Boost 1.81): a lookup reads
// one group of hash fingerprints and, on a match, the slot beside it. The write
// model, the store's stream versions and the key vault hold one entry per person in
// maps of millions, where std::unordered_map's buckets and linked nodes cost two or
// three cache misses a probe, and a new node (fresh memory) at every insert.
// Elements move when the table grows: hold a std::unique_ptr in it where pointers
// to the values must stay valid.
//
// This header is heavier to compile than <unordered_map>: include it from .cc files
// and from headers few files include.

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace portal {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

template <class V>
using StringMap = boost::unordered_flat_map<std::string, V, StringHash, std::equal_to<>>;

// A node-based map with the same string_view lookups, for small maps whose values
// are pointed to.
template <class V>
using StableStringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

}  // namespace portal
