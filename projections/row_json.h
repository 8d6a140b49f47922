#pragma once
// Helpers the projections share to read and write their JSON rows. Included only by
// projection sources: it brings in nlohmann/json.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "events/event.h"
#include "events/text.h"
#include "events/timestamp.h"
#include "projections/projection.h"

namespace portal::rows {

using nlohmann::json;

// The row at `key`, parsed; nullopt when absent. A row that does not parse is an
// Error: it was not written by this program.
inline Result<std::optional<json>> load(RowView& view, int family, std::string_view key) {
  auto text = view.get(family, key);
  if (!text) return std::optional<json>();
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return makeError(ErrorCode::kCorrupt, "a projection row is not JSON");
  return std::optional<json>(std::move(j));
}

inline void save(RowView& view, int family, std::string_view key, const json& row) {
  view.put(family, key, row.dump());
}

inline std::string time(const EventEnvelope& env) { return formatRfc3339(env.occurredAt); }

// An optional text field as a row holds it: the text, or null.
inline json text(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

// Folded as a search box compares (searchFold: case and accents aside, any script),
// for search and sorting.
inline std::string folded(std::string_view s) { return searchFold(s); }

inline std::string key(std::string_view companyId, std::string_view id) {
  std::string k = companyPrefix(companyId);
  k.append(id);
  return k;
}

}  // namespace portal::rows
