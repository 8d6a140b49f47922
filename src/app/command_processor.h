#pragma once
// The command processor: the single writer of the portal. One thread owns the
// write model; commands submitted from any thread queue up, and every command
// queued at that moment is decided in order against the state that includes the
// ones before it (group commit). The events of the whole group go to the log in one
// durable WriteBatch, prepared while the store's write thread fsyncs the previous
// group; only then is every command of the group answered, accepted or refused.
//
// Idempotency: a command with a client key (the HTTP Idempotency-Key) is recorded
// with its answer in the same WriteBatch; the same key within the company later
// returns that first answer, marked `replayed`, and appends nothing, also after a
// restart. Records hold ids and codes, never personal data. A record lives
// ProcessorOptions::recordLifetime (24 hours unless set): past it the key is a new
// key, and the processor deletes the record (the records looked through every
// ProcessorOptions::sweepEvery, a slice at a turn, those outlived deleted in a batch
// of the log's write queue, so after any write of the same key already queued and
// before any later one).
//
// Fail-stop: if the log refuses or fails a write, the processor stops; every later
// command is answered with `failed`. The process must exit and rebuild on restart.
//
// Threads: submit() and execute() are safe from any thread; `done` callbacks run on
// the store's threads (a durable group's, a replayed key's) or on the processor's (a
// refusal before the write, a record that cannot be read, every command once a
// write failed, a stopped processor's): they must be quick and never wait for the
// processor.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <variant>

#include "events/result.h"
#include "src/app/idempotency.h"
#include "src/domain/commands.h"
#include "src/domain/context.h"
#include "src/domain/decider.h"
#include "src/domain/write_model.h"
#include "src/store/event_store.h"

namespace portal {

using MailBuilder = std::function<std::vector<std::string>(const Decision&)>;

struct Submission {
  Command command;
  std::string commandId;   // the Idempotency-Key, or a generated id
  bool clientKey = false;  // commandId came from the client: deduplicate on it
  // With clientKey: what else the key is scoped to besides the company and the
  // actor (the HTTP method and route), so that a key reused elsewhere is a new
  // command rather than a replay of another one.
  std::string keyScope;
  std::string correlationId;
  // The mail the command causes (src/mail's outbox records), made from the
  // decision (which holds the ids it created) and written to the "outbox" family in
  // the same WriteBatch as its events, only when it is accepted with events: the mail
  // goes out if and only if what caused it is durable. Runs on the processor thread,
  // given the decision with its events.
  MailBuilder outbox;
  // With clientKey: false when a refusal is neither kept nor replayed under the key,
  // so that the same key sent again is decided anew (a batch import refused for its
  // rows, sent again corrected by a page that keeps one key per upload).
  bool replayRefusals = true;
  // With clientKey: the request's requestDigest. A key whose first request had
  // another digest is refused (422 idempotency-key-reused), not replayed. Its
  // record keeps it keyed by the data directory's secret (a plain hash of a body
  // could confirm a guess of the personal data in it), so the check holds after a
  // restart too (records of versions before it have none, and are not checked so).
  std::string fingerprint;
};

struct CommandReply {
  enum class Status { kAccepted, kRejected, kFailed };
  Status status = Status::kFailed;
  Decision decision;                // when accepted: ids and what was transferred
  Rejection rejection;              // when rejected
  std::string failure;              // when failed: why (the log is stopped)
  std::uint64_t firstPosition = 0;  // the command's events, 0 when it appended none
  std::uint64_t lastPosition = 0;
  bool replayed = false;  // the answer first given to this idempotency key
  // With an idempotency key: the keyed fingerprint of the request that got this
  // answer first (IdempotencyKeys::keyedFingerprint); empty in records of older
  // versions.
  std::string firstRequest;
  // With an idempotency key: when the first answer was given (microseconds by the
  // processor's clock); 0 in records of older versions, whose age is their first
  // event's (a refusal's, without one, has outlived any lifetime).
  std::int64_t recordedAt = 0;
  bool projected = true;  // Portal::execute: the views show it (read-your-writes)

  bool accepted() const { return status == Status::kAccepted; }
};

// The key of a command's n-th outbox record: its first event's position (big-endian,
// so that mail is delivered in log order), then n.
std::string outboxKey(std::uint64_t firstPosition, std::size_t n);

// Counters for /metrics and the benchmarks.
struct ProcessorStats {
  std::uint64_t commands = 0;  // decided (accepted or refused)
  std::uint64_t groups = 0;    // WriteBatches (one fsync each)
  std::uint64_t events = 0;    // appended
  // Groups by their number of commands: at most kGroupSizeBounds[i] (cumulative
  // counts are made from these for /metrics), the last one is everything larger.
  static constexpr std::array<std::uint64_t, 8> kGroupSizeBounds = {1, 2, 4, 8, 16, 64, 256, 1024};
  std::array<std::uint64_t, kGroupSizeBounds.size() + 1> groupSizes{};
  std::uint64_t recordsDeleted = 0;  // idempotency records that outlived their lifetime
};

struct ProcessorOptions {
  std::size_t maxGroup = 2048;  // commands decided into one WriteBatch at most
  // How long an idempotency record answers its key, by the processor's clock from
  // when the first answer was given; zero: for good. Past it the same key is decided
  // as a new command, and the record is deleted.
  std::chrono::seconds recordLifetime = std::chrono::hours(24);
  // How often the processor looks through the records for those outlived: a whole
  // pass, kSweepSlice records at each of its turns; zero: only when asked
  // (dropOutlivedRecords).
  std::chrono::milliseconds sweepEvery = std::chrono::minutes(10);
  // How often a start that reads the log says how far it is (on the log, "portal:
  // reading the log before serving: …"), and then how long it took; a start quicker
  // than this says nothing.
  std::chrono::milliseconds startProgressEvery = std::chrono::seconds(5);
};

class CommandProcessor {
 public:
  // Rebuilds the write model from the whole log, then starts the processor thread.
  // `store`, `countries`, `clock` and `ids` must outlive the processor.
  static Result<std::unique_ptr<CommandProcessor>> start(EventStore& store,
                                                         const CountryList& countries, Clock& clock,
                                                         IdSource& ids,
                                                         ProcessorOptions options = {});
  ~CommandProcessor();  // stop()s
  CommandProcessor(const CommandProcessor&) = delete;
  CommandProcessor& operator=(const CommandProcessor&) = delete;

  void submit(Submission submission, std::function<void(CommandReply)> done);
  // submit() and wait for the answer.
  CommandReply execute(Submission submission);

  // The first answer to the idempotency key of `s` (its client key, company, actor
  // and scope), read from the log's records; nullopt when it has none; a failed
  // reply (kFailed) when it cannot be read. Any thread: for a caller that must not redo checks the
  // first call changed the grounds of (the current password of a password change). A command still
  // queued is not seen; one whose batch is written but not yet durable is: wait until its
  // lastPosition is projected before answering with it.
  std::optional<CommandReply> firstAnswer(const Submission& s) const;
  // The command id of a client's Idempotency-Key (Submission::commandId), keyed by
  // this data directory's secret (src/app/idempotency.h). Any thread.
  std::string commandIdOfKey(std::string_view companyId, std::string_view actor,
                             std::string_view scope, std::string_view key) const {
    return keys_->commandIdOf(companyId, actor, scope, key);
  }
  // The key the API seals its cursors with (IdempotencyKeys::cursorKey).
  IdempotencyKeys::Key cursorKey() const { return keys_->cursorKey(); }
  // Whether the request of `s` (its key and its fingerprint) was first sent within
  // `within` before now: as this process saw it, or, sent before its start, as its
  // record and the time of its first event say (see Submission::fingerprint).
  bool sentRecently(const Submission& s, std::chrono::steady_clock::duration within) const;

  // Deletes every idempotency record that has outlived ProcessorOptions::recordLifetime
  // (the processor does it by itself, a pass every sweepEvery): runs on the
  // processor's thread between groups and returns, once the deletions are durable,
  // how many it deleted. An error when the records cannot be read, when the log's
  // write failed (then fail-stop), or when the processor is stopped.
  Result<std::size_t> dropOutlivedRecords();
  static constexpr std::size_t kSweepSlice = 2'000;  // records looked at a turn (about 10 ms)

  // Stops taking commands, decides and writes what is queued, answers it, returns.
  // From any thread; a second caller returns once the first's stop is done.
  void stop();

  // True once a write failed (fail-stop).
  bool failed() const { return failed_.load(); }
  // True when no event of the log has an earlier occurredAt than one before it, so
  // that a search by time may stop at the first event before its window. The
  // processor never stamps an event earlier than the last one (a clock set back
  // stamps the time already reached until it passes it), so only a log written
  // before that rule can be out of order.
  bool timesOrdered() const { return timesOrdered_.load(std::memory_order_relaxed); }
  // `fn` is called once, with why, when a write fails: the program that runs the
  // processor then stops and exits non-zero (DESIGN.md, fail-stop). Called on the
  // store's thread or the processor's; it must not wait for the processor.
  void onFailure(std::function<void(const std::string& why)> fn) {
    std::lock_guard lock(failureMu_);
    onFailure_ = std::move(fn);
  }

  // The write model as the start rebuilt it, for a test to compare while no command
  // runs (the processor's thread owns it otherwise).
  const WriteModel& writeModelAtStart() const { return model_; }

  ProcessorStats stats() const {
    ProcessorStats s{commands_.load(), groups_.load(), events_.load(), {}};
    std::uint64_t counted = 0;
    for (std::size_t i = 0; i < s.groupSizes.size(); ++i) counted += s.groupSizes[i] = groupSizes_[i].load();
    // Groups that ended between the two reads are in the buckets: the histogram's
    // count (+Inf) must not be below them.
    s.groups = std::max(s.groups, counted);
    s.recordsDeleted = recordsDeleted_.load();
    return s;
  }

 private:
  // The answer recorded under the record key `key`: nullopt when there is none, a
  // failed reply when it cannot be read or is malformed.
  std::optional<CommandReply> storedAnswer(const std::string& key) const;

  struct Queued {
    Submission submission;
    std::function<void(CommandReply)> done;
  };

  CommandProcessor(EventStore& store, const CountryList& countries, Clock& clock, IdSource& ids,
                   ProcessorOptions options);
  Result<void> rebuild();
  void run();
  void processGroup(std::deque<Queued>& group);
  // Whether `r`'s record has outlived options_.recordLifetime at `now` (one of an
  // older version, without recordedAt, never has: see sweepSlice).
  bool outlived(const CommandReply& r, Timestamp now) const;
  // Whether an answer given at `answeredAt` (microseconds) is past the lifetime.
  bool expired(std::int64_t answeredAt, Timestamp now) const;
  // When `r` was first answered (microseconds): its recordedAt, or in a record of an
  // older version the time of its first event; 0 when it has neither (no event); an
  // error when that event cannot be read.
  Result<std::int64_t> answeredAt(const CommandReply& r) const;
  // Looks at up to `limit` records from sweepCursor_ on and appends the deletion of
  // those outlived (processor thread). `done` gets how many, once durable (at once
  // when none). Returns whether the slice reached the last record.
  bool sweepSlice(std::size_t limit, std::function<void(Result<std::size_t>)> done);
  std::string sweepCursor_;  // the next record a slice looks at ("" the first)
  // Sweeps asked for by dropOutlivedRecords(), run by the processor thread (mu_).
  std::deque<std::function<void(bool stopped)>> sweeps_;

  EventStore& store_;
  const CountryList& countries_;
  Clock& clock_;
  IdSource& ids_;
  ProcessorOptions options_;
  rocksdb::ColumnFamilyHandle* commandsFamily_;  // the idempotency records
  std::optional<IdempotencyKeys> keys_;          // set by start()
  rocksdb::ColumnFamilyHandle* outboxFamily_;    // mail waiting for delivery
  WriteModel model_;
  // How far events may be stamped ahead of the clock to keep the log in time order.
  static constexpr std::chrono::minutes kMaxStampLead{5};
  Timestamp lastStamp_;  // the latest occurredAt in the log (processor thread)
  std::atomic<bool> timesOrdered_{true};

  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<Queued> queue_;
  bool stopping_ = false;
  std::mutex stopMu_;  // held through stop()
  std::atomic<bool> failed_{false};
  std::mutex failureMu_;
  std::function<void(const std::string&)> onFailure_;
  std::atomic<std::uint64_t> commands_{0}, groups_{0}, events_{0}, recordsDeleted_{0};
  std::array<std::atomic<std::uint64_t>, ProcessorStats::kGroupSizeBounds.size() + 1> groupSizes_{};
  // Groups handed to the store and not yet answered; stop() waits for none.
  std::mutex inFlightMu_;
  std::condition_variable inFlightDone_;
  std::size_t inFlight_ = 0;
  // Answers recorded recently, by idempotency key, with the group that wrote them
  // (processor thread only). Bounded: past the bound, those of acknowledged groups
  // are dropped (the log holds them); those still in flight never are.
  struct Recent {
    std::shared_ptr<CommandReply> reply;
    std::uint64_t group;
  };
  std::unordered_map<std::string, Recent> recent_;
  // What keyed requests were first sent with since the start, by idempotency key;
  // read on other threads (firstAnswer). The newest kMaxRecentRecords are kept.
  struct Sent {
    std::string fingerprint;
    std::chrono::steady_clock::time_point at;
  };
  mutable std::mutex fingerprintsMu_;
  std::unordered_map<std::string, Sent> fingerprints_;
  std::deque<std::string> fingerprintOrder_;  // their keys, oldest first
  void rememberFingerprint(const std::string& key, const std::string& fingerprint);
  // The refusal of `s` when its key's first answer `first` would be replayed but
  // was given to another request (its fingerprint differs); nullopt otherwise.
  std::optional<CommandReply> refusedAsReused(const std::string& key, const Submission& s,
                                              const CommandReply& first) const;
  std::uint64_t groupNumber_ = 0;                    // processor thread
  std::atomic<std::uint64_t> acknowledgedGroup_{0};  // the last group answered
  std::thread thread_;
};

}  // namespace portal
