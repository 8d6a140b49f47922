#pragma once
// A flat JSON object row (members hold null, a boolean, a non-negative integer or a
// string), read with the in-place reader and written with JsonWriter: the users'
// and accounts' rows, which a rebuild, an import and every command update once for
// every few events. An nlohmann DOM round trip (parse, change, dump) costs several
// times as much.
//
// Members stay in the byte order of their names, the order an nlohmann dump has
// them, so a row reads back the same whichever of the two wrote it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portal {

class FlatRow {
 public:
  FlatRow() = default;

  // nullopt when `text` is not a JSON object whose members are all flat values.
  static std::optional<FlatRow> parse(std::string_view text);

  // The member's string; nullptr when absent or not a string.
  const std::string* string(std::string_view name) const;
  // The member's string, or "" when absent or not a string.
  std::string_view text(std::string_view name) const;
  bool boolean(std::string_view name, bool otherwise) const;
  std::uint64_t number(std::string_view name, std::uint64_t otherwise) const;

  void setString(std::string_view name, std::string value);
  void setBoolean(std::string_view name, bool value);
  void setNumber(std::string_view name, std::uint64_t value);
  void setNull(std::string_view name);

  // The row as JSON text; nullopt when a string is not UTF-8.
  std::optional<std::string> dump() const;

 private:
  enum class Kind : std::uint8_t { kNull, kBool, kNumber, kString };
  struct Member {
    std::string name;
    Kind kind = Kind::kNull;
    bool boolean = false;
    std::uint64_t number = 0;
    std::string text;
  };
  const Member* find(std::string_view name) const;
  // The member `name`, added in its place (as null) when absent.
  Member& at(std::string_view name);

  std::vector<Member> members_;  // by name, in byte order
};

}  // namespace portal
