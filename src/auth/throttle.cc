#include "src/auth/throttle.h"

#include <arpa/inet.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace portal {

std::optional<std::string> canonicalAddress(std::string_view text) {
  const std::string s(text);
  char out[INET6_ADDRSTRLEN];
  in_addr a4;
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    if (inet_ntop(AF_INET, &a4, out, sizeof out) == nullptr) return std::nullopt;
    return std::string(out);
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, s.c_str(), &a6) != 1) return std::nullopt;
  if (IN6_IS_ADDR_V4MAPPED(&a6)) {
    if (inet_ntop(AF_INET, &a6.s6_addr[12], out, sizeof out) == nullptr) return std::nullopt;
  } else if (inet_ntop(AF_INET6, &a6, out, sizeof out) == nullptr) {
    return std::nullopt;
  }
  return std::string(out);
}

std::string clientNetwork(const std::string& address) {
  const std::optional<std::string> canonical = canonicalAddress(address);
  if (!canonical || canonical->find(':') == std::string::npos) return canonical.value_or(address);
  in6_addr a6;
  char text[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET6, canonical->c_str(), &a6) != 1) return *canonical;
  std::memset(&a6.s6_addr[8], 0, 8);
  if (inet_ntop(AF_INET6, &a6, text, sizeof text) == nullptr) return *canonical;
  return std::string(text) + "/64";
}

std::string LoginThrottle::keyOf(char kind, const std::string& id) {
  std::string key(17, '\0');
  key[0] = kind;
  crypto_generichash(reinterpret_cast<unsigned char*>(key.data() + 1), 16,
                     reinterpret_cast<const unsigned char*>(id.data()), id.size(), nullptr, 0);
  return key;
}

std::string LoginThrottle::pairKeyOf(const std::string& account, const std::string& network) {
  return keyOf('p', account + '\n' + network);
}

// Each list is in the order of its keys' last failures: the fronts' are the oldest.
void LoginThrottle::forgetExpired(std::int64_t now) {
  for (std::list<std::string>* keys : {&atLimit_, &underLimit_}) {
    while (!keys->empty()) {
      auto it = entries_.find(keys->front());
      const auto& f = it->second.failures;
      if (!f.empty() && f.back() > now - policy_.windowMicros) break;
      entries_.erase(it);
      keys->pop_front();
    }
  }
}

std::int64_t LoginThrottle::wait(const std::string& key, int limit, std::int64_t now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return 0;
  auto& f = it->second.failures;
  while (!f.empty() && f.front() <= now - policy_.windowMicros) f.pop_front();
  if (static_cast<int>(f.size()) < limit) return 0;
  // Attempts in flight for longer than any sign-in takes ended unsaid: failed.
  auto& flying = it->second.inFlight;
  while (!flying.empty() && flying.front() <= now - kInFlightMicros) flying.pop_front();
  if (static_cast<int>(f.size() - std::min(flying.size(), f.size())) < limit) return -1;
  const std::int64_t until = f.front() + policy_.windowMicros;
  return std::max<std::int64_t>(1, (until - now + 999'999) / 1'000'000);
}

void LoginThrottle::makeRoom(const std::array<const std::string*, 3>& kept) {
  std::size_t fresh = 0;
  for (const std::string* key : kept) fresh += entries_.count(*key) == 0 ? 1 : 0;
  auto notKept = [&](const std::string& key) {
    return std::none_of(kept.begin(), kept.end(), [&](const std::string* k) { return *k == key; });
  };
  while (!entries_.empty() && entries_.size() + fresh > policy_.maxKeys) {
    // The least recently failed key under its limit, or else at it, but none of
    // those kept (one is at the front when its list holds few).
    std::list<std::string>* keys = &underLimit_;
    auto victim = std::find_if(keys->begin(), keys->end(), notKept);
    if (victim == keys->end()) {
      keys = &atLimit_;
      victim = std::find_if(keys->begin(), keys->end(), notKept);
      if (victim == keys->end()) return;  // (maxKeys below 3)
    }
    entries_.erase(*victim);
    keys->erase(victim);
  }
}

void LoginThrottle::record(const std::string& key, std::int64_t now, const std::string& account) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    it = entries_.try_emplace(key).first;
    it->second.account = account;
  } else {
    listOf(it->second).erase(it->second.age);
  }
  Entry& e = it->second;
  auto& f = e.failures;
  f.push_back(now);
  while (f.front() <= now - policy_.windowMicros) f.pop_front();
  // Only the newest `limit` failures matter, the largest limit of the three.
  const std::size_t keep = static_cast<std::size_t>(
      std::max({policy_.accountLimit, policy_.addressLimit, policy_.accountWideLimit}));
  while (f.size() > keep) f.pop_front();
  e.atLimit = static_cast<int>(f.size()) >= limitOf(key);
  std::list<std::string>& keys = listOf(e);
  keys.push_back(key);
  e.age = std::prev(keys.end());
}

int LoginThrottle::limitOf(const std::string& key) const {
  return key[0] == 'p'   ? policy_.accountLimit
         : key[0] == 'a' ? policy_.accountWideLimit
                         : policy_.addressLimit;
}

std::int64_t LoginThrottle::attempt(const std::string& account, const std::string& address,
                                    Timestamp now, bool inFlight, bool* busy) {
  const std::string network = clientNetwork(address);
  const std::string accountKey = keyOf('a', account), addressKey = keyOf('c', network),
                    pairKey = pairKeyOf(account, network);
  std::lock_guard lock(mu_);
  forgetExpired(now.micros);
  const std::int64_t waits[] = {this->wait(pairKey, policy_.accountLimit, now.micros),
                                this->wait(accountKey, policy_.accountWideLimit, now.micros),
                                this->wait(addressKey, policy_.addressLimit, now.micros)};
  const std::int64_t wait = *std::max_element(std::begin(waits), std::end(waits));
  const bool flying = std::find(std::begin(waits), std::end(waits), -1) != std::end(waits);
  if (busy != nullptr) *busy = wait <= 0 && flying;
  if (wait > 0) return wait;
  if (flying) return 1;
  // Room for the three keys, made before any is recorded: room made for the second
  // forgot the first when it was the only one under its limit (a review: the .at()
  // below then threw, a 500).
  makeRoom({&pairKey, &accountKey, &addressKey});
  record(pairKey, now.micros, accountKey);
  record(accountKey, now.micros);
  record(addressKey, now.micros);
  if (inFlight)
    for (const std::string* key : {&pairKey, &accountKey, &addressKey})
      entries_.at(*key).inFlight.push_back(now.micros);
  return 0;
}

void LoginThrottle::landed(const std::string& key) {
  if (auto it = entries_.find(key); it != entries_.end() && !it->second.inFlight.empty())
    it->second.inFlight.pop_front();
}

void LoginThrottle::failed(const std::string& account, const std::string& address) {
  const std::string network = clientNetwork(address);
  std::lock_guard lock(mu_);
  landed(pairKeyOf(account, network));
  landed(keyOf('a', account));
  landed(keyOf('c', network));
}

void LoginThrottle::succeeded(const std::string& account, const std::string& address) {
  const std::string network = clientNetwork(address);
  const std::string addressKey = keyOf('c', network);
  const std::string accountKey = keyOf('a', account), pairKey = pairKeyOf(account, network);
  std::lock_guard lock(mu_);
  // The failures from this network are taken off the account's count from all
  // (this attempt's among them), not the whole count: a stranger spreading guesses
  // over many networks got a fresh budget each time the owner signed in (a review).
  auto pair = entries_.find(pairKey);
  auto all = entries_.find(accountKey);
  if (pair != entries_.end() && all != entries_.end()) {
    auto& f = all->second.failures;
    for (std::int64_t t : pair->second.failures)
      if (auto at = std::find(f.begin(), f.end(), t); at != f.end()) f.erase(at);
    if (f.empty()) erase(accountKey);
  }
  erase(pairKey);  // a stranger's failures elsewhere stay theirs
  landed(accountKey);
  landed(addressKey);
  if (auto it = entries_.find(addressKey); it != entries_.end() && !it->second.failures.empty())
    it->second.failures.pop_back();
}

void LoginThrottle::erase(const std::string& key) {
  if (auto it = entries_.find(key); it != entries_.end()) {
    listOf(it->second).erase(it->second.age);
    entries_.erase(it);
  }
}

bool LoginThrottle::recordable(const std::string& company, Timestamp now) {
  std::lock_guard lock(mu_);
  std::deque<std::int64_t>& times = unknownRecorded_[company];
  while (!times.empty() && times.front() <= now.micros - policy_.windowMicros) times.pop_front();
  if (times.size() >= static_cast<std::size_t>(policy_.unknownAccountRecords)) return false;
  times.push_back(now.micros);
  return true;
}

void LoginThrottle::clear(const std::string& account) {
  const std::string accountKey = keyOf('a', account);
  std::lock_guard lock(mu_);
  erase(accountKey);
  std::vector<std::string> pairs;
  for (const auto& [key, entry] : entries_)
    if (entry.account == accountKey) pairs.push_back(key);
  for (const auto& key : pairs) erase(key);
}

}  // namespace portal
