#pragma once
// /readyz's judgement of how far behind the views may fall, and for how long.

#include <cstdint>
#include <mutex>
#include <optional>

#include "events/timestamp.h"

namespace portal {

// /readyz's patience with projections far behind the log (more than 10,000 events):
// not ready only once that has lasted 10 s as the probes saw it, since an import
// appends its users at once and the views catch up in seconds (a review found a
// 40,000-row import taking the only instance out of its load balancer's rotation).
// Thread-safe.
class LagWatch {
 public:
  static constexpr std::int64_t kPatienceMicros = 10'000'000;
  // Whether the lag seen now (`farBehind`) still passes.
  bool tolerable(bool farBehind, Timestamp now) {
    std::lock_guard lock(mu_);
    if (!farBehind) return since_.reset(), true;
    // (A clock set back starts the wait anew rather than tolerate it until the clock
    // is back where it was.)
    if (!since_ || now < *since_) since_ = now;
    return now.micros - since_->micros < kPatienceMicros;
  }

 private:
  std::mutex mu_;
  std::optional<Timestamp> since_;  // the first probe that saw it far behind
};

}  // namespace portal
