#pragma once
// The mailer: delivers what the outbox holds, in log order, and deletes each record
// once its mail is handed over. Delivery is at least once: a crash between handing
// a mail over and deleting its record sends it again (the same .eml file name, the
// same Message-ID).

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "src/mail/message.h"
#include "src/mail/outbox.h"
#include "src/mail/transport.h"

namespace rocksdb {
class ColumnFamilyHandle;
}

namespace portal {

class EventStore;

// What the read side knows of a mail's recipient at delivery time.
struct RecipientLookup {
  enum class Status {
    kReady,        // known and reachable: send to `recipient`
    kNotYetKnown,  // the views have not caught up with the log yet: ask again later
    kGone,         // anonymized, deactivated or unknown: drop the mail unsent
    kObsolete,     // the mail no longer holds true (a reset link that expired or was
                   // replaced): drop it unsent
  };
  Status status = Status::kGone;
  Recipient recipient;  // when kReady

  static RecipientLookup ready(Recipient r) { return {Status::kReady, std::move(r)}; }
  static RecipientLookup notYetKnown() { return {Status::kNotYetKnown, {}}; }
  static RecipientLookup gone() { return {Status::kGone, {}}; }
  static RecipientLookup obsolete() { return {Status::kObsolete, {}}; }
};

// Supplied by the owner of the Mailer (it reads the views); called on the mailer's
// thread. An exception it throws counts as a failed delivery.
// `position` is that of the event that caused the mail (the views have to have
// reached it to know).
using RecipientLookupFn =
    std::function<RecipientLookup(const MailRecord& record, std::uint64_t position)>;

// Timing of the mailer; the defaults are for production, tests shorten them.
struct MailerOptions {
  std::chrono::milliseconds pollInterval{500};             // without notify()
  std::chrono::milliseconds notYetRetry{100};              // recipient not known yet
  std::chrono::milliseconds notYetGiveUp{10 * 60 * 1000};  // then the mail is dropped
  std::chrono::milliseconds firstBackoff{1000};            // after a failed delivery, doubling
  std::chrono::milliseconds maxBackoff{60 * 1000};
  // A mail whose delivery still fails this long after the event that caused it is
  // dropped (DropReason::kExpired), as a mail server gives up on a message after days
  // (Postfix's maximal_queue_lifetime is 5 days): a relay's lasting refusal (5.7,
  // relaying denied for an outside domain; a bare 554) was retried once a minute for
  // ever before, a log line each. Measured from the event's time, so a restart does
  // not start it again; from the first failure when that event cannot be read.
  std::chrono::milliseconds giveUpAfter{5LL * 24 * 60 * 60 * 1000};
  // How often, within a pass, the outbox's deletions are made durable (and at its
  // end): a crash resends at most what was delivered since (a review: a kill -9 in
  // a pass of 40 mails to a slow relay sent 29 of them twice).
  std::chrono::milliseconds deletionsDurableEvery{1000};
};

// One thread ("mailer") that scans the store's "outbox" family in key order; for
// each record it decodes it, looks the recipient up, renders the mail, delivers it
// through the transport and then deletes the record. A record that does not decode,
// or whose recipient is gone, is deleted unsent; a recipient not yet known is asked
// for again shortly and dropped after notYetGiveUp. A failed delivery is retried
// with backoff (firstBackoff doubling up to maxBackoff) while later mail goes on;
// after a failure the mailer retries no other mail for firstBackoff, but mail never
// tried yet gets its first try in the same scan, so that mails a relay keeps
// deferring cannot hold it back. A failure of the relay itself (no connection, no
// greeting, the sender refused: ErrorCode::kUnavailable) holds every mail until
// then, so a relay that is down gets one connection a pass, not one a mail. Each
// mail dropped unsent is counted by why (dropped). Log lines go to stderr and name records by ids
// (outbox position, kind, user id), never by address, name or secret.
//
// Thread-safe: notify(), waitIdle() and the counters from any thread. The store
// must outlive the Mailer (stop it first). The outbox family must exist (a writable
// store); otherwise the constructor throws std::invalid_argument.
class Mailer {
 public:
  Mailer(EventStore& store, std::unique_ptr<MailTransport> transport, MailSettings settings,
         RecipientLookupFn lookup, MailerOptions options = {});
  ~Mailer();  // stop()
  Mailer(const Mailer&) = delete;
  Mailer& operator=(const Mailer&) = delete;

  // Starts the mailer thread; does nothing when it runs already.
  void start();
  // The address the mails' links begin with, when it is known only after the
  // constructor (the server's port). Before start() only.
  void setPublicUrl(std::string url) { settings_.publicUrl = std::move(url); }
  // Ends the thread: a delivery under way finishes first (bounded by the transport's
  // timeouts). Records not delivered stay in the outbox for the next start.
  void stop();
  // Something may have been added to the outbox: look now rather than at the next
  // poll. Cheap; the server calls it after each accepted command.
  void notify();

  // Waits until a scan that began after this call found the outbox empty; false when
  // `timeout` passed first. Without a running thread: whether the outbox is empty.
  bool waitIdle(std::chrono::milliseconds timeout);

  // What the transport keeps of mails to `address` in the company goes
  // (MailTransport::forgetRecipient). Not while a mail is between its recipient's
  // lookup and its delivery: one looked up before the person was deactivated would
  // otherwise be written after this removal.
  Result<void> forgetRecipient(const std::string& companyId, const std::string& address) {
    std::lock_guard delivering(deliveryMu_);
    return transport_->forgetRecipient(companyId, address);
  }

  std::uint64_t delivered() const { return delivered_.load(std::memory_order_relaxed); }
  // Why a mail was dropped unsent: its record does not decode; its recipient is
  // anonymized, deactivated or unknown; it no longer holds (a link expired or
  // replaced, a temporary password changed or past its week); its recipient was not
  // known for notYetGiveUp; the relay refused it for good (a 5xx); its delivery still
  // failed giveUpAfter after the event that caused it.
  enum class DropReason {
    kUndecodable,
    kRecipientGone,
    kObsolete,
    kRecipientUnknown,
    kRefused,
    kExpired
  };
  static constexpr std::array<const char*, 6> kDropReasonNames = {
      "undecodable", "recipient-gone", "obsolete", "recipient-unknown", "refused", "expired"};
  std::uint64_t dropped(DropReason reason) const {
    return dropped_[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed);
  }
  std::uint64_t dropped() const {
    std::uint64_t all = 0;
    for (const auto& d : dropped_) all += d.load(std::memory_order_relaxed);
    return all;
  }
  // Records in the outbox at the start, then at the end of each scan.
  std::uint64_t pending() const { return pending_.load(std::memory_order_relaxed); }
  // Records in the outbox now, every one read: for a stop's last word, once the
  // commands are answered (pending() is of the last whole pass).
  std::uint64_t outboxCount() const;
  // Passes over the outbox finished, their deletions durable.
  std::uint64_t scansCompleted() const { return scansCompleted_.load(std::memory_order_acquire); }

 private:
  // Per-record state kept between scans (mailer thread only).
  struct Retry {
    std::chrono::steady_clock::time_point due;
    std::chrono::milliseconds backoff{0};
    int failures = 0;
    std::optional<std::chrono::steady_clock::time_point> notYetSince;
    // Since when (µs since the epoch) its delivery has been tried: the time of the
    // event that caused it, or of its first failure (MailerOptions::giveUpAfter).
    std::optional<std::int64_t> triedSince;
    bool deliveredNotDeleted = false;  // handed over, but deleting the record failed
  };
  // kRelayDown: failed, and whatever mail were tried next would fail alike.
  enum class Outcome { kDone, kWaiting, kFailed, kRelayDown };
  struct ScanResult {
    bool complete = false;                                      // the whole outbox was read
    std::uint64_t remaining = 0;                                // records left in it
    std::optional<std::chrono::steady_clock::time_point> next;  // the earliest retry due
  };

  void run();
  ScanResult scan();
  Outcome handle(const std::string& key, const std::string& value);
  // Schedules the next attempt at `key` after a failure and logs why.
  // Deletes a record unsent, saying so (`logText`) and counting why.
  Outcome dropUnsent(const std::string& key, const std::string& what, DropReason reason,
                     const std::string& logText);
  Outcome failed(const std::string& key, const std::string& what, const std::string& why);
  bool deleteRecord(const std::string& key, const std::string& what);
  void makeDeletionsDurable();
  bool outboxEmpty() const;
  EventStore& store_;
  rocksdb::ColumnFamilyHandle* outbox_;
  std::unique_ptr<MailTransport> transport_;
  MailSettings settings_;
  RecipientLookupFn lookup_;
  MailerOptions options_;

  std::map<std::string, Retry> retries_;               // by outbox key; mailer thread only
  std::chrono::steady_clock::time_point holdUntil_{};  // no attempt before (after a failure)

  std::mutex lifecycleMu_;  // serialises start() and stop()
  std::mutex deliveryMu_;   // a mail's lookup and delivery, against forgetRecipient()
  mutable std::mutex mu_;
  std::condition_variable wake_, idle_;
  bool running_ = false;
  bool notified_ = false;
  std::uint64_t scansStarted_ = 0;   // guarded by mu_
  std::uint64_t lastEmptyScan_ = 0;  // the number of the last scan that found nothing
  std::atomic<bool> stopping_{false};
  std::atomic<bool> deletedUnsynced_{false};  // a record deleted, not yet fsync'd
  std::thread thread_;

  std::atomic<std::uint64_t> delivered_{0}, pending_{0}, scansCompleted_{0};
  std::array<std::atomic<std::uint64_t>, kDropReasonNames.size()> dropped_{};
};

}  // namespace portal
