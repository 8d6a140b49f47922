#include "src/mail/mailer.h"

#include <pthread.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <vector>

#include "events/log.h"
#include "events/text.h"
#include "src/store/event_store.h"

namespace portal {
namespace {

using Clock = std::chrono::steady_clock;

// Records read from the outbox at a time: the iterator is not held across deliveries.
constexpr std::size_t kScanBatch = 64;

void mailerLog(const std::string& line) { logLine("mailer: " + line); }

std::string hexKey(std::string_view key) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : key.substr(0, 32)) {
    out += kDigits[(static_cast<unsigned char>(c) >> 4) & 15];
    out += kDigits[static_cast<unsigned char>(c) & 15];
  }
  return out;
}

// `text` with each occurrence of `needle` (in ASCII lower case) replaced by
// "[recipient]", in any ASCII case; with `wholeWords`, only where no letter, digit,
// '.', '_' or '-' touches it (a local part "ann" is no part of "annual").
std::string blanked(std::string text, const std::string& needle, bool wholeWords) {
  if (needle.empty()) return text;
  auto wordy = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-' ||
           (static_cast<unsigned char>(c) & 0x80) != 0;
  };
  const std::string lower = asciiLower(text);
  std::string out;
  std::size_t from = 0;
  for (auto at = lower.find(needle); at != std::string::npos; at = lower.find(needle, at + 1)) {
    if (at < from) continue;
    const std::size_t end = at + needle.size();
    if (wholeWords && ((at > 0 && wordy(text[at - 1])) || (end < text.size() && wordy(text[end]))))
      continue;
    out.append(text, from, at - from).append("[recipient]");
    from = end;
  }
  return out.append(text, from);
}

// `text` (a delivery's error: our words, then the relay's answer in quotes) fit for
// the log: no form of the recipient's address. A relay may quote it as sent, as its
// key, with its domain in ASCII (xn--), escaped ("ann%40example.com"), or its local
// part alone (a review found those in the log). So the address as sent and as its
// key are replaced; then any address whose local part is the recipient's, in any
// domain form, leaving the punctuation around it (other addresses, such as the
// sender the relay refused, stay: an operator needs them); then, within the relay's
// answer only, the local part as a whole word ("user ann unknown"; our own words,
// such as "RCPT TO", are not its).
std::string withoutAddress(std::string text, const std::string& address) {
  const std::string sent = asciiLower(trim(address)), key = emailKey(address);
  text = blanked(std::move(text), sent, false);
  if (key != sent) text = blanked(std::move(text), key, false);
  const std::size_t at = sent.rfind('@');
  if (at == std::string::npos || at == 0) return text;
  const std::string local = sent.substr(0, at);
  const std::string lower = asciiLower(text);
  auto bound = [](char c) {
    return c == ' ' || c == '\t' || c == '<' || c == '>' || c == '(' || c == ')' || c == '"' ||
           c == '\'' || c == '[' || c == ']' || c == ',' || c == ';' || c == ':';
  };
  std::string out;
  std::size_t from = 0;
  for (std::size_t i = 0; i < lower.size(); ++i) {
    const std::size_t sign = lower.compare(i, 3, "%40") == 0 ? 3 : lower[i] == '@' ? 1 : 0;
    if (sign == 0 || i < local.size() + from ||
        lower.compare(i - local.size(), local.size(), local) != 0)
      continue;
    const std::size_t begin = i - local.size();
    if (begin > 0 && !bound(text[begin - 1])) continue;  // "joann@" is not "ann@"
    std::size_t end = i + sign;
    while (end < text.size() && !bound(text[end])) ++end;
    out.append(text, from, begin - from).append("[recipient]");
    from = i = end;
  }
  text = out.append(text, from);
  if (const std::size_t quote = text.find("answered \""); quote != std::string::npos) {
    const std::size_t open = quote + 9;
    const std::size_t close = text.rfind('"');
    if (close > open && local.size() >= 2)  // one letter names no one, and is in every text
      text = text.substr(0, open) + blanked(text.substr(open, close - open), local, true) +
             text.substr(close);
  }
  return text;
}

std::string describe(std::chrono::milliseconds d) {
  auto ms = static_cast<long long>(d.count());
  constexpr long long kHour = 60LL * 60 * 1000, kDay = 24 * kHour;
  if (ms >= kDay && ms % kDay == 0)
    return std::to_string(ms / kDay) + (ms == kDay ? " day" : " days");
  if (ms >= kHour && ms % kHour == 0)  // --mail-give-up-hours
    return std::to_string(ms / kHour) + (ms == kHour ? " hour" : " hours");
  return ms < 1000 || ms % 1000 != 0 ? std::to_string(ms) + " ms"
                                     : std::to_string(ms / 1000) + " s";
}

}  // namespace

Mailer::Mailer(EventStore& store, std::unique_ptr<MailTransport> transport, MailSettings settings,
               RecipientLookupFn lookup, MailerOptions options)
    : store_(store),
      outbox_(store.columnFamily("outbox")),
      transport_(std::move(transport)),
      settings_(std::move(settings)),
      lookup_(std::move(lookup)),
      options_(options) {
  if (outbox_ == nullptr) throw std::invalid_argument("Mailer: the store has no outbox family");
  if (!transport_ || !lookup_) throw std::invalid_argument("Mailer: no transport or lookup");
}

Mailer::~Mailer() { stop(); }

void Mailer::start() {
  std::lock_guard life(lifecycleMu_);
  if (running_) return;  // written under lifecycleMu_ too
  // What waits from the start, not 0 until a first pass ends, which a relay that never
  // greets holds for minutes (a review found the gauge 0 with mail waiting); counted
  // before mu_ is taken, which notify() (every command that queues mail) waits for.
  pending_.store(outboxCount(), std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  stopping_ = false;
  running_ = true;
  transport_->resume();
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "mailer");
    run();
  });
}

void Mailer::stop() {
  std::lock_guard life(lifecycleMu_);
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    stopping_ = true;
  }
  transport_->cancel();  // a relay's wait for the message would hold the stop
  wake_.notify_all();
  thread_.join();
  {
    std::lock_guard lock(mu_);
    running_ = false;
  }
  idle_.notify_all();
}

void Mailer::notify() {
  {
    std::lock_guard lock(mu_);
    notified_ = true;
  }
  wake_.notify_one();
}

bool Mailer::waitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!running_) {
    lock.unlock();
    return outboxEmpty();
  }
  const std::uint64_t target = scansStarted_ + 1;
  notified_ = true;
  wake_.notify_one();
  idle_.wait_for(lock, timeout, [&] { return lastEmptyScan_ >= target || !running_; });
  return lastEmptyScan_ >= target;
}

std::uint64_t Mailer::outboxCount() const {
  std::unique_ptr<rocksdb::Iterator> it(store_.db()->NewIterator(rocksdb::ReadOptions(), outbox_));
  std::uint64_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  return n;
}

bool Mailer::outboxEmpty() const {
  std::unique_ptr<rocksdb::Iterator> it(store_.db()->NewIterator(rocksdb::ReadOptions(), outbox_));
  it->SeekToFirst();
  return !it->Valid() && it->status().ok();
}

void Mailer::run() {
  while (true) {
    std::uint64_t scanNumber;
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      notified_ = false;
      scanNumber = ++scansStarted_;
    }
    ScanResult s = scan();
    makeDeletionsDurable();
    if (s.complete) pending_.store(s.remaining, std::memory_order_relaxed);
    scansCompleted_.fetch_add(1, std::memory_order_release);
    auto deadline = Clock::now() + options_.pollInterval;
    if (s.next && *s.next < deadline) deadline = *s.next;

    std::unique_lock lock(mu_);
    if (s.complete && s.remaining == 0) lastEmptyScan_ = scanNumber;
    idle_.notify_all();
    // After a failure nothing is tried for a while, whoever asks.
    if (holdUntil_ > Clock::now())
      wake_.wait_until(lock, holdUntil_, [&] { return stopping_.load(); });
    wake_.wait_until(lock, deadline, [&] { return stopping_ || notified_; });
  }
  makeDeletionsDurable();
}

// The database writes its WAL out only when told (manual_wal_flush): a deleted record
// stayed in memory until the next command's fsync, and a crash on an idle portal,
// hours after a delivery, sent the mail (a temporary password) again.
void Mailer::makeDeletionsDurable() {
  if (!deletedUnsynced_.exchange(false, std::memory_order_acq_rel)) return;
  if (auto st = store_.flushWal(true); !st.ok()) {
    deletedUnsynced_.store(true, std::memory_order_release);  // tried again after the next pass
    mailerLog("cannot make the outbox's deletions durable: " + st.ToString());
  }
}

Mailer::ScanResult Mailer::scan() {
  ScanResult result;
  auto later = [&](Clock::time_point t) {
    if (!result.next || t < *result.next) result.next = t;
  };
  const bool attempts = Clock::now() >= holdUntil_;
  bool failedThisScan = false;
  bool relayDown = false;  // a failure that was the relay's, whatever the mail
  if (!attempts) later(holdUntil_);
  std::string last;  // the last key read
  bool first = true;
  // A record is written to memory with its events before they are durable: only
  // those of durable events go out (a reset mail for an event a failed fsync lost
  // would carry a dead link). Later ones are woken for once their answer is given.
  const std::uint64_t durable = store_.lastPosition();
  auto synced = Clock::now();
  auto isDurable = [&](std::string_view key) {
    const auto slot = parseOutboxKey(key);
    return !slot || slot->position <= durable;  // a malformed key is dropped below
  };
  while (true) {
    std::vector<std::pair<std::string, std::string>> batch;
    {
      std::unique_ptr<rocksdb::Iterator> it(
          store_.db()->NewIterator(rocksdb::ReadOptions(), outbox_));
      if (first) {
        it->SeekToFirst();
      } else {
        it->Seek(last);
        if (it->Valid() && it->key() == rocksdb::Slice(last)) it->Next();
      }
      for (; it->Valid() && batch.size() < kScanBatch; it->Next())
        batch.emplace_back(it->key().ToString(), it->value().ToString());
      if (!it->status().ok()) {
        mailerLog("cannot read the outbox: " + it->status().ToString());
        return result;
      }
    }
    if (batch.empty()) break;
    bool pastDurable = false;
    for (auto& [key, value] : batch) {
      if (stopping_) return result;
      if (!isDurable(key)) {
        ++result.remaining;
        pastDurable = true;
        break;
      }
      // Forget what was kept for records that left the outbox since the last scan.
      retries_.erase(first ? retries_.begin() : retries_.upper_bound(last),
                     retries_.lower_bound(key));
      first = false;
      last = key;
      // After a failure in this scan only mail never tried yet is tried: mails a
      // relay keeps deferring, each due in turn, would otherwise take every scan's
      // one attempt and hold newer mail back for good. After a failure of the relay
      // itself (it cannot be reached, or refuses the sender) none is: one connection
      // a pass, not one a mail.
      auto r = retries_.find(key);
      const bool triedBefore = r != retries_.end();
      if (!attempts || relayDown || (failedThisScan && triedBefore) ||
          (triedBefore && r->second.due > Clock::now())) {
        ++result.remaining;
        if (r != retries_.end()) later(r->second.due);
        continue;
      }
      Outcome outcome = handle(key, value);
      if (Clock::now() - synced >= options_.deletionsDurableEvery) {
        makeDeletionsDurable();
        synced = Clock::now();
      }
      if (outcome == Outcome::kDone) continue;
      ++result.remaining;
      later(retries_[key].due);
      if (outcome == Outcome::kFailed || outcome == Outcome::kRelayDown) {
        failedThisScan = true;
        relayDown = relayDown || outcome == Outcome::kRelayDown;
        holdUntil_ = Clock::now() + options_.firstBackoff;
      }
    }
    if (pastDurable) break;
  }
  retries_.erase(first ? retries_.begin() : retries_.upper_bound(last), retries_.end());
  result.complete = true;
  return result;
}

Mailer::Outcome Mailer::handle(const std::string& key, const std::string& value) {
  const auto now = Clock::now();
  auto known = retries_.find(key);
  if (known != retries_.end() && known->second.deliveredNotDeleted) {
    if (!deleteRecord(key, "delivered record " + hexKey(key))) {
      known->second.due = now + options_.firstBackoff;
      return Outcome::kWaiting;
    }
    retries_.erase(known);
    return Outcome::kDone;
  }

  auto slot = parseOutboxKey(key);
  auto record = decodeMailRecord(value);
  if (!slot || !record) {
    return dropUnsent(key, "record " + hexKey(key), DropReason::kUndecodable,
                      "outbox record " + hexKey(key) + " does not decode (" +
                          (record ? std::string("bad key") : record.error().message) +
                          "); deleted");
  }
  const std::string stem = mailFileStem(*slot, record->kind);
  const std::string what = stem + " for user " + record->userId;

  // Only a transport that keeps mail has anything for forgetRecipient to miss; a
  // relay's conversation (seconds when it is slow) does not hold an anonymization.
  std::unique_lock delivering(deliveryMu_, std::defer_lock);
  if (transport_->keepsMail()) delivering.lock();
  RecipientLookup who;
  try {
    who = lookup_(*record, slot->position);
  } catch (const std::exception& e) {
    return failed(key, what, std::string("looking the recipient up failed: ") + e.what());
  }

  switch (who.status) {
    case RecipientLookup::Status::kGone:
    case RecipientLookup::Status::kObsolete:
      if (who.status == RecipientLookup::Status::kGone)
        return dropUnsent(key, what, DropReason::kRecipientGone,
                          what + ": the recipient is gone; dropped unsent");
      return dropUnsent(key, what, DropReason::kObsolete,
                        what +
                            ": it no longer holds (its link expired or was replaced, or its "
                            "password was changed or expired); dropped unsent");
    case RecipientLookup::Status::kNotYetKnown: {
      Retry& r = retries_[key];
      if (!r.notYetSince) r.notYetSince = now;
      if (now - *r.notYetSince >= options_.notYetGiveUp) {
        return dropUnsent(key, what, DropReason::kRecipientUnknown,
                          what + ": the recipient is still not known after " +
                              describe(options_.notYetGiveUp) + "; dropped unsent");
      }
      r.due = now + options_.notYetRetry;
      return Outcome::kWaiting;
    }
    case RecipientLookup::Status::kReady:
      break;
  }

  Message message = renderMail(*record, who.recipient, settings_);
  const auto cause = store_.readAt(slot->position);
  if (cause)
    message.date = cause->envelope.occurredAt;
  else
    mailerLog(what + ": the event that caused it cannot be read (" + cause.error().message +
              "); dated now");
  // The position and index in hexadecimal and the user: unique, the same for a
  // delivery retried, and short enough for one header line (it held the file's stem
  // too: 112 characters; a mail review).
  char where[40];
  std::snprintf(where, sizeof where, "%llx.%x.", static_cast<unsigned long long>(slot->position),
                static_cast<unsigned>(slot->index));
  message.messageId = makeMessageId(where + record->userId, settings_.from);
  Result<void> sent = makeError(ErrorCode::kIoError, "not delivered");
  try {
    sent = transport_->deliver(message, stem);
  } catch (const std::exception& e) {
    sent = makeError(ErrorCode::kIoError, std::string("the transport threw: ") + e.what());
  }
  if (!sent && sent.error().code == ErrorCode::kInvalidArgument) {
    // No later try can pass: retried, it would hold up the mail behind it for ever.
    return dropUnsent(key, what, DropReason::kRefused,
                      what + ": refused for good; dropped unsent: " +
                          withoutAddress(sent.error().message, who.recipient.email));
  }
  if (!sent) {
    const std::string why = withoutAddress(sent.error().message, who.recipient.email);
    Retry& r = retries_[key];
    const std::int64_t wallNow = wallClockNow().micros;
    if (!r.triedSince) r.triedSince = cause ? cause->envelope.occurredAt.micros : wallNow;
    if (wallNow - *r.triedSince >=
        std::chrono::duration_cast<std::chrono::microseconds>(options_.giveUpAfter).count())
      return dropUnsent(key, what, DropReason::kExpired,
                        what + ": not delivered within " + describe(options_.giveUpAfter) +
                            " of the event that caused it; dropped unsent: " + why);
    failed(key, what, why);
    return sent.error().code == ErrorCode::kUnavailable ? Outcome::kRelayDown : Outcome::kFailed;
  }

  delivered_.fetch_add(1, std::memory_order_relaxed);
  // Failures were logged: so is the end of them, for whoever watches the log.
  if (auto retried = retries_.find(key); retried != retries_.end() && retried->second.failures > 0)
    mailerLog(what + ": delivered after " + std::to_string(retried->second.failures) +
              (retried->second.failures == 1 ? " failed attempt" : " failed attempts"));
  if (!deleteRecord(key, what)) {
    Retry& r = retries_[key];
    r.deliveredNotDeleted = true;
    r.due = Clock::now() + options_.firstBackoff;
    return Outcome::kWaiting;
  }
  retries_.erase(key);
  return Outcome::kDone;
}

Mailer::Outcome Mailer::dropUnsent(const std::string& key, const std::string& what,
                                   DropReason reason, const std::string& logText) {
  mailerLog(logText);
  deleteRecord(key, what);
  dropped_[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  retries_.erase(key);
  return Outcome::kDone;
}

Mailer::Outcome Mailer::failed(const std::string& key, const std::string& what,
                               const std::string& why) {
  Retry& r = retries_[key];
  ++r.failures;
  r.backoff =
      r.backoff.count() == 0 ? options_.firstBackoff : std::min(r.backoff * 2, options_.maxBackoff);
  r.due = Clock::now() + r.backoff;
  if (stopping_)  // no next try in this process: the record waits for the next start
    mailerLog(what + ": not delivered, the mailer is stopping (kept for the next start): " + why);
  else
    mailerLog(what + ": delivery failed (attempt " + std::to_string(r.failures) + ", next in " +
              describe(r.backoff) + "): " + why);
  return Outcome::kFailed;
}

bool Mailer::deleteRecord(const std::string& key, const std::string& what) {
  auto status = store_.erase(outbox_, key);  // made durable once a pass (makeDeletionsDurable)
  if (status.ok()) {
    deletedUnsynced_.store(true, std::memory_order_release);
    return true;
  }
  mailerLog(what + ": cannot delete it from the outbox: " + status.ToString());
  return false;
}

}  // namespace portal
