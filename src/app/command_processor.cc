#include "src/app/command_processor.h"

#include <pthread.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "events/log.h"
#include "src/app/idempotency.h"

namespace portal {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxRecentRecords = 100'000;

std::string idempotencyKey(const std::string& companyId, const std::string& commandId) {
  std::string k = companyId;
  k.push_back('\0');
  k.append(commandId);
  return k;
}

// The idempotency record's key of a submission with a client's key.
std::string recordKey(const Submission& s) {
  return idempotencyKey(s.command.companyId,
                        s.command.actor + '\n' + s.keyScope + '\n' + s.commandId);
}

std::string serializeReply(const CommandReply& r) {
  json j;
  j["status"] = r.status == CommandReply::Status::kAccepted ? "accepted" : "rejected";
  j["first"] = r.firstPosition;
  j["last"] = r.lastPosition;
  if (r.accepted()) {
    j["companyId"] = r.decision.companyId;
    j["id"] = r.decision.id;
    j["ids"] = r.decision.ids;
    json t = json::array();
    for (const auto& res : r.decision.transferred) {
      json one = {{"resourceId", res.resourceId},
                  {"kind", res.kind},
                  {"service", res.service},
                  {"name", res.name},
                  {"ownerId", res.ownerId}};
      if (res.mergedInto) one["mergedInto"] = *res.mergedInto;
      t.push_back(std::move(one));
    }
    j["transferred"] = std::move(t);
  } else {
    const Rejection& rej = r.rejection;
    json problems = json::array();
    for (const auto& p : rej.problems) problems.push_back({{"field", p.field}, {"message", p.message}});
    j["rejection"] = {{"kind", static_cast<int>(rej.kind)},
                      {"code", rej.code},
                      {"message", rej.message},
                      {"problems", std::move(problems)},
                      {"ids", rej.ids}};
  }
  if (!r.firstRequest.empty()) j["request"] = r.firstRequest;
  if (r.recordedAt != 0) j["at"] = r.recordedAt;
  // A refusal's text may repeat what a client sent; no byte of it stops this thread.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<CommandReply> parseReply(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    CommandReply r;
    r.firstPosition = j.at("first").get<std::uint64_t>();
    r.lastPosition = j.at("last").get<std::uint64_t>();
    if (j.contains("request")) r.firstRequest = j["request"].get<std::string>();
    r.recordedAt = j.value("at", std::int64_t{0});
    if (j.at("status") == "accepted") {
      r.status = CommandReply::Status::kAccepted;
      r.decision.companyId = j.at("companyId").get<std::string>();
      r.decision.id = j.at("id").get<std::string>();
      r.decision.ids = j.at("ids").get<std::vector<std::string>>();
      for (const auto& t : j.at("transferred")) {
        // (Records of answers given before the answer kept the resource's service,
        // name and new owner lack them: the API reads them from the views.)
        HandedOver res{t.at("resourceId").get<std::string>(),
                       t.at("kind").get<std::string>(),
                       t.value("service", ""),
                       t.value("name", ""),
                       t.value("ownerId", ""),
                       std::nullopt};
        if (t.contains("mergedInto")) res.mergedInto = t["mergedInto"].get<std::string>();
        r.decision.transferred.push_back(std::move(res));
      }
    } else {
      r.status = CommandReply::Status::kRejected;
      const json& rej = j.at("rejection");
      r.rejection.kind = static_cast<RejectionKind>(rej.at("kind").get<int>());
      r.rejection.code = rej.at("code").get<std::string>();
      r.rejection.message = rej.at("message").get<std::string>();
      for (const auto& p : rej.at("problems"))
        r.rejection.problems.push_back(
            {p.at("field").get<std::string>(), p.at("message").get<std::string>()});
      r.rejection.ids = rej.at("ids").get<std::vector<std::string>>();
    }
    return r;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

// The answer to a key sent again with another request.
CommandReply keyReused() {
  CommandReply r;
  r.status = CommandReply::Status::kRejected;
  r.rejection = keyReusedRejection();
  return r;
}

}  // namespace

std::optional<CommandReply> CommandProcessor::refusedAsReused(const std::string& key,
                                                              const Submission& s,
                                                              const CommandReply& first) const {
  if ((!first.accepted() && !s.replayRefusals) || s.fingerprint.empty()) return std::nullopt;
  {
    std::lock_guard lock(fingerprintsMu_);
    if (auto it = fingerprints_.find(key); it != fingerprints_.end())
      return it->second.fingerprint == s.fingerprint ? std::nullopt : std::optional(keyReused());
  }
  // Not sent since this start: its record says (none in an older version's).
  if (first.firstRequest.empty() || first.firstRequest == keys_->keyedFingerprint(s.fingerprint))
    return std::nullopt;
  return keyReused();
}

bool CommandProcessor::sentRecently(const Submission& s,
                                    std::chrono::steady_clock::duration within) const {
  if (!s.clientKey || s.fingerprint.empty()) return false;
  const std::string key = recordKey(s);
  {
    std::lock_guard lock(fingerprintsMu_);
    if (auto it = fingerprints_.find(key); it != fingerprints_.end())
      return it->second.fingerprint == s.fingerprint &&
             std::chrono::steady_clock::now() - it->second.at <= within;
  }
  // Sent before this start: its record keeps the request's keyed fingerprint and
  // when it was answered (an older version's, the time of its first event; one of
  // those that appended nothing has no time: not sent recently, as far as this can
  // tell).
  auto first = storedAnswer(key);
  if (!first || !first->accepted() || first->firstRequest.empty() ||
      first->firstRequest != keys_->keyedFingerprint(s.fingerprint))
    return false;
  const Result<std::int64_t> madeAt = answeredAt(*first);
  return madeAt && *madeAt != 0 &&
         clock_.now().micros - *madeAt <=
             std::chrono::duration_cast<std::chrono::microseconds>(within).count();
}

void CommandProcessor::rememberFingerprint(const std::string& key, const std::string& fingerprint) {
  if (fingerprint.empty()) return;
  std::lock_guard lock(fingerprintsMu_);
  // Called only for a key decided anew: for the first time, or once its record
  // outlived its lifetime (the new request's replaces the old one's).
  if (!fingerprints_.insert_or_assign(key, Sent{fingerprint, std::chrono::steady_clock::now()})
           .second)
    return;
  fingerprintOrder_.push_back(key);
  if (fingerprintOrder_.size() > kMaxRecentRecords) {
    fingerprints_.erase(fingerprintOrder_.front());
    fingerprintOrder_.pop_front();
  }
}

Result<std::unique_ptr<CommandProcessor>> CommandProcessor::start(EventStore& store,
                                                                  const CountryList& countries,
                                                                  Clock& clock, IdSource& ids,
                                                                  ProcessorOptions options) {
  std::unique_ptr<CommandProcessor> p(new CommandProcessor(store, countries, clock, ids, options));
  auto keys = IdempotencyKeys::open(store, p->commandsFamily_);
  if (!keys) return keys.error();
  p->keys_.emplace(std::move(*keys));
  if (auto r = p->rebuild(); !r) return r.error();
  p->thread_ = std::thread([raw = p.get()] {
    pthread_setname_np(pthread_self(), "processor");
    raw->run();
  });
  return p;
}

CommandProcessor::CommandProcessor(EventStore& store, const CountryList& countries, Clock& clock,
                                   IdSource& ids, ProcessorOptions options)
    : store_(store),
      countries_(countries),
      clock_(clock),
      ids_(ids),
      options_(options),
      commandsFamily_(store.columnFamily("commands")),
      outboxFamily_(store.columnFamily("outbox")) {}

CommandProcessor::~CommandProcessor() { stop(); }

namespace {

// A run of the log read at start: its events' bytes, then, once decoded, the events.
struct StartChunk {
  enum class Stage : std::uint8_t { kRead, kDecoding, kDecoded };
  RawEvents raw;
  std::vector<RecordedEvent> events;
  Stage stage = Stage::kRead;
  std::optional<Error> error;  // the first of its events that does not decode

  void decode(const EventStore& store) {
    events.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      const RawEvent r = raw[i];
      Result<RecordedEvent> ev = makeError(ErrorCode::kCorrupt, "not decoded");
      try {
        ev = store.decode(r);
      } catch (const std::exception& e) {
        // (Out of memory, say: the start fails with it, and neither thread waits on
        // a chunk never marked decoded.)
        ev = makeError(ErrorCode::kCorrupt, e.what());
      }
      if (!ev) {
        error = ev.error();
        // Named by its position ("stored event is not valid JSON" said not which).
        if (error->message.rfind("event ", 0) != 0)
          error->message = "event " + std::to_string(r.position) + ": " + error->message;
        return;
      }
      events.push_back(std::move(*ev));
    }
  }
};

}  // namespace

Result<void> CommandProcessor::rebuild() {
  // The whole log is read at every start: its chain is checked on the way (about
  // 0.4 us an event), so that a server does not start on an edited log and serve the
  // edit as the record. A second thread reads the log and checks the chain, chunk by
  // chunk; decoding a chunk (the JSON, the sealed fields: the costliest part) falls
  // to whichever thread is free, and this one applies the chunks to the write model
  // in log order. After handing a chunk over the reader decodes the newest one only
  // while at least one more waits undecoded, so that this thread, when it has
  // nothing to apply, mostly finds one too; with the window full it decodes any.
  constexpr std::size_t kChunk = 256, kChunksAhead = 32;
  std::mutex mu;
  std::condition_variable changed;
  std::deque<std::unique_ptr<StartChunk>> window;  // read, not yet applied, in order
  bool finished = false, stopping = false;
  std::optional<Error> readFailure;  // the chain or the read, after the window's events
  // Claims the newest chunk still undecoded if `atLeast` are (under the lock).
  auto claimNewest = [&](std::size_t atLeast) -> StartChunk* {
    std::size_t undecoded = 0;
    StartChunk* newest = nullptr;
    for (auto& c : window)
      if (c->stage == StartChunk::Stage::kRead) ++undecoded, newest = c.get();
    if (undecoded < atLeast) return nullptr;
    newest->stage = StartChunk::Stage::kDecoding;
    return newest;
  };
  // With `lock` held: decodes the newest undecoded chunk if `atLeast` wait (true),
  // the lock let go meanwhile; false when too few wait.
  auto decodeNewest = [&](std::unique_lock<std::mutex>& lock, std::size_t atLeast) {
    StartChunk* c = claimNewest(atLeast);
    if (c == nullptr) return false;
    lock.unlock();
    c->decode(store_);
    lock.lock();
    c->stage = StartChunk::Stage::kDecoded;
    changed.notify_all();
    return true;
  };
  std::thread reader([&] {
    pthread_setname_np(pthread_self(), "start-reader");
    auto chunk = std::make_unique<StartChunk>();
    // False once the applier stopped.
    auto handOver = [&]() -> bool {
      std::unique_lock lock(mu);
      for (;;) {
        if (stopping) return false;
        if (window.size() < kChunksAhead) break;
        // A full window: decode one of it rather than wait.
        if (!decodeNewest(lock, 1)) changed.wait(lock);
      }
      window.push_back(std::move(chunk));
      changed.notify_all();
      decodeNewest(lock, 2);
      chunk = std::make_unique<StartChunk>();
      return true;
    };
    std::optional<Error> error;
    Hash prev{};
    try {
      auto r = store_.scan(1, ~0ull, [&](const RawEvent& raw) {
        if (auto problem = chainProblem(prev, raw)) {
          error = makeError(ErrorCode::kCorrupt, "event " + std::to_string(raw.position) + ": " +
                                                     *problem + "; run portal-replay verify");
          return false;
        }
        prev = *raw.hash;
        chunk->raw.add(raw);
        return chunk->raw.size() < kChunk || handOver();
      });
      if (!r && !error) error = r.error();
      // Also after a bad link: an event before it that does not decode comes first.
      if (!chunk->raw.empty()) handOver();
    } catch (const std::exception& e) {
      error = makeError(ErrorCode::kIoError, std::string("cannot read the log: ") + e.what());
    }
    std::unique_lock lock(mu);
    readFailure = std::move(error);
    finished = true;
    changed.notify_all();
    // Then helps with what is left to decode.
    while (!stopping && decodeNewest(lock, 2)) {
    }
  });
  // However this thread leaves (an error, an exception out of apply), the reader
  // stops and is joined.
  struct Joined {
    std::mutex& mu;
    std::condition_variable& changed;
    bool& stopping;
    std::thread& reader;
    ~Joined() {
      {
        std::lock_guard lock(mu);
        stopping = true;
      }
      changed.notify_all();
      reader.join();
    }
  } joined{mu, changed, stopping, reader};
  // A long start says how far it is every 5 s, and when it is done (a start of ten
  // million events takes a minute on a small machine, and said nothing until the
  // server listened: the operator at 3 a.m. could not tell it from a hang).
  const std::uint64_t head = store_.lastPosition();
  const auto began = std::chrono::steady_clock::now();
  auto lastSaid = began;
  std::uint64_t applied = 0;
  auto seconds = [](std::chrono::steady_clock::duration d) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f s", std::chrono::duration<double>(d).count());
    return std::string(text);
  };
  for (;;) {
    std::unique_ptr<StartChunk> chunk;
    {
      std::unique_lock lock(mu);
      for (;;) {
        if (window.empty()) {
          if (finished) break;
          changed.wait(lock);
          continue;
        }
        StartChunk& front = *window.front();
        if (front.stage == StartChunk::Stage::kRead) {
          front.stage = StartChunk::Stage::kDecoding;
          lock.unlock();
          front.decode(store_);
          lock.lock();
          front.stage = StartChunk::Stage::kDecoded;
        }
        if (front.stage == StartChunk::Stage::kDecoded) {
          chunk = std::move(window.front());
          window.pop_front();
          break;
        }
        // The reader is decoding the oldest: decode a later one meanwhile.
        if (!decodeNewest(lock, 1)) changed.wait(lock);
      }
    }
    if (!chunk) break;
    changed.notify_all();  // room in the window
    for (const RecordedEvent& ev : chunk->events) {
      model_.apply(ev.envelope, ev.data);
      if (ev.envelope.occurredAt < lastStamp_) timesOrdered_ = false;
      lastStamp_ = std::max(lastStamp_, ev.envelope.occurredAt);
    }
    if (chunk->error) return *chunk->error;
    applied += chunk->events.size();
    if (const auto now = std::chrono::steady_clock::now();
        now - lastSaid >= options_.startProgressEvery && head > 0) {
      lastSaid = now;
      logLine("portal: reading the log before serving: " + std::to_string(applied) + " of " +
              std::to_string(head) + " events (" + std::to_string(applied * 100 / head) + "%), " +
              seconds(now - began));
    }
  }
  std::lock_guard lock(mu);  // (the reader has finished)
  // (A start that failed says why instead, not that the log was read: a code review.)
  if (readFailure) return *readFailure;
  if (applied > 0 && lastSaid != began)
    logLine("portal: the log's " + std::to_string(applied) + " events read in " +
            seconds(std::chrono::steady_clock::now() - began));
  // A user whose data key is gone but who was never anonymized: the write model
  // cannot tell their email from another's, and would give it to a second person.
  if (const auto lost = model_.usersWithoutTheirKey(3); !lost.empty()) {
    std::string named;
    for (const auto& id : lost) named += (named.empty() ? "" : ", ") + id;
    return makeError(ErrorCode::kCorrupt,
                     "the key vault has no data key for user " + named +
                         (lost.size() == 3 ? " (and maybe others)" : "") +
                         ", who was never anonymized: their details cannot be read, so the "
                         "key vault was edited; restore a backup");
  }
  return {};
}

void CommandProcessor::submit(Submission submission, std::function<void(CommandReply)> done) {
  bool queued = false;
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(Queued{std::move(submission), std::move(done)});
      queued = true;
    }
  }
  // Woken after the lock is let go: woken under it, the processor would wake only
  // to block on the mutex again (two more futex calls and a context switch).
  if (queued) return ready_.notify_one();
  CommandReply reply;
  reply.failure = "the command processor is stopped";
  done(std::move(reply));
}

CommandReply CommandProcessor::execute(Submission submission) {
  std::promise<CommandReply> promise;
  auto future = promise.get_future();
  submit(std::move(submission), [&promise](CommandReply r) { promise.set_value(std::move(r)); });
  return future.get();
}

std::optional<CommandReply> CommandProcessor::storedAnswer(const std::string& key) const {
  std::string stored;
  const rocksdb::Status st =
      store_.db()->Get(rocksdb::ReadOptions(), commandsFamily_, key, &stored);
  if (st.IsNotFound()) return std::nullopt;
  auto reply = st.ok() ? parseReply(stored) : std::nullopt;
  if (reply && outlived(*reply, clock_.now())) return std::nullopt;  // (deleted by a sweep soon)
  if (!reply) {
    // Not "no first answer": deciding it again could apply it twice, and a route
    // would do again what the first request did (an anonymization's drops).
    CommandReply failed;
    failed.failure = "the first answer to this idempotency key cannot be read: " +
                     (st.ok() ? std::string("it is malformed") : st.ToString());
    return failed;
  }
  return reply;
}

std::optional<CommandReply> CommandProcessor::firstAnswer(const Submission& s) const {
  if (!s.clientKey) return std::nullopt;
  const std::string key = recordKey(s);
  auto reply = storedAnswer(key);
  if (reply && reply->status != CommandReply::Status::kFailed) {
    if (auto refused = refusedAsReused(key, s, *reply)) return refused;
    reply->replayed = true;
  }
  return reply;
}

void CommandProcessor::stop() {
  std::lock_guard once(stopMu_);
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  ready_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::unique_lock lock(inFlightMu_);
  inFlightDone_.wait(lock, [&] { return inFlight_ == 0; });
}

void CommandProcessor::run() {
  // The first slice a little after the start (which read the whole log), then one
  // every sweepEvery, or at each turn while a sweep has records left to look at.
  const std::chrono::steady_clock::duration every = options_.sweepEvery;
  auto nextSlice = std::chrono::steady_clock::now() +
                   std::min(every, std::chrono::steady_clock::duration(std::chrono::seconds(10)));
  bool sweeping = options_.recordLifetime.count() > 0 && every.count() > 0;
  while (true) {
    std::deque<Queued> group;
    std::deque<std::function<void(bool stopped)>> asked;
    {
      std::unique_lock lock(mu_);
      auto due = [&] { return !queue_.empty() || stopping_ || !sweeps_.empty(); };
      if (sweeping)
        ready_.wait_until(lock, nextSlice, due);
      else
        ready_.wait(lock, due);
      if (queue_.empty() && stopping_) break;
      asked.swap(sweeps_);
      // All of it at once when it fits (the common case): the submitters wait for
      // this lock, so it is held for a swap rather than a move of each command.
      if (queue_.size() <= options_.maxGroup) {
        group.swap(queue_);
      } else {
        for (std::size_t i = 0; i < options_.maxGroup; ++i) {
          group.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    if (!group.empty()) processGroup(group);
    for (auto& sweep : asked) sweep(false);
    // A failed write ends the sweeps (the process exits; no wake-up at a slice long due).
    if (sweeping && failed_.load()) sweeping = false;
    if (sweeping && std::chrono::steady_clock::now() >= nextSlice) {
      const bool finished = sweepSlice(kSweepSlice, [](Result<std::size_t> r) {
        if (!r) logLine("command processor: " + r.error().message);
      });
      nextSlice = std::chrono::steady_clock::now() +
                  (finished ? every : std::chrono::steady_clock::duration::zero());
    }
  }
  // What was asked for and not run is answered: the processor is stopped.
  std::deque<std::function<void(bool stopped)>> asked;
  {
    std::lock_guard lock(mu_);
    asked.swap(sweeps_);
  }
  for (auto& sweep : asked) sweep(true);
  // The store answers what it still holds before its own thread ends.
}

Result<std::int64_t> CommandProcessor::answeredAt(const CommandReply& r) const {
  if (r.recordedAt != 0 || r.firstPosition == 0) return r.recordedAt;
  // An older version's record: as old as its command's first event.
  auto made = store_.readAt(r.firstPosition);
  if (!made) return made.error();
  return made->envelope.occurredAt.micros;
}

bool CommandProcessor::expired(std::int64_t answeredAt, Timestamp now) const {
  const auto lifetime =
      std::chrono::duration_cast<std::chrono::microseconds>(options_.recordLifetime);
  return lifetime.count() > 0 && now.micros - answeredAt >= lifetime.count();
}

bool CommandProcessor::outlived(const CommandReply& r, Timestamp now) const {
  return r.recordedAt != 0 && expired(r.recordedAt, now);
}

bool CommandProcessor::sweepSlice(std::size_t limit,
                                  std::function<void(Result<std::size_t>)> done) {
  const Timestamp now = clock_.now();
  const std::uint64_t acknowledged = acknowledgedGroup_.load(std::memory_order_acquire);
  if (options_.recordLifetime.count() <= 0) {  // kept for good
    done(std::size_t{0});
    return true;
  }
  auto keys = std::make_shared<std::vector<std::string>>();
  std::unique_ptr<rocksdb::Iterator> it(
      store_.db()->NewIterator(rocksdb::ReadOptions(), commandsFamily_));
  if (sweepCursor_.empty())
    it->SeekToFirst();
  else
    it->Seek(sweepCursor_);
  for (std::size_t seen = 0; it->Valid() && seen < limit; it->Next(), ++seen) {
    if (!isRecordKey(std::string_view(it->key().data(), it->key().size()))) continue;
    std::string key = it->key().ToString();
    // A record written by a group not yet durable may be newer than what the
    // iterator sees: only one both outlived and durable goes.
    if (auto r = recent_.find(key); r != recent_.end()) {
      if (r->second.group > acknowledged || !outlived(*r->second.reply, now)) continue;
      recent_.erase(r);
    }
    auto reply = parseReply(it->value().ToString());
    if (!reply) continue;  // malformed: left for the request that reads it to report
    // One without a time (an older version's refusal) has no age to go by: it goes
    // at the first sweep.
    const Result<std::int64_t> madeAt = answeredAt(*reply);
    if (!madeAt) {
      // Kept: deleted, a retry within its lifetime would run its command again.
      logLine(
          "command processor: the age of an idempotency record cannot be told, so it is "
          "kept: " +
          madeAt.error().message);
      continue;
    }
    if (*madeAt == 0 || expired(*madeAt, now)) keys->push_back(std::move(key));
  }
  if (!it->status().ok()) {
    // Nothing is deleted: the next slice starts again from the first record.
    sweepCursor_.clear();
    done(makeError(ErrorCode::kIoError,
                   "the idempotency records could not be read for their lifetime: " +
                       it->status().ToString()));
    return true;
  }
  const bool finished = !it->Valid();
  sweepCursor_ = finished ? std::string() : it->key().ToString();
  it.reset();
  if (keys->empty()) {
    done(std::size_t{0});
    return finished;
  }
  AppendRequest request;
  request.alsoWrite = [this, keys](rocksdb::WriteBatch& batch, std::uint64_t) {
    for (const std::string& k : *keys) batch.Delete(commandsFamily_, k);
  };
  {
    std::lock_guard lock(inFlightMu_);
    ++inFlight_;
  }
  store_.appendAsync(request, [this, keys, done = std::move(done)](Result<AppendResult> result) {
    if (!result && !failed_.exchange(true)) {
      std::lock_guard lock(failureMu_);
      if (onFailure_) onFailure_(result.error().message);
    }
    if (result) {
      recordsDeleted_.fetch_add(keys->size(), std::memory_order_relaxed);
      done(keys->size());
    } else {
      done(result.error());
    }
    std::lock_guard lock(inFlightMu_);
    if (--inFlight_ == 0) inFlightDone_.notify_all();
  });
  return finished;
}

Result<std::size_t> CommandProcessor::dropOutlivedRecords() {
  struct Outcome {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<std::size_t>> result;
    std::size_t dropped = 0, pending = 0;
    bool asked = false;  // every slice handed to the store
    std::optional<Error> error;
    void settle() {  // under mu
      if (asked && pending == 0 && !result) {
        result = error ? Result<std::size_t>(*error) : Result<std::size_t>(dropped);
        cv.notify_all();
      }
    }
  };
  auto outcome = std::make_shared<Outcome>();
  auto sweep = [this, outcome](bool stopped) {
    if (stopped || failed_.load()) {
      std::lock_guard lock(outcome->mu);
      outcome->error = makeError(ErrorCode::kUnavailable,
                                 stopped ? "the command processor is stopped"
                                         : "the event log stopped after a failed write");
      outcome->asked = true;
      return outcome->settle();
    }
    sweepCursor_.clear();
    bool finished = false;
    while (!finished) {
      {
        std::lock_guard lock(outcome->mu);
        ++outcome->pending;
      }
      finished = sweepSlice(kSweepSlice, [outcome](Result<std::size_t> r) {
        std::lock_guard lock(outcome->mu);
        --outcome->pending;
        if (r)
          outcome->dropped += *r;
        else if (!outcome->error)
          outcome->error = r.error();
        outcome->settle();
      });
    }
    std::lock_guard lock(outcome->mu);
    outcome->asked = true;
    outcome->settle();
  };
  {
    std::lock_guard lock(mu_);
    if (stopping_) return makeError(ErrorCode::kUnavailable, "the command processor is stopped");
    sweeps_.push_back(std::move(sweep));
  }
  ready_.notify_one();
  std::unique_lock lock(outcome->mu);
  outcome->cv.wait(lock, [&] { return outcome->result.has_value(); });
  return std::move(*outcome->result);
}

std::string outboxKey(std::uint64_t firstPosition, std::size_t n) {
  std::string k(12, '\0');
  for (int i = 7; i >= 0; --i, firstPosition >>= 8) k[i] = static_cast<char>(firstPosition & 0xff);
  for (int i = 11; i >= 8; --i, n >>= 8) k[i] = static_cast<char>(n & 0xff);
  return k;
}

void CommandProcessor::processGroup(std::deque<Queued>& group) {
  struct Entry {
    std::function<void(CommandReply)> done;
    std::shared_ptr<CommandReply> reply;
    std::size_t firstEvent = 0, eventCount = 0;
    std::vector<std::string> outbox;
  };
  struct Group {
    std::vector<Entry> entries;
    std::vector<std::pair<std::string, std::shared_ptr<CommandReply>>> records;
  };
  auto shared = std::make_shared<Group>();
  AppendRequest request;
  std::unordered_map<std::string, std::shared_ptr<CommandReply>> keysInGroup;
  // Decisions go by the clock (a reset link's expiry was set by it); events are
  // stamped never earlier than one already in the log, which searches by time rely
  // on. A clock set back further than kMaxStampLead (or an event stamped in the
  // future) is not waited out: events take the clock's time, and searches by time
  // look at every entry from then on.
  const Timestamp now = clock_.now();
  if (lastStamp_.micros - now.micros >
      std::chrono::duration_cast<std::chrono::microseconds>(kMaxStampLead).count()) {
    if (timesOrdered_.exchange(false))
      logLine("command processor: the clock is " +
              std::to_string((lastStamp_.micros - now.micros) / 1'000'000) +
              " s behind the log's latest event; events take the clock's time from now on, out "
              "of order with those before");
    lastStamp_ = now;
  }
  const Timestamp stamp = lastStamp_ = std::max(now, lastStamp_);
  // Most commands make one event; one that makes more grows this below.
  request.events.reserve(group.size());

  for (Queued& q : group) {
    Entry entry;
    entry.done = std::move(q.done);
    const Submission& s = q.submission;
    if (failed_.load()) {
      CommandReply r;
      r.failure = "the event log stopped after a failed write";
      entry.done(std::move(r));
      continue;
    }
    std::string key;
    if (s.clientKey) {
      key = recordKey(s);
      std::shared_ptr<CommandReply> first;
      if (auto it = keysInGroup.find(key); it != keysInGroup.end()) {
        first = it->second;
      } else if (auto it = recent_.find(key); it != recent_.end()) {
        if (!outlived(*it->second.reply, now)) first = it->second.reply;
      } else {
        auto stored = storedAnswer(key);
        if (stored && stored->status == CommandReply::Status::kFailed) {
          entry.done(std::move(*stored));
          continue;
        }
        if (stored) first = std::make_shared<CommandReply>(std::move(*stored));
      }
      if (first && !first->accepted() && !s.replayRefusals) first = nullptr;
      if (auto refused = first ? refusedAsReused(key, s, *first) : std::nullopt) {
        entry.reply = std::make_shared<CommandReply>(std::move(*refused));
        shared->entries.push_back(std::move(entry));
        continue;
      }
      if (first) {
        // Answered once the first answer is durable, as a copy marked replayed.
        entry.reply = first;
        entry.eventCount = ~std::size_t{0};
        shared->entries.push_back(std::move(entry));
        continue;
      }
    }
    auto reply = std::make_shared<CommandReply>();
    DecisionContext ctx{now, ids_, countries_};
    Outcome outcome = decide(model_, s.command, ctx);
    if (auto* d = std::get_if<Decision>(&outcome)) {
      entry.firstEvent = request.events.size();
      entry.eventCount = d->events.size();
      // A batch import decides 100,000 events at once: room for them in one step
      // (pushing them one by one doubles and moves the vector again and again),
      // but never less than double (reserving the exact size at each command
      // moves every event decided so far each time: O(n²) in a group).
      if (const std::size_t need = request.events.size() + d->events.size();
          need > request.events.capacity())
        request.events.reserve(std::max(need, 2 * request.events.capacity()));
      // The mails are made while the decision still holds its events (they are
      // moved into the append below).
      if (entry.eventCount > 0 && s.outbox) entry.outbox = s.outbox(*d);
      for (PendingEvent& pe : d->events) {
        EventEnvelope env;
        env.stream = pe.stream;
        env.occurredAt = stamp;
        env.actor = s.command.actor;
        env.companyId = d->companyId;
        env.commandId = s.commandId;
        env.correlationId = s.correlationId;
        model_.apply(env, pe.data);
        request.events.push_back(NewEvent{std::move(pe.stream), std::move(pe.data), stamp,
                                          s.command.actor, d->companyId, s.commandId,
                                          s.correlationId});
      }
      d->events.clear();
      request.shred.insert(request.shred.end(), d->shred.begin(), d->shred.end());
      reply->status = CommandReply::Status::kAccepted;
      reply->decision = std::move(*d);
    } else {
      reply->status = CommandReply::Status::kRejected;
      reply->rejection = std::move(std::get<Rejection>(outcome));
    }
    entry.reply = reply;
    if (s.clientKey && (reply->accepted() || s.replayRefusals)) {
      rememberFingerprint(key, s.fingerprint);
      if (!s.fingerprint.empty()) reply->firstRequest = keys_->keyedFingerprint(s.fingerprint);
      reply->recordedAt = now.micros;
      keysInGroup[key] = reply;
      shared->records.emplace_back(key, reply);
    }
    shared->entries.push_back(std::move(entry));
  }
  if (shared->entries.empty()) return;

  // Positions are known when the store prepares the batch: fill them in, then
  // record the idempotent answers in the same batch.
  const std::uint64_t groupNumber = ++groupNumber_;
  request.alsoWrite = [this, shared, groupNumber](rocksdb::WriteBatch& batch,
                                            std::uint64_t firstPosition) {
    for (Entry& e : shared->entries) {
      if (e.eventCount == ~std::size_t{0} || e.eventCount == 0) continue;
      e.reply->firstPosition = firstPosition + e.firstEvent;
      e.reply->lastPosition = firstPosition + e.firstEvent + e.eventCount - 1;
      for (std::size_t i = 0; i < e.outbox.size(); ++i)
        batch.Put(outboxFamily_, outboxKey(e.reply->firstPosition, i), e.outbox[i]);
    }
    if (recent_.size() >= kMaxRecentRecords) {
      // Only answers already durable may go: the log holds them now.
      const std::uint64_t acknowledged = acknowledgedGroup_.load(std::memory_order_acquire);
      std::erase_if(recent_, [&](const auto& r) { return r.second.group <= acknowledged; });
    }
    for (const auto& [key, reply] : shared->records) {
      batch.Put(commandsFamily_, key, serializeReply(*reply));
      recent_[key] = Recent{reply, groupNumber};
    }
  };
  commands_.fetch_add(shared->entries.size(), std::memory_order_relaxed);
  groups_.fetch_add(1, std::memory_order_relaxed);
  {
    std::size_t bucket = 0;
    const auto& bounds = ProcessorStats::kGroupSizeBounds;
    while (bucket < bounds.size() && shared->entries.size() > bounds[bucket]) ++bucket;
    groupSizes_[bucket].fetch_add(1, std::memory_order_relaxed);
  }
  events_.fetch_add(request.events.size(), std::memory_order_relaxed);
  {
    std::lock_guard lock(inFlightMu_);
    ++inFlight_;
  }
  store_.appendAsync(request, [this, shared, groupNumber](Result<AppendResult> result) {
    if (!result && !failed_.exchange(true)) {
      std::lock_guard lock(failureMu_);
      if (onFailure_) onFailure_(result.error().message);
    }
    if (result) acknowledgedGroup_.store(groupNumber, std::memory_order_release);  // in order
    for (Entry& e : shared->entries) {
      if (!result) {
        CommandReply r;
        r.failure = result.error().message;
        e.done(std::move(r));
        e.done = nullptr;
        continue;
      }
      const bool replayed = e.eventCount == ~std::size_t{0};
      // An answer recorded for an idempotency key is shared; the others are moved.
      CommandReply r = e.reply.use_count() == 1 ? std::move(*e.reply) : *e.reply;
      r.replayed = replayed;
      e.done(std::move(r));
      // What the callback holds (a connection, say) goes now, not whenever the
      // store lets go of this group's batch.
      e.done = nullptr;
    }
    std::lock_guard lock(inFlightMu_);
    if (--inFlight_ == 0) inFlightDone_.notify_all();
  });
}

}  // namespace portal
