#include "src/auth/throttle.h"

#include <algorithm>

namespace portal {

std::int64_t LoginThrottle::wait(const std::string& key, int limit, std::int64_t now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return 0;
  auto& f = it->second.failures;
  while (!f.empty() && f.front() <= now - policy_.windowMicros) f.pop_front();
  if (static_cast<int>(f.size()) < limit) return 0;
  const std::int64_t until = f.front() + policy_.windowMicros;
  return std::max<std::int64_t>(1, (until - now + 999'999) / 1'000'000);
}

void LoginThrottle::record(const std::string& key, std::int64_t now) {
  auto [it, fresh] = entries_.try_emplace(key);
  if (!fresh) byAge_.erase(it->second.age);
  byAge_.push_back(key);
  it->second.age = std::prev(byAge_.end());
  auto& f = it->second.failures;
  f.push_back(now);
  // Only the newest `limit` failures matter; an address's limit is the larger one.
  const std::size_t keep =
      static_cast<std::size_t>(std::max(policy_.accountLimit, policy_.addressLimit));
  while (f.size() > keep) f.pop_front();
  while (entries_.size() > policy_.maxKeys) {
    entries_.erase(byAge_.front());
    byAge_.pop_front();
  }
}

std::int64_t LoginThrottle::attempt(const std::string& account, const std::string& address,
                                    Timestamp now) {
  std::lock_guard lock(mu_);
  const std::int64_t wait = std::max(this->wait("a:" + account, policy_.accountLimit, now.micros),
                                     this->wait("c:" + address, policy_.addressLimit, now.micros));
  if (wait > 0) return wait;
  record("a:" + account, now.micros);
  record("c:" + address, now.micros);
  return 0;
}

void LoginThrottle::succeeded(const std::string& account, const std::string& address) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find("a:" + account); it != entries_.end()) {
    byAge_.erase(it->second.age);
    entries_.erase(it);
  }
  if (auto it = entries_.find("c:" + address); it != entries_.end() && !it->second.failures.empty())
    it->second.failures.pop_back();
}

}  // namespace portal
