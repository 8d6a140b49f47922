#pragma once
// The writes an EventStore made, rebuilt from its log in the order it made them, so
// that a raw RocksDB baseline writes the very same keys and values in the same
// order (RocksDB inserts keys that arrive sorted much faster; reading the column
// families back would hand the baseline sorted batches).

#include <rocksdb/db.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "src/store/event_store.h"

namespace portal::bench {

struct Write {
  std::string family, key, value;
};

// For each event in position order: its record, its stream index entry and, for the
// first event that sealed data for a person, that person's key.
inline std::vector<Write> capturedWrites(EventStore& store) {
  std::vector<Write> out;
  auto* db = store.db();
  auto be64 = [](std::uint64_t v) {
    std::string k(8, '\0');
    for (int i = 7; i >= 0; --i, v >>= 8) k[i] = static_cast<char>(v & 0xff);
    return k;
  };
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, store.columnFamily("events")));
  std::unordered_map<std::string, bool> keyed;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string value = it->value().ToString();
    out.push_back({"events", it->key().ToString(), value});
    const auto doc = nlohmann::json::parse(value.substr(65));
    std::string streamKey = doc["stream"].get<std::string>();
    streamKey.push_back('\0');
    streamKey += be64(doc["version"].get<std::uint64_t>());
    out.push_back({"streams", streamKey, it->key().ToString()});
    if (doc["data"].contains("personal")) {
      const std::string subject = doc["data"]["personal"]["key"].get<std::string>();
      if (!keyed[subject]) {
        keyed[subject] = true;
        std::string key;
        if (db->Get({}, store.columnFamily("keys"), subject, &key).ok())
          out.push_back({"keys", subject, key});
      }
    }
  }
  return out;
}

}  // namespace portal::bench
