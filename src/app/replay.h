#pragma once
// What portal-replay does, as library calls: an auditor's questions answered from
// the event log, opened read-only (a RocksDB secondary instance) beside a running
// server or on a stopped directory. Nothing here writes to the data directory.
//
//   verify    the hash chain (EventStore::verify)
//   timeline  every event about one user, oldest first, in words
//   asOf      the users or administrators view as it stood at a moment, replayed
//             into the projections' own code in memory
//   events    the log as JSON lines, filtered, streaming
//
// Output goes to a sink a line at a time, so that nothing grows with the log.
// Threads: a ReplayLog is used from one thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "events/result.h"
#include "events/timestamp.h"
#include "src/store/event_store.h"

namespace portal {

// Receives output one line at a time (without its newline).
using LineSink = std::function<void(std::string_view line)>;

class ReplayLog {
 public:
  // Opens `dataDir` read-only. kNotPortalData for a missing directory or one
  // without a portal log (one-line messages).
  static Result<std::unique_ptr<ReplayLog>> open(const std::string& dataDir);

  EventStore& store() { return *store_; }

  // The id of the company with this slug; kNotFound when there is none.
  Result<std::string> companyId(const std::string& slug);
  // The id of a user of the company given by email or id (a UUID in any case); kNotFound
  // when neither. An anonymized user is found by id only (their email is gone).
  Result<std::string> userId(const std::string& companyId, const std::string& emailOrId);
  // An actor as the log writes it: a user's id (a UUID in any case, answered in
  // lower case) when it is a user of the company (of any company when companyId is
  // empty), or "system". kInvalidArgument for anything else (an email: the log
  // names actors by id), kNotFound for an id that is nobody's.
  Result<std::string> actorId(const std::string& companyId, const std::string& given);

  // Every event about the user (as subject: created, changed, deactivated, given
  // resources, …), oldest first, one line each: time, who did it (a name, "system"
  // or "anonymized"), what happened. `jsonLines`: one JSON object a line instead,
  // {position, occurredAt, type, actor: {id, name}, summary, data}.
  // Answered from the audit index up to its checkpoint and the log after it, so it
  // does not read the whole log.
  Result<void> timeline(const std::string& companyId, const std::string& userId, bool jsonLines,
                        const LineSink& out);

  // The view ("users" or "admins") of the company as it stood at `at`: the
  // company's events up to the first one after `at` replayed, in log order, into
  // the same projection code the server runs (rows kept in memory). One line:
  // {"view", "at", "position" (the last event applied), "items": [...]}, items as
  // GET /api/v1/users and /api/v1/admins show them, in the same order.
  // `firstEventAt`: when the company's first event happened (set when it has one), so
  // that the tool can say that a view before it is empty for that reason.
  Result<void> asOf(const std::string& companyId, Timestamp at, const std::string& view,
                    const LineSink& out, std::optional<Timestamp>* firstEventAt = nullptr);

  struct EventFilter {
    std::string companyId, type, actor;
    std::uint64_t from = 1, to = 0;  // positions, inclusive; to = 0: the head
    std::optional<Timestamp> since, until;  // inclusive
  };
  // The events that pass the filter as JSON lines (eventToJson), in log order,
  // streaming: memory does not grow with the log.
  Result<void> events(const EventFilter& filter, const LineSink& out);

 private:
  ReplayLog() = default;
  // Calls fn for each event of the audit index's prefix (company, NUL, kind, id)
  // in position order, then for those after the index's checkpoint that `tail`
  // accepts; stops when fn returns false.
  Result<void> indexed(const std::string& companyId, char kind, const std::string& id,
                       const std::function<bool(const RecordedEvent&)>& tail,
                       const std::function<bool(const RecordedEvent&)>& fn);
  std::string displayName(const std::string& companyId, const std::string& id);
  // Whether `id` is a user of the company (of any company when it is empty).
  Result<bool> isUser(const std::string& companyId, const std::string& id);
  // The names a group had, with the position each was given at (GroupCreated,
  // GroupRenamed, and a GroupDeleted's), oldest first.
  Result<std::vector<std::pair<std::uint64_t, std::string>>> groupNames(const std::string& groupId);

  std::unique_ptr<EventStore> store_;
};

}  // namespace portal
