#include "tests/store_fixtures.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <memory>

#include "projections/projection.h"
#include "src/store/sha256.h"

namespace portal::test {

namespace {

NewEvent withEnvelope(std::string stream, EventData data, const std::string& actor,
                      const std::string& company, const std::string& id) {
  NewEvent ev;
  ev.stream = std::move(stream);
  ev.data = std::move(data);
  ev.occurredAt = Timestamp{1'790'000'000'000'000};
  ev.actor = actor;
  ev.companyId = company;
  ev.commandId = "cmd-" + id;
  ev.correlationId = "corr-" + id;
  return ev;
}

}  // namespace

NewEvent userCreated(const std::string& userId, const std::string& tag,
                     const std::string& company) {
  UserCreated e;
  e.userId = userId;
  e.email = tag + "@example.org";
  e.givenName = "Given-" + tag;
  e.surname = "Surname-" + tag;
  e.jobTitle = "Engineer";
  e.country = "DE";
  return withEnvelope(userStream(userId), std::move(e), "system", company, userId);
}

NewEvent groupCreated(const std::string& groupId, const std::string& name,
                      const std::string& company) {
  GroupCreated e;
  e.groupId = groupId;
  e.name = name;
  return withEnvelope(groupStream(groupId), std::move(e), "admin-1", company, groupId);
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

void editBehindTheProgramsBack(
    const std::string& path,
    const std::function<void(rocksdb::DB*, std::map<std::string, rocksdb::ColumnFamilyHandle*>&)>&
        fn) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, descriptors, &handles, &db).ok());
  std::map<std::string, rocksdb::ColumnFamilyHandle*> byName;
  for (std::size_t i = 0; i < names.size(); ++i) byName[names[i]] = handles[i];
  fn(db, byName);
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
}

namespace {
constexpr std::size_t kEventHeader = 1 + 32 + 32;  // format, prevHash, hash

void rehash(std::string& value) {
  const Hash h =
      sha256(std::string_view(value).substr(1, 32), std::string_view(value).substr(kEventHeader));
  value.replace(33, 32, reinterpret_cast<const char*>(h.data()), h.size());
}
}  // namespace

void rechainFrom(const std::string& path, std::uint64_t position) {
  editBehindTheProgramsBack(path, [&](rocksdb::DB* db, auto& families) {
    rocksdb::ColumnFamilyHandle* events = families.at("events");
    std::string before;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), events, positionBytes(position - 1), &before).ok());
    std::string prev = before.substr(33, 32);
    rocksdb::WriteBatch batch;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), events));
    for (it->Seek(positionBytes(position)); it->Valid(); it->Next()) {
      std::string value = it->value().ToString();
      value.replace(1, 32, prev);
      rehash(value);
      prev = value.substr(33, 32);
      ASSERT_TRUE(batch.Put(events, it->key(), value).ok());
    }
    ASSERT_TRUE(it->status().ok());
    ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &batch).ok());
  });
}

void rewriteEvent(const std::string& path, std::uint64_t position, const std::string& from,
                  const std::string& to) {
  editBehindTheProgramsBack(path, [&](rocksdb::DB* db, auto& families) {
    rocksdb::ColumnFamilyHandle* events = families.at("events");
    const std::string key = positionBytes(position);
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), events, key, &value).ok());
    const auto at = value.find(from);
    ASSERT_NE(at, std::string::npos) << value;
    value.replace(at, from.size(), to);
    rehash(value);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), events, key, value).ok());
  });
}

}  // namespace portal::test
