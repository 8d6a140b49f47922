#include "src/app/sessions.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "events/log.h"
#include "src/store/event_store.h"

namespace portal {
namespace {

// lastSeen is written back at most this often: a sign-in survives a restart with
// its idle time counted from at most a minute before it was last used.
constexpr std::int64_t kPersistEveryMicros = 60LL * 1'000'000;
constexpr std::int64_t kSweepEveryMicros = 60LL * 1'000'000;

std::string encode(const Session& s) {
  return nlohmann::json{
      {"companyId", s.companyId},        {"userId", s.userId},
      {"createdAt", s.createdAt.micros}, {"lastSeen", s.lastSeen.micros},
      {"expiresAt", s.expiresAt.micros}, {"mustChangePassword", s.mustChangePassword},
      {"passwordChangedAt", s.passwordChangedAt.micros}}
      .dump();
}

std::string userKey(std::string_view companyId, std::string_view userId) {
  return std::string(companyId) + '\0' + std::string(userId);
}
std::string userKey(const Session& s) { return userKey(s.companyId, s.userId); }

}  // namespace

void SessionStore::hold(Session s) {
  forget(s.tokenHash);
  s.taken = ++taken_;
  byUser_[userKey(s)].emplace(s.createdAt.micros, s.taken, s.tokenHash);
  const std::string hash = s.tokenHash;
  sessions_[hash] = std::move(s);
}

void SessionStore::forget(const std::string& tokenHash) {
  auto it = sessions_.find(tokenHash);
  if (it == sessions_.end()) return;
  if (auto user = byUser_.find(userKey(it->second)); user != byUser_.end()) {
    user->second.erase({it->second.createdAt.micros, it->second.taken, tokenHash});
    if (user->second.empty()) byUser_.erase(user);
  }
  sessions_.erase(it);
}

SessionStore::SessionStore(EventStore& store, rocksdb::ColumnFamilyHandle* family,
                           SessionLimits limits)
    : store_(store), db_(store.db()), family_(family), limits_(limits) {}

Result<void> SessionStore::load(Timestamp now) {
  std::lock_guard lock(mu_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), family_));
  std::vector<std::string> expired;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    auto j = nlohmann::json::parse(it->value().ToString(), nullptr, false);
    Session s;
    if (!j.is_discarded()) {
      s.tokenHash = key;
      s.companyId = j.value("companyId", "");
      s.userId = j.value("userId", "");
      s.createdAt = Timestamp{j.value("createdAt", std::int64_t{0})};
      s.lastSeen = Timestamp{j.value("lastSeen", std::int64_t{0})};
      s.savedLastSeen = s.lastSeen;
      s.expiresAt = Timestamp{j.value("expiresAt", std::int64_t{0})};
      s.mustChangePassword = j.value("mustChangePassword", false);
      s.passwordChangedAt = Timestamp{j.value("passwordChangedAt", std::int64_t{0})};
    }
    if (j.is_discarded() || this->expired(s, now))
      expired.push_back(key);
    else
      hold(std::move(s));
  }
  if (!it->status().ok())
    return makeError(ErrorCode::kIoError, "cannot read the sessions: " + it->status().ToString());
  if (!expired.empty()) {
    rocksdb::WriteBatch batch;
    for (const auto& key : expired) batch.Delete(family_, key);
    (void)store_.write(batch);  // gone at the next load otherwise
  }
  lastSweep_.store(now.micros, std::memory_order_relaxed);
  return {};
}

bool SessionStore::expired(const Session& s, Timestamp now) const {
  return now >= s.expiresAt || now.micros - s.lastSeen.micros >= limits_.idleMicros;
}

void SessionStore::sweepIfDue(Timestamp now) {
  if (now.micros - lastSweep_.load(std::memory_order_relaxed) < kSweepEveryMicros) return;
  std::vector<std::string> doomed;
  {
    std::lock_guard lock(mu_);
    if (now.micros - lastSweep_.load(std::memory_order_relaxed) < kSweepEveryMicros) return;
    lastSweep_.store(now.micros, std::memory_order_relaxed);
    for (const auto& [hash, s] : sessions_)
      if (expired(s, now)) doomed.push_back(hash);
    for (const auto& hash : doomed) forget(hash);
  }
  if (doomed.empty()) return;
  // One write, not synced, outside the lock (thousands may end at once): a restart's
  // load drops an expired session all the same.
  rocksdb::WriteBatch batch;
  for (const auto& hash : doomed) batch.Delete(family_, hash);
  if (const rocksdb::Status st = store_.write(batch); !st.ok())
    logLine("sessions: cannot record the end of expired sessions: " + st.ToString());
}

void SessionStore::persist(Session& s) {
  // Only the idle time and a password change's mark: lost, a restart counts the idle
  // time from earlier, or ends the session (the log's password time is newer).
  const rocksdb::Status st = store_.put(family_, s.tokenHash, encode(s));
  if (!st.ok())
    logLine("sessions: cannot record a session: " + st.ToString());
  else
    s.savedLastSeen = s.lastSeen;
}

void SessionStore::erase(const std::string& tokenHash) {
  forget(tokenHash);
  const rocksdb::Status st = store_.erase(family_, tokenHash);
  if (!st.ok()) logLine("sessions: cannot record a session's end: " + st.ToString());
}

Result<void> SessionStore::add(const Session& session) {
  const rocksdb::Status st = store_.put(family_, session.tokenHash, encode(session));
  if (!st.ok())
    return makeError(ErrorCode::kIoError, "cannot record the session: " + st.ToString());
  sweepIfDue(session.createdAt);
  std::lock_guard lock(mu_);
  Session added = session;
  added.savedLastSeen = added.lastSeen;
  hold(std::move(added));
  // Past the most a user holds: their oldest ends (not synced; a restart's load
  // would end it again at the user's next sign-in). Never this one, which a slow
  // sign-in's creation time (taken before its hash was checked) could make the
  // oldest: it was answered 201 and failed at its first use (a review).
  if (const auto& theirs = byUser_[userKey(session)]; theirs.size() > limits_.perUser)
    for (const auto& [created, taken, token] : theirs)
      if (token != session.tokenHash) {
        erase(std::string(token));
        break;
      }
  return {};
}

std::optional<Session> SessionStore::use(const std::string& tokenHash, Timestamp now) {
  sweepIfDue(now);
  std::lock_guard lock(mu_);
  auto it = sessions_.find(tokenHash);
  if (it == sessions_.end()) return std::nullopt;
  Session& s = it->second;
  if (expired(s, now)) {
    erase(tokenHash);
    return std::nullopt;
  }
  s.lastSeen = now;
  if (now.micros - s.savedLastSeen.micros >= kPersistEveryMicros) persist(s);
  return s;
}

Result<void> SessionStore::remove(const std::string& tokenHash, bool durable) {
  {
    std::lock_guard lock(mu_);
    // The end recorded first: one that cannot be keeps the session, so that the
    // sign-out can be tried again (ended in memory only, it would come back at the
    // next restart while a retry got 401).
    const rocksdb::Status st = store_.erase(family_, tokenHash);
    if (!st.ok()) {
      logLine("sessions: cannot record a session's end: " + st.ToString());
      return makeError(ErrorCode::kIoError,
                       "the session's end cannot be recorded: " + st.ToString());
    }
    forget(tokenHash);
  }
  if (durable) return makeDurable();
  return {};
}

// The database buffers its WAL in memory (manual_wal_flush) until the event log's
// next commit writes it out: a session ended just before a crash on an idle server
// would come back at the restart. A failure here is the log's too, which stops it.
Result<void> SessionStore::makeDurable() {
  const rocksdb::Status st = store_.flushWal(true);
  if (st.ok()) return {};
  logLine("sessions: cannot sync the sessions' changes: " + st.ToString());
  return makeError(ErrorCode::kIoError, "the sessions' changes cannot be synced: " + st.ToString());
}

void SessionStore::removeUser(const std::string& companyId, const std::string& userId,
                              const std::string& keep, bool durable) {
  std::unique_lock lock(mu_);
  std::vector<std::string> doomed;
  if (auto theirs = byUser_.find(userKey(companyId, userId)); theirs != byUser_.end())
    for (const auto& [created, taken, hash] : theirs->second)
      if (hash != keep) doomed.push_back(hash);
  for (const auto& hash : doomed) erase(hash);
  lock.unlock();
  if (durable) (void)makeDurable();  // a failure is said on stderr
}

std::size_t SessionStore::removeWhere(const std::function<bool(const Session&)>& ended) {
  std::unique_lock lock(mu_);
  std::vector<std::string> doomed;
  for (const auto& [hash, s] : sessions_)
    if (ended(s)) doomed.push_back(hash);
  for (const auto& hash : doomed) erase(hash);
  lock.unlock();
  if (!doomed.empty()) (void)makeDurable();
  return doomed.size();
}

void SessionStore::passwordChanged(const std::string& tokenHash, Timestamp at) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(tokenHash);
  if (it == sessions_.end()) return;
  it->second.mustChangePassword = false;
  it->second.passwordChangedAt = at;
  persist(it->second);
}

std::size_t SessionStore::countLive(Timestamp now) {
  sweepIfDue(now);
  return size();
}

std::size_t SessionStore::size() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace portal
