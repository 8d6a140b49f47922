#include "src/app/replay.h"

#include <rocksdb/db.h>

#include <map>
#include <nlohmann/json.hpp>

#include "events/codec.h"
#include "events/json_writer.h"
#include "events/text.h"
#include "projections/admins_projection.h"
#include "projections/audit_projection.h"
#include "projections/credentials_projection.h"
#include "projections/list_reader.h"
#include "projections/projector.h"
#include "projections/resources_projection.h"
#include "projections/users_projection.h"
#include "src/app/operator.h"

namespace portal {
namespace {

using json = nlohmann::json;

// A projection's rows in memory: as-of replays into it instead of RocksDB.
class MemoryRows final : public RowView {
 public:
  explicit MemoryRows(std::size_t families) : families_(families) {}
  std::optional<std::string> get(int family, std::string_view key) override {
    auto& rows = families_[static_cast<std::size_t>(family)];
    auto it = rows.find(key);
    if (it == rows.end()) return std::nullopt;
    return it->second;
  }
  void put(int family, std::string_view key, std::string_view value) override {
    families_[static_cast<std::size_t>(family)].insert_or_assign(std::string(key), std::string(value));
  }
  void remove(int family, std::string_view key) override {
    auto& rows = families_[static_cast<std::size_t>(family)];
    if (auto it = rows.find(key); it != rows.end()) rows.erase(it);
  }
  void scan(int family, std::string_view prefix,
            const std::function<bool(std::string_view, std::string_view)>& fn) override {
    auto& rows = families_[static_cast<std::size_t>(family)];
    for (auto it = rows.lower_bound(prefix);
         it != rows.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix; ++it)
      if (!fn(it->first, it->second)) return;
  }

 private:
  std::vector<std::map<std::string, std::string, std::less<>>> families_;
};

std::string plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The kinds of resources a transfer handed over, counted: "1 project, 2 models".
std::string resourceKinds(const std::vector<TransferredResource>& resources) {
  std::vector<std::pair<std::string, std::size_t>> kinds;  // in the order first met
  for (const auto& r : resources) {
    auto it =
        std::find_if(kinds.begin(), kinds.end(), [&](const auto& k) { return k.first == r.kind; });
    if (it == kinds.end())
      kinds.emplace_back(r.kind, 1);
    else
      ++it->second;
  }
  std::string out;
  for (const auto& [kind, n] : kinds)
    out += (out.empty() ? "" : ", ") + plural(n, kind.c_str(), (kind + "s").c_str());
  return out;
}

std::string personal(const Personal& p) { return p.value; }
std::string personal(const std::optional<Personal>& p) { return p ? p->value : std::string(); }

// A resource in words, as it was given: "the project 'Apollo' in modeler".
std::string theResource(std::string_view kind, std::string_view name, std::string_view service) {
  return "the " + resourceInWords(kind, name, service);
}

// A changed detail with its new value ("surname 'Builder'"), or its name alone
// once the person is anonymized.
std::string changedTo(const char* what, const Personal& value) {
  return value.shredded ? std::string(what) : std::string(what) + " '" + value.value + "'";
}

// A transfer names what it moved up to this many; past it, it counts them by kind.
constexpr std::size_t kResourcesNamedAtMost = 10;

// What an event means for `subject`, in words. `name` gives a person's display
// name, `groupName` a group's as it was named at the event (quoted), `resourceName`
// a resource as it was given ("the project 'Apollo' in modeler"); `transferred`
// the number of resources the same command handed over (a deactivation's
// ResourcesTransferred comes just before its UserDeactivated).
std::string describe(const RecordedEvent& event, const std::string& subject,
                     const std::function<std::string(const std::string&)>& name,
                     const std::function<std::string(const std::string&)>& groupName,
                     const std::function<std::string(const std::string&)>& resourceName,
                     const std::map<std::string, std::size_t>& transferred) {
  return std::visit(
      Overloaded{
          [&](const CompanyProvisioned& e) {
            return "company " + e.slug + " (" + e.name + ") provisioned with " + name(e.ownerId) +
                   " as owner";
          },
          [&](const OwnershipTransferred& e) {
            return "ownership passed from " + name(e.fromUserId) + " to " + name(e.toUserId);
          },
          [&](const UsersImported& e) {
            return "imported " + plural(e.userIds.size(), "user", "users");
          },
          [&](const IdentityProviderChanged& e) {
            return "identity provider set to " + e.provider;
          },
          [&](const UserCreated& e) {
            // An anonymized person's details read once, not as "anonymized anonymized
            // <anonymized>, anonymized".
            std::string s = e.email.shredded
                                ? std::string("created (details anonymized)")
                                : "created as " + personal(e.givenName) + " " + personal(e.surname) +
                                      " <" + personal(e.email) + ">, " + personal(e.jobTitle);
            if (e.managerUserId)
              s += ", reporting to " + name(*e.managerUserId);
            else if (e.managerEmail)
              s += ", reporting to " +
                   (e.managerEmail->shredded ? std::string("anonymized") : "<" + personal(e.managerEmail) + ">");
            if (!e.active) s += ", inactive";
            if (e.importId) s += " (imported)";
            return s;
          },
          [&](const UserUpdated& e) {
            std::vector<std::string> changed;
            if (e.givenName) changed.push_back(changedTo("given name", *e.givenName));
            if (e.surname) changed.push_back(changedTo("surname", *e.surname));
            if (e.jobTitle) changed.push_back(changedTo("job title", *e.jobTitle));
            if (e.managerUserId)
              changed.push_back("manager (" + name(*e.managerUserId) + ")");
            else if (e.managerEmail)
              changed.push_back(e.managerEmail->shredded
                                    ? std::string("manager's email")
                                    : "manager's email <" + e.managerEmail->value + ">");
            if (e.country) changed.push_back("country (" + *e.country + ")");
            // A manager is kept as a user's id or as an email, never both: setting one
            // clears the other, which is no change of its own.
            for (const auto& c : e.cleared) {
              if ((c == "managerEmail" && e.managerUserId) || (c == "managerUserId" && e.managerEmail))
                continue;
              changed.push_back(
                  (c == "managerEmail" || c == "managerUserId" ? std::string("manager") : c) + " cleared");
            }
            std::string s = "details changed:";
            for (std::size_t i = 0; i < changed.size(); ++i) s += (i ? ", " : " ") + changed[i];
            return s;
          },
          [&](const UserDeactivated& e) {
            std::string s = "deactivated";
            if (e.transferredTo) {
              auto n = transferred.find(event.envelope.commandId);
              s += "; " + plural(n == transferred.end() ? 0 : n->second, "resource", "resources") +
                   " transferred to " + name(*e.transferredTo);
            }
            return s;
          },
          [&](const UserReactivated&) { return std::string("reactivated"); },
          [&](const UserAnonymized&) { return std::string("anonymized (personal data erased)"); },
          [&](const AdminIncluded&) { return std::string("made an administrator"); },
          [&](const AdminRemoved& e) { return "no longer an administrator (" + e.reason + ")"; },
          [&](const RoleGranted& e) { return "granted the role " + e.role + " in " + e.service; },
          [&](const RoleRevoked& e) { return "lost the role " + e.role + " in " + e.service; },
          [&](const ResourceAssigned& e) {
            return "given " + theResource(e.kind, e.name, e.service);
          },
          [&](const ResourceReleased& e) {
            if (!e.kind || !e.name || !e.service) return "resource " + e.resourceId + " released";
            std::string s = theResource(*e.kind, *e.name, *e.service) + " released";
            if (e.ownerId && *e.ownerId != subject) s += " (held by " + name(*e.ownerId) + ")";
            return s;
          },
          [&](const ResourcesTransferred& e) {
            // What went, by kind: the deactivation that follows in the same command
            // counts them ("deactivated; 2 resources transferred to ..."), and a count
            // here too read as a second transfer.
            std::string what;
            if (e.resources.size() > kResourcesNamedAtMost) {
              what = resourceKinds(e.resources);
              // Merges said in the count too (a review: a permission merged into the
              // recipient's read as one handed over, past ten resources).
              if (const auto merged =
                      std::count_if(e.resources.begin(), e.resources.end(),
                                    [](const auto& r) { return r.mergedInto.has_value(); });
                  merged > 0)
                what += " (" + std::to_string(merged) + " merged into the one" +
                        (merged == 1 ? "" : "s") + " " + name(e.toUserId) + " held)";
            } else {
              for (const auto& r : e.resources)
                what +=
                    (what.empty() ? "" : ", ") + resourceName(r.resourceId) +
                    (r.mergedInto ? " (merged into the one " + name(e.toUserId) + " held)" : "");
            }
            if (subject == e.toUserId) return "received from " + name(e.fromUserId) + ": " + what;
            if (subject == e.fromUserId) return "handed over to " + name(e.toUserId) + ": " + what;
            return "handed over from " + name(e.fromUserId) + " to " + name(e.toUserId) + ": " +
                   what;
          },
          [&](const GroupCreated& e) { return "group '" + e.name + "' created"; },
          [&](const GroupRenamed& e) {
            return "group " + (e.previousName ? "'" + *e.previousName + "' " : std::string()) +
                   "renamed to '" + e.name + "'";
          },
          [&](const GroupDeleted& e) {
            // Named as its stream last named it (the deletion's own name among them).
            return "group " + groupName(e.groupId) + " deleted";
          },
          [&](const GroupMemberAdded& e) { return "added to the group " + groupName(e.groupId); },
          [&](const GroupMemberRemoved& e) {
            return "removed from the group " + groupName(e.groupId);
          },
          [&](const PasswordSet& e) {
            return std::string(e.temporary ? "temporary password set (" : "password set (") +
                   e.reason + ")";
          },
          [&](const PasswordResetRequested&) { return std::string("password reset requested"); },
          [&](const PasswordResetCompleted&) { return std::string("password reset completed"); },
          [&](const LoginSucceeded& e) {
            return "signed in" + (e.clientAddress ? " from " + personal(e.clientAddress) : "") +
                   (e.passwordHash ? " (password hash made again at the server's cost)" : "");
          },
          [&](const LoginFailed& e) {
            return "sign-in refused (" + e.reason + ")" +
                   (e.clientAddress ? " from " + personal(e.clientAddress) : "");
          },
      },
      event.data);
}

bool inTime(const RecordedEvent& e, const std::optional<Timestamp>& since,
            const std::optional<Timestamp>& until) {
  return (!since || e.envelope.occurredAt >= *since) && (!until || e.envelope.occurredAt <= *until);
}

// What `match` finds in the first event of type E after `after` that it finds
// something in (the last such event when `last`): for a name the serving view, being
// behind the log, lacks.
template <class E, class Match>
Result<std::optional<std::string>> foundInLog(const EventStore& store, std::uint64_t after,
                                              bool last, Match match) {
  std::optional<std::string> found;
  std::optional<Error> failure;
  auto r = store.scan(after + 1, ~std::uint64_t{0}, [&](const RawEvent& raw) {
    if (peekEventType(raw.json) != E::kType) return true;
    auto ev = store.decode(raw);
    if (!ev) return failure = ev.error(), false;
    if (const auto* e = std::get_if<E>(&ev->data))
      if (auto m = match(ev->envelope, *e)) found = std::move(m);
    return last || !found;
  });
  if (!r) return r.error();
  if (failure) return *failure;
  return found;
}

}  // namespace

Result<std::unique_ptr<ReplayLog>> ReplayLog::open(const std::string& dataDir) {
  StoreOptions o;
  o.path = dataDir;
  o.readOnly = true;
  o.checkHashes = true;  // an edited event is refused, not shown as the record
  // A running server holds its file deletions while the files are opened (its
  // flushes under a heavy load start a new MANIFEST every moment); it answers at
  // once, also during a rebuild or a compaction it runs.
  o.holdFiles = [socket = operatorSocketPath(dataDir)] {
    return holdServerFiles(socket, std::chrono::seconds(3));
  };
  auto store = EventStore::open(o);
  if (!store) return store.error();
  std::unique_ptr<ReplayLog> log(new ReplayLog());
  log->store_ = std::move(*store);
  return log;
}

Result<std::string> ReplayLog::companyId(const std::string& given) {
  const std::string slug = slugOf(given);
  CredentialsProjection credentials;
  auto view = servingProjection(*store_, credentials);
  std::uint64_t after = 0;
  if (view) {
    CredentialsReader reader(store_->db(), view->families, nullptr);
    if (auto c = reader.companyBySlug(slug)) return c->id;
    after = view->checkpoint;
  }
  // Provisioned after the view's checkpoint (or the view not built): the log says.
  auto found = foundInLog<CompanyProvisioned>(
      *store_, after, false,
      [&](const EventEnvelope&, const CompanyProvisioned& p) -> std::optional<std::string> {
        if (p.slug == slug) return p.companyId;
        return std::nullopt;
      });
  if (!found) return found.error();
  if (!*found) return makeError(ErrorCode::kNotFound, "there is no company '" + slug + "'");
  return **found;
}

Result<std::string> ReplayLog::userId(const std::string& companyId, const std::string& emailOrId) {
  if (emailOrId.find('@') != std::string::npos) {
    const std::string key = emailKey(emailOrId);
    CredentialsProjection credentials;
    auto view = servingProjection(*store_, credentials);
    // Created after the view's checkpoint (or the view not built): the log says,
    // first, since two people may have addresses that are one (NFC, UTS #46), and
    // the later one is the user the address names, as for sign-in. An anonymized
    // person's email opens to nothing.
    auto found = foundInLog<UserCreated>(
        *store_, view ? view->checkpoint : 0, true,
        [&](const EventEnvelope& env, const UserCreated& u) -> std::optional<std::string> {
          if (env.companyId == companyId && !u.email.shredded && emailKey(u.email.value) == key)
            return u.userId;
          return std::nullopt;
        });
    if (!found) return found.error();
    if (*found) return **found;
    if (view) {
      CredentialsReader reader(store_->db(), view->families, nullptr);
      if (auto a = reader.accountByEmail(companyId, key)) return a->userId;
    }
    return makeError(ErrorCode::kNotFound, "there is no user with the email " + emailOrId +
                                               " in this company (an anonymized user is found "
                                               "by id only)");
  }
  // Ids are written in lower case; a UUID typed in upper case is the same id.
  const std::string id = uuidOf(emailOrId).value_or(emailOrId);
  auto found = isUser(companyId, id);
  if (!found) return found.error();
  if (!*found)
    return makeError(ErrorCode::kNotFound, "there is no user '" + id + "' in this company");
  return id;
}

Result<std::string> ReplayLog::actorId(const std::string& companyId, const std::string& given) {
  if (asciiLower(trim(given)) == kSystemActor) return std::string(kSystemActor);
  const auto id = uuidOf(given);
  if (!id)
    return makeError(ErrorCode::kInvalidArgument,
                     "an actor is a user's id (a UUID) or system, not '" + given + "'");
  auto found = isUser(companyId, *id);
  if (!found) return found.error();
  if (!*found)
    return makeError(
        ErrorCode::kNotFound,
        "there is no user '" + *id + "' " + (companyId.empty() ? "in the log" : "in this company"));
  return *id;
}

Result<bool> ReplayLog::isUser(const std::string& companyId, const std::string& id) {
  UsersProjection users;
  if (auto view = servingProjection(*store_, users); view && !companyId.empty()) {
    UsersReader reader(store_->db(), view->families[UsersProjection::kRows],
                       view->families[UsersProjection::kSearch]);
    if (reader.row(companyId, id)) return true;
  }
  // Not in the view (yet), or any company's: a user whose stream exists (and belongs
  // to the company).
  auto positions = store_->streamPositions(userStream(id));
  if (!positions) return positions.error();
  if (positions->empty()) return false;
  if (companyId.empty()) return true;
  auto first = store_->readAt(positions->front());
  if (!first) return first.error();
  return first->envelope.companyId == companyId;
}

Result<std::vector<std::pair<std::uint64_t, std::string>>> ReplayLog::groupNames(
    const std::string& groupId) {
  std::vector<std::pair<std::uint64_t, std::string>> names;
  auto positions = store_->streamPositions(groupStream(groupId));
  if (!positions) return positions.error();
  for (std::uint64_t position : *positions) {
    // Most of a group's events are its members coming and going: those are not
    // decoded.
    auto json = store_->readJson(position);
    if (!json) return json.error();
    const auto type = peekEventType(*json);
    if (type && *type != GroupCreated::kType && *type != GroupRenamed::kType &&
        *type != GroupDeleted::kType)
      continue;
    auto event = store_->readAt(position);
    if (!event) return event.error();
    std::optional<std::string> name;
    if (const auto* c = std::get_if<GroupCreated>(&event->data)) name = c->name;
    else if (const auto* r = std::get_if<GroupRenamed>(&event->data)) name = r->name;
    else if (const auto* d = std::get_if<GroupDeleted>(&event->data)) name = d->name;
    if (name) names.emplace_back(position, *name);
  }
  return names;
}

Result<void> ReplayLog::indexed(const std::string& companyId, char kind, const std::string& id,
                                const std::function<bool(const RecordedEvent&)>& tail,
                                const std::function<bool(const RecordedEvent&)>& fn) {
  AuditProjection audit;
  std::uint64_t after = 0;
  if (auto view = servingProjection(*store_, audit)) {
    after = view->checkpoint;
    std::string prefix = companyPrefix(companyId);
    prefix.push_back(kind);
    if (kind != 'a') {
      prefix += id;
      prefix.push_back('\0');
    }
    std::unique_ptr<rocksdb::Iterator> it(
        store_->db()->NewIterator(rocksdb::ReadOptions(), view->families[0]));
    EventStore::Cursor events(*store_);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().size() != prefix.size() + 8) continue;  // a longer id sharing the prefix
      const std::uint64_t position =
          positionFromBytes(std::string_view(it->key().data() + prefix.size(), 8));
      if (position > after) break;
      auto event = events.at(position);
      if (!event) return event.error();
      if (!fn(*event)) return {};
    }
    if (!it->status().ok())
      return makeError(ErrorCode::kIoError, "reading the audit index failed: " + it->status().ToString());
  }
  // What the index has not reached yet (or everything, when it was never built).
  std::optional<Error> failure;
  auto r = store_->scan(after + 1, ~std::uint64_t{0}, [&](const RawEvent& raw) {
    auto ev = store_->decode(raw);
    if (!ev) return failure = ev.error(), false;
    if (ev->envelope.companyId != companyId || !tail(*ev)) return true;
    return fn(*ev);
  });
  if (!r) return r.error();
  if (failure) return *failure;
  return {};
}

std::string ReplayLog::displayName(const std::string& companyId, const std::string& id) {
  if (id == kSystemActor) return std::string(kSystemActor);
  UsersProjection users;
  if (auto view = servingProjection(*store_, users)) {
    UsersReader reader(store_->db(), view->families[UsersProjection::kRows],
                       view->families[UsersProjection::kSearch]);
    if (std::string name = reader.displayName(companyId, id); !name.empty()) return name;
  }
  return id;  // not in the view (yet): the id says who
}

Result<void> ReplayLog::timeline(const std::string& companyId, const std::string& userId,
                                 bool jsonLines, const LineSink& out) {
  std::map<std::string, std::string> names;
  auto name = [&](const std::string& id) -> std::string {
    auto it = names.find(id);
    if (it == names.end()) it = names.emplace(id, displayName(companyId, id)).first;
    return it->second;
  };
  // A group is named as it was at the entry (its stream's names, read once each),
  // also once it is renamed or deleted: the groups view holds its name now, or none.
  std::map<std::string, std::vector<std::pair<std::uint64_t, std::string>>> groups;
  std::map<std::string, std::string> groupShown;  // the name this timeline last gave it
  std::optional<Error> failure;
  std::uint64_t at = 0;  // the position of the entry being described
  auto groupName = [&](const std::string& id) -> std::string {
    auto it = groups.find(id);
    if (it == groups.end()) {
      auto names = groupNames(id);
      if (!names) {
        failure = names.error();
        return id;
      }
      it = groups.emplace(id, std::move(*names)).first;
    }
    std::string found = id;
    for (const auto& [position, name] : it->second)
      if (position <= at) found = "'" + name + "'";
    // Renamed since this timeline last named it: the old name links the two.
    std::string& shown = groupShown[id];
    const std::string before = shown;
    shown = found;
    return before.empty() || before == found ? found : found + " (renamed from " + before + ")";
  };
  // A resource as it was given, once each: from the resources view while it holds it
  // (a resource is never renamed), else from its ResourceAssigned through the audit
  // index by subject (only when that index serves: without it, each would be a read
  // of the whole log); its id when neither has it.
  std::map<std::string, std::string> resources;
  ResourcesProjection resourcesProjection;
  AuditProjection auditProjection;
  const auto resourcesView = servingProjection(*store_, resourcesProjection);
  const bool auditServes = static_cast<bool>(servingProjection(*store_, auditProjection));
  auto resourceName = [&](const std::string& id) -> std::string {
    if (auto it = resources.find(id); it != resources.end()) return it->second;
    std::string found = "resource " + id;
    if (resourcesView) {
      ListReader reader(store_->db(), resourcesView->families[0], nullptr);
      if (auto row = reader.row(companyId, id)) {
        const nlohmann::json r = nlohmann::json::parse(*row, nullptr, false);
        if (r.is_object())
          return resources
              .emplace(
                  id, theResource(r.value("kind", ""), r.value("name", ""), r.value("service", "")))
              .first->second;
      }
    }
    if (!auditServes) return resources.emplace(id, found).first->second;
    auto r = indexed(
        companyId, 's', id,
        [&](const RecordedEvent& e) {
          const auto subjects = auditSubjects(e.data);
          return std::find(subjects.begin(), subjects.end(), id) != subjects.end();
        },
        [&](const RecordedEvent& e) {
          const auto* given = std::get_if<ResourceAssigned>(&e.data);
          if (!given || given->resourceId != id) return true;
          found = theResource(given->kind, given->name, given->service);
          return false;
        });
    if (!r) failure = r.error();
    return resources.emplace(id, found).first->second;
  };
  std::map<std::string, std::size_t> transferred;  // by command id
  auto about = [&](const RecordedEvent& e) {
    const auto subjects = auditSubjects(e.data);
    return std::find(subjects.begin(), subjects.end(), userId) != subjects.end();
  };
  auto r = indexed(companyId, 's', userId, about, [&](const RecordedEvent& e) {
    if (const auto* t = std::get_if<ResourcesTransferred>(&e.data))
      transferred[e.envelope.commandId] += t->resources.size();
    at = e.envelope.position;
    const std::string summary = describe(e, userId, name, groupName, resourceName, transferred);
    if (failure) return false;
    const std::string actor = name(e.envelope.actor);
    if (!jsonLines) {
      out(formatRfc3339(e.envelope.occurredAt) + "  " + actor + "  " + summary);
      return true;
    }
    std::string line;
    JsonWriter w(line);
    w.beginObject();
    w.key("position");
    w.number(e.envelope.position);
    w.key("occurredAt");
    w.string(formatRfc3339(e.envelope.occurredAt));
    w.key("type");
    w.string(e.envelope.type);
    w.key("actor");
    w.beginObject();
    w.key("id");
    w.string(e.envelope.actor);
    w.key("name");
    w.string(actor);
    w.endObject();
    w.key("summary");
    w.string(summary);
    w.key("data");
    w.raw(dataToJson(e.data));
    w.endObject();
    out(line);
    return true;
  });
  if (!r) return r.error();
  if (failure) return *failure;
  return {};
}

Result<void> ReplayLog::asOf(const std::string& companyId, Timestamp at, const std::string& view,
                             const LineSink& out, std::optional<Timestamp>* firstEventAt) {
  if (view != "users" && view != "admins")
    return makeError(ErrorCode::kInvalidArgument, "the view must be users or admins");
  // The administrators view shows each administrator as the users view shows them.
  UsersProjection users;
  AdminsProjection admins;
  MemoryRows userRows(users.families().size()), adminRows(admins.families().size());
  std::uint64_t applied = 0;
  std::optional<Error> failure;
  auto r = indexed(
      companyId, 'a', {}, [](const RecordedEvent&) { return true; },
      [&](const RecordedEvent& e) {
        if (firstEventAt && !*firstEventAt) *firstEventAt = e.envelope.occurredAt;
        if (e.envelope.occurredAt > at) return false;
        for (auto [projection, rows] : {std::pair<Projection*, MemoryRows*>{&users, &userRows},
                                        {&admins, &adminRows}}) {
          if (!projection->handles().count(e.envelope.type)) continue;
          if (auto a = projection->apply(e, *rows); !a) {
            failure = makeError(a.error().code, projection->name() + " stopped at event " +
                                                    std::to_string(e.envelope.position) + ": " +
                                                    a.error().message);
            return false;
          }
        }
        applied = e.envelope.position;
        return true;
      });
  if (!r) return r.error();
  if (failure) return *failure;

  const std::string prefix = companyPrefix(companyId);
  auto rowOf = [&](const std::string& id) { return userRows.get(UsersProjection::kRows, prefix + id); };
  std::string line;
  JsonWriter w(line);
  w.beginObject();
  w.key("view");
  w.string(view);
  w.key("at");
  w.string(formatRfc3339(at));
  w.key("position");
  w.number(applied);
  w.key("items");
  w.beginArray();
  if (view == "users") {
    // In the users list's order: the search family's keys end with the user id.
    userRows.scan(UsersProjection::kSearch, prefix, [&](std::string_view key, std::string_view) {
      if (auto row = rowOf(std::string(key.substr(key.rfind('\0') + 1))))
        w.raw(renderUserRow(*row, rowOf));
      return true;
    });
  } else {
    adminRows.scan(0, prefix, [&](std::string_view key, std::string_view row) {
      auto user = rowOf(std::string(key.substr(prefix.size())));
      w.raw(adminEntryJson(user ? renderUserRow(*user, rowOf) : "null", row));
      return true;
    });
  }
  w.endArray();
  w.endObject();
  out(line);
  return {};
}

Result<void> ReplayLog::events(const EventFilter& f, const LineSink& out) {
  const std::uint64_t from = std::max<std::uint64_t>(f.from, 1);
  if (f.to != 0 && f.to < from) return {};
  const std::uint64_t limit = f.to == 0 ? ~std::uint64_t{0} : f.to - from + 1;
  std::optional<Error> failure;
  auto r = store_->scan(from, limit, [&](const RawEvent& raw) {
    if (!f.type.empty()) {
      // Most events are skipped by type without decoding them, but not without
      // checking their hash: an edited event (its type among what was edited) would
      // drop out of the answer, which would then pass for the record.
      auto type = peekEventType(raw.json);
      if (type && *type != f.type) {
        if (auto checked = store_->checkHash(raw); !checked)
          return failure = checked.error(), false;
        return true;
      }
    }
    auto ev = store_->decode(raw);
    if (!ev) return failure = ev.error(), false;
    const EventEnvelope& e = ev->envelope;
    if ((!f.companyId.empty() && e.companyId != f.companyId) || (!f.type.empty() && e.type != f.type) ||
        (!f.actor.empty() && e.actor != f.actor) || !inTime(*ev, f.since, f.until))
      return true;
    out(eventToJson(*ev));
    return true;
  });
  if (!r) return r.error();
  if (failure) return *failure;
  return {};
}

}  // namespace portal
