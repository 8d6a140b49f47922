#include "projections/users_projection.h"

#include <rocksdb/db.h>

#include <functional>

#include "events/json_reader.h"
#include "events/json_writer.h"
#include "events/personal.h"
#include "events/text.h"
#include "projections/flat_row.h"
#include "projections/row_json.h"

namespace portal {
namespace {

// company, NUL, surname, 0x01, given name, NUL, id: sorts by name, then id. A person
// `erased` since (portal-replay as-of replays their events before their
// UserAnonymized, the names read as the marker) is shown as "Anonymized User"
// (renderUserRow) and sorts so, where the users list puts them once anonymized (a
// review found such rows first in as-of).
std::string searchKey(const std::string& companyId, std::string_view surname,
                      std::string_view givenName, std::string_view id, bool erased) {
  std::string k = companyPrefix(companyId);
  k += rows::folded(erased ? "User" : surname);
  k.push_back('\x01');
  k += rows::folded(erased ? "Anonymized" : givenName);
  k.push_back('\0');
  k += id;
  return k;
}
std::string searchKey(const std::string& companyId, const FlatRow& row) {
  return searchKey(companyId, row.text("surname"), row.text("givenName"), row.text("id"),
                   row.text("email") == kAnonymizedMarker);
}

std::string searchValue(bool active, std::string_view givenName, std::string_view surname,
                        std::string_view email) {
  std::string v(1, active ? 'A' : 'I');
  v += rows::folded(givenName);
  v += ' ';
  v += rows::folded(surname);
  v.push_back('\n');
  v += rows::folded(email);
  return v;
}
std::string searchValue(const FlatRow& row) {
  return searchValue(row.boolean("active", true), row.text("givenName"), row.text("surname"),
                     row.text("email"));
}

class UserRows {
 public:
  UserRows(RowView& view, const EventEnvelope& env) : view_(view), env_(env) {}

  // A new row, written directly (the members in the order an nlohmann dump of the
  // row has them): the most frequent event of a rebuild or an import.
  Result<void> create(const UserCreated& e) {
    auto owner = view_.get(UsersProjection::kCompanies, env_.companyId);
    const std::string time = rows::time(env_);
    std::string row;
    row.reserve(512);
    JsonWriter w(row);
    auto text = [&](std::string_view name, const std::string* value) {
      w.key(name);
      if (value) w.string(*value);
      else w.null();
    };
    w.beginObject();
    w.key("active");
    w.boolean(e.active);
    w.key("anonymized");
    w.boolean(false);
    text("country", e.country ? &*e.country : nullptr);
    w.key("createdAt");
    w.string(time);
    text("email", &e.email.value);
    text("givenName", &e.givenName.value);
    text("id", &e.userId);
    w.key("isAdmin");
    w.boolean(false);
    w.key("isOwner");
    w.boolean(owner && *owner == e.userId);
    text("jobTitle", &e.jobTitle.value);
    text("managerEmail", e.managerEmail ? &e.managerEmail->value : nullptr);
    text("managerUserId", e.managerUserId ? &*e.managerUserId : nullptr);
    text("surname", &e.surname.value);
    w.key("updatedAt");
    w.string(time);
    w.key("version");
    w.number(std::uint64_t{1});
    w.endObject();
    if (!w.valid()) return makeError(ErrorCode::kCorrupt, "a new user's details are not UTF-8");
    view_.put(
        UsersProjection::kSearch,
        searchKey(env_.companyId, e.surname.value, e.givenName.value, e.userId, e.email.shredded),
        searchValue(e.active, e.givenName.value, e.surname.value, e.email.value));
    view_.put(UsersProjection::kRows, rows::key(env_.companyId, e.userId), row);
    return {};
  }

  // Loads a row, lets `change` modify it, counts a version and saves it.
  template <class F>
  Result<void> update(const std::string& userId, F change) {
    const std::string key = rows::key(env_.companyId, userId);
    auto text = view_.get(UsersProjection::kRows, key);
    if (!text) return {};  // not a user of this company: nothing to show
    auto row = FlatRow::parse(*text);
    if (!row) return makeError(ErrorCode::kCorrupt, "a user's row is not a flat JSON object");
    const std::string searchedBefore = searchKey(env_.companyId, *row);
    change(*row);
    row->setNumber("version", row->number("version", 0) + 1);
    row->setString("updatedAt", rows::time(env_));
    auto dumped = row->dump();
    if (!dumped) return makeError(ErrorCode::kCorrupt, "a user's details are not UTF-8");
    const std::string searched = searchKey(env_.companyId, *row);
    if (searched != searchedBefore) view_.remove(UsersProjection::kSearch, searchedBefore);
    view_.put(UsersProjection::kSearch, searched, searchValue(*row));
    view_.put(UsersProjection::kRows, key, *dumped);
    return {};
  }

 private:
  RowView& view_;
  const EventEnvelope& env_;
};

}  // namespace

const std::set<std::string_view>& UsersProjection::handles() const {
  static const std::set<std::string_view> types = {
      CompanyProvisioned::kType, UserCreated::kType,     UserUpdated::kType,
      UserDeactivated::kType,    UserReactivated::kType, UserAnonymized::kType,
      AdminIncluded::kType,      AdminRemoved::kType,    OwnershipTransferred::kType};
  return types;
}

Result<void> UsersProjection::apply(const RecordedEvent& event, RowView& view) {
  UserRows users(view, event.envelope);
  return std::visit(
      Overloaded{
          [&](const CompanyProvisioned& e) -> Result<void> {
            view.put(kCompanies, e.companyId, e.ownerId);
            return {};
          },
          [&](const UserCreated& e) { return users.create(e); },
          [&](const UserUpdated& e) {
            return users.update(e.userId, [&](FlatRow& row) {
              if (e.givenName) row.setString("givenName", e.givenName->value);
              if (e.surname) row.setString("surname", e.surname->value);
              if (e.jobTitle) row.setString("jobTitle", e.jobTitle->value);
              if (e.managerUserId) row.setString("managerUserId", *e.managerUserId);
              if (e.managerEmail) row.setString("managerEmail", e.managerEmail->value);
              if (e.country) row.setString("country", *e.country);
              for (const auto& field : e.cleared) row.setNull(field);
            });
          },
          [&](const UserDeactivated& e) {
            return users.update(e.userId, [](FlatRow& row) { row.setBoolean("active", false); });
          },
          [&](const UserReactivated& e) {
            return users.update(e.userId, [](FlatRow& row) { row.setBoolean("active", true); });
          },
          [&](const UserAnonymized& e) {
            return users.update(e.userId, [](FlatRow& row) {
              row.setNull("email");
              row.setString("givenName", "Anonymized");
              row.setString("surname", "User");
              row.setNull("jobTitle");
              row.setNull("managerUserId");
              row.setNull("managerEmail");
              row.setBoolean("anonymized", true);
            });
          },
          [&](const AdminIncluded& e) {
            return users.update(e.userId, [](FlatRow& row) { row.setBoolean("isAdmin", true); });
          },
          [&](const AdminRemoved& e) {
            return users.update(e.userId, [](FlatRow& row) { row.setBoolean("isAdmin", false); });
          },
          [&](const OwnershipTransferred& e) -> Result<void> {
            view.put(kCompanies, event.envelope.companyId, e.toUserId);
            if (auto r = users.update(e.fromUserId,
                                      [](FlatRow& row) { row.setBoolean("isOwner", false); });
                !r)
              return r;
            return users.update(e.toUserId, [](FlatRow& row) { row.setBoolean("isOwner", true); });
          },
          [](const auto&) -> Result<void> { return {}; },
      },
      event.data);
}

// --- reading -----------------------------------------------------------------

std::optional<std::string> UsersReader::row(const std::string& companyId,
                                            const std::string& userId) const {
  return rowAt(nullptr, companyId, userId);
}

Result<std::optional<std::string>> UsersReader::readRow(const std::string& companyId,
                                                        const std::string& userId) const {
  return readRowAt(nullptr, companyId, userId);
}

std::optional<std::string> UsersReader::rowAt(const rocksdb::Snapshot* snapshot,
                                              const std::string& companyId,
                                              const std::string& userId) const {
  auto read = readRowAt(snapshot, companyId, userId);
  return read ? std::move(*read) : std::nullopt;
}

Result<std::optional<std::string>> UsersReader::readRowAt(const rocksdb::Snapshot* snapshot,
                                                          const std::string& companyId,
                                                          const std::string& userId) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot != nullptr ? snapshot : moment_.get();
  std::string value;
  const rocksdb::Status st = db_->Get(ro, rows_, rows::key(companyId, userId), &value);
  if (st.IsNotFound()) return std::optional<std::string>();
  if (!st.ok())
    return makeError(ErrorCode::kIoError, "reading the users view failed: " + st.ToString());
  return std::optional<std::string>(std::move(value));
}

// Rows are flat objects; reading them with the in-place reader and writing the
// answer with JsonWriter costs a fraction of an nlohmann round trip (GET
// /users/{id} and every list do this for each user).
std::string renderUserRow(std::string_view rowJson,
                          const std::function<std::optional<std::string>(const std::string&)>& rowOf) {
  auto row = JsonDocument::parse(rowJson);
  if (!row || row->node(row->root()).kind != JsonDocument::Kind::kObject) return "{}";
  // A manager in the pool is shown by their current email, or as anonymized.
  std::optional<std::string> managerRow;
  std::optional<JsonDocument> manager;
  if (auto m = row->member(row->root(), "managerUserId");
      m && row->node(*m).kind == JsonDocument::Kind::kString) {
    managerRow = rowOf(std::string(row->node(*m).text));
    if (managerRow) manager = JsonDocument::parse(*managerRow);
  }
  auto managerField = [&](std::string_view name) -> std::optional<JsonDocument::Ref> {
    if (!manager) return std::nullopt;
    return manager->member(manager->root(), name);
  };
  // A row replayed from events whose data key is shredded since (portal-replay
  // as-of, before the person's UserAnonymized) holds the marker for each sealed
  // value: its details shown as API.md shows an anonymized user's, not with
  // "anonymized" as an email, and `anonymized` as it was then, with `erasedLater`
  // (an audit review read `anonymized: true` of a time before the deactivation).
  auto erasedRow = [](const JsonDocument& doc) {
    auto email = doc.member(doc.root(), "email");
    return email && doc.node(*email).kind == JsonDocument::Kind::kString &&
           doc.node(*email).text == kAnonymizedMarker;
  };
  const bool erased = erasedRow(*row);
  std::string out;
  out.reserve(rowJson.size());
  JsonWriter w(out);
  auto copy = [&](const JsonDocument& doc, JsonDocument::Ref r) {
    const auto& n = doc.node(r);
    switch (n.kind) {
      case JsonDocument::Kind::kNull:
        w.null();
        break;
      case JsonDocument::Kind::kBool:
        w.boolean(n.boolean);
        break;
      case JsonDocument::Kind::kString:
        w.string(n.text);
        break;
      case JsonDocument::Kind::kNumber:
        if (n.isUnsigned)
          w.number(n.u);
        else
          w.number(n.i);
        break;
      default:
        w.null();
        break;  // rows hold no nested values
    }
  };
  w.beginObject();
  for (JsonDocument::Ref r : row->children(row->root())) {
    const std::string_view name = row->node(r).key;
    if (name == "managerUserId") continue;
    w.key(name);
    if (erased) {
      if (name == "email" || name == "jobTitle" || name == "managerEmail") {
        w.null();
        continue;
      }
      if (name == "givenName" || name == "surname") {
        w.string(name == "givenName" ? "Anonymized" : "User");
        continue;
      }
      if (name == "anonymized" && !row->node(r).boolean) {
        w.boolean(false);
        w.key("erasedLater");
        w.boolean(true);
        continue;
      }
    }
    if (name == "managerEmail" && manager) {
      auto anonymized = managerField("anonymized");
      if ((anonymized && manager->node(*anonymized).boolean) || erasedRow(*manager)) {
        w.string(kAnonymizedMarker);
      } else if (auto email = managerField("email")) {
        copy(*manager, *email);
      } else {
        copy(*row, r);
      }
      continue;
    }
    copy(*row, r);
  }
  w.endObject();
  return out;
}

std::optional<std::string> UsersReader::get(const std::string& companyId,
                                            const std::string& userId) const {
  auto r = row(companyId, userId);
  if (!r) return std::nullopt;
  return renderUserRow(*r, [&](const std::string& id) { return row(companyId, id); });
}

std::string UsersReader::displayName(const std::string& companyId,
                                     const std::string& userId) const {
  auto r = row(companyId, userId);
  if (!r) return "";
  auto row = FlatRow::parse(*r);
  if (!row) return "";
  // An erased person reads as the trail's personal fields do once shredded (API.md),
  // in the API's audit trail and portal-replay's timeline alike (an auditor's review
  // found "Anonymized User" in one and "anonymized" in the other).
  if (row->boolean("anonymized", false)) return std::string(kAnonymizedMarker);
  return std::string(row->text("givenName")) + " " + std::string(row->text("surname"));
}

std::optional<std::pair<std::string, std::string>> UsersReader::names(
    const std::string& companyId, const std::string& userId) const {
  auto r = row(companyId, userId);
  if (!r) return std::nullopt;
  auto row = FlatRow::parse(*r);
  if (!row) return std::nullopt;
  return std::pair(std::string(row->text("givenName")), std::string(row->text("surname")));
}

UserPage UsersReader::list(const std::string& companyId, const UserListQuery& q) const {
  UserPage page;
  const std::string prefix = companyPrefix(companyId);
  // Each word, also with an address's domain as the search did not type it (`xn--…`
  // for `bücher`, or the other way round): one address, found either way, as the
  // email's uniqueness has it.
  const SearchWords words(q.search);
  std::string lastKey;  // the search key of the last user on the page
  // One snapshot for the search keys and the rows: a user changed meanwhile is shown
  // as the filter saw them (not, say, inactive in a list of the active).
  const ViewMoment snapshot = moment_ ? moment_ : momentOf(db_);
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.get();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, search_));
  // The cursor is the last shown user's place in the order when it was shown: the
  // list carries on after it even if that user was renamed or anonymized since.
  if (q.cursor.empty()) {
    it->Seek(prefix);
  } else if (!q.cursor.starts_with(prefix)) {
    page.badCursor = true;
    return page;
  } else {
    it->Seek(q.cursor);
    if (it->Valid() && it->key().ToString() == q.cursor) it->Next();
  }
  if (searchFindsNobody(q.search)) return page;
  for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string_view value(it->value().data(), it->value().size());
    if (value.empty()) continue;
    const bool active = value[0] == 'A';
    if ((q.status == UserStatus::kActive && !active) ||
        (q.status == UserStatus::kInactive && active))
      continue;
    if (!words.in(value.substr(1))) continue;
    if (page.items.size() == q.limit) {
      // There is more: the cursor points at the last one shown.
      page.nextCursor = lastKey;
      return page;
    }
    const std::string_view key(it->key().data(), it->key().size());
    const std::string userId(key.substr(key.rfind('\0') + 1));
    if (auto stored = rowAt(snapshot.get(), companyId, userId)) {
      page.items.push_back(renderUserRow(
          *stored, [&](const std::string& id) { return rowAt(snapshot.get(), companyId, id); }));
      lastKey = std::string(key);
    }
  }
  return page;
}

}  // namespace portal
