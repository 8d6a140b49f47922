// The audit trail and the events feed, with its long polls.

#include "src/http/api_impl.h"

namespace portal {

HttpResponse Api::Impl::auditList(Call& call) {
  HttpResponse error;
  auto limit = limitOf(call, error);
  if (!limit) return error;
  AuditQuery q;
  // A subject is an id; an actor is a user's id or `system` (provisioning, the
  // server's own housekeeping). Anything else is said so, where it found nothing
  // (a review: `actor=owner@acme.example` answered an empty trail).
  for (const auto& [name, slot] :
       {std::pair{"subject", &q.subject}, std::pair{"actor", &q.actor}}) {
    const std::string text(trim(param(call, name)));
    if (text.empty()) continue;
    if (slot == &q.actor && asciiLower(text) == kSystem) {
      *slot = kSystem;
    } else if (auto id = uuidOf(text)) {
      *slot = std::move(*id);
    } else {
      return notAnId(name, text, slot == &q.actor);
    }
  }
  q.type = param(call, "type");
  if (!q.type.empty() && !isEventTypeName(q.type))
    return badParam("type", (q.type.find('@') == std::string::npos ? "type '" + q.type + "'"
                                                                   : std::string("type")) +
                                " is not an event type; one of " + eventTypeNameList() + ".");
  q.limit = *limit;
  // A '+' typed into a URL unencoded arrives as a space (form encoding); before an
  // offset (…:40.853610 02:00) it can only have been that '+'.
  auto timeParam = [&](const char* name) {
    std::string text = param(call, name);
    const std::size_t n = text.size();
    auto digit = [&](std::size_t i) { return text[i] >= '0' && text[i] <= '9'; };
    if (n > 6 && text[n - 6] == ' ' && digit(n - 5) && digit(n - 4) && text[n - 3] == ':' &&
        digit(n - 2) && digit(n - 1))
      text[n - 6] = '+';
    return text;
  };
  // A date alone is its first moment as `from` and its last as `to`: to=2026-11-30
  // takes in that day.
  const std::string fromText = timeParam("from"), toText = timeParam("to");
  for (const auto& [name, text, slot] :
       {std::tuple{"from", &fromText, &q.from}, std::tuple{"to", &toText, &q.to}}) {
    if (text->empty()) continue;
    auto t = slot == &q.to ? parseRangeEnd(*text) : parseRangeStart(*text);
    if (!t)
      return badParam(name, std::string(name) +
                                " must be an RFC 3339 time or a date, e.g. "
                                "2026-11-23T10:15:30Z or 2026-11-23.");
    *slot = *t;
  }
  // Compared as typed (`from` not rounded up): a range within one microsecond is no
  // reversed one, unless its digits past the microsecond say so.
  if (q.from && q.to && laterAsTyped(*parseRfc3339(fromText), fromText, *q.to, toText))
    return badParam("from", "from " + fromText + " is after to " + toText + ".");
  // A cursor is the position to go on before, sealed with the filters and the
  // company as the other lists' are: one given for other filters (or none given,
  // a bare position) is refused where it used to page from wherever it pointed.
  auto micros = [](const std::optional<Timestamp>& t) {
    return t ? std::to_string(t->micros) : "";
  };
  const std::string list = "audit\n" + q.subject + '\n' + q.actor + '\n' + q.type + '\n' +
                           micros(q.from) + '\n' + micros(q.to);
  auto place = openListCursor(call, list, error);
  if (!place) return error;
  if (!place->empty()) {
    auto before = wholeNumber(*place);
    if (!before || *before == 0) return badCursor();
    q.before = *before;
  }
  auto page = portal.audit().list(call.company(), q);
  if (!page)
    return Api::problem(503, "log-unavailable", "The event log is not available",
                        page.error().message);
  return jsonResponse(
      200, itemsJson(page->items, page->nextBefore
                                      ? sealListCursor(call, list, std::to_string(page->nextBefore))
                                      : ""));
}

std::string Api::Impl::requestsWait(std::size_t n, const char* whose) {
  return std::to_string(n) + (n == 1 ? " request" : " requests") + whose +
         (n == 1 ? " waits" : " wait");
}

std::size_t Api::Impl::waitingPollsPerCompany() const {
  return std::clamp<std::size_t>(options.waitingPolls / 4, 1, 4);
}

HttpResponse Api::Impl::eventsList(Call& call) {
  HttpResponse error;
  auto limit = limitOf(call, error);
  if (!limit) return error;
  auto number = [&](const char* name, std::uint64_t& out) {
    const std::string text = param(call, name);
    if (text.empty()) return true;
    auto n = wholeNumber(text);
    if (n) out = *n;
    return n.has_value();
  };
  std::uint64_t after = 0, waitMs = 0;
  // `cursor` is the lists' name for where to go on: the feed's nextCursor is the
  // next `after`, and a client that pages every list alike sends it back so.
  const char* from = param(call, "cursor").empty() ? "after" : "cursor";
  if (from == std::string_view("cursor") && !param(call, "after").empty())
    return badParam("cursor", "Give after or cursor, not both: they name the same position.");
  const std::string fromText = param(call, from);
  if (!number(from, after)) {
    // More digits than any position has: past the log's end, said so below (zeros
    // before it aside).
    if (fromText.find_first_not_of("0123456789") == std::string::npos)
      after = wholeNumber(std::string_view(fromText).substr(
                              std::min(fromText.find_first_not_of('0'), fromText.size() - 1)))
                  .value_or(~std::uint64_t{0});
    else if (from == std::string_view("cursor"))
      return badCursor("cursor must be a log position (a whole number), as nextCursor gives.");
    else
      return badParam(from, std::string(from) + " must be a log position (a whole number).");
  }
  if (!number("waitMs", waitMs))
    return badParam("waitMs", "waitMs must be a whole number of milliseconds.");
  waitMs = std::min<std::uint64_t>(waitMs, kMaxEventWaitMs);
  EventStore& store = portal.store();
  // A position the log has not reached is a cursor from elsewhere (another server,
  // a log restored from an older backup): waiting there would skip every event up
  // to it without a word.
  if (after > store.lastPosition())
    return Api::problem(409, "position-ahead", "The log has not reached that position",
                        std::string(from) + "=" + fromText + " is past the log's last event (" +
                            std::to_string(store.lastPosition()) +
                            "); was the log restored from a backup? Poll again from there.");
  std::vector<std::string> items;
  std::uint64_t scanned = after;
  std::optional<Error> undecodable;
  // Reads what the log holds past `scanned`; a problem to answer when it cannot.
  auto scanNew = [&]() -> std::optional<HttpResponse> {
    const std::uint64_t head = store.lastPosition();
    if (head <= scanned) return std::nullopt;
    auto r = store.scan(scanned + 1, head - scanned, [&](const RawEvent& raw) {
      // Another company's event is passed over undecoded (and a damaged one of
      // theirs does not stop this company's feed).
      if (auto company = peekCompanyId(raw.json); company && *company != call.company()) {
        scanned = raw.position;
        return true;
      }
      // An edited event is not served as the record (the audit trail refuses it too).
      auto event = store.decodeChecked(raw);
      // A record that does not decode is not skipped: the consumer would miss
      // an event without knowing (the audit trail answers 503 too).
      if (!event) {
        const std::string& why = event.error().message;
        const std::string named = "event " + std::to_string(raw.position) + " ";
        undecodable = makeError(event.error().code,
                                why.rfind(named, 0) == 0 ? why : named + "cannot be read: " + why);
        return false;
      }
      scanned = raw.position;
      if (event->envelope.companyId != call.company()) return true;
      items.push_back(eventToJson(*event));
      return items.size() < *limit;
    });
    if (!r)
      return Api::problem(503, "log-unavailable", "The event log is not available",
                          r.error().message);
    // The events before it are answered; the poll from there gets the 503.
    if (undecodable && items.empty())
      return Api::problem(503, "log-unavailable", "The event log is not available",
                          undecodable->message);
    return std::nullopt;
  };
  if (auto problem = scanNew()) return *problem;
  if (items.empty() && !undecodable && waitMs > 0) {
    // Only a poll that has nothing yet waits. A waiting poll holds a worker thread,
    // which sign-ins and password changes of every company share: past the caps
    // it is 429 with Retry-After (answering at once with nothing would have the
    // client poll again in a tight loop).
    PollSlot slot(polls, call.company(), options.waitingPolls, waitingPollsPerCompany());
    if (!slot.held())
      return tooMany(1, "Too many waiting polls",
                     options.waitingPolls == 0
                         ? std::string("This server has too few worker threads for a poll to "
                                       "wait; poll again shortly.")
                     : slot.companyFull()
                         ? "At most " + requestsWait(waitingPollsPerCompany(), " of a company") +
                               " for events at once; poll again shortly."
                         : "At most " + requestsWait(options.waitingPolls, "") +
                               " for events at once on this server; poll again shortly.",
                     "too-many-polls");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(waitMs);
    // A client that closed its connection (a proxy that gave up, a consumer
    // stopped) lets its slot go at the next look rather than at its deadline.
    while (items.empty() && !undecodable && std::chrono::steady_clock::now() < deadline &&
           !stopping.load() && !call.req.clientLeft()) {
      // Long poll: look again shortly. The log has no per-company wakeup; 20 ms
      // keeps a waiting client's delay small at little cost.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      // The caller's rights as they are now: a session ended, or an administrator
      // deactivated or removed meanwhile, is answered so rather than sent more.
      if (auto denied = authenticate(call, RouteInfo{"GET", call.route, Access::kAdmin}))
        return *denied;
      if (auto problem = scanNew()) return *problem;
    }
  }
  // The next `after`: past everything looked at, so a poll never reads a stretch of
  // other companies' events twice.
  return jsonResponse(200, itemsJson(items, std::to_string(std::max(after, scanned))));
}

}  // namespace portal
