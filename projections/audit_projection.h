#pragma once
// The audit index: every event of a company, findable by subject, actor, type and
// time, newest first. The entries themselves are read from the log, so they show
// personal fields through the key vault ("anonymized" once shredded) and survive
// deactivation and anonymization like the log does.
//
// Family "index": company, NUL, then one of
//   'a' position                    every event
//   's' subject id, NUL, position   each person, group or resource it is about
//   'u' actor id, NUL, position     who did it
//   't' type, NUL, position         what happened
// -> "" (the key is the whole row).

#include <optional>
#include <string>
#include <vector>

#include "events/timestamp.h"
#include "projections/projection.h"
#include "projections/users_projection.h"
#include "src/store/event_store.h"

namespace portal {

class AuditProjection final : public Projection {
 public:
  // v2: an import is filed under its id (UsersImported's subject); v1 left it out.
  static constexpr const char* kName = "audit_v2";
  std::string name() const override { return kName; }
  std::vector<std::string> families() const override { return {"index"}; }
  const std::set<std::string_view>& handles() const override;
  Result<void> apply(const RecordedEvent& event, RowView& rows) override;
  // Every key holds the event's position, and nothing is read back.
  bool eventsIndependent() const override { return true; }
};

// The ids an event is about, most important first (a user, a group, a resource).
std::vector<std::string> auditSubjects(const EventData& data);

struct AuditQuery {
  std::string subject, actor, type;
  std::optional<Timestamp> from, to;  // inclusive
  std::size_t limit = 50;
  std::uint64_t before = 0;  // cursor: only positions below it (0: from the newest)
};

struct AuditPage {
  std::vector<std::string> items;  // entries as API JSON
  std::uint64_t nextBefore = 0;    // 0 at the end
};

// Reads of the audit trail; thread-safe.
class AuditReader {
 public:
  // `users` carries the pin that keeps the generation of `index` alive.
  // `timesOrdered`: no event of the log is stamped earlier than one before it
  // (CommandProcessor::timesOrdered), so that `to` is found by a binary search of
  // the log and the walk back stops at the first event before `from`; otherwise
  // every older entry is looked at.
  AuditReader(const EventStore& store, rocksdb::ColumnFamilyHandle* index, UsersReader users,
              bool timesOrdered = false)
      : store_(store), index_(index), users_(std::move(users)), timesOrdered_(timesOrdered) {}
  Result<AuditPage> list(const std::string& companyId, const AuditQuery& query) const;

 private:
  // The last position stamped at or before `t` (0: none), by a binary search.
  Result<std::uint64_t> lastAtOrBefore(Timestamp t) const;

  const EventStore& store_;
  rocksdb::ColumnFamilyHandle* index_;
  UsersReader users_;
  bool timesOrdered_;
};

}  // namespace portal
