// The API (api.h): routing, authentication and authorization, commands and their
// answers, version tags and list cursors, the parts every route shares. The routes
// themselves are served by area in api_*.cc.

#include <cmath>

#include "src/domain/email.h"
#include "src/http/api_impl.h"

namespace portal {

std::string Api::Impl::companySlugOf(const std::string& companyId) {
  auto company = portal.credentials().companyById(companyId);
  return company ? company->slug : std::string();
}

Api::Impl::Impl(Portal& p, const CountryList& c, Clock& cl, IdSource& i, ApiOptions o,
                PasswordPolicy pol)
    : portal(p),
      countries(c),
      clock(cl),
      ids(i),
      options(std::move(o)),
      policy(std::move(pol)),
      hasher(options.hashCost),
      sessions(p.store(), p.store().columnFamily("sessions"), options.sessions),
      throttle(options.throttle),
      resetThrottle(options.resetThrottle),
      passwordThrottle(options.throttle),
      hashPool(std::max<std::size_t>(1, options.hashThreads), "hashing"),
      importLogs(p.store(), p.store().columnFamily("imports")),
      cursorSealer(p.processor().cursorKey()) {}

void Api::Impl::record(const std::string& method, const std::string& route, int status,
                       std::chrono::steady_clock::time_point start) {
  // A label per method a client makes up would grow the series without end.
  static const std::set<std::string, std::less<>> kMethods = {"GET",   "HEAD",   "POST",   "PUT",
                                                              "PATCH", "DELETE", "OPTIONS"};
  metrics.record(kMethods.count(method) ? method : std::string("other"), route, status,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

const Api::Impl::Route* Api::Impl::match(const HttpRequest& req, std::vector<std::string>& params,
                                         std::vector<std::string_view>* allowed,
                                         bool* malformedPath, bool* notUtf8Path) {
  const std::string_view target = req.target;
  // A path is spelled one way: an empty segment (`//`, a `/` at its end) names no
  // path, not the path without it (a review: `/api/v1//admins` served the admins
  // past a front proxy's rule for `/api/v1/admins`, and a command answered at many
  // targets).
  if (hasEmptySegment(target)) return nullptr;
  std::vector<std::string> parts = splitPath(target.substr(0, target.find('?')), malformedPath);
  // No id, name or path word holds bytes that are not UTF-8 (`%FF`): such a segment
  // is no path word and its bytes go nowhere further (not into a refusal's text; one
  // once ended the command processor's thread). "%" is what no decoded path word is.
  for (auto& part : parts)
    if (!isValidUtf8(part)) {
      part = "%";
      if (notUtf8Path != nullptr) *notUtf8Path = true;
    }
  // Which of the path's segments the route takes as a parameter, the first segment in
  // the highest bit; ~0 when it does not take the path.
  const auto shape = [&parts](const Route& r) {
    std::uint64_t bits = 0;
    if (r.segments.size() != parts.size() || parts.size() > 63) return ~std::uint64_t{0};
    for (std::size_t i = 0; i < parts.size(); ++i) {
      bits <<= 1;
      if (r.segments[i].front() == '{') {
        if (parts[i].empty()) return ~std::uint64_t{0};
        bits |= 1;
      } else if (r.segments[i] != parts[i]) {
        return ~std::uint64_t{0};
      }
    }
    return bits;
  };
  // A word of the path is the path's, not a parameter's: /users/import is the
  // import's path whatever its method, and no user's (a review got GET 404 "the user
  // does not exist" and an Allow naming GET and PATCH). The route whose first
  // parameter comes latest decides, and the methods of those of its shape alone.
  const std::vector<Route>& all = routes();
  std::array<std::uint64_t, kMaxRoutes> shapes;
  std::uint64_t best = ~std::uint64_t{0};
  for (std::size_t k = 0; k < all.size(); ++k) best = std::min(best, shapes[k] = shape(all[k]));
  if (best == ~std::uint64_t{0}) return nullptr;
  for (std::size_t k = 0; k < all.size(); ++k) {
    if (shapes[k] != best) continue;
    const Route& r = all[k];
    params.clear();
    for (std::size_t i = 0; i < parts.size(); ++i)
      // (An id in the path as it is written: `<id>%20` named the user; a review.)
      if (r.segments[i].front() == '{') params.push_back(idInTarget(parts[i]));
    if (r.info.method != req.method && !(req.method == "HEAD" && r.info.method == "GET")) {
      if (allowed != nullptr) allowed->push_back(r.info.method);
      continue;
    }
    return &r;
  }
  return nullptr;
}

HttpResponse Api::Impl::dispatch(const HttpRequest& req, std::string& routeName,
                                 std::shared_ptr<PendingCommand>& pending) {
  const std::string_view target = req.target;
  const std::size_t q = target.find('?');
  std::vector<std::string_view> allowed;
  std::vector<std::string> params;
  bool pathMalformed = false;
  bool pathNotUtf8 = false;
  if (const Route* r = match(req, params, &allowed, &pathMalformed, &pathNotUtf8)) {
    routeName = std::string(r->info.pattern);
    std::optional<std::string> twice;
    bool malformed = false;
    Call call{req,
              parseQuery(q == std::string_view::npos ? std::string_view{} : target.substr(q + 1),
                         twice, malformed),
              std::move(params),
              {},
              {},
              false,
              false,
              nullptr,
              routeName,
              false,
              {}};
    if (r->info.access != Access::kPublic) {
      if (auto denied = authenticate(call, r->info)) return *denied;
    }
    if (auto refused = pathRefused(pathMalformed, pathNotUtf8)) return *refused;
    // (`search=%` was searched for as a %, `search=%C3` refused: a review.)
    if (malformed)
      return Api::badRequest(
          "A % in the query is not followed by two hexadecimal digits: write a % itself as %25.");
    for (const auto& [name, value] : call.query)
      if (!isValidUtf8(name) || !isValidUtf8(value))
        return isValidUtf8(name) && isPlainName(name)
                   ? badParam(name, "The query parameter " + name +
                                        " is not UTF-8 once its %-escapes are decoded.")
                   : Api::badRequest(
                         "A query parameter is not UTF-8 once its %-escapes are decoded.");
    if (twice)
      return isPlainName(*twice)
                 ? badParam(*twice, "The query parameter '" + *twice +
                                        "' is given twice, with different values.")
                 : Api::badRequest("A query parameter is given twice, with different values.");
    if (auto refused = unknownParameter(call, *r)) return *refused;
    if (auto refused = unwantedBody(call, *r)) return *refused;
    HttpResponse res = (this->*r->handler)(call);
    pending = std::move(call.pending);
    return res;
  }
  if (auto answer = preflight(req, allowed, routeName)) return *answer;
  return unmatched(req, allowed, routeName);
}

// A path's parameter as well as a query's value: `/users/%zz` was 404 "the user does
// not exist", as if it named one.
std::optional<HttpResponse> Api::Impl::pathRefused(bool malformed, bool notUtf8) {
  if (malformed)
    return Api::badRequest(
        "A % in the path is not followed by two hexadecimal digits: write a % itself as %25.");
  if (notUtf8) return Api::badRequest("The path is not UTF-8 once its %-escapes are decoded.");
  return std::nullopt;
}

std::string Api::Impl::methodList(const std::vector<std::string_view>& allowed) {
  std::string list;
  for (auto m : allowed) list += (list.empty() ? "" : ", ") + std::string(m);
  // Every GET answers HEAD too.
  if (std::find(allowed.begin(), allowed.end(), "GET") != allowed.end()) list += ", HEAD";
  return list;
}

bool Api::Impl::crossOriginAllowed(std::string_view origin) const {
  if (origin.empty() || options.corsOrigins.empty()) return false;
  const std::string lower = asciiLower(origin);
  return std::find(options.corsOrigins.begin(), options.corsOrigins.end(), lower) !=
         options.corsOrigins.end();
}

std::optional<HttpResponse> Api::Impl::preflight(const HttpRequest& req,
                                                 const std::vector<std::string_view>& allowed,
                                                 std::string& routeName) const {
  const std::string_view origin = req.header("origin");
  if (options.corsOrigins.empty() || req.method != "OPTIONS" || origin.empty() ||
      req.header("access-control-request-method").empty() || allowed.empty())
    return std::nullopt;
  routeName = "(preflight)";
  // A browser reads no answer of the request it asked about without the origin's
  // fields: said here for whoever looks at the preflight in the browser's tools.
  if (!crossOriginAllowed(origin))
    return Api::problem(403, "forbidden", "Forbidden",
                        "This origin is not one whose pages may call the API from a browser "
                        "(portal-server --cors-origin names those).");
  HttpResponse res = noContent();
  res.headers.emplace_back("Access-Control-Allow-Methods", methodList(allowed));
  // What a front end sends: its token, a JSON or CSV body, a key for retries, the
  // version it changes, and an id to find its request in the server's log.
  res.headers.emplace_back("Access-Control-Allow-Headers",
                           "Authorization, Content-Type, Idempotency-Key, If-Match, "
                           "If-None-Match, X-Request-Id");
  res.headers.emplace_back("Access-Control-Max-Age", "600");
  return res;
}

bool Api::Impl::isPlainName(const std::string& name) {
  return !name.empty() && name.size() <= 40 &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '_' || c == '-' || c == '.';
         });
}

bool Api::Impl::nearlyTheSame(std::string_view given, std::string_view known) {
  std::string a, b = asciiLower(known);
  for (unsigned char c : given)
    if (c != '_' && c != '-') a += static_cast<char>(std::tolower(c));
  if (a == b) return true;
  if (a.size() + 1 < b.size() || b.size() + 1 < a.size() || b.size() < 4) return false;
  if (a.size() == b.size()) {  // one letter changed, or two side by side swapped
    std::size_t first = 0, end = a.size();
    while (a[first] == b[first]) ++first;
    while (a[end - 1] == b[end - 1]) --end;
    return end - first == 1 ||
           (end - first == 2 && a[first] == b[first + 1] && a[first + 1] == b[first]);
  }
  // One letter more or less: the rest alike once it is set aside.
  const std::string& longer = a.size() > b.size() ? a : b;
  const std::string& shorter = a.size() > b.size() ? b : a;
  std::size_t same = 0;
  while (same < shorter.size() && shorter[same] == longer[same]) ++same;
  return longer.compare(same + 1, std::string::npos, shorter, same) == 0;
}

std::optional<HttpResponse> Api::Impl::unknownParameter(const Call& call, const Route& r) {
  if (r.passesOver || call.query.empty()) return std::nullopt;
  const auto& known = r.query;
  const bool command = r.info.method != "GET";
  for (const auto& entry : call.query) {
    const std::string& name = entry.first;
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    // `_=1712345678`: what jQuery and others add to a GET so that no cache answers it.
    if (!command && name == "_") continue;
    const bool plain = isPlainName(name);
    const std::string what = command ? "this command takes" : "this request takes";
    std::string detail = plain ? "The query parameter '" + name + "' is not one " + what
                               : "A query parameter is not one " + what;
    const std::string end = command ? ". Nothing was done." : ".";
    if (known.empty()) {
      detail += r.takesBody ? "; it takes none (its fields go in the body)" : "; it takes none";
    } else {
      for (std::string_view k : known)
        if (plain && nearlyTheSame(name, k)) detail += " (did you mean " + std::string(k) + "?)";
      detail += "; it takes " + wordList(known, "and");
    }
    detail += end;
    return plain ? badParam(name, detail) : Api::badRequest(detail);
  }
  return std::nullopt;
}

std::optional<HttpResponse> Api::Impl::unwantedBody(const Call& call, const Route& r) {
  if (r.takesBody || r.passesOver || r.info.method == "GET" || trim(call.req.body).empty())
    return std::nullopt;
  // `{}` whatever its Content-Type (fetch() sends a string body as text/plain).
  if (const json empty = json::parse(call.req.body, nullptr, false);
      empty.is_object() && empty.empty())
    return std::nullopt;
  HttpResponse error;
  auto body = objectBody(call.req, error);
  if (!body) return error;
  std::vector<std::pair<std::string, std::string>> errors;
  refuseOtherFields(*body, {}, errors, "is not a field of this request: it takes no body");
  if (errors.empty()) return std::nullopt;
  return validation(errors);
}

HttpResponse Api::Impl::unmatched(const HttpRequest& req,
                                  const std::vector<std::string_view>& allowed,
                                  std::string& routeName) {
  // A method no server of HTTP knows (RFC 9110 9.1: 501, not 405, which says the
  // path takes other methods of the protocol).
  static constexpr std::array<std::string_view, 9> kMethods = {
      "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"};
  if (std::find(kMethods.begin(), kMethods.end(), req.method) == kMethods.end()) {
    routeName = "(method not implemented)";
    return Api::problem(
        501, "method-not-implemented", "Method not implemented",
        "This server does not implement the method " +
            (req.method.size() <= 32 ? req.method : req.method.substr(0, 32) + "...") + ".");
  }
  // The server as a whole (RFC 9110 9.3.7): the methods some path of it answers.
  if (req.method == "OPTIONS" && req.target == "*") {
    routeName = "(server)";
    static const std::string kAllow = [] {
      std::string allow;
      for (std::string_view m : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
        if (m == "HEAD" || std::any_of(routes().begin(), routes().end(),
                                       [&](const Route& r) { return r.info.method == m; }))
          allow += (allow.empty() ? "" : ", ") + std::string(m);
      return allow + ", OPTIONS";  // this one (a review found it left out)
    }();
    HttpResponse res = noContent();
    res.headers.emplace_back("Allow", kAllow);
    return res;
  }
  if (!allowed.empty()) {
    routeName = "(method not allowed)";
    HttpResponse res = Api::problem(405, "method-not-allowed", "Method not allowed",
                                    "This path does not answer " + req.method + ".");
    res.headers.emplace_back("Allow", methodList(allowed));
    return res;
  }
  routeName = "(unknown)";
  return Api::problem(404, "not-found", "Not found",
                      hasEmptySegment(req.target)
                          ? "There is no such path in this API: it has an empty segment (// or "
                            "a / at its end)."
                          : "There is no such path in this API.");
}

std::optional<std::string> Api::Impl::bearerHash(std::string_view auth) {
  if (auth.size() <= 7 || asciiLower(auth.substr(0, 7)) != "bearer ") return std::nullopt;
  return tokenHash(trim(auth.substr(7)));
}

bool Api::Impl::madeBefore(const Call& call) {
  if (call.req.method == "GET" || call.req.method == "HEAD" ||
      call.req.header("idempotency-key").empty())
    return false;
  // The very request, sent within minutes: a retry after a lost answer. (Any
  // older key would let someone whose right is gone read what the route answers,
  // the resource as it is now, for ever.)
  Submission s;
  s.command = Command{call.company(), call.actor(), CommandBody{}};
  if (idempotency(call.req, call.route, s) || !portal.sentRecently(s, kRetryAfterLostRightWithin))
    return false;
  auto first = portal.firstAnswer(s);
  return first && first->accepted() && first->projected;
}

std::optional<HttpResponse> Api::Impl::authenticate(Call& call, const RouteInfo& route) {
  auto hash = bearerHash(call.req.header("authorization"));
  if (!hash) return unauthorized(false);
  call.tokenHash = std::move(*hash);
  const bool signOut = route.pattern == "/api/v1/sessions/current";
  const bool unchecked = sessionsUnchecked.load(std::memory_order_acquire);
  auto session = sessions.use(call.tokenHash, clock.now());
  if (!session) return unauthorized();
  // (Ending one's own session is safe whatever the views show.)
  if (unchecked && !signOut) {
    if (auto stopped = sessionsChecked()) return stopped;
    session = sessions.use(call.tokenHash, clock.now());  // the check may have ended it
    if (!session) return unauthorized();
  }
  call.session = std::move(*session);
  // A stopped users view shows people as they were when it stopped: someone made an
  // administrator since, or removed, reactivated or anonymized since. So it neither
  // ends a session nor grants or refuses a role; that waits for its rebuild (503).
  // Ending one's own session needs nothing of it. Looked at before the read: a
  // rebuild's switch between the two would pass a row read from the stopped view.
  const bool viewStopped = portal.projector().stopped(UsersProjection::kName);
  auto unconfirmed = [&] {
    return viewUnavailable("users",
                           ", so who may do this cannot be checked; nothing was done. Try again "
                           "later.");
  };
  // The user's current state decides, not what it was at sign-in: a deactivated
  // user's sessions stop at once even if ending them was interrupted.
  auto read = readUserFlags(call.company(), call.actor());
  // A read that failed is no sign of the user's end: the session stays.
  if (!read) return usersViewUnreadable(call, read.error());
  const auto& me = *read;
  if (!me || !me->active || me->anonymized) {
    if (viewStopped) {
      if (!signOut) return unconfirmed();
    } else {
      // Not waited for on this network thread: the user's state refuses it anyway.
      (void)sessions.remove(call.tokenHash, false);  // a failure is said on stderr
      return unauthorized();
    }
  } else {
    call.isAdmin = me->isAdmin;
    call.isOwner = me->isOwner;
  }
  const bool passwordRoute =
      route.pattern == "/api/v1/me" || route.pattern == "/api/v1/me/password" || signOut;
  if (call.session.mustChangePassword && !passwordRoute)
    return Api::problem(403, "password-change-required", "Password change required",
                        "Change the temporary password with POST /api/v1/me/password first.");
  // The role the route asks for, by the view; none asked of a user reading their own.
  std::optional<bool> holdsRole;
  switch (route.access) {
    case Access::kPublic:
    case Access::kAny:
      break;
    case Access::kSelfOrAdmin:
      if (call.params.front() != call.actor()) holdsRole = call.isAdmin;
      break;
    case Access::kAdmin:
      holdsRole = call.isAdmin;
      break;
    case Access::kOwner:
      holdsRole = call.isOwner;
      break;
  }
  if (!holdsRole) return std::nullopt;
  // Commands too: most answer from the views before the write model decides (an
  // import's errors against the pool, a PATCH's 404 or 412), which would show the
  // pool to someone whose role is gone.
  if (viewStopped) return unconfirmed();
  if (*holdsRole) return std::nullopt;
  switch (route.access) {
    case Access::kSelfOrAdmin:
      // Ids of other companies are unknown here, whoever asks.
      if (!portal.users().row(call.company(), call.params.front()))
        return userNotFound(call.params.front());
      return forbidden("Only an administrator or the user themself may do this.");
    case Access::kOwner:
      if ((call.rightGone = madeBefore(call))) return std::nullopt;
      return forbidden(route.pattern == "/api/v1/owner"
                           ? "Only the company's owner may transfer ownership."
                       : route.pattern == "/api/v1/admins/{userId}"
                           ? "Only the company's owner may remove an administrator."
                           : "Only the company's owner may do this.");
    default:
      if ((call.rightGone = madeBefore(call))) return std::nullopt;
      return forbidden("Only an administrator may do this.");
  }
}

void Api::Impl::endSessionsSoon(const std::string& company, const std::string& user) {
  sessions.removeUser(company, user, {}, false);
  hashPool.post([this] { (void)sessions.makeDurable(); });
}

bool Api::Impl::endSessionsTheLogEnded() {
  if (portal.projector().stopped(CredentialsProjection::kName)) {
    if (!sessionsUnchecked.exchange(true))
      logLine(
          "portal: the credentials view is stopped, so the sessions a password change or "
          "deactivation before the last stop ended cannot be found: every signed-in request but "
          "a sign-out is 503 until it is rebuilt");
    return false;
  }
  const std::size_t ended = sessions.removeWhere([&](const Session& s) {
    auto account = portal.credentials().account(s.companyId, s.userId);
    if (!account || !account->active) return true;
    return std::max(s.createdAt, s.passwordChangedAt) < account->passwordSetAt;
  });
  if (ended > 0)
    logLine("portal: " + std::to_string(ended) +
            " session(s) ended by a password change or deactivation before the last stop were "
            "ended now");
  sessionsUnchecked.store(false, std::memory_order_release);
  return true;
}

std::optional<HttpResponse> Api::Impl::sessionsChecked() {
  if (!sessionsUnchecked.load(std::memory_order_acquire)) return std::nullopt;
  std::lock_guard lock(sessionsCheckMu);
  // (Again if the view ran again between the two looks.)
  while (sessionsUnchecked.load(std::memory_order_acquire) && !endSessionsTheLogEnded())
    if (auto stopped = credentialsStopped()) return stopped;
  return std::nullopt;
}

std::optional<HttpResponse> Api::Impl::whileStopped(const char* projection, std::string_view view,
                                                    std::string_view consequence) const {
  if (!portal.projector().stopped(projection)) return std::nullopt;
  return viewUnavailable(view, consequence);
}

HttpResponse Api::Impl::viewUnavailable(std::string_view view, std::string_view consequence) {
  return Api::problem(503, "view-unavailable",
                      "The " + std::string(view) + " view is not available",
                      "The " + std::string(view) +
                          " view stopped at an event an operator has to look at (GET /readyz "
                          "from the portal's host says which)" +
                          std::string(consequence));
}

// Said as the decider says it (notInCompany).
HttpResponse Api::Impl::userNotFound(std::string_view id) {
  if (id.find('@') == std::string_view::npos)
    if (auto stopped = whileStopped(UsersProjection::kName, "users", "; the user may exist."))
      return *stopped;
  return rejected(notInCompany("User", id));
}

HttpResponse Api::Impl::groupNotFound(std::string_view id) {
  return rejected(notInCompany("Group", id));
}

std::optional<HttpResponse> Api::Impl::credentialsStopped() const {
  return whileStopped(CredentialsProjection::kName, "credentials",
                      ", so passwords and accounts cannot be checked; nothing was done. Try "
                      "again later.");
}

HttpResponse Api::Impl::logUnavailable() {
  return Api::problem(503, "log-unavailable", "The event log is not available",
                      "The change may or may not have been saved. Try again later with the "
                      "same Idempotency-Key: a change that was saved is not made twice.");
}

HttpResponse Api::Impl::forbidden(std::string_view detail) {
  return Api::problem(403, "forbidden", "Not allowed", detail);
}

std::optional<HttpResponse> Api::Impl::run(const Call& call, CommandBody body, CommandReply& reply,
                                           MailBuilder outbox, bool useKey) {
  auto refused = runAs(call.req, call.route, call.company(), call.actor(), std::move(body), reply,
                       std::move(outbox), useKey);
  if (refused && reply.status == CommandReply::Status::kRejected)
    return refusedWithTag(reply.rejection, call.tagNow);
  return refused;
}

HttpResponse Api::Impl::refusedWithTag(const Rejection& r, const TagRead& tagNow) {
  HttpResponse refused = rejected(r);
  // Changed since it was read (If-Match, a form's version): the tag to read it
  // again by, or to send once what changed is looked at.
  if (refused.status == 412 && tagNow) setETag(refused, tagNow());
  return refused;
}

std::optional<HttpResponse> Api::Impl::runAs(const HttpRequest& req, const std::string& route,
                                             const std::string& company, const std::string& actor,
                                             CommandBody body, CommandReply& reply,
                                             MailBuilder outbox, bool useKey) {
  Submission s;
  s.command = Command{company, actor, std::move(body)};
  if (auto bad = idempotency(req, route, s, useKey)) return *bad;
  const bool mail = static_cast<bool>(outbox);
  s.outbox = std::move(outbox);
  reply = portal.execute(std::move(s));
  if (reply.status == CommandReply::Status::kFailed) return logUnavailable();
  if (reply.status == CommandReply::Status::kRejected) return rejected(reply.rejection);
  if (mail && !reply.replayed && options.mailQueued) options.mailQueued();
  return std::nullopt;
}

HttpResponse Api::Impl::command(Call& call, CommandBody body,
                                std::function<HttpResponse(const CommandReply&)> render,
                                MailBuilder outbox) {
  auto pending = std::make_shared<PendingCommand>();
  Submission& s = pending->submission;
  s.command = Command{call.company(), call.actor(), std::move(body)};
  if (auto bad = idempotency(call.req, call.route, s)) return *bad;
  pending->mail = static_cast<bool>(outbox);
  pending->rightGone = call.rightGone;
  pending->tagNow = call.tagNow;
  s.outbox = std::move(outbox);
  pending->render = std::move(render);
  call.pending = std::move(pending);
  return HttpResponse{};  // replaced by the command's answer
}

std::optional<HttpResponse> Api::Impl::idempotency(const HttpRequest& req, const std::string& route,
                                                   Submission& s, bool useKey) {
  // The system acts for public requests (sign-in, reset): a key a caller without
  // a session sends must not land among the company's keys.
  const std::string_view key =
      s.command.actor == kSystem || !useKey ? std::string_view{} : req.header("idempotency-key");
  s.keyScope = req.method + " " + route;
  // A field sent empty is a client's bug (a key variable never set): refused, not
  // taken as no key, since its retries would then each run the command again (a
  // review made two resources so).
  if (key.empty() && s.command.actor != kSystem && useKey &&
      std::any_of(req.headers.begin(), req.headers.end(),
                  [](const auto& h) { return h.first == "idempotency-key"; }))
    return Api::badRequest(
        "The Idempotency-Key is empty: send a key (a new UUID for each command), or no "
        "Idempotency-Key field.");
  if (!key.empty()) {
    if (key.size() > 200)
      return Api::badRequest("The Idempotency-Key is longer than 200 characters.");
    for (unsigned char c : key)
      if (c < 0x21 || c > 0x7e)
        return Api::badRequest("The Idempotency-Key must be printable ASCII without spaces.");
    // Kept as a hash of the key with its scope: a client's key may hold personal
    // data ("create-ann@acme.example"), and the command id is written into every
    // event of the command, which no erasure rewrites.
    s.commandId =
        portal.processor().commandIdOfKey(s.command.companyId, s.command.actor, s.keyScope, key);
    s.clientKey = true;
    // If-Match is part of the request: a retry that names another version is
    // another request (422 idempotency-key-reused), not the first one's 412 again.
    // A password change's body is its passwords: a fast hash of them kept on disk
    // would let guesses be tested at SHA-256 speed, and a retry's comparison would
    // test them unthrottled (a review). Its fingerprint is of the target alone; a
    // retry's new password is checked against the hash the change set instead
    // (changePassword).
    // So is the charset an import's file is read in, when it is not UTF-8: the same
    // bytes as another charset are other names (a review: a file sent again with its
    // charset corrected got the first import's answer).
    if (req.digest.empty()) {
      std::string what = req.target;
      if (const std::string_view tags = req.header("if-match"); !tags.empty())
        what += "\nIf-Match: " + std::string(tags);
      if (const std::string_view tags = req.header("if-none-match"); !tags.empty())
        what += "\nIf-None-Match: " + std::string(tags);
      // (An import's alone: other commands' digests stay those of their records.)
      if (const auto charset = charsetParameter(req.header("content-type"));
          charset && std::holds_alternative<ImportUsers>(s.command.body) &&
          !isUtf8Charset(*charset))
        what += "\ncharset=" + canonicalCharset(*charset).value_or(asciiLower(trim(*charset)));
      const bool secretBody = std::holds_alternative<SetPassword>(s.command.body);
      req.digest =
          requestDigest(what, secretBody ? std::string_view() : std::string_view(req.body));
    }
    s.fingerprint = req.digest;
    // An import refused (an email already in the pool) created nothing: the file
    // corrected and sent again with the same key is checked anew, not refused
    // again with the first file's rows.
    s.replayRefusals = !std::holds_alternative<ImportUsers>(s.command.body);
  } else {
    s.commandId = ids.newId();
  }
  s.correlationId = req.requestId.empty() ? s.commandId : req.requestId;
  return std::nullopt;
}

std::unique_lock<std::mutex> Api::Impl::serialize(std::string_view what) {
  return std::unique_lock<std::mutex>(
      serialLocks[std::hash<std::string_view>{}(what) % serialLocks.size()]);
}

std::unique_lock<std::mutex> Api::Impl::serializeUser(const std::string& company,
                                                      const std::string& user) {
  return serialize("user\n" + company + "\n" + user);
}

std::optional<HttpResponse> Api::Impl::viewsCaughtUp(std::string_view detail) {
  if (portal.projector().waitFor(portal.store().lastPosition(), std::chrono::seconds(10)))
    return std::nullopt;
  return Api::problem(503, "views-behind", "Try again shortly", std::string(detail));
}

std::unique_lock<std::mutex> Api::Impl::serializeErasure(const std::string& company,
                                                         const std::string& user) {
  const std::string what = company + "\n" + user;
  return std::unique_lock<std::mutex>(
      erasureLocks[std::hash<std::string>{}(what) % erasureLocks.size()]);
}

std::unique_lock<std::mutex> Api::Impl::serializeKey(const Call& call) {
  const std::string_view key = call.req.header("idempotency-key");
  if (key.empty()) return {};
  return serialize(portal.processor().commandIdOfKey(call.company(), call.actor(),
                                                     call.req.method + " " + call.route, key));
}

std::optional<CommandReply> Api::Impl::earlierAnswer(const Call& call, CommandBody body,
                                                     std::optional<HttpResponse>& problem) {
  Submission s;
  s.command = Command{call.company(), call.actor(), std::move(body)};
  if ((problem = idempotency(call.req, call.route, s))) return std::nullopt;
  auto first = portal.firstAnswer(s);
  if (first && first->status == CommandReply::Status::kFailed) {
    // Nothing is done again on a key whose first answer cannot be read.
    logLine("request " + call.req.requestId + ": " + first->failure);
    problem = Api::problem(503, "log-unavailable", "The event log is not available",
                           "The first answer to this Idempotency-Key cannot be read, so nothing "
                           "was done; the server's log says why.");
    return std::nullopt;
  }
  if (first && first->accepted() && !first->projected) {
    problem = Api::problem(503, "log-unavailable", "The event log is not available",
                           "The first request with this key is not durable yet; try again.");
    return std::nullopt;
  }
  return first;
}

HttpResponse Api::Impl::finish(const PendingCommand& pending, const CommandReply& reply) {
  if (reply.status == CommandReply::Status::kFailed) return logUnavailable();
  if (reply.status == CommandReply::Status::kRejected)
    return refusedWithTag(reply.rejection, pending.tagNow);
  if (pending.mail && !reply.replayed && options.mailQueued) options.mailQueued();
  // `render` does what the command's answer brings about (a deactivation ends the
  // user's sessions) besides reading the result back.
  HttpResponse rendered = pending.render(reply);
  // Durable, but the views did not show it within the wait (the projector held up):
  // what `render` read back is missing or old (a user just created read 404).
  if (reply.accepted() && !reply.projected) {
    json out = {{"status", "accepted"},
                {"position", reply.lastPosition},
                {"detail",
                 "The change is made and durable, but the portal's views have not caught up "
                 "with it yet, so it is not shown here; read it back shortly rather than "
                 "send it again."}};
    if (!reply.decision.id.empty()) out["id"] = reply.decision.id;
    return jsonResponse(202, out.dump());
  }
  // The first answer's status and what it was about, not the record as it reads now:
  // that would show what changed after the right went (a review read a user's new
  // job title, changed after the administrator who retried was removed).
  if (pending.rightGone && reply.replayed && rendered.status / 100 == 2 && !rendered.body.empty()) {
    HttpResponse bare = idOnly(rendered.status, reply.decision.id);
    for (const auto& header : rendered.headers)
      if (header.first == "Location") bare.headers.push_back(header);
    return bare;
  }
  return rendered;
}

HttpResponse Api::Impl::idOnly(int status, const std::string& id) {
  return jsonResponse(status, id.empty() ? "{}" : json{{"id", id}}.dump());
}

HttpResponse Api::Impl::replayedUser(const Call& call, const std::string& id) {
  return call.rightGone ? idOnly(200, id) : userResponse(call.company(), id);
}

std::string Api::Impl::userJson(const std::string& company, const std::string& id) {
  return portal.users().get(company, id).value_or("null");
}

HttpResponse Api::Impl::userResponse(const std::string& company, const std::string& id,
                                     int status) {
  auto text = portal.users().get(company, id);
  if (!text) return userNotFound(id);
  HttpResponse r = jsonResponse(status, *text);
  setETag(r, userTag(r.body));
  return r;
}

void Api::Impl::setETag(HttpResponse& r, const std::optional<VersionTag>& tag) {
  if (tag) r.headers.emplace_back("ETag", "\"" + tag->text + "\"");
}

std::optional<Api::Impl::VersionTag> Api::Impl::versionTag(std::string_view row, bool userMarks) {
  auto doc = JsonDocument::parse(row);
  if (!doc) return std::nullopt;
  auto v = doc->member(doc->root(), "version");
  if (!v || !doc->node(*v).isUnsigned) return std::nullopt;
  const std::uint64_t version = doc->node(*v).u;
  const bool marked = userMarks && stringMember(*doc, "managerEmail") == kAnonymizedMarker;
  return VersionTag{version, std::to_string(version) + (marked ? "-a" : "")};
}

std::optional<Api::Impl::VersionTag> Api::Impl::userTag(std::string_view user) {
  return versionTag(user, true);
}

Api::Impl::RowRead Api::Impl::userRow(const Call& call, const std::string& id) {
  return [this, company = call.company(), id] { return portal.users().get(company, id); };
}

Api::Impl::RowRead Api::Impl::groupRow(const Call& call, const std::string& id) {
  return [this, company = call.company(), id] { return portal.groups().row(company, id); };
}

Api::Impl::TagRead Api::Impl::userTagNow(const Call& call, const std::string& id) {
  return [read = userRow(call, id)] { return userTag(read().value_or("")); };
}

Api::Impl::TagRead Api::Impl::groupTagNow(const Call& call, const std::string& id) {
  // Its version alone: no list of members read for it.
  return [this, company = call.company(), id] {
    return versionTag(portal.groups().row(company, id).value_or(""));
  };
}

bool Api::Impl::namesTag(std::string_view list, std::string_view etag) {
  if (trim(list) == "*") return true;
  auto opaque = [](std::string_view tag) {
    tag = trim(tag);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    return tag;
  };
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (const std::string_view tag = opaque(list.substr(0, comma));
        tag.size() >= 2 && tag == opaque(etag))
      return true;
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return false;
}

HttpResponse Api::Impl::conditionalRead(const Call& call, HttpResponse r, const char* what) {
  if (r.status != 200) return r;
  std::string etag;
  for (const auto& [name, value] : r.headers)
    if (name == "ETag") etag = value;
  if (etag.empty()) return r;
  if (const std::string_view match = call.req.header("if-match");
      !match.empty() && !namesTag(match, etag))
    return notAsShown(what, etag);
  if (const std::string_view none = call.req.header("if-none-match");
      !none.empty() && namesTag(none, etag)) {
    HttpResponse notModified;
    notModified.status = 304;
    notModified.contentType.clear();  // RFC 9110 15.4.5: the tag, no representation's metadata
    notModified.headers.emplace_back("ETag", etag);
    return notModified;
  }
  return r;
}

Untagged Api::Impl::untaggedConditions(const HttpRequest& req) {
  const std::string_view match = trim(req.header("if-match"));
  return {.ifMatchTag = !match.empty() && match != "*",
          .ifMatchAny = match == "*",
          .ifNoneMatchAny = trim(req.header("if-none-match")) == "*"};
}

HttpResponse Api::Impl::notAsShown(const char* what, const std::string& etag) {
  HttpResponse r = Api::problem(412, "version-mismatch", "The resource has changed",
                                std::string("If-Match does not name this ") + what +
                                    " as it is now: its ETag is " + etag + "; read it again.");
  r.headers.emplace_back("ETag", etag);
  return r;
}

std::optional<HttpResponse> Api::Impl::ifMatch(Call& call, TagRead shownTag, const char* what,
                                               std::optional<std::uint64_t>& expected,
                                               bool shownOnly) {
  call.tagNow = shownTag;
  const HttpRequest& req = call.req;
  // If-None-Match on a change: false (412) when it names the tag shown now, or is "*"
  // and there is something shown (RFC 9110 13.1.2; it was not looked at: a review).
  if (const std::string_view none = req.header("if-none-match"); !none.empty()) {
    if (const std::optional<VersionTag> shown = shownTag();
        shown && namesTag(none, "\"" + shown->text + "\"")) {
      HttpResponse r = Api::problem(412, "version-mismatch", "The resource has changed",
                                    std::string("If-None-Match names this ") + what +
                                        " as it is now (ETag \"" + shown->text + "\").");
      setETag(r, shown);
      return r;
    }
  }
  const std::string_view header = req.header("if-match");
  if (header.empty()) return std::nullopt;
  expected.reset();  // it wins over a body's version
  if (trim(header) == "*") return std::nullopt;
  const std::optional<VersionTag> shown = shownTag();
  std::vector<std::uint64_t> versions;
  bool named = false;  // the tag shown now
  std::string_view rest = header;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    std::string_view tag = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    // Unquoted is no entity-tag (RFC 9110 8.8.3), and names no version: `If-Match: 1`
    // was taken as "1" (a review).
    if (tag.size() < 2 || tag.front() != '"' || tag.back() != '"') continue;
    tag = tag.substr(1, tag.size() - 2);
    named = named || (shown && tag == shown->text);
    if (tag.ends_with("-a")) tag.remove_suffix(2);
    // The version shown now with another mark is what it was before its manager's
    // erasure: changed since.
    if (auto v = wholeNumber(tag); v && (!shown || *v != shown->version)) versions.push_back(*v);
  }
  if (!shown) {
    expected = versions.empty() ? std::numeric_limits<std::uint64_t>::max() : versions.front();
    return std::nullopt;
  }
  // (The tag named, so that a client that made If-Match of the body's version
  // learns that the ETag is more than that.)
  // A user shown with the mark of their manager's erasure: any other tag was read
  // before it, or made of the body's bare version, and the write model's refusal
  // would name the bare version, which is 412 again (a review): 412 here, naming
  // the tag to send.
  const bool shownMarked = shown->text != std::to_string(shown->version);
  if (!named && (versions.empty() || shownOnly || shownMarked))
    return notAsShown(what, "\"" + shown->text + "\"");
  expected = named ? shown->version : versions.front();
  return std::nullopt;
}

std::optional<std::uint64_t> Api::Impl::wholeNumber(std::string_view text) {
  if (text.empty() || text.size() > 19 ||
      text.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  std::uint64_t n = 0;
  for (char c : text) n = n * 10 + static_cast<std::uint64_t>(c - '0');
  return n;
}

std::optional<std::size_t> Api::Impl::limitOf(const Call& call, HttpResponse& error) {
  // An empty `limit=` (a form's field left blank) is no limit given, as for every
  // other parameter.
  auto it = call.query.find("limit");
  if (it == call.query.end() || it->second.empty()) return kDefaultLimit;
  const auto n = wholeNumber(it->second);
  if (!n || *n < 1 || *n > kMaxLimit) {
    error = badParam("limit", "limit must be a whole number from 1 to 500.");
    return std::nullopt;
  }
  return static_cast<std::size_t>(*n);
}

std::string Api::Impl::param(const Call& call, const char* name) const {
  auto it = call.query.find(name);
  return it == call.query.end() ? std::string() : it->second;
}

std::string Api::Impl::idParam(const Call& call, const char* name) const {
  return idInTarget(param(call, name));
}

std::string Api::Impl::idInTarget(std::string given) {
  return trim(given).size() == given.size() ? idAsGiven(std::move(given)) : given;
}

std::string Api::Impl::idAsGiven(std::string given) {
  if (auto id = uuidOf(given)) return std::move(*id);
  return given;
}

HttpResponse Api::Impl::badCursor(std::string_view detail) {
  return Api::problem(400, "invalid-cursor", "The cursor cannot be used", detail);
}

std::optional<std::string> Api::Impl::openListCursor(const Call& call, std::string_view list,
                                                     HttpResponse& error, const Sealer* sealer) {
  const std::string cursor = param(call, "cursor");
  if (cursor.empty()) return std::string();
  const std::string scope = std::string(list) + '\n' + call.company() + '\n';
  auto place = (sealer ? *sealer : cursorSealer).open(cursor);
  if (!place || place->compare(0, scope.size(), scope) != 0) {
    error = badCursor();
    return std::nullopt;
  }
  return place->substr(scope.size());
}

std::string Api::Impl::sealListCursor(const Call& call, std::string_view list,
                                      const std::string& lastId, const Sealer* sealer) {
  if (lastId.empty()) return {};
  return (sealer ? *sealer : cursorSealer)
      .seal(std::string(list) + '\n' + call.company() + '\n' + lastId);
}

HttpResponse Api::Impl::created(const std::string& path, const std::string& id,
                                const std::optional<std::string>& row) {
  HttpResponse r = jsonResponse(201, row ? *row : json{{"id", id}}.dump());
  r.headers.emplace_back("Location", path + id);
  return r;
}

Api::Impl::ShownFields Api::Impl::judgeShownFields(
    const json& body, std::initializer_list<std::string_view> patchable, const RowRead& shownRow,
    const std::function<std::string(std::string_view)>& readOnly, const char* what,
    std::optional<std::uint64_t>& version,
    std::vector<std::pair<std::string, std::string>>& errors) {
  ShownFields out;
  std::optional<json> asShown;
  for (const auto& item : body.items()) {
    if (std::find(patchable.begin(), patchable.end(), item.key()) != patchable.end()) continue;
    // A form sends the time back as it read it; the version says whether it is stale.
    if (item.key() == "updatedAt") {
      if (!item.value().is_string()) errors.emplace_back("updatedAt", readOnly("updatedAt"));
      continue;
    }
    if (item.key() == "version") {
      // (106.0 is 106, as JSON reads it: a review had it refused as no whole number.)
      const json& v = item.value();
      const double d = v.is_number_float() ? v.get<double>() : 0;
      if (v.is_number_unsigned() && v.get<std::uint64_t>() >= 1)
        version = v.get<std::uint64_t>();
      else if (d >= 1 && d < 9e15 && std::floor(d) == d)
        version = static_cast<std::uint64_t>(d);
      else
        errors.emplace_back("version", "must be the version a read gave: a whole number from 1");
      continue;
    }
    if (!asShown) {
      const auto text = shownRow();
      asShown = text ? json::parse(*text, nullptr, false) : json();
      if (asShown->is_object() && asShown->contains("version") &&
          (*asShown)["version"].is_number_unsigned())
        out.shownVersion = (*asShown)["version"].get<std::uint64_t>();
    }
    const auto it = asShown->is_object() ? asShown->find(item.key()) : asShown->end();
    if (!asShown->is_object() || it == asShown->end())
      errors.emplace_back(item.key(), std::string("is not a field of a ") + what);
    else if (*it != item.value())
      out.readOnlyErrors.emplace_back(item.key(), readOnly(item.key()));
  }
  return out;
}

void Api::Impl::refuseReadOnly(const ShownFields& shown,
                               const std::optional<std::uint64_t>& expected,
                               std::vector<std::pair<std::string, std::string>>& errors) {
  if (expected && shown.shownVersion && *expected != *shown.shownVersion) return;
  errors.insert(errors.end(), shown.readOnlyErrors.begin(), shown.readOnlyErrors.end());
}

std::string Api::Impl::readOnlyUserField(std::string_view field) {
  if (field == "active")
    return "is read-only: use POST /api/v1/users/{id}/deactivate or /reactivate";
  if (field == "isAdmin")
    return "is read-only: use POST /api/v1/admins or DELETE /api/v1/admins/{id}";
  if (field == "isOwner") return "is read-only: use POST /api/v1/owner";
  if (field == "anonymized") return "is read-only: use POST /api/v1/users/{id}/anonymize";
  return "is read-only";
}

std::vector<std::pair<std::string, std::string>> Api::Impl::withValueProblems(
    std::vector<std::pair<std::string, std::string>> errors, std::vector<FieldProblem> problems) {
  for (auto& p : problems)
    if (std::none_of(errors.begin(), errors.end(),
                     [&](const auto& e) { return e.first == p.field; }))
      errors.emplace_back(std::move(p.field), std::move(p.message));
  return errors;
}

HttpResponse Api::Impl::rowsPage(Call& call, const std::string& list, const ListReader& reader,
                                 const std::string& prefix) {
  HttpResponse error;
  auto limit = limitOf(call, error);
  if (!limit) return error;
  const auto cursor = openListCursor(call, list, error);
  if (!cursor) return error;
  RowPage page = reader.list(prefix, *limit, *cursor);
  return jsonResponse(200, itemsJson(page.items, sealListCursor(call, list, page.nextCursor)));
}

const std::string& Api::Impl::subjectOf(const CommandReply& reply, const std::string& asked) {
  return reply.decision.id.empty() ? asked : reply.decision.id;
}

Result<std::optional<Api::Impl::UserFlags>> Api::Impl::readUserFlags(const std::string& company,
                                                                     const std::string& id) {
  auto read = portal.users().readRow(company, id);
  if (!read) return read.error();
  const auto& row = *read;
  auto doc = row ? JsonDocument::parse(*row) : std::nullopt;
  if (!doc) return std::optional<UserFlags>();
  auto flag = [&](std::string_view name) {
    auto m = doc->member(doc->root(), name);
    return m && doc->node(*m).kind == JsonDocument::Kind::kBool && doc->node(*m).boolean;
  };
  UserFlags flags{flag("active"), flag("anonymized"), flag("isAdmin"), flag("isOwner"), {}};
  if (auto email = stringMember(*doc, "email")) flags.email = std::string(*email);
  return std::optional<UserFlags>(std::move(flags));
}

HttpResponse Api::Impl::usersViewUnreadable(const Call& call, const Error& e) {
  logLine("request " + call.req.requestId + ": " + e.message);
  return Api::problem(503, "view-unavailable", "The users view is not available",
                      "The portal cannot read its users now; nothing was done. Try again later.");
}

std::optional<std::string_view> Api::Impl::stringMember(const JsonDocument& doc,
                                                        std::string_view name) {
  auto m = doc.member(doc.root(), name);
  if (!m || doc.node(*m).kind != JsonDocument::Kind::kString) return std::nullopt;
  return doc.node(*m).text;
}

const std::vector<Api::Impl::Route>& Api::Impl::routes() {
  using I = Api::Impl;
  static const std::vector<Route> table = [] {
    std::vector<Route> t = {
        {{"GET", "/healthz", Access::kPublic}, &I::healthz, {}},
        {{"GET", "/readyz", Access::kPublic}, &I::readyz, {}},
        {{"GET", "/metrics", Access::kPublic}, &I::metricsText, {}},
        {{"POST", "/api/v1/sessions", Access::kPublic}, &I::signIn, {}},
        {{"DELETE", "/api/v1/sessions/current", Access::kAny}, &I::signOut, {}},
        {{"GET", "/api/v1/me", Access::kAny}, &I::me, {}},
        {{"POST", "/api/v1/me/password", Access::kAny}, &I::changePassword, {}},
        {{"GET", "/api/v1/password-policy", Access::kPublic}, &I::passwordPolicy, {}},
        {{"POST", "/api/v1/password-resets", Access::kPublic}, &I::requestReset, {}},
        {{"POST", "/api/v1/password-resets/confirm", Access::kPublic}, &I::confirmReset, {}},
        {{"GET", "/api/v1/users", Access::kAdmin}, &I::listUsers, {}},
        {{"POST", "/api/v1/users", Access::kAdmin}, &I::createUser, {}},
        {{"GET", "/api/v1/users/import/template.csv", Access::kAdmin}, &I::templateCsv, {}},
        {{"GET", "/api/v1/users/import/template.xlsx", Access::kAdmin}, &I::templateXlsx, {}},
        {{"POST", "/api/v1/users/import", Access::kAdmin}, &I::importUsers, {}},
        {{"GET", "/api/v1/users/import/{importId}/errors.csv", Access::kAdmin},
         &I::importErrors,
         {}},
        {{"GET", "/api/v1/users/{id}", Access::kSelfOrAdmin}, &I::getUser, {}},
        {{"PATCH", "/api/v1/users/{id}", Access::kAdmin}, &I::patchUser, {}},
        {{"POST", "/api/v1/users/{id}/deactivate", Access::kAdmin}, &I::deactivate, {}},
        {{"POST", "/api/v1/users/{id}/reactivate", Access::kAdmin}, &I::reactivate, {}},
        {{"POST", "/api/v1/users/{id}/anonymize", Access::kAdmin}, &I::anonymize, {}},
        {{"GET", "/api/v1/users/{id}/resources", Access::kSelfOrAdmin}, &I::userResources, {}},
        {{"GET", "/api/v1/users/{id}/history", Access::kAdmin}, &I::userHistory, {}},
        {{"GET", "/api/v1/users/{id}/roles", Access::kSelfOrAdmin}, &I::userRoles, {}},
        {{"GET", "/api/v1/users/{id}/groups", Access::kAdmin}, &I::userGroups, {}},
        {{"PUT", "/api/v1/users/{id}/roles/{service}/{role}", Access::kAdmin}, &I::grantRole, {}},
        {{"DELETE", "/api/v1/users/{id}/roles/{service}/{role}", Access::kAdmin},
         &I::revokeRole,
         {}},
        {{"GET", "/api/v1/countries", Access::kAny}, &I::countriesList, {}},
        {{"GET", "/api/v1/admins", Access::kAdmin}, &I::listAdmins, {}},
        {{"POST", "/api/v1/admins", Access::kAdmin}, &I::includeAdmin, {}},
        {{"GET", "/api/v1/admins/{userId}", Access::kAdmin}, &I::getAdmin, {}},
        {{"DELETE", "/api/v1/admins/{userId}", Access::kOwner}, &I::removeAdmin, {}},
        {{"POST", "/api/v1/owner", Access::kOwner}, &I::transferOwnership, {}},
        {{"GET", "/api/v1/services", Access::kAny}, &I::servicesList, {}},
        {{"POST", "/api/v1/resources", Access::kAdmin}, &I::createResource, {}},
        {{"GET", "/api/v1/resources", Access::kAdmin}, &I::resourcesList, {}},
        {{"GET", "/api/v1/resources/{id}", Access::kAdmin}, &I::getResource, {}},
        {{"DELETE", "/api/v1/resources/{id}", Access::kAdmin}, &I::releaseResource, {}},
        {{"GET", "/api/v1/groups", Access::kAdmin}, &I::listGroups, {}},
        {{"POST", "/api/v1/groups", Access::kAdmin}, &I::createGroup, {}},
        {{"GET", "/api/v1/groups/{id}", Access::kAdmin}, &I::getGroup, {}},
        {{"PATCH", "/api/v1/groups/{id}", Access::kAdmin}, &I::patchGroup, {}},
        {{"DELETE", "/api/v1/groups/{id}", Access::kAdmin}, &I::deleteGroup, {}},
        {{"GET", "/api/v1/groups/{id}/members", Access::kAdmin}, &I::listMembers, {}},
        {{"PUT", "/api/v1/groups/{id}/members/{userId}", Access::kAdmin}, &I::addMember, {}},
        {{"DELETE", "/api/v1/groups/{id}/members/{userId}", Access::kAdmin}, &I::removeMember, {}},
        {{"GET", "/api/v1/audit", Access::kAdmin}, &I::auditList, {}},
        {{"GET", "/api/v1/events", Access::kAdmin}, &I::eventsList, {}},
    };
    static const std::set<std::pair<std::string_view, std::string_view>> blocking = {
        {"POST", "/api/v1/sessions"},
        {"DELETE", "/api/v1/sessions/current"},  // syncs the removal
        {"POST", "/api/v1/me/password"},
        {"POST", "/api/v1/password-resets"},
        {"POST", "/api/v1/password-resets/confirm"},
        {"POST", "/api/v1/users/import"},
        {"POST", "/api/v1/users/{id}/anonymize"},
        {"GET", "/api/v1/users/import/template.xlsx"},
        {"GET", "/api/v1/events"}};
    static const std::set<std::pair<std::string_view, std::string_view>> withBody = {
        {"POST", "/api/v1/sessions"},        {"POST", "/api/v1/me/password"},
        {"POST", "/api/v1/password-resets"}, {"POST", "/api/v1/password-resets/confirm"},
        {"POST", "/api/v1/users"},           {"POST", "/api/v1/users/import"},
        {"PATCH", "/api/v1/users/{id}"},     {"POST", "/api/v1/users/{id}/deactivate"},
        {"POST", "/api/v1/admins"},          {"POST", "/api/v1/owner"},
        {"POST", "/api/v1/resources"},       {"POST", "/api/v1/groups"},
        {"PATCH", "/api/v1/groups/{id}"}};
    // The query parameters each route reads (param(), limitOf(), openListCursor(),
    // queryFlag()); a route not named here takes none.
    using Params = std::vector<std::string_view>;
    const Params page = {"limit", "cursor"};
    static const std::map<std::pair<std::string_view, std::string_view>, Params> query = {
        {{"GET", "/api/v1/password-policy"}, {"company"}},
        {{"GET", "/api/v1/users"}, {"search", "status", "limit", "cursor"}},
        {{"POST", "/api/v1/users/import"}, {"notify", "dryRun"}},
        {{"GET", "/api/v1/users/{id}/resources"}, page},
        // The path names the subject: a `subject` beside it would be overwritten.
        {{"GET", "/api/v1/users/{id}/history"}, {"actor", "type", "from", "to", "limit", "cursor"}},
        {{"GET", "/api/v1/users/{id}/roles"}, page},
        {{"GET", "/api/v1/users/{id}/groups"}, page},
        {{"GET", "/api/v1/admins"}, {"search", "limit", "cursor"}},
        {{"GET", "/api/v1/services"}, page},
        {{"GET", "/api/v1/resources"}, {"ownerId", "limit", "cursor"}},
        {{"GET", "/api/v1/groups"}, page},
        {{"GET", "/api/v1/groups/{id}/members"}, page},
        {{"GET", "/api/v1/audit"}, {"subject", "actor", "type", "from", "to", "limit", "cursor"}},
        {{"GET", "/api/v1/events"}, {"after", "cursor", "limit", "waitMs"}}};
    for (Route& r : t) {
      r.segments = splitPath(r.info.pattern);
      r.blocking = blocking.count({r.info.method, r.info.pattern}) > 0;
      r.takesBody = withBody.count({r.info.method, r.info.pattern}) > 0;
      r.passesOver = (r.info.method == "DELETE" && r.info.pattern == "/api/v1/sessions/current") ||
                     !r.info.pattern.starts_with("/api/");
      if (auto q = query.find({r.info.method, r.info.pattern}); q != query.end())
        r.query = q->second;
    }
    if (t.size() > kMaxRoutes) throw std::logic_error("more routes than kMaxRoutes");
    return t;
  }();
  return table;
}

const std::vector<RouteInfo>& apiRoutes() {
  static const std::vector<RouteInfo> infos = [] {
    std::vector<RouteInfo> out;
    for (const auto& r : Api::Impl::routes()) out.push_back(r.info);
    return out;
  }();
  return infos;
}

Api::Api(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Api::~Api() = default;

Result<std::unique_ptr<Api>> Api::create(Portal& portal, const CountryList& countries, Clock& clock,
                                         IdSource& ids, ApiOptions options) {
  auto policy = PasswordPolicy::load();
  if (!policy) return policy.error();
  auto impl =
      std::make_unique<Impl>(portal, countries, clock, ids, std::move(options), std::move(*policy));
  auto dummy = impl->hasher.hash(newToken());
  if (!dummy) return dummy.error();
  impl->dummyHash = *dummy;
  if (auto r = impl->sessions.load(clock.now()); !r) return r.error();
  impl->endSessionsTheLogEnded();
  impl->restoreSignInThrottle();
  if (auto r = impl->importLogs.purgeAll(clock.now()); !r) return r.error();
  return std::unique_ptr<Api>(new Api(std::move(impl)));
}

SessionStore& Api::sessions() { return impl_->sessions; }

bool Api::quick(const HttpRequest& request) {
  // Decided on the route the dispatcher will take, however the path is spelled.
  std::vector<std::string> params;
  const Impl::Route* route = Impl::match(request, params, nullptr);
  return route == nullptr || !route->blocking;
}

HttpResponse Api::problem(int status, std::string_view code, std::string_view title,
                          std::string_view detail) {
  return problemResponse(problemJson(status, code, title, detail));
}

HttpResponse Api::badRequest(std::string_view detail) {
  return problem(400, "bad-request", "The request cannot be understood", detail);
}

HttpResponse Api::unauthorized(bool tokenSent) {
  HttpResponse r = Api::problem(
      401, "unauthorized", "Sign-in required",
      tokenSent ? "The session token is not valid, or its session has ended (signed out, expired, "
                  "or ended by a password change or a deactivation): sign in again."
                : "This request needs a session: send its token as 'Authorization: Bearer "
                  "<token>' (POST /api/v1/sessions signs in and gives one).");
  // (No error code when no token came, RFC 6750 3.1.)
  r.headers.emplace_back("WWW-Authenticate",
                         tokenSent ? "Bearer error=\"invalid_token\"" : "Bearer");
  return r;
}

std::vector<std::pair<std::string, std::string>> Api::crossOriginFields(
    std::string_view origin) const {
  std::vector<std::pair<std::string, std::string>> fields;
  if (impl_->options.corsOrigins.empty()) return fields;
  // The answer differs by origin: a cache keeps them apart.
  fields.emplace_back("Vary", "Origin");
  if (!impl_->crossOriginAllowed(origin)) return fields;
  fields.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  // The fields past the few a browser shows a page of its own accord.
  fields.emplace_back("Access-Control-Expose-Headers",
                      "ETag, Location, Retry-After, X-Request-Id, Content-Disposition, Allow, "
                      "WWW-Authenticate");
  return fields;
}

void Api::stopWaiting() { impl_->stopping.store(true); }
void Api::markStopping() { impl_->markedStopping.store(true); }

void Api::countServerAnswer(const std::string& method, int status,
                            std::chrono::steady_clock::time_point started) {
  impl_->record(method, "(server)", status, started);
}

HttpResponse Api::notCsv(std::string_view contentType) {
  const std::string type = mediaType(contentType);
  const bool workbook =
      type.starts_with("application/vnd.openxmlformats-officedocument.spreadsheetml") ||
      type.starts_with("application/vnd.ms-excel.sheet") ||
      type == "application/vnd.oasis.opendocument.spreadsheet";
  return problem(415, "unsupported-media-type", "Unsupported media type",
                 workbook ? kWorkbookNotCsv
                          : "Send the file as text/csv, as a spreadsheet saves \"CSV UTF-8\".");
}

std::optional<HttpResponse> Api::csvRefused(std::string_view contentType) {
  if (!isCsvMediaType(contentType)) return notCsv(contentType);
  if (auto refused = twoCharsets(contentType)) return refused;
  const auto charset = charsetParameter(contentType);
  if (!charset || isUtf8Charset(*charset) || knownCharset(*charset)) return std::nullopt;
  return problem(
      415, "unsupported-media-type", "Unsupported media type",
      (trim(*charset).empty() ? std::string("The Content-Type names an empty character set")
                              : "The character set " + charset->substr(0, 40) +
                                    " that the Content-Type names is not one this server reads") +
          ": " + std::string(kSaveAsCsvUtf8) + " and send it as UTF-8 (charset=utf-8).");
}

std::optional<HttpResponse> Api::refuseBody(std::string_view method, std::string_view target,
                                            std::string_view authorization,
                                            std::string_view contentType) {
  HttpRequest head;
  head.method = std::string(method);
  head.target = std::string(target.substr(0, target.find('?')));
  head.headers.emplace_back("authorization", std::string(authorization));
  std::vector<std::string> params;
  std::vector<std::string_view> allowed;
  bool malformed = false;
  bool notUtf8 = false;
  const Impl::Route* r = impl_->match(head, params, &allowed, &malformed, &notUtf8);
  std::string routeName;
  // No route takes it whatever its body: answered before the body is held.
  if (r == nullptr) return Impl::unmatched(head, allowed, routeName);
  if (r->info.access != Access::kPublic) {
    Impl::Call call{
        head,  {}, std::move(params), {}, {}, false, false, nullptr, std::string(r->info.pattern),
        false, {}};
    if (auto refused = impl_->authenticate(call, r->info)) return refused;
  }
  // A path the route cannot take, as dispatch answers it (a review: a 100 Continue,
  // then 400 once a body sent for nothing had come).
  if (auto refused = Impl::pathRefused(malformed, notUtf8)) return refused;
  // A body of a type the route does not read is refused whatever it holds (a
  // review: a 100 Continue, then 415 once the body had come). A route that takes
  // no body judges only one that is there.
  if (!r->takesBody) return std::nullopt;
  if (r->handler == &Impl::importUsers) return csvRefused(contentType);
  return notJsonType(contentType);
}

HttpResponse Api::handle(const HttpRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  std::string route;
  std::shared_ptr<Impl::PendingCommand> pending;
  HttpResponse response =
      impl_->guarded(request.requestId, [&] { return impl_->dispatch(request, route, pending); });
  if (pending) {
    CommandReply reply = impl_->portal.execute(std::move(pending->submission));
    response = impl_->guarded(request.requestId, [&] { return impl_->finish(*pending, reply); });
  }
  impl_->record(request.method, route, response.status, start);
  return response;
}

void Api::handleAsync(const HttpRequest& request, std::function<void(std::function<void()>)> post,
                      std::function<void(HttpResponse)> done) {
  const auto start = std::chrono::steady_clock::now();
  std::string route;
  std::shared_ptr<Impl::PendingCommand> pending;
  HttpResponse response =
      impl_->guarded(request.requestId, [&] { return impl_->dispatch(request, route, pending); });
  if (!pending) {
    impl_->record(request.method, route, response.status, start);
    return done(std::move(response));
  }
  Submission submission = std::move(pending->submission);
  // The answer needs of the request only its id and method: the rest (headers,
  // body) is not copied into the callback.
  impl_->portal.submit(
      std::move(submission),
      [impl = impl_.get(), requestId = request.requestId, method = request.method, route, pending,
       start, post = std::move(post), done = std::move(done)](CommandReply reply) mutable {
        post([impl, requestId = std::move(requestId), method = std::move(method),
              route = std::move(route), pending = std::move(pending), start,
              reply = std::move(reply), done = std::move(done)]() mutable {
          HttpResponse response =
              impl->guarded(requestId, [&] { return impl->finish(*pending, reply); });
          impl->record(method, route, response.status, start);
          done(std::move(response));
        });
      });
}

}  // namespace portal
