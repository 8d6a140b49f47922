// The probes: /healthz, /readyz and /metrics.

#include "src/http/api_impl.h"

namespace portal {

HttpResponse Api::Impl::healthz(Call&) { return jsonResponse(200, R"({"status":"ok"})"); }

HttpResponse Api::Impl::readyz(Call& call) {
  const std::uint64_t head = portal.store().lastPosition();
  const bool logOpen = !portal.processor().failed();
  // RocksDB refuses every write while its background work's failure lasts (a flush
  // on a full disk), which the log may not have met yet.
  const std::string storeError = portal.store().backgroundError();
  bool ready = logOpen && storeError.empty(), farBehind = false;
  json projections = json::array();
  for (const auto& s : portal.projector().status()) {
    const std::uint64_t lag = head - std::min(head, s.checkpoint);
    ready = ready && !s.failed;
    farBehind = farBehind || lag > kReadyLag;
    json p = {{"name", s.name}, {"position", s.checkpoint}, {"lag", lag}, {"failed", s.failed}};
    if (s.failed) p["error"] = s.error;
    projections.push_back(std::move(p));
  }
  ready = lagWatch.tolerable(farBehind, clock.now()) && ready;
  const bool leaving = markedStopping.load();
  json out = {{"status", leaving ? "stopping" : ready ? "ready" : "not-ready"}};
  ready = ready && !leaving;
  if (options.metricsFrom.contains(call.req.clientAddress)) {
    out["log"] = {{"open", logOpen}, {"position", head}};
    if (!storeError.empty()) out["log"]["storeError"] = storeError;
    out["projections"] = std::move(projections);
  }
  return jsonResponse(ready ? 200 : 503, out.dump());
}

HttpResponse Api::Impl::metricsText(Call& call) {
  if (!options.metricsFrom.contains(call.req.clientAddress))
    return forbidden(
        "The metrics are served to loopback and to the addresses portal-server's "
        "--metrics-from names.");
  std::string out;
  metrics.render(out);
  const ProcessorStats stats = portal.processor().stats();
  auto counter = [&](const char* name, const char* help, std::uint64_t value,
                     const char* type = "counter") {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + std::to_string(value) + "\n";
  };
  out +=
      "# HELP portal_build_info The commit the server was built from.\n"
      "# TYPE portal_build_info gauge\n"
      "portal_build_info{commit=\"" +
      portalCommit() + "\"} 1\n";
  counter("portal_commands_total", "Commands decided (accepted or refused).", stats.commands);
  counter("portal_events_appended_total", "Events appended to the log.", stats.events);
  counter("portal_fsync_batches_total", "Durable writes (one fsync each) of the command processor.",
          stats.groups);
  counter("portal_idempotency_records_deleted_total",
          "Idempotency records deleted once they outlived --idempotency-hours.",
          stats.recordsDeleted);
  out +=
      "# HELP portal_fsync_batch_commands Commands per durable write of the processor.\n"
      "# TYPE portal_fsync_batch_commands histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < ProcessorStats::kGroupSizeBounds.size(); ++i) {
    cumulative += stats.groupSizes[i];
    out += "portal_fsync_batch_commands_bucket{le=\"" +
           std::to_string(ProcessorStats::kGroupSizeBounds[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += "portal_fsync_batch_commands_bucket{le=\"+Inf\"} " + std::to_string(stats.groups) + "\n";
  out += "portal_fsync_batch_commands_sum " + std::to_string(stats.commands) + "\n";
  out += "portal_fsync_batch_commands_count " + std::to_string(stats.groups) + "\n";
  const std::uint64_t head = portal.store().lastPosition();
  counter("portal_log_position", "The position of the last durable event.", head, "gauge");
  counter("portal_writer_failed", "1 when the log refused a write and commands stopped.",
          portal.processor().failed() ? 1 : 0, "gauge");
  counter("portal_store_background_error",
          "1 while RocksDB's background work (a flush, a compaction) has failed and it takes no "
          "write.",
          portal.store().backgroundError().empty() ? 0 : 1, "gauge");
  counter("portal_sessions", "Signed-in sessions.", sessions.countLive(clock.now()), "gauge");
  counter("portal_password_hashes_total",
          "Argon2id hashes made or checked (sign-ins, password changes and resets): the CPU "
          "the hash cost takes.",
          passwordHashes.load(std::memory_order_relaxed));
  counter("portal_sign_in_failures_unrecorded_total",
          "Failed sign-ins of addresses that are nobody's, past the 100 a company's log records "
          "in 15 minutes.",
          unrecordedFailures.load(std::memory_order_relaxed));
  {
    std::lock_guard lock(polls.mu);
    counter("portal_event_polls_waiting", "GET /api/v1/events requests waiting for events.",
            polls.total, "gauge");
  }
  out +=
      "# HELP portal_projection_lag_events Events of the log a projection has not applied yet.\n"
      "# TYPE portal_projection_lag_events gauge\n";
  for (const auto& s : portal.projector().status())
    out += "portal_projection_lag_events{projection=\"" + promLabel(s.name) + "\"} " +
           std::to_string(head - std::min(head, s.checkpoint)) + "\n";
  out +=
      "# HELP portal_projection_failed 1 when a projection stopped at an event it cannot apply.\n"
      "# TYPE portal_projection_failed gauge\n";
  for (const auto& s : portal.projector().status())
    out += "portal_projection_failed{projection=\"" + promLabel(s.name) + "\"} " +
           (s.failed ? "1" : "0") + "\n";
  if (options.moreMetrics) options.moreMetrics(out);
  HttpResponse r;
  r.contentType = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  return r;
}

}  // namespace portal
