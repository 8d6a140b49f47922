#pragma once
// Upcasters turn the data of a stored event written under an older schema into the
// data of the next schema, so that old events decode into today's structs. They see
// the data as one JSON object, personal fields already opened and merged in (a
// shredded one is {"$shredded":true}); a field sealed again under another person's
// key (a manager's email) stays as that box, {"key":…,"box":…}. The table is a value passed to decodeEvent;
// the built-in one holds the project's own upcasters.
//
// Included only by the codec and its tests: it brings in nlohmann/json.

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "events/result.h"

namespace portal {

class Upcasters {
 public:
  // Upgrades `data` in place from schema `fromSchema` to `fromSchema + 1`.
  using Upcaster = std::function<Result<void>(nlohmann::json& data)>;

  void add(std::string type, int fromSchema, Upcaster upcaster) {
    table_[{std::move(type), fromSchema}] = std::move(upcaster);
  }
  const Upcaster* find(std::string_view type, int fromSchema) const {
    auto it = table_.find({std::string(type), fromSchema});
    return it == table_.end() ? nullptr : &it->second;
  }

  // The project's upcasters. Empty while every event type is at schema 1.
  static const Upcasters& builtIn();

 private:
  std::map<std::pair<std::string, int>, Upcaster> table_;
};

}  // namespace portal
