#include "src/http/metrics.h"

#include <cstdio>

namespace portal {

std::string promLabel(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void HttpMetrics::record(const std::string& method, const std::string& route, int status,
                         double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{method, route, status}];
  Histogram& h = latency_[{method, route}];
  for (std::size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

void HttpMetrics::render(std::string& out) const {
  std::lock_guard lock(mu_);
  char num[64];
  out += "# HELP portal_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE portal_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [method, route, status] = key;
    out += "portal_http_requests_total{method=\"" + promLabel(method) + "\",route=\"" +
           promLabel(route) + "\",status=\"" + std::to_string(status) + "\"} " + std::to_string(n) +
           "\n";
  }
  out +=
      "# HELP portal_http_request_duration_seconds Time from a complete request to its answer.\n";
  out += "# TYPE portal_http_request_duration_seconds histogram\n";
  for (const auto& [key, h] : latency_) {
    const std::string labels =
        "method=\"" + promLabel(key.first) + "\",route=\"" + promLabel(key.second) + "\"";
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      std::snprintf(num, sizeof num, "%g", kBuckets[i]);
      out += "portal_http_request_duration_seconds_bucket{" + labels + ",le=\"" + num + "\"} " +
             std::to_string(h.buckets[i]) + "\n";
    }
    out += "portal_http_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " +
           std::to_string(h.count) + "\n";
    std::snprintf(num, sizeof num, "%.6f", h.sum);
    out += "portal_http_request_duration_seconds_sum{" + labels + "} " + num + "\n";
    out += "portal_http_request_duration_seconds_count{" + labels + "} " + std::to_string(h.count) +
           "\n";
  }
}

}  // namespace portal
