#pragma once
// Signed-in sessions: opaque bearer tokens of which only the SHA-256 is kept, in
// memory and in the "sessions" family beside the log (so that a restart does not
// sign everybody out). A session ends after `idle` without use, at its absolute
// expiry, on sign-out, and at once for every session of a user who is deactivated,
// anonymized or changes their password. Sessions left to expire (a closed browser, a
// script that drops its token) are swept out once a minute by the next add or use, so
// that memory holds the live ones (a review).
//
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "events/result.h"
#include "events/timestamp.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace portal {

class EventStore;

struct SessionLimits {
  std::int64_t idleMicros = 30LL * 60 * 1'000'000;        // 30 minutes
  std::int64_t absoluteMicros = 12LL * 3600 * 1'000'000;  // 12 hours
  // Sessions a user holds at once: a sign-in past it ends their oldest (a script
  // with a valid password made 35,000, each in memory until it expired: a review).
  std::size_t perUser = 100;
};

struct Session {
  std::string tokenHash, companyId, userId;
  Timestamp createdAt, lastSeen, expiresAt;
  bool mustChangePassword = false;
  // When the password was changed through this session, which outlives that change
  // (every other session of the user ends); 0: not changed through it.
  Timestamp passwordChangedAt{0};
  // The lastSeen last written to disk (memory only): the next write is due a minute
  // after it. (Compared with the lastSeen in memory, which every request moves on, a
  // session used more often than once a minute was never written again, and a
  // restart ended it as idle since its sign-in.)
  Timestamp savedLastSeen{0};
  // The order in which the store took it in (memory only): sessions begun in one
  // microsecond are told apart.
  std::uint64_t taken = 0;
};

class SessionStore {
 public:
  SessionStore(EventStore& store, rocksdb::ColumnFamilyHandle* family, SessionLimits limits);
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // Loads the stored sessions, dropping the expired ones.
  Result<void> load(Timestamp now);

  const SessionLimits& limits() const { return limits_; }

  Result<void> add(const Session& session);
  // The live session of this token hash, its idle time restarted; nullopt when
  // unknown or expired (an expired one is removed).
  std::optional<Session> use(const std::string& tokenHash, Timestamp now);
  // remove and removeUser: the ended sessions stay ended after a crash (the WAL is
  // written out and synced before they return), as a sign-out is expected to.
  // `durable` false: in memory and the WAL's buffer only, for callers that must not
  // wait for a disk (a network thread, the projector's) and whose removal the log
  // decides anyway, or that call makeDurable() elsewhere.
  // An error when the end cannot be recorded: the session is kept then, so that
  // the sign-out can be tried again (or, when only the sync failed, ended here but
  // it may come back after a restart).
  Result<void> remove(const std::string& tokenHash, bool durable = true);
  // Ends every session of the user but `keep` (a token hash, or empty).
  void removeUser(const std::string& companyId, const std::string& userId,
                  const std::string& keep = {}, bool durable = true);
  // Writes out and syncs the removals made so far.
  Result<void> makeDurable();
  // The password was changed through this session at `at`.
  void passwordChanged(const std::string& tokenHash, Timestamp at);
  // Ends the sessions `ended` picks (at start, those a change the log holds ended
  // while the removal itself was lost to a crash); returns how many.
  std::size_t removeWhere(const std::function<bool(const Session&)>& ended);
  std::size_t size() const;
  // The live sessions: size() once the expired ones are swept out (for /metrics,
  // which an idle portal's scrapes read too).
  std::size_t countLive(Timestamp now);

 private:
  // Writes `s` and notes the lastSeen written.
  void persist(Session& s);
  // Ends the session at once; a removal that cannot be recorded is said on stderr.
  void erase(const std::string& tokenHash);
  // Takes the session into memory, or out of it (the sessions by user too).
  void hold(Session s);
  void forget(const std::string& tokenHash);
  bool expired(const Session& s, Timestamp now) const;
  // Ends every expired session when the last sweep is a minute old; takes mu_ only
  // then, and deletes them from the disk after letting it go.
  void sweepIfDue(Timestamp now);

  EventStore& store_;
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* family_;
  SessionLimits limits_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Session> sessions_;
  // Company, NUL, user id -> their sessions, oldest first (creation time, the order
  // taken in, token hash).
  std::unordered_map<std::string, std::set<std::tuple<std::int64_t, std::uint64_t, std::string>>>
      byUser_;
  std::uint64_t taken_ = 0;
  std::atomic<std::int64_t> lastSweep_{0};  // micros
};

}  // namespace portal
