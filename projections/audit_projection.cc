#include "projections/audit_projection.h"

#include "events/json_reader.h"
#include "events/text.h"
#include "events/timestamp.h"

#include <rocksdb/db.h>

#include "projections/row_json.h"

namespace portal {
namespace {

std::string indexKey(const std::string& company, char kind, std::string_view id,
                     std::uint64_t position) {
  std::string k = companyPrefix(company);
  k.push_back(kind);
  if (kind != 'a') {
    k.append(id);
    k.push_back('\0');
  }
  k += positionBytes(position);
  return k;
}

}  // namespace

std::vector<std::string> auditSubjects(const EventData& data) {
  return std::visit(
      Overloaded{
          [](const CompanyProvisioned& e) { return std::vector<std::string>{e.ownerId}; },
          [](const OwnershipTransferred& e) {
            return std::vector<std::string>{e.toUserId, e.fromUserId};
          },
          [](const UsersImported& e) { return std::vector<std::string>{e.importId}; },
          [](const IdentityProviderChanged&) { return std::vector<std::string>{}; },
          [](const ResourceAssigned& e) {
            return std::vector<std::string>{e.ownerId, e.resourceId};
          },
          [](const ResourceReleased& e) {
            // Its owner first, as an assignment's: the entry's subject is the person.
            std::vector<std::string> s;
            if (e.ownerId) s.push_back(*e.ownerId);
            s.push_back(e.resourceId);
            return s;
          },
          [](const ResourcesTransferred& e) {
            std::vector<std::string> s{e.fromUserId, e.toUserId};
            for (const auto& r : e.resources) {
              s.push_back(r.resourceId);
              // A permission merged into the recipient's own: in that one's history too.
              if (r.mergedInto) s.push_back(*r.mergedInto);
            }
            return s;
          },
          [](const GroupDeleted& e) {
            std::vector<std::string> s{e.groupId};
            if (e.memberIds) s.insert(s.end(), e.memberIds->begin(), e.memberIds->end());
            return s;
          },
          [](const GroupMemberAdded& e) {
            return std::vector<std::string>{e.userId, e.groupId};
          },
          [](const GroupMemberRemoved& e) {
            return std::vector<std::string>{e.userId, e.groupId};
          },
          [](const LoginFailed& e) {
            return e.userId ? std::vector<std::string>{*e.userId} : std::vector<std::string>{};
          },
          [](const PasswordResetRequested& e) {  // empty for an address of nobody
            return e.userId.empty() ? std::vector<std::string>{}
                                    : std::vector<std::string>{e.userId};
          },
          [](const auto& e) {
            if constexpr (requires { e.userId; })
              return std::vector<std::string>{e.userId};
            else if constexpr (requires { e.groupId; })
              return std::vector<std::string>{e.groupId};
            else
              return std::vector<std::string>{};
          },
      },
      data);
}

namespace {

// The name of a group or resource an event is about, where the event says it (the
// views may no longer: a group deleted, a resource released).
std::optional<std::string> nameInEvent(const EventData& data) {
  return std::visit(
      Overloaded{
          [](const GroupCreated& e) -> std::optional<std::string> { return e.name; },
          [](const GroupRenamed& e) -> std::optional<std::string> { return e.name; },
          [](const GroupDeleted& e) { return e.name; },
          [](const ResourceReleased& e) { return e.name; },
          [](const auto&) -> std::optional<std::string> { return std::nullopt; },
      },
      data);
}

}  // namespace

const std::set<std::string_view>& AuditProjection::handles() const {
  static const std::set<std::string_view> types(allEventTypeNames().begin(),
                                                allEventTypeNames().end());
  return types;
}

Result<void> AuditProjection::apply(const RecordedEvent& event, RowView& view) {
  const EventEnvelope& env = event.envelope;
  if (env.companyId.empty()) return {};
  view.put(0, indexKey(env.companyId, 'a', {}, env.position), "");
  for (const auto& s : auditSubjects(event.data))
    view.put(0, indexKey(env.companyId, 's', s, env.position), "");
  view.put(0, indexKey(env.companyId, 'u', env.actor, env.position), "");
  view.put(0, indexKey(env.companyId, 't', env.type, env.position), "");
  return {};
}

Result<std::uint64_t> AuditReader::lastAtOrBefore(Timestamp t) const {
  std::uint64_t low = 0, high = store_.lastPosition();  // answer in [low, high]
  while (low < high) {
    const std::uint64_t mid = low + (high - low + 1) / 2;
    // Only the envelope's time, from the stored text: another company's event is not
    // decoded (nor its personal data opened) to be stepped over.
    auto text = store_.readJson(mid);
    if (!text) return text.error();
    auto doc = JsonDocument::parse(*text);
    auto at = doc ? doc->member(doc->root(), "occurredAt") : std::nullopt;
    auto when = at && doc->node(*at).kind == JsonDocument::Kind::kString
                    ? parseRfc3339(doc->node(*at).text)
                    : std::nullopt;
    if (!when)
      return makeError(ErrorCode::kCorrupt,
                       "event " + std::to_string(mid) + " has no readable occurredAt");
    if (*when <= t) low = mid;
    else high = mid - 1;
  }
  return low;
}

Result<AuditPage> AuditReader::list(const std::string& companyId, const AuditQuery& q) const {
  // Walk the most selective index backwards; check the other filters on the event.
  std::string prefix = companyPrefix(companyId);
  if (!q.subject.empty()) prefix += 's' + q.subject + '\0';
  else if (!q.actor.empty()) prefix += 'u' + q.actor + '\0';
  else if (!q.type.empty()) prefix += 't' + q.type + '\0';
  else prefix += 'a';

  AuditPage page;
  std::uint64_t start = q.before == 0 ? ~std::uint64_t{0} : q.before - 1;
  if (q.to && timesOrdered_) {
    auto last = lastAtOrBefore(*q.to);
    if (!last) return last.error();
    if (*last == 0) return page;
    start = std::min(start, *last);
  }
  std::unique_ptr<rocksdb::Iterator> it(
      const_cast<EventStore&>(store_).db()->NewIterator(rocksdb::ReadOptions(), index_));
  it->SeekForPrev(prefix + positionBytes(start));
  std::uint64_t lastShown = 0;
  for (; it->Valid() && it->key().starts_with(prefix); it->Prev()) {
    const std::string_view key(it->key().data(), it->key().size());
    if (key.size() != prefix.size() + 8) continue;  // a longer id sharing the prefix
    const std::uint64_t position = positionFromBytes(key.substr(prefix.size()));
    auto event = store_.readAt(position);
    if (!event) return event.error();
    const EventEnvelope& env = event->envelope;
    if (env.companyId != companyId) continue;
    if (!q.actor.empty() && env.actor != q.actor) continue;
    if (!q.type.empty() && env.type != q.type) continue;
    if (q.from && env.occurredAt < *q.from) {
      if (timesOrdered_) break;  // every older entry is earlier still
      continue;
    }
    if (q.to && env.occurredAt > *q.to) continue;
    const auto subjects = auditSubjects(event->data);
    if (!q.subject.empty() &&
        std::find(subjects.begin(), subjects.end(), q.subject) == subjects.end())
      continue;
    if (page.items.size() == q.limit) {
      page.nextBefore = lastShown;
      return page;
    }
    const std::string subject = subjects.empty() ? std::string() : subjects.front();
    auto name = [&](const std::string& id) -> rows::json {
      if (id.empty()) return nullptr;
      if (id == kSystemActor) return "system";
      std::string n = users_.displayName(companyId, id);
      return n.empty() ? rows::json(nullptr) : rows::json(n);
    };
    rows::json subjectName = name(subject);
    if (subjectName.is_null())
      if (auto named = nameInEvent(event->data)) subjectName = *named;
    rows::json entry = {
        {"position", position},
        {"occurredAt", formatRfc3339(env.occurredAt)},
        {"type", env.type},
        {"actor", {{"id", env.actor}, {"name", name(env.actor)}}},
        {"subject", subject.empty() ? rows::json(nullptr)
                                    : rows::json{{"id", subject}, {"name", subjectName}}},
        {"data", rows::json::parse(dataToJson(event->data))},
    };
    page.items.push_back(entry.dump());
    lastShown = position;
  }
  return page;
}

}  // namespace portal
