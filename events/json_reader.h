#pragma once
// A small JSON reader for the decode path: one pass over the text into a flat tree
// of nodes whose strings point into the text (or into the document's own storage
// when they held escapes). An nlohmann DOM costs several microseconds an event;
// replaying the log decodes every event. Strict RFC 8259 syntax; numbers are
// integers (all this program stores) or, otherwise, kept as text.
//
// Not thread-safe; the document must outlive the views it hands out, and the text
// must outlive the document.

#include <cstdint>
#include <forward_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portal {

class JsonDocument {
 public:
  enum class Kind : std::uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };

  // A node: use only through a JsonDocument's accessors.
  struct Node {
    Kind kind = Kind::kNull;
    bool boolean = false;
    bool isUnsigned = false;  // a number that is a non-negative integer
    bool isInteger = false;
    std::uint64_t u = 0;
    std::int64_t i = 0;
    std::string_view text;  // string value, or the number as written
    std::string_view key;   // when a member of an object
    std::uint32_t firstChild = 0, next = 0;  // 0: none (node 0 is the root)
    std::uint32_t count = 0;                 // children of an array or object
  };
  using Ref = std::uint32_t;

  // nullopt when `text` is not one well-formed JSON value (with nothing after it).
  static std::optional<JsonDocument> parse(std::string_view text);

  JsonDocument(JsonDocument&&) = default;
  JsonDocument& operator=(JsonDocument&&) = default;

  Ref root() const { return 0; }
  const Node& node(Ref r) const { return nodes_[r]; }
  // The member `name` of an object; nullopt when absent or `r` is no object.
  std::optional<Ref> member(Ref r, std::string_view name) const;
  // The children of an array or object, in order.
  std::vector<Ref> children(Ref r) const;

 private:
  JsonDocument() = default;
  friend class JsonParser;
  std::vector<Node> nodes_;
  // Strings that held escapes (rare; a deque would allocate even when empty).
  std::forward_list<std::string> unescaped_;
};

}  // namespace portal
