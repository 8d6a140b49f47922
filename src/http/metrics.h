#pragma once
// Request counters and latency histograms by route, in Prometheus text format.
// Thread-safe.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace portal {

class HttpMetrics {
 public:
  // Up to a minute: imports, sign-ins at the interactive hashing cost and long polls
  // of the event feed (up to 30 s) take seconds, and all fell in +Inf past 1 s (a
  // review).
  static constexpr std::array<double, 16> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5,
                                                      5.0,    10.0,  30.0,   60.0};
  // `route` is the route's pattern ("/api/v1/users/{id}"), never the raw path.
  void record(const std::string& method, const std::string& route, int status, double seconds);
  // Appends the request series to `out`.
  void render(std::string& out) const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, Histogram> latency_;
};

// A Prometheus label value, escaped.
std::string promLabel(std::string_view value);

}  // namespace portal
