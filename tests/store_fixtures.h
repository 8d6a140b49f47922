#pragma once
// Events and store set-ups that several suites and the crash child share.

#include <memory>
#include <string>

#include "src/store/event_store.h"

namespace portal::test {

// A UserCreated for `userId` with recognisable personal data derived from `tag`.
NewEvent userCreated(const std::string& userId, const std::string& tag,
                     const std::string& company = "c-1");
// A GroupCreated on the group's stream.
NewEvent groupCreated(const std::string& groupId, const std::string& name,
                      const std::string& company = "c-1");

// Opens (creating) a writable store; fails the calling test on error.
std::unique_ptr<EventStore> openStore(const std::string& path, bool readOnly = false);

}  // namespace portal::test
