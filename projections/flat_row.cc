#include "projections/flat_row.h"

#include <algorithm>

#include "events/json_reader.h"
#include "events/json_writer.h"

namespace portal {

std::optional<FlatRow> FlatRow::parse(std::string_view text) {
  auto doc = JsonDocument::parse(text);
  if (!doc || doc->node(doc->root()).kind != JsonDocument::Kind::kObject) return std::nullopt;
  FlatRow row;
  for (JsonDocument::Ref r : doc->children(doc->root())) {
    const auto& n = doc->node(r);
    Member& m = row.at(n.key);
    switch (n.kind) {
      case JsonDocument::Kind::kNull:
        break;
      case JsonDocument::Kind::kBool:
        m.kind = Kind::kBool;
        m.boolean = n.boolean;
        break;
      case JsonDocument::Kind::kNumber:
        if (!n.isUnsigned) return std::nullopt;
        m.kind = Kind::kNumber;
        m.number = n.u;
        break;
      case JsonDocument::Kind::kString:
        m.kind = Kind::kString;
        m.text.assign(n.text);
        break;
      default:
        return std::nullopt;  // not flat
    }
  }
  return row;
}

const FlatRow::Member* FlatRow::find(std::string_view name) const {
  auto it = std::lower_bound(members_.begin(), members_.end(), name,
                             [](const Member& m, std::string_view n) { return m.name < n; });
  return it != members_.end() && it->name == name ? &*it : nullptr;
}

FlatRow::Member& FlatRow::at(std::string_view name) {
  auto it = std::lower_bound(members_.begin(), members_.end(), name,
                             [](const Member& m, std::string_view n) { return m.name < n; });
  if (it != members_.end() && it->name == name) return *it;
  Member m;
  m.name.assign(name);
  return *members_.insert(it, std::move(m));
}

const std::string* FlatRow::string(std::string_view name) const {
  const Member* m = find(name);
  return m != nullptr && m->kind == Kind::kString ? &m->text : nullptr;
}

std::string_view FlatRow::text(std::string_view name) const {
  const std::string* s = string(name);
  return s != nullptr ? std::string_view(*s) : std::string_view();
}

bool FlatRow::boolean(std::string_view name, bool otherwise) const {
  const Member* m = find(name);
  return m != nullptr && m->kind == Kind::kBool ? m->boolean : otherwise;
}

std::uint64_t FlatRow::number(std::string_view name, std::uint64_t otherwise) const {
  const Member* m = find(name);
  return m != nullptr && m->kind == Kind::kNumber ? m->number : otherwise;
}

void FlatRow::setString(std::string_view name, std::string value) {
  Member& m = at(name);
  m.kind = Kind::kString;
  m.text = std::move(value);
}

void FlatRow::setBoolean(std::string_view name, bool value) {
  Member& m = at(name);
  m.kind = Kind::kBool;
  m.boolean = value;
}

void FlatRow::setNumber(std::string_view name, std::uint64_t value) {
  Member& m = at(name);
  m.kind = Kind::kNumber;
  m.number = value;
}

void FlatRow::setNull(std::string_view name) { at(name).kind = Kind::kNull; }

std::optional<std::string> FlatRow::dump() const {
  std::string out;
  std::size_t size = 2;
  for (const Member& m : members_) size += m.name.size() + m.text.size() + 8;
  out.reserve(size);
  JsonWriter w(out);
  w.beginObject();
  for (const Member& m : members_) {
    w.key(m.name);
    switch (m.kind) {
      case Kind::kNull: w.null(); break;
      case Kind::kBool: w.boolean(m.boolean); break;
      case Kind::kNumber: w.number(m.number); break;
      case Kind::kString: w.string(m.text); break;
    }
  }
  w.endObject();
  if (!w.valid()) return std::nullopt;
  return out;
}

}  // namespace portal
