#pragma once
// Events and store set-ups that several suites and the crash child share.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "src/store/event_store.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace portal::test {

// A UserCreated for `userId` with recognisable personal data derived from `tag`.
NewEvent userCreated(const std::string& userId, const std::string& tag,
                     const std::string& company = "c-1");
// A GroupCreated on the group's stream.
NewEvent groupCreated(const std::string& groupId, const std::string& name,
                      const std::string& company = "c-1");

// Opens (creating) a writable store; fails the calling test on error.
std::unique_ptr<EventStore> openStore(const std::string& path, bool readOnly = false);

// Opens the data directory with plain RocksDB, as someone editing it behind the
// program's back would, and hands `fn` the database and its column families by name.
void editBehindTheProgramsBack(
    const std::string& path,
    const std::function<void(rocksdb::DB*, std::map<std::string, rocksdb::ColumnFamilyHandle*>&)>& fn);

// Replaces `from` with `to` in the JSON of the event at `position` and records the
// hash of its new bytes, as someone who knows the format would (or as a program
// newer than this one writes): only the chain's links (verify) tell the edit.
void rewriteEvent(const std::string& path, std::uint64_t position, const std::string& from,
                  const std::string& to);

// Links every event from `position` on to the one before it again (prevHash and
// hash made anew), as someone rewriting the log after an edit would: the chain
// holds, and only decoding can tell an edit that broke an event.
void rechainFrom(const std::string& path, std::uint64_t position);

}  // namespace portal::test
