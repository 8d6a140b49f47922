#include "tests/store_fixtures.h"

#include <gtest/gtest.h>

namespace portal::test {

NewEvent userCreated(const std::string& userId, const std::string& tag,
                     const std::string& company) {
  UserCreated e;
  e.userId = userId;
  e.email = tag + "@example.org";
  e.givenName = "Given-" + tag;
  e.surname = "Surname-" + tag;
  e.jobTitle = "Engineer";
  e.country = "DE";
  NewEvent ev;
  ev.stream = userStream(userId);
  ev.data = std::move(e);
  ev.occurredAt = Timestamp{1'790'000'000'000'000};
  ev.actor = "system";
  ev.companyId = company;
  ev.commandId = "cmd-" + userId;
  ev.correlationId = "corr-" + userId;
  return ev;
}

NewEvent groupCreated(const std::string& groupId, const std::string& name,
                      const std::string& company) {
  GroupCreated e;
  e.groupId = groupId;
  e.name = name;
  NewEvent ev;
  ev.stream = groupStream(groupId);
  ev.data = std::move(e);
  ev.occurredAt = Timestamp{1'790'000'000'000'000};
  ev.actor = "admin-1";
  ev.companyId = company;
  ev.commandId = "cmd-" + groupId;
  ev.correlationId = "corr-" + groupId;
  return ev;
}

std::unique_ptr<EventStore> openStore(const std::string& path, bool readOnly) {
  StoreOptions o;
  o.path = path;
  o.createIfMissing = !readOnly;
  o.readOnly = readOnly;
  auto store = EventStore::open(o);
  if (!store) {
    ADD_FAILURE() << "cannot open store: " << store.error().message;
    return nullptr;
  }
  return std::move(*store);
}

}  // namespace portal::test
