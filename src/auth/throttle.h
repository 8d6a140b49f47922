#pragma once
// Throttling of failed sign-ins, per account from one client network, per account
// from all, and per client network: once a key has had its limit of failures within
// `window`, further attempts wait until the oldest of them leaves the window. The
// account's own limit counts per network, so that one stranger's five guesses do not
// lock its owner out for good (they did: 429 at the right password from anywhere);
// a larger limit per account from all networks still bounds guessing spread over
// many. A success clears the account's failures from its network, here and in the
// count from all networks (not the address's earlier ones: one address trying many
// accounts stays throttled; nor the account's from other networks).
//
// In memory: the server makes the sign-in throttle again at its start from the log's
// sign-ins of the last window (Api::Impl::restoreSignInThrottle), through attempt(),
// succeeded() and clear() at the events' times.
// Bounded: a key is held as a 16-byte digest of the account or address (an email
// of a megabyte costs what any other does), keys whose failures all left the window
// are forgotten at the next attempt, and past `maxKeys` keys the least recently
// failed that are under their limit are forgotten first. Thread-safe.

#include <array>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "events/timestamp.h"

namespace portal {

// An IPv4 or IPv6 address in canonical text form ("::1" for "0:0::1", an
// IPv4-mapped IPv6 address as its IPv4 one); nullopt when `text` is not one.
std::optional<std::string> canonicalAddress(std::string_view text);

// What a client address is counted as: an IPv6 address by its /64 (a client
// commonly holds a whole /64 and could take a new address for every guess), an
// IPv4-mapped one as its IPv4 address, anything else as it is.
std::string clientNetwork(const std::string& address);

struct ThrottlePolicy {
  int accountLimit = 5;   // failures per account from one client network within the window
  // Failures per client address within the window, of all accounts: it bounds one
  // address's spraying of guesses over many accounts, and it makes everyone behind
  // that address wait, right password or not: an office behind one NAT address,
  // whose people mistype too (a review locked a team out with 20). portal-server
  // --sign-in-failures-per-address sets it.
  int addressLimit = 100;
  std::int64_t windowMicros = 15LL * 60 * 1'000'000;
  std::size_t maxKeys = 100'000;
  int accountWideLimit = 20;  // failures per account from all networks within the window
  // Failed sign-ins of addresses that are nobody's recorded in a company's log within
  // the window (recordable()).
  int unknownAccountRecords = 100;
};

class LoginThrottle {
 public:
  explicit LoginThrottle(ThrottlePolicy policy = {}) : policy_(policy) {}

  // An attempt to sign in: the seconds to wait before this account or address may
  // try again (nothing is recorded), or 0, and the attempt is recorded as failed
  // until succeeded() says otherwise. Checking and recording at once, so parallel
  // guesses cannot all pass.
  //
  // With `inFlight`, the caller says how it ends, succeeded() or failed(): until then
  // (a minute at most) it is in flight, and a refusal that only attempts in flight
  // make asks for a second, not for the window's end, which is all it would be
  // (a review: eight parallel sign-ins with the right password got Retry-After: 900).
  // `busy`, when given, is set to whether a refusal is one that attempts in flight
  // alone make (too many at once, not too many failures: worded apart, a review).
  std::int64_t attempt(const std::string& account, const std::string& address, Timestamp now,
                       bool inFlight = false, bool* busy = nullptr);
  // An attempt made `inFlight` failed: it stays counted, no longer in flight.
  void failed(const std::string& account, const std::string& address);
  // The attempt succeeded: the account's failures from this network are cleared
  // (also from its count from all networks) and the attempt is taken off the
  // address's.
  void succeeded(const std::string& account, const std::string& address);
  // The account's failures are cleared, from every network (its password was reset:
  // the new one may sign in at once, also from the laptop the person failed on before
  // they confirmed the reset on their phone). Looks at every key held: for resets.
  void clear(const std::string& account);
  // Whether a failed sign-in of an address that is nobody's in `company` is recorded
  // in the log: the company's first unknownAccountRecords within the window are. The
  // log is never rewritten, and such failures come from anyone who knows the
  // company's name: from many addresses (a /56 is 256 networks) they grew it without
  // bound, each past every throttle (a review). Failures of an account are always
  // recorded. Counts one company per company that had such failures.
  bool recordable(const std::string& company, Timestamp now);
  // How many accounts and addresses it holds failures of.
  std::size_t keys() {
    std::lock_guard lock(mu_);
    return entries_.size();
  }

 private:
  struct Entry {
    std::deque<std::int64_t> failures;  // times, oldest first
    std::deque<std::int64_t> inFlight;  // of those, attempts not yet ended, oldest first
    std::list<std::string>::iterator age;  // in atLimit_ or underLimit_
    bool atLimit = false;                  // when it last failed
    std::string account;  // a per-network key's account key (clear() looks for it)
  };
  std::list<std::string>& listOf(const Entry& e) { return e.atLimit ? atLimit_ : underLimit_; }
  void erase(const std::string& key);
  // One of the key's attempts in flight ended.
  void landed(const std::string& key);
  static constexpr std::int64_t kInFlightMicros = 60'000'000;
  static std::string keyOf(char kind, const std::string& id);
  static std::string pairKeyOf(const std::string& account, const std::string& network);
  // The seconds the key waits, 0 for none, -1 when only its attempts in flight make
  // it wait (a second).
  std::int64_t wait(const std::string& key, int limit, std::int64_t now);
  // Forgets keys, least recently failed first and those under their limit before
  // those at it, until the `kept` that are new fit within maxKeys; never one of them.
  void makeRoom(const std::array<const std::string*, 3>& kept);
  // A failure of `key` (made, with `account`, when new: makeRoom first).
  void record(const std::string& key, std::int64_t now, const std::string& account = {});
  void forgetExpired(std::int64_t now);
  int limitOf(const std::string& key) const;

  ThrottlePolicy policy_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::unordered_map<std::string, std::deque<std::int64_t>> unknownRecorded_;  // by company
  // Keys by their last failure, least recent first: those that had reached their
  // limit then, and the others, which are forgotten first past maxKeys (a flood of
  // new keys must not empty the counts that hold someone back; a review).
  std::list<std::string> atLimit_, underLimit_;
};

}  // namespace portal
