#include "src/http/api.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "events/codec.h"
#include "events/json_reader.h"
#include "events/json_writer.h"
#include "events/log.h"
#include "events/personal.h"
#include "projections/admins_projection.h"
#include "projections/roles_projection.h"
#include "src/app/idempotency.h"
#include "src/app/import_logs.h"
#include "src/app/portal.h"
#include "src/app/version.h"
#include "src/auth/password_policy.h"
#include "src/auth/passwords.h"
#include "src/auth/sealer.h"
#include "src/csv/user_import.h"
#include "src/domain/services.h"
#include "src/domain/user_details.h"
#include "src/http/lag_watch.h"
#include "src/http/metrics.h"
#include "src/http/work_pool.h"
#include "src/mail/outbox.h"
#include "src/store/sha256.h"

namespace portal {
namespace {

using json = nlohmann::json;

constexpr std::size_t kDefaultLimit = 50;
constexpr std::size_t kMaxLimit = 500;
constexpr std::int64_t kResetValidityMicros = 5LL * 60 * 1'000'000;
constexpr std::int64_t kMaxEventWaitMs = 30'000;
// How long a retry of a change gets its first answer once the right to make it is
// gone (Api::madeBefore).
constexpr auto kRetryAfterLostRightWithin = std::chrono::minutes(10);
// An import's answer lists this many errors and warnings at most; its log has all.
constexpr std::size_t kMaxIssuesShown = 1000;

// --- small helpers -------------------------------------------------------------

// `malformed` (when given) is set when a % is not followed by two hexadecimal digits
// (the % is then kept as it is).
std::string percentDecode(std::string_view s, bool plusIsSpace, bool* malformed = nullptr) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else if (s[i] == '%') {
      if (malformed) *malformed = true;
      out.push_back(s[i]);
    } else if (plusIsSpace && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    parts.push_back(percentDecode(path.substr(i, j - i), false));
    i = j;
  }
  return parts;
}

// `twice` gets the first name given twice with different values (`?dryRun=false&dryRun=true`:
// which one was meant cannot be known, and a proxy or a log may take the other one);
// `malformed` is set by a % not followed by two hexadecimal digits.
std::map<std::string, std::string> parseQuery(std::string_view q, std::optional<std::string>& twice,
                                              bool& malformed) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    std::size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string key = percentDecode(pair.substr(0, eq), true, &malformed);
    std::string value =
        eq == std::string_view::npos ? "" : percentDecode(pair.substr(eq + 1), true, &malformed);
    auto [it, fresh] = out.try_emplace(std::move(key), std::move(value));
    if (!fresh && it->second != value && !twice) twice = it->first;
  }
  return out;
}

HttpResponse jsonResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse noContent() {
  HttpResponse r;
  r.status = 204;
  r.contentType.clear();
  return r;
}

json problemJson(int status, std::string_view code, std::string_view title,
                 std::string_view detail) {
  return json{{"type", "/problems/" + std::string(code)},
              {"title", std::string(title)},
              {"status", status},
              {"detail", std::string(detail)},
              {"code", std::string(code)}};
}

HttpResponse problemResponse(const json& body) {
  HttpResponse r;
  r.status = body.value("status", 500);
  r.contentType = "application/problem+json";
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse validation(const std::vector<std::pair<std::string, std::string>>& errors,
                        std::string_view detail = kValidationDetail) {
  json body = problemJson(422, "validation-failed", "The request is not valid", detail);
  json list = json::array();
  for (const auto& [field, message] : errors)
    list.push_back({{"field", field}, {"message", message}});
  body["errors"] = std::move(list);
  return problemResponse(body);
}

// A query parameter refused: the detail, and the parameter in `errors` as API.md
// lists a validation's fields (a review: a client showing `errors` beside a form's
// fields had nothing to show).
HttpResponse badParam(std::string_view field, std::string_view detail) {
  json body = problemJson(400, "bad-request", "The request cannot be understood", detail);
  body["errors"] = json::array({{{"field", std::string(field)}, {"message", std::string(detail)}}});
  return problemResponse(body);
}

// A query parameter that takes an id, given text that is none: said so, with the way
// to an id when it is an email (a review: `actor=owner@acme.example` answered an
// empty trail, `ownerId=` of an email "the owner does not exist").
HttpResponse notAnId(std::string_view field, std::string_view text, bool orSystem = false) {
  return badParam(field, std::string(field) + " must be an id (a UUID)" +
                             (orSystem ? " or system" : "") +
                             (text.find('@') != std::string_view::npos
                                  ? ", not an email: GET /api/v1/users?search= finds the id."
                                  : "."));
}

// `why`, when given, says why something that existed may be gone.
HttpResponse notFound(std::string_view what, std::string_view why = {}) {
  return Api::problem(404, "not-found", "Not found",
                      std::string(what) + " does not exist in this company" +
                          (why.empty() ? std::string(".") : ": " + std::string(why) + "."));
}

// What a workbook sent for an import is told (as a CSV type or a workbook's own).
const char* const kWorkbookNotCsv =
    "The file is a spreadsheet workbook (.xls, .xlsx or .ods), not CSV: save it as \"CSV "
    "UTF-8\" and send that.";

int statusOf(RejectionKind kind) {
  switch (kind) {
    case RejectionKind::kInvalid:
      return 422;
    case RejectionKind::kBadRequest:
      return 400;
    case RejectionKind::kNotFound:
      return 404;
    case RejectionKind::kConflict:
      return 409;
    case RejectionKind::kForbidden:
      return 403;
    case RejectionKind::kPreconditionFailed:
      return 412;
  }
  return 400;
}

HttpResponse rejected(const Rejection& r) {
  const int status = statusOf(r.kind);
  static const std::map<int, std::string> titles = {{400, "The request cannot be acted on"},
                                                    {403, "Not allowed"},
                                                    {404, "Not found"},
                                                    {409, "Conflict with the current state"},
                                                    {412, "The resource has changed"},
                                                    {422, "The request is not valid"}};
  // A type whose own title the API gives where it answers it itself: one title for
  // one type (RFC 9457 3.1.3), whichever of the two refuses.
  static const std::map<std::string, std::string, std::less<>> ownTitles = {
      {"reset-token-invalid", "The reset link cannot be used"}};
  const auto own = ownTitles.find(r.code);
  json body = problemJson(status, r.code, own != ownTitles.end() ? own->second : titles.at(status),
                          r.message);
  if (!r.problems.empty()) {
    json list = json::array();
    for (const auto& p : r.problems) {
      list.push_back({{"field", p.field}, {"message", p.message}});
      if (!p.resourceId.empty()) list.back()["resourceId"] = p.resourceId;
    }
    body["errors"] = std::move(list);
  }
  if (!r.ids.empty()) body["resources"] = r.ids;
  return problemResponse(body);
}

// A JSON body that must be an object; nullopt (and the answer in `error`) when not.
std::optional<json> objectBody(const HttpRequest& req, HttpResponse& error) {
  const std::string_view type = req.header("content-type");
  if (!type.empty() && !isJsonMediaType(type)) {
    error = Api::problem(415, "unsupported-media-type", "Unsupported media type",
                         "Send the body as application/json.");
    return std::nullopt;
  }
  json j;
  // A name twice in one object is refused: RFC 8259 leaves its meaning open, and a
  // proxy or a log reader that takes the first where this parser keeps the last
  // would see another request than the one carried out.
  std::vector<std::set<std::string>> names;  // of each object open around the parser
  std::optional<std::string> repeated;
  auto watch = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      names.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      names.pop_back();
    } else if (event == json::parse_event_t::key && !repeated && !names.empty() &&
               !names.back().insert(parsed.get<std::string>()).second) {
      repeated = parsed.get<std::string>();
    }
    return true;
  };
  try {
    j = json::parse(req.body.empty() ? std::string("{}") : req.body, watch);
  } catch (const json::parse_error& e) {
    // Where it broke (the library's byte offset), not the body: it may hold a password.
    error = Api::badRequest("The body is not valid JSON (UTF-8) at byte " + std::to_string(e.byte) +
                            ".");
    return std::nullopt;
  } catch (const json::exception&) {  // a number too large for a double (1e400)
    error = Api::badRequest("The body holds a number out of range.");
    return std::nullopt;
  }
  if (repeated) {
    // The name, not the values: they may be a password.
    const bool nameable = repeated->size() <= 64 && repeated->find('@') == std::string::npos;
    error = Api::badRequest(nameable ? "The body names \"" + *repeated + "\" twice in one object."
                                     : std::string("The body names a field twice in one object."));
    return std::nullopt;
  }
  if (!j.is_object()) {
    error = Api::badRequest("The body must be a JSON object.");
    return std::nullopt;
  }
  return j;
}

// A string field: absent or null gives nullopt; another type is a problem.
std::optional<std::string> stringField(const json& body, const char* name,
                                       std::vector<std::pair<std::string, std::string>>& errors) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) {
    errors.emplace_back(name, "must be a string");
    return std::nullopt;
  }
  return it->get<std::string>();
}

// A body names only the fields its route takes: one misspelt ("Name", "Country")
// would otherwise be dropped without a word while the answer says 200 or 201.
template <class Names>
void refuseFieldsNotIn(const json& body, const Names& known,
                       std::vector<std::pair<std::string, std::string>>& errors, const char* message) {
  for (const auto& item : body.items())
    if (std::none_of(known.begin(), known.end(), [&](const auto& n) { return item.key() == n; }))
      errors.emplace_back(item.key(), message);
}
void refuseOtherFields(const json& body, std::initializer_list<std::string_view> known,
                       std::vector<std::pair<std::string, std::string>>& errors,
                       const char* message = "cannot be changed here") {
  refuseFieldsNotIn(body, known, errors, message);
}

// The named string fields of a JSON object body, all required; nullopt (and the
// answer in `error`) when the body is not such an object or a field is missing.
// With `otherFields`, any other field is refused with that message.
template <std::size_t N>
std::optional<std::array<std::string, N>> requiredStrings(const HttpRequest& req,
                                                          const std::array<const char*, N>& names,
                                                          HttpResponse& error,
                                                          const char* otherFields = nullptr) {
  auto body = objectBody(req, error);
  if (!body) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> errors;
  if (otherFields != nullptr) refuseFieldsNotIn(*body, names, errors, otherFields);
  std::array<std::string, N> values;
  for (std::size_t i = 0; i < N; ++i) {
    auto v = stringField(*body, names[i], errors);
    if (!v && (errors.empty() || errors.back().first != names[i]))
      errors.emplace_back(names[i], "is required");
    if (v) values[i] = std::move(*v);
  }
  if (!errors.empty()) {
    error = validation(errors);
    return std::nullopt;
  }
  return values;
}

// 429 with the seconds to wait.
HttpResponse tooMany(std::int64_t wait, std::string_view title, std::string_view detail,
                     std::string_view code = "too-many-attempts") {
  HttpResponse r = Api::problem(429, std::string(code), title, detail);
  r.headers.emplace_back("Retry-After", std::to_string(wait));
  return r;
}

std::string itemsJson(const std::vector<std::string>& items, const std::string& nextCursor) {
  std::string out = "{\"items\":[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out.push_back(',');
    out += items[i];
  }
  out += "],\"nextCursor\":";
  out += nextCursor.empty() ? "null" : json(nextCursor).dump();
  out += "}";
  return out;
}

}  // namespace

// --- the API -------------------------------------------------------------------

struct Api::Impl {
  Portal& portal;
  const CountryList& countries;
  Clock& clock;
  IdSource& ids;
  ApiOptions options;
  PasswordPolicy policy;
  PasswordHasher hasher;
  std::string dummyHash;  // verified against when the email is unknown, to take as long
  SessionStore sessions;
  LoginThrottle throttle;
  LoginThrottle resetThrottle;  // reset requests, so nobody floods an inbox
  // Guesses of the current password through a session, per user and per session:
  // apart from the sign-in throttle, which anyone who knows an email can fill, so
  // that strangers' failed sign-ins never stop the holder of a session (a new owner
  // with a temporary password above all) from changing it.
  LoginThrottle passwordThrottle;
  std::atomic<bool> stopping{false};        // stopWaiting()
  std::atomic<bool> markedStopping{false};  // markStopping()
  WorkPool hashPool;
  std::atomic<std::uint64_t> passwordHashes{0};  // made or checked: /metrics
  ImportLogs importLogs;
  // The lists' cursors. The users list's hold a name (its place) and its search, so
  // their key is the process's own: one kept on disk would let a cursor a client
  // kept be read after that person's erasure. The others hold ids and positions,
  // under a key of the data directory, and outlive a restart.
  Sealer cursorSealer;
  Sealer userCursorSealer;
  HttpMetrics metrics;
  std::once_flag workbookOnce;  // the import template workbook, written on first use
  Result<std::string> workbook = std::string();
  std::mutex urlMu;  // guards options.publicUrl

  std::string publicUrl() {
    std::lock_guard lock(urlMu);
    return options.publicUrl;
  }

  // A command whose answer `render` makes once it is durable and projected. The
  // handler returns at once; Api::handle runs it and waits, Api::handleAsync hands
  // it to the processor and answers from its callback, so that no thread waits.
  struct PendingCommand {
    Submission submission;
    std::function<HttpResponse(const CommandReply&)> render;
    bool mail = false;
  };

  struct Call {
    const HttpRequest& req;
    std::map<std::string, std::string> query;
    std::vector<std::string> params;
    std::string tokenHash;
    Session session;
    bool isAdmin = false, isOwner = false;
    std::shared_ptr<PendingCommand> pending;  // set by command()
    std::string route;                        // the route's pattern
    const std::string& company() const { return session.companyId; }
    const std::string& actor() const { return session.userId; }
  };
  using Handler = HttpResponse (Impl::*)(Call&);
  struct Route {
    RouteInfo info;
    Handler handler;
    std::vector<std::string> segments;
    bool blocking = false;  // hashes passwords, runs commands in turn, or long-polls
    // The query parameters the route takes; any other is refused.
    std::vector<std::string_view> query = {};
    // A command whose path says it all (an anonymization, a role granted) takes no
    // body: one sent is refused rather than passed over.
    bool takesBody = false;
    // A sign-out: a body or query parameter it does not take is passed over, since
    // refusing it would leave the session valid. So do the probes (/healthz, /readyz,
    // /metrics) with query parameters: load balancers and scrapers add their own.
    bool passesOver = false;
  };

  Impl(Portal& p, const CountryList& c, Clock& cl, IdSource& i, ApiOptions o, PasswordPolicy pol)
      : portal(p),
        countries(c),
        clock(cl),
        ids(i),
        options(std::move(o)),
        policy(std::move(pol)),
        hasher(options.hashCost),
        sessions(p.store().db(), p.store().columnFamily("sessions"), options.sessions),
        throttle(options.throttle),
        resetThrottle(options.resetThrottle),
        passwordThrottle(perUser(options.throttle)),
        hashPool(std::max<std::size_t>(1, options.hashThreads), "hashing"),
        importLogs(p.store().db(), p.store().columnFamily("imports")),
        cursorSealer(p.processor().cursorKey()) {}

  static const std::vector<Route>& routes();

  // Guesses of the current password through sessions: the user's limit counts over
  // all their sessions (each session is the "network" here, and has its own 20).
  static ThrottlePolicy perUser(ThrottlePolicy p) {
    p.accountWideLimit = p.accountLimit;
    return p;
  }

  // Runs fn; a bug (an exception) becomes a 500 that says nothing of it but the id.
  template <class F>
  HttpResponse guarded(const std::string& requestId, F fn) {
    try {
      return fn();
    } catch (const std::exception& e) {
      logLine("request " + requestId + ": internal error: " + e.what());
      return Api::problem(
          500, "internal", "Internal error",
          "Something went wrong on our side; the request id identifies it in the log.");
    }
  }

  void record(const std::string& method, const std::string& route, int status,
              std::chrono::steady_clock::time_point start) {
    // A label per method a client makes up would grow the series without end.
    static const std::set<std::string, std::less<>> kMethods = {"GET", "HEAD", "POST", "PUT",
                                                                 "PATCH", "DELETE", "OPTIONS"};
    metrics.record(kMethods.count(method) ? method : std::string("other"), route, status,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  // --- plumbing ----------------------------------------------------------------

  // The route a request names (nullptr: none), with its path parameters; the
  // methods the path answers otherwise go to `allowed`.
  static const Route* match(const HttpRequest& req, std::vector<std::string>& params,
                            std::vector<std::string_view>* allowed) {
    const std::string_view target = req.target;
    const std::vector<std::string> parts = splitPath(target.substr(0, target.find('?')));
    // No id, name or path word holds bytes that are not UTF-8 (`%FF`): such a path
    // names nothing here, and its bytes go nowhere further (not into a refusal's text).
    for (const auto& part : parts)
      if (!isValidUtf8(part)) return nullptr;
    for (const Route& r : routes()) {
      if (r.segments.size() != parts.size()) continue;
      params.clear();
      bool same = true;
      for (std::size_t i = 0; i < parts.size() && same; ++i) {
        if (r.segments[i].front() == '{') {
          if (parts[i].empty()) same = false;
          params.push_back(idAsGiven(parts[i]));
        } else if (r.segments[i] != parts[i]) {
          same = false;
        }
      }
      if (!same) continue;
      if (r.info.method != req.method && !(req.method == "HEAD" && r.info.method == "GET")) {
        if (allowed != nullptr) allowed->push_back(r.info.method);
        continue;
      }
      return &r;
    }
    return nullptr;
  }

  HttpResponse dispatch(const HttpRequest& req, std::string& routeName,
                        std::shared_ptr<PendingCommand>& pending) {
    const std::string_view target = req.target;
    const std::size_t q = target.find('?');
    std::vector<std::string_view> allowed;
    std::vector<std::string> params;
    if (const Route* r = match(req, params, &allowed)) {
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
                routeName};
      if (r->info.access != Access::kPublic) {
        if (auto denied = authenticate(call, r->info)) return *denied;
      }
      // (`search=%` was searched for as a %, `search=%C3` refused: a review.)
      if (malformed)
        return Api::badRequest(
            "A % in the query is not followed by two hexadecimal digits: write a "
            "% itself as %25.");
      for (const auto& [name, value] : call.query)
        if (!isValidUtf8(name) || !isValidUtf8(value))
          return Api::badRequest("A query parameter is not UTF-8 once its %-escapes are decoded.");
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
    return unmatched(req, allowed, routeName);
  }

  // A parameter's name that can be repeated in a message as it is.
  static bool isPlainName(const std::string& name) {
    return !name.empty() && name.size() <= 40 &&
           std::all_of(name.begin(), name.end(), [](unsigned char c) {
             return std::isalnum(c) || c == '_' || c == '-' || c == '.';
           });
  }

  // Two names a letter apart, or two letters swapped ("serach", "limt", "stauts"),
  // compared without case, '_' and '-' ("owner_id" is ownerId).
  static bool nearlyTheSame(std::string_view given, std::string_view known) {
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

  // A route takes only the query parameters it names: a misspelt one would otherwise
  // be passed over, and a command run for real (`?dryrun=true` imported the file) or
  // a list answered unfiltered (`?serach=ada` listed everyone, `?stauts=inactive`
  // the active users too: a review).
  static std::optional<HttpResponse> unknownParameter(const Call& call, const Route& r) {
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
        std::string list;
        for (std::size_t i = 0; i < known.size(); ++i) {
          if (plain && nearlyTheSame(name, known[i]))
            detail += " (did you mean " + std::string(known[i]) + "?)";
          list += (i == 0 ? "" : i + 1 == known.size() ? " and " : ", ") + std::string(known[i]);
        }
        detail += "; it takes " + list;
      }
      detail += end;
      return plain ? badParam(name, detail) : Api::badRequest(detail);
    }
    return std::nullopt;
  }

  // A body sent to a command that takes none: an empty object is no body, anything
  // else is refused as a body would be that names fields the route does not know
  // (a malformed one 400, one with fields 422), so that an irreversible command (an
  // anonymization) does not run on a request meant for another route.
  static std::optional<HttpResponse> unwantedBody(const Call& call, const Route& r) {
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

  // The answer to a request no route takes: 405 when the path answers other methods
  // (`allowed`), else 404.
  static HttpResponse unmatched(const HttpRequest& req, const std::vector<std::string_view>& allowed,
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
    if (!allowed.empty()) {
      routeName = "(method not allowed)";
      HttpResponse res = Api::problem(405, "method-not-allowed", "Method not allowed",
                                      "This path does not answer " + req.method + ".");
      std::string allow;
      for (auto m : allowed) allow += (allow.empty() ? "" : ", ") + std::string(m);
      // Every GET answers HEAD too.
      if (std::find(allowed.begin(), allowed.end(), "GET") != allowed.end()) allow += ", HEAD";
      res.headers.emplace_back("Allow", allow);
      return res;
    }
    routeName = "(unknown)";
    return Api::problem(404, "not-found", "Not found", "There is no such path in this API.");
  }

  // The hash of the bearer token of an Authorization header; nullopt when it names none.
  static std::optional<std::string> bearerHash(std::string_view auth) {
    if (auth.size() <= 7 || asciiLower(auth.substr(0, 7)) != "bearer ") return std::nullopt;
    return tokenHash(trim(auth.substr(7)));
  }

  // Whether this user made this command before, with this Idempotency-Key, and it
  // was accepted: the right to make it may be gone since (an owner who passed
  // ownership on, retrying after a lost answer), and the retry gets the first
  // answer as any retry does, not 403 for a change that was made. (The route runs:
  // its command finds the key's answer and does nothing again.)
  bool madeBefore(const Call& call) {
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

  std::optional<HttpResponse> authenticate(Call& call, const RouteInfo& route) {
    auto hash = bearerHash(call.req.header("authorization"));
    if (!hash) return unauthorized();
    call.tokenHash = std::move(*hash);
    auto session = sessions.use(call.tokenHash, clock.now());
    if (!session) return unauthorized();
    call.session = std::move(*session);
    // The user's current state decides, not what it was at sign-in: a deactivated
    // user's sessions stop at once even if ending them was interrupted.
    auto read = readUserFlags(call.company(), call.actor());
    // A read that failed is no sign of the user's end: the session stays.
    if (!read) return usersViewUnreadable(call, read.error());
    const auto& me = *read;
    if (!me || !me->active || me->anonymized) {
      // Not waited for on this network thread: the user's state refuses it anyway.
      (void)sessions.remove(call.tokenHash, false);  // a failure is said on stderr
      return unauthorized();
    }
    call.isAdmin = me->isAdmin;
    call.isOwner = me->isOwner;
    const bool passwordRoute = route.pattern == "/api/v1/me" ||
                               route.pattern == "/api/v1/me/password" ||
                               route.pattern == "/api/v1/sessions/current";
    if (call.session.mustChangePassword && !passwordRoute)
      return Api::problem(403, "password-change-required", "Password change required",
                          "Change the temporary password with POST /api/v1/me/password first.");
    switch (route.access) {
      case Access::kPublic:
      case Access::kAny:
        break;
      case Access::kSelfOrAdmin:
        if (!call.isAdmin && call.params.front() != call.actor()) {
          // Ids of other companies are unknown here, whoever asks.
          if (!portal.users().row(call.company(), call.params.front())) return userNotFound();
          return forbidden("Only an administrator or the user themself may do this.");
        }
        break;
      case Access::kAdmin:
        if (!call.isAdmin && !madeBefore(call))
          return forbidden("Only an administrator may do this.");
        break;
      case Access::kOwner:
        if (!call.isOwner && !madeBefore(call))
          return forbidden("Only the company's owner may do this.");
        break;
    }
    return std::nullopt;
  }

  static HttpResponse unauthorized() { return Api::unauthorized(); }

  // Ends the user's sessions at once, from a command's answer (the projector's
  // thread, which must not wait for a disk); their removal is synced on a pool thread.
  void endSessionsSoon(const std::string& company, const std::string& user) {
    sessions.removeUser(company, user, {}, false);
    hashPool.post([this] { (void)sessions.makeDurable(); });
  }

  // At start: a password change, deactivation or anonymization ends sessions after
  // its event is durable, and a crash between the two leaves them behind. The
  // account as the log has it decides: a session begun before the password's last
  // change (and not the one it was changed through) ends, as does one of an account
  // that is inactive or gone.
  void endSessionsTheLogEnded() {
    const std::size_t ended = sessions.removeWhere([&](const Session& s) {
      auto account = portal.credentials().account(s.companyId, s.userId);
      if (!account || !account->active) return true;
      return std::max(s.createdAt, s.passwordChangedAt) < account->passwordSetAt;
    });
    if (ended > 0)
      logLine("portal: " + std::to_string(ended) +
              " session(s) ended by a password change or deactivation before the last stop were "
              "ended now");
  }

  // A user the users view does not show: 404, unless the view stopped at an event
  // (then it may not show users that exist, one just created too): 503, as /readyz
  // says, rather than an answer that the user does not exist.
  HttpResponse userNotFound() {
    for (const auto& s : portal.projector().status())
      if (s.name == UsersProjection::kName && s.failed)
        return Api::problem(503, "view-unavailable", "The users view is not available",
                            "The users view stopped at an event an operator has to look at "
                            "(GET /readyz from the portal's host says which); the user may "
                            "exist.");
    return notFound("The user");
  }

  // A command the log could not take: it stopped at a failed write, which may have
  // reached the disk before it failed, so the change may be there after a restart.
  static HttpResponse logUnavailable() {
    return Api::problem(503, "log-unavailable", "The event log is not available",
                        "The change may or may not have been saved. Try again later with the "
                        "same Idempotency-Key: a change that was saved is not made twice.");
  }

  static HttpResponse forbidden(std::string_view detail) {
    return Api::problem(403, "forbidden", "Not allowed", detail);
  }

  // Runs a command for the signed-in user, with the request's Idempotency-Key.
  std::optional<HttpResponse> run(const Call& call, CommandBody body, CommandReply& reply,
                                  MailBuilder outbox = nullptr, bool useKey = true) {
    return runAs(call.req, call.route, call.company(), call.actor(), std::move(body), reply,
                 std::move(outbox), useKey);
  }

  // `useKey` false: the request's Idempotency-Key is not this command's (a dry run).
  std::optional<HttpResponse> runAs(const HttpRequest& req, const std::string& route,
                                    const std::string& company, const std::string& actor,
                                    CommandBody body, CommandReply& reply,
                                    MailBuilder outbox = nullptr, bool useKey = true) {
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

  HttpResponse command(Call& call, CommandBody body,
                       std::function<HttpResponse(const CommandReply&)> render,
                       MailBuilder outbox = nullptr) {
    auto pending = std::make_shared<PendingCommand>();
    Submission& s = pending->submission;
    s.command = Command{call.company(), call.actor(), std::move(body)};
    if (auto bad = idempotency(call.req, call.route, s)) return *bad;
    pending->mail = static_cast<bool>(outbox);
    s.outbox = std::move(outbox);
    pending->render = std::move(render);
    call.pending = std::move(pending);
    return HttpResponse{};  // replaced by the command's answer
  }

  // Sets the command and correlation ids from the request; a problem when the
  // Idempotency-Key is unusable.
  std::optional<HttpResponse> idempotency(const HttpRequest& req, const std::string& route,
                                          Submission& s, bool useKey = true) {
    // The system acts for public requests (sign-in, reset): a key a caller without
    // a session sends must not land among the company's keys.
    const std::string_view key = s.command.actor == kSystem || !useKey
                                     ? std::string_view{}
                                     : req.header("idempotency-key");
    s.keyScope = req.method + " " + route;
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
      if (req.digest.empty()) {
        const std::string_view tags = req.header("if-match");
        const bool secretBody = std::holds_alternative<SetPassword>(s.command.body);
        req.digest = requestDigest(
            tags.empty() ? req.target : req.target + "\nIf-Match: " + std::string(tags),
            secretBody ? std::string_view() : std::string_view(req.body));
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

  // Requests that check something before the command that depends on it (the
  // current password, a reset token, an Idempotency-Key's first answer) run one after
  // another for the same thing: the second then sees what the first changed, where
  // both would otherwise pass the check (two password changes from the old password
  // both taking effect; a repeated key acting before the first answer exists).
  // Striped: a few mutexes for all users and keys, held for one request each.
  std::array<std::mutex, 64> serialLocks;
  std::unique_lock<std::mutex> serialize(std::string_view what) {
    return std::unique_lock<std::mutex>(serialLocks[std::hash<std::string_view>{}(what) % serialLocks.size()]);
  }
  std::unique_lock<std::mutex> serializeUser(const std::string& company, const std::string& user) {
    return serialize("user\n" + company + "\n" + user);
  }
  // Under a user's stripe, before the password is checked: the views hold every
  // durable event (the change of the request before, above all), or 503. A view that
  // lagged would let a second change be checked against the password the first
  // replaced.
  std::optional<HttpResponse> viewsCaughtUp() {
    if (portal.projector().waitFor(portal.store().lastPosition(), std::chrono::seconds(10))) return std::nullopt;
    return Api::problem(503, "views-behind", "Try again shortly",
                        "The portal's views are behind its log; nothing was changed.");
  }
  // Anonymizations of one person, one after another (their mark beside the import
  // logs is one for the person: a refusal beside another's acceptance would take it
  // away, a review found). Apart from serialLocks: taken under a key's stripe, which
  // may be the same mutex.
  std::array<std::mutex, 64> erasureLocks;
  std::unique_lock<std::mutex> serializeErasure(const std::string& company,
                                                const std::string& user) {
    const std::string what = company + "\n" + user;
    return std::unique_lock<std::mutex>(
        erasureLocks[std::hash<std::string>{}(what) % erasureLocks.size()]);
  }
  // Not held (nothing to wait for) when the request has no Idempotency-Key.
  std::unique_lock<std::mutex> serializeKey(const Call& call) {
    const std::string_view key = call.req.header("idempotency-key");
    if (key.empty()) return {};
    return serialize(portal.processor().commandIdOfKey(call.company(), call.actor(),
                                                       call.req.method + " " + call.route, key));
  }

  // For a route that checks things before it runs its command, which the command may
  // have changed the grounds of: the first answer to the request's Idempotency-Key,
  // when it has one that was answered (an accepted one once durable and projected).
  // nullopt with `problem` set when the key is unusable or that answer not durable yet.
  std::optional<CommandReply> earlierAnswer(const Call& call, CommandBody body,
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

  // The answer to a command: the problem when it failed or was refused, else what
  // `render` makes of it.
  HttpResponse finish(const PendingCommand& pending, const CommandReply& reply) {
    if (reply.status == CommandReply::Status::kFailed) return logUnavailable();
    if (reply.status == CommandReply::Status::kRejected) return rejected(reply.rejection);
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
    return rendered;
  }

  std::string userJson(const std::string& company, const std::string& id) {
    return portal.users().get(company, id).value_or("null");
  }

  HttpResponse userResponse(const std::string& company, const std::string& id, int status = 200) {
    auto text = portal.users().get(company, id);
    if (!text) return userNotFound();
    HttpResponse r = jsonResponse(status, *text);
    setETag(r, userTag(r.body));
    return r;
  }

  // The ETag of a user or a group: its version, and for a user "-a" once its
  // manager shows as anonymized.
  struct VersionTag {
    std::uint64_t version = 0;
    std::string text;  // "3" or "3-a"
  };
  static void setETag(HttpResponse& r, const std::optional<VersionTag>& tag) {
    if (tag) r.headers.emplace_back("ETag", "\"" + tag->text + "\"");
  }
  // A row's ETag, from its API JSON: its version; a user's with "-a" once its manager
  // shows as anonymized (`userMarks`). That erasure changes what the user shows
  // (managerEmail) but is no change of the user, whose version stays: without the
  // mark, a form read before it passed If-Match and sent back the erased manager's
  // old address, which may be someone else's by then (a review).
  static std::optional<VersionTag> versionTag(std::string_view row, bool userMarks = false) {
    auto doc = JsonDocument::parse(row);
    if (!doc) return std::nullopt;
    auto v = doc->member(doc->root(), "version");
    if (!v || !doc->node(*v).isUnsigned) return std::nullopt;
    const std::uint64_t version = doc->node(*v).u;
    const bool marked = userMarks && stringMember(*doc, "managerEmail") == kAnonymizedMarker;
    return VersionTag{version, std::to_string(version) + (marked ? "-a" : "")};
  }
  static std::optional<VersionTag> userTag(std::string_view user) { return versionTag(user, true); }

  // How a user or group reads in its view now (for If-Match and a PATCH's fields).
  using RowRead = std::function<std::optional<std::string>()>;
  RowRead userRow(const Call& call, const std::string& id) {
    return [this, company = call.company(), id] { return portal.users().get(company, id); };
  }
  RowRead groupRow(const Call& call, const std::string& id) {
    return [this, company = call.company(), id] { return portal.groups().row(company, id); };
  }
  // The ETag a user or group shows now (read only when a request has If-Match).
  using TagRead = std::function<std::optional<VersionTag>()>;
  TagRead userTagNow(const Call& call, const std::string& id) {
    return [read = userRow(call, id)] { return userTag(read().value_or("")); };
  }
  TagRead groupTagNow(const Call& call, const std::string& id) {
    return [read = groupRow(call, id)] { return versionTag(read().value_or("")); };
  }

  // Judges If-Match (RFC 9110 13.1.1) against the tag `shown` now: one tag or a list
  // of them ("3", "4"), a weak one (W/"3") taken as its version too, since
  // compressing proxies weaken the ETags they pass on. Sets `expected` to the version
  // the decider is to check against its write model: the one shown now when its tag
  // is listed; else the first listed (one the view may not show yet, a change
  // accepted a moment ago), which the write model then judges. A 412 when no tag
  // can be that, or, with `shownOnly` (a request that acts before its command is
  // decided), when the tag shown now is not listed. Absent or "*": nothing to check.
  // `shownTag` is read only when If-Match is sent; a user or group the view does not
  // show is left to the decider, whose 404 comes before a 412 (RFC 9110 13.2.1): the
  // first version listed, or one no user or group has.
  static std::optional<HttpResponse> ifMatch(const HttpRequest& req, const TagRead& shownTag,
                                             const char* what,
                                             std::optional<std::uint64_t>& expected,
                                             bool shownOnly = false) {
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
      if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"')
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
      return Api::problem(412, "version-mismatch", "The resource has changed",
                          std::string("If-Match does not name this ") + what +
                              " as it is now: its ETag is \"" + shown->text + "\"; read it again.");
    expected = named ? shown->version : versions.front();
    return std::nullopt;
  }

  // A whole number as a query parameter gives it: digits only (no sign, no spaces),
  // at most 19 of them; nullopt otherwise.
  static std::optional<std::uint64_t> wholeNumber(std::string_view text) {
    if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string_view::npos)
      return std::nullopt;
    std::uint64_t n = 0;
    for (char c : text) n = n * 10 + static_cast<std::uint64_t>(c - '0');
    return n;
  }

  std::optional<std::size_t> limitOf(const Call& call, HttpResponse& error) {
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

  std::string param(const Call& call, const char* name) const {
    auto it = call.query.find(name);
    return it == call.query.end() ? std::string() : it->second;
  }
  // A query parameter that names someone or something by id.
  std::string idParam(const Call& call, const char* name) const { return idAsGiven(param(call, name)); }
  // An id as a client gave it: one with a UUID's shape in the lower case ids are
  // written in (UUIDs' digits have no case: 01A2… from a spreadsheet is 01a2…), any
  // other text as it is (which then names nothing, and is said so).
  static std::string idAsGiven(std::string given) {
    if (auto id = uuidOf(given)) return std::move(*id);
    return given;
  }

  // The policy's verdict on `password` for the account: its email, the person's names
  // and the company's (a password of them is the first a guesser who knows them tries).
  std::vector<PolicyProblem> policyProblems(std::string_view password,
                                            const AccountRecord& account) {
    std::vector<std::string> names;
    if (auto person = portal.users().names(account.companyId, account.userId)) {
      names.push_back(std::move(person->first));
      names.push_back(std::move(person->second));
    }
    if (auto company = portal.credentials().companyById(account.companyId)) {
      names.push_back(company->name);
      names.push_back(company->slug);
    }
    return policy.check(password, account.email, names);
  }

  HttpResponse policyRejected(const std::vector<PolicyProblem>& problems, const char* field) {
    std::vector<std::pair<std::string, std::string>> errors;
    for (const auto& p : problems) errors.emplace_back(field, p.message);
    json body = json::parse(validation(errors, "The password does not meet the policy.").body);
    body["code"] = "password-policy";
    body["type"] = "/problems/password-policy";
    json rules = json::array();
    for (const auto& p : problems) rules.push_back(p.rule);
    body["rules"] = rules;
    return problemResponse(body);
  }

  Result<std::string> hashPassword(const std::string& password) {
    passwordHashes.fetch_add(1, std::memory_order_relaxed);
    return hashPool.call([&] { return hasher.hash(password); });
  }

  bool verifyPassword(const std::string& hash, const std::string& password) {
    passwordHashes.fetch_add(1, std::memory_order_relaxed);
    return hashPool.call(
        [&] { return hasher.verify(hash.empty() ? dummyHash : hash, password) && !hash.empty(); });
  }

  // --- sessions and passwords -----------------------------------------------------

  // Whatever was wrong (company, email, password, an inactive user): one answer.
  static HttpResponse badCredentials() {
    HttpResponse r = Api::problem(401, "invalid-credentials", "Sign-in failed",
                                  "The company, email and password do not match an active user.");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");  // RFC 9110: every 401 names a scheme
    return r;
  }

  HttpResponse signIn(Call& call) {
    HttpResponse error;
    auto fields = requiredStrings<3>(call.req, {"company", "email", "password"}, error);
    if (!fields) return error;
    auto& [slug, email, password] = *fields;
    slug = slugOf(slug);
    const Timestamp now = clock.now();
    const std::string accountKey = slug + "\n" + emailKey(email);
    const std::string address = call.req.clientAddress;
    std::optional<CompanyRecord> company;
    std::optional<AccountRecord> account;
    // The views are read in a block of their own: a reader holds the views' generation,
    // which a rebuild's switch waits for, and must not while hashing or running commands.
    {
      const CredentialsReader creds = portal.credentials();
      company = creds.companyBySlug(slug);
      if (company) account = creds.accountByEmail(company->id, email);
    }

    // The attempt counts as failed until it succeeds, so that parallel guesses cannot
    // all pass the check. Refused attempts append nothing: they would let anyone grow
    // the log; the failures that led to the refusal are in it.
    if (std::int64_t wait = throttle.attempt(accountKey, address, now); wait > 0) {
      return tooMany(wait, "Too many attempts", "Wait before trying again.");
    }
    // Always verify, against a dummy hash when there is no account, so that an
    // unknown email takes as long as a wrong password.
    const bool match = verifyPassword(account ? account->passwordHash : std::string(), password);
    const bool expired =
        account && match &&
        temporaryPasswordExpired(account->mustChangePassword, account->passwordSetAt, now);
    if (!company || !account || !match || !account->active || expired) {
      // A hash of a lower cost than the server's (its owner has not signed in since
      // the cost was raised, so it was not made again) checks quicker than the dummy:
      // a refusal pays for one hash at the server's cost as well, so that its time
      // does not tell the address from an unknown one (a review).
      if (account && !account->passwordHash.empty() && hasher.needsRehash(account->passwordHash))
        (void)verifyPassword(std::string(), password);
      // Handed to the processor without waiting (as a reset request is): waiting for
      // its fsync made a known company's answer slower than an unknown one's, which
      // has nothing to record, and so told which companies exist.
      if (company) {
        Submission s;
        s.command = Command{company->id, kSystem,
                            RecordLoginFailure{account ? std::optional(account->userId) : std::nullopt,
                                               expired                ? "temporary-password-expired"
                                               : account && match ? "inactive"
                                                                  : "bad-credentials",
                                               address.empty() ? std::nullopt : std::optional(address)}};
        idempotency(call.req, call.route, s);  // its command and correlation ids (no key: public)
        portal.submit(std::move(s), [](CommandReply) {});
      }
      return badCredentials();
    }
    throttle.succeeded(accountKey, address);
    // A hash made at a lower cost than this server's (a portal once served at the
    // minimum, or the cost raised since) is made again now that the password is
    // known: left, it would stay quick to crack and its quick answers would tell the
    // address from unknown ones. If hashing fails, the old hash serves on.
    std::optional<std::string> upgraded;
    if (hasher.needsRehash(account->passwordHash)) {
      if (auto h = hashPassword(password)) upgraded = std::move(*h);
    }
    const std::string token = newToken();
    Session session;
    session.tokenHash = tokenHash(token);
    session.companyId = company->id;
    session.userId = account->userId;
    session.createdAt = now;
    session.lastSeen = now;
    session.expiresAt = Timestamp{now.micros + sessions.limits().absoluteMicros};
    session.mustChangePassword = account->mustChangePassword;
    CommandReply reply;
    if (auto failed = runAs(call.req, call.route, company->id, kSystem,
                            RecordLogin{account->userId, session.tokenHash, session.expiresAt,
                                        address.empty() ? std::nullopt : std::optional(address),
                                        upgraded, toHex(sha256(account->passwordHash))},
                            reply)) {
      // Deactivated between the check and now: the same answer as any bad combination.
      if (reply.status == CommandReply::Status::kRejected)
        return badCredentials();
      return *failed;
    }
    if (auto r = sessions.add(session); !r)
      return Api::problem(503, "sessions-unavailable", "Sessions cannot be recorded now",
                          r.error().message);
    // A password change, reset or deactivation between the check above and now ended
    // the user's sessions before this one was added: it must not outlive them. (Each
    // ends the sessions after its change is in the view, so one of the two sees the
    // other.)
    // A hash that is neither the one checked nor this sign-in's own: a change, or the
    // hash a sign-in beside this one (two tabs, a double click) made again of the same
    // password, which the password still verifies against (a review got 201 401 401
    // 401). Only in that race is it hashed once more.
    if (auto after = portal.credentials().account(company->id, account->userId);
        !after || !after->active || after->passwordSetAt != account->passwordSetAt ||
        (after->passwordHash != account->passwordHash && after->passwordHash != upgraded &&
         !verifyPassword(after->passwordHash, password))) {
      (void)sessions.remove(session.tokenHash);
      return badCredentials();
    }
    std::string out = "{\"token\":" + json(token).dump() +
                      ",\"expiresAt\":" + json(formatRfc3339(session.expiresAt)).dump() +
                      ",\"mustChangePassword\":" + (session.mustChangePassword ? "true" : "false") +
                      ",\"user\":" + userJson(company->id, account->userId) + "}";
    return jsonResponse(201, std::move(out));
  }

  HttpResponse signOut(Call& call) {
    if (!sessions.remove(call.tokenHash))
      return Api::problem(503, "sessions-unavailable", "Sessions cannot be recorded now",
                          "The session may still work, or come back after a restart of the "
                          "server; sign out again later.");
    return noContent();
  }

  HttpResponse me(Call& call) {
    HttpResponse r = userResponse(call.company(), call.actor());
    if (r.status != 200) return r;
    json u = json::parse(r.body);
    u["mustChangePassword"] = call.session.mustChangePassword;
    r.body = u.dump();
    return r;
  }

  HttpResponse changePassword(Call& call) {
    HttpResponse error;
    auto fields = requiredStrings<2>(call.req, {"currentPassword", "newPassword"}, error);
    if (!fields) return error;
    auto& [current, next] = *fields;
    // The policy judges, and "must differ" compares, what is hashed (NFKC): twelve
    // decomposed letters that are four once composed are four.
    next = nfkc(next);
    // One change (or reset) of a user's password at a time, each checked against the
    // password the one before it set.
    const auto serial = serializeUser(call.company(), call.actor());
    if (auto behind = viewsCaughtUp()) return *behind;
    std::optional<AccountRecord> account;
    std::optional<CompanyRecord> company;
    {
      const CredentialsReader creds = portal.credentials();  // not held while hashing
      account = creds.account(call.company(), call.actor());
      company = creds.companyById(call.company());
    }
    if (!account || !company) return unauthorized();
    // Guesses of the current password with a stolen session are throttled like
    // sign-ins, by the user and by the session (not by address: sign-in failures
    // from the same office must not stop this).
    const std::string userKey = call.company() + "\n" + call.actor();
    if (std::int64_t wait = passwordThrottle.attempt(userKey, call.tokenHash, clock.now()); wait > 0)
      return tooMany(wait, "Too many attempts", "Wait before trying again.");
    // A retry of a change that was made (its answer lost) gets the first answer: the
    // current password it would be checked against is the new one by now. Its key's
    // record keeps no fingerprint of the passwords (a fast hash of them on disk would
    // let guesses be tested at SHA-256 speed): the retry's new password is checked
    // against the hash the change set instead, at Argon2id's cost and throttled, and
    // another one is another request under the same key.
    std::optional<HttpResponse> problem;
    if (auto first = earlierAnswer(call, SetPassword{}, problem)) {
      if (!first->accepted()) return rejected(first->rejection);
      if (!verifyPassword(account->passwordHash, next)) return rejected(keyReusedRejection());
      passwordThrottle.succeeded(userKey, call.tokenHash);
      return noContent();
    }
    if (problem) return *problem;
    if (!verifyPassword(account->passwordHash, current))
      return validation({{"currentPassword", "is not your current password"}});
    passwordThrottle.succeeded(userKey, call.tokenHash);
    if (auto problems = policyProblems(next, *account); !problems.empty())
      return policyRejected(problems, "newPassword");
    if (next == nfkc(current))
      return validation({{"newPassword", "must differ from the current password"}});
    auto hash = hashPassword(next);
    if (!hash)
      return Api::problem(500, "internal", "Internal error", "The password could not be hashed.");
    CommandReply reply;
    if (auto failed = run(call, SetPassword{call.actor(), *hash, false, "changed"}, reply))
      return *failed;
    // This session outlives the change (recorded before the others end, so that both
    // are written out together); a restart ends any other the crash left behind.
    sessions.passwordChanged(call.tokenHash, clock.now());
    sessions.removeUser(call.company(), call.actor(), call.tokenHash);
    return noContent();
  }

  HttpResponse passwordPolicy(Call&) {
    // The rules are the product's, the same for every company: an unknown slug gets
    // them too, so that this public page does not tell which companies exist (as
    // sign-in and reset requests do not).
    json rules = json::array();
    for (const auto& r : policy.rules()) rules.push_back(r);
    json out = {{"minLength", PasswordPolicy::kMinLength},
                {"maxLength", PasswordPolicy::kMaxLength},
                {"notEmail", true},
                {"notCommon", true},
                {"anyCharacters", true},
                {"rules", rules}};
    return jsonResponse(200, out.dump());
  }

  HttpResponse requestReset(Call& call) {
    HttpResponse error;
    auto fields = requiredStrings<2>(call.req, {"company", "email"}, error);
    if (!fields) return error;
    auto& [slug, email] = *fields;
    slug = slugOf(slug);
    HttpResponse accepted = jsonResponse(
        202,
        R"({"status":"accepted","message":"If the address belongs to an active user, a reset link is on its way."})");
    // Counted by the email as typed from each client network and from all, and by the
    // client address, known or not. Past a limit the answer is the same 202 (API.md:
    // "202 always") and no link is sent: nobody floods an inbox, and the answer tells
    // nothing either way. One stranger's requests do not stop the person's own.
    if (resetThrottle.attempt(slug + "\n" + emailKey(email), call.req.clientAddress, clock.now()) > 0)
      return accepted;
    std::optional<CompanyRecord> company;
    std::optional<AccountRecord> account;
    {
      const CredentialsReader creds = portal.credentials();  // not held while the command runs
      company = creds.companyBySlug(slug);
      if (company) account = creds.accountByEmail(company->id, email);
    }
    if (!company) return accepted;
    const std::string token = newToken();
    MailBuilder outbox;
    if (account && account->active) {
      MailRecord mail;
      mail.kind = "password-reset";
      mail.companyId = company->id;
      mail.companySlug = company->slug;
      mail.userId = account->userId;
      mail.secret = token;
      // A fragment, never sent to a server: the token stays out of access logs and
      // Referer headers on its way to the front end that reads it.
      mail.link = publicUrl() + "/reset-password#token=" + token;
      // Only when the write model reset the user too: the view may show someone
      // a deactivation accepted a moment ago has made inactive (the decision then
      // names nobody), whose link would be written out for nothing.
      outbox = [record = encodeMailRecord(mail)](const Decision& d) {
        return d.id.empty() ? std::vector<std::string>{} : std::vector<std::string>{record};
      };
    }
    // Handed to the processor without waiting, for unknown emails too, so that the
    // answer comes as soon whether the email is known or not.
    Submission s;
    s.command =
        Command{company->id, kSystem,
                RequestPasswordReset{account ? account->userId : std::string(), tokenHash(token),
                                     Timestamp{clock.now().micros + kResetValidityMicros}}};
    idempotency(call.req, call.route, s);
    const bool mail = static_cast<bool>(outbox);
    s.outbox = std::move(outbox);
    portal.submit(std::move(s), [mail, notify = options.mailQueued](CommandReply reply) {
      if (mail && reply.accepted() && notify) notify();
    });
    return accepted;
  }

  HttpResponse confirmReset(Call& call) {
    HttpResponse error;
    auto fields = requiredStrings<2>(call.req, {"token", "newPassword"}, error);
    if (!fields) return error;
    auto& [token, next] = *fields;
    next = nfkc(next);  // judged by the policy as it is hashed (see changePassword)
    const std::string hash = tokenHash(token);
    std::optional<ResetRecord> reset = portal.credentials().reset(hash);
    // Read again once no change of the user's password runs beside this one (a
    // change voids the link; one made from the old password after it must not win).
    std::unique_lock<std::mutex> serial;
    if (reset) {
      serial = serializeUser(reset->companyId, reset->userId);
      if (auto behind = viewsCaughtUp()) return *behind;
    }
    std::optional<AccountRecord> account;
    {
      const CredentialsReader creds = portal.credentials();  // not held while hashing
      reset = creds.reset(hash);
      if (reset) account = creds.account(reset->companyId, reset->userId);
    }
    if (!account || clock.now() >= reset->expiresAt)
      return Api::problem(400, "reset-token-invalid", "The reset link cannot be used",
                          "The reset link is expired, used, replaced by a newer one, or unknown.");
    if (auto problems = policyProblems(next, *account); !problems.empty())
      return policyRejected(problems, "newPassword");
    // The temporary password, mailed in clear, is no new one: it would stay for good,
    // out of its gate and its expiry. (Only it: with any other current password, the
    // answer would let a link's holder test guesses of it, unthrottled.)
    if (account->mustChangePassword && verifyPassword(account->passwordHash, next))
      return validation({{"newPassword", "must differ from the current password"}});
    auto passwordHash = hashPassword(next);
    if (!passwordHash)
      return Api::problem(500, "internal", "Internal error", "The password could not be hashed.");
    CommandReply reply;
    if (auto failed = runAs(call.req, call.route, account->companyId, kSystem,
                            CompletePasswordReset{hash, *passwordHash}, reply))
      return *failed;
    sessions.removeUser(account->companyId, account->userId);
    // Failed sign-ins before the reset (forgotten password, or someone locking the
    // account) no longer keep the new password out.
    if (auto company = portal.credentials().companyById(account->companyId))
      throttle.clear(company->slug + "\n" + emailKey(account->email));
    passwordThrottle.clear(account->companyId + "\n" + account->userId);
    return noContent();
  }

  // --- users ----------------------------------------------------------------------

  static HttpResponse badCursor(std::string_view detail =
                                    "The cursor is not one this list gave with these filters "
                                    "(or it was changed; a users list's cursor also ends with "
                                    "a restart of the server): list again from the start.") {
    return Api::problem(400, "invalid-cursor", "The cursor cannot be used", detail);
  }

  // The cursors of the lists in id order (administrators, resources, groups): the
  // last id shown, with the list and the company it belongs to, sealed, so that a
  // cursor not given by this list (forged, another list's, another company's) is
  // refused instead of paging from somewhere else.
  std::optional<std::string> openListCursor(const Call& call, std::string_view list,
                                            HttpResponse& error, const Sealer* sealer = nullptr) {
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
  std::string sealListCursor(const Call& call, std::string_view list, const std::string& lastId,
                             const Sealer* sealer = nullptr) {
    if (lastId.empty()) return {};
    return (sealer ? *sealer : cursorSealer)
        .seal(std::string(list) + '\n' + call.company() + '\n' + lastId);
  }

  HttpResponse listUsers(Call& call) {
    HttpResponse error;
    auto limit = limitOf(call, error);
    if (!limit) return error;
    UserListQuery q;
    q.search = std::string(trimText(param(call, "search")));  // " ada " is what was meant
    const std::string status = param(call, "status");
    if (status.empty() || status == "all")
      q.status = UserStatus::kAll;
    else if (status == "active")
      q.status = UserStatus::kActive;
    else if (status == "inactive")
      q.status = UserStatus::kInactive;
    else
      return badParam("status", "status must be active, inactive or all.");
    q.limit = *limit;
    // A cursor holds its place in one list: another status or search would skip
    // the rows that sort before that place.
    // (The search as it matches, folded: "mueller" and "MUELLER" are one query.)
    const std::string list =
        "users\n" + (status.empty() ? std::string("all") : status) + '\n' + searchFold(q.search);
    auto cursor = openListCursor(call, list, error, &userCursorSealer);
    if (!cursor) return error;
    q.cursor = std::move(*cursor);
    UserPage page = portal.users().list(call.company(), q);
    if (page.badCursor) return badCursor();
    return jsonResponse(
        200, itemsJson(page.items, sealListCursor(call, list, page.nextCursor, &userCursorSealer)));
  }

  // The welcome mail for each user a command created: the decision's `ids` (an
  // import), else its `id` (a single create).
  MailBuilder welcomeMail(const std::string& companyId) {
    auto company = portal.credentials().companyById(companyId);
    return [slug = company ? company->slug : "", link = publicUrl()](const Decision& d) {
      // Someone created inactive cannot sign in: no welcome, not even once they are
      // reactivated before the mail goes out.
      std::set<std::string> inactive;
      for (const PendingEvent& e : d.events)
        if (const auto* created = std::get_if<UserCreated>(&e.data); created && !created->active)
          inactive.insert(created->userId);
      std::vector<std::string> mails;
      for (const std::string& user : d.ids.empty() ? std::vector<std::string>{d.id} : d.ids) {
        if (inactive.count(user)) continue;
        MailRecord mail;
        mail.kind = "welcome";
        mail.companyId = d.companyId;
        mail.companySlug = slug;
        mail.userId = user;
        mail.link = link;
        mails.push_back(encodeMailRecord(mail));
      }
      return mails;
    };
  }

  HttpResponse createUser(Call& call) {
    HttpResponse error;
    auto body = objectBody(call.req, error);
    if (!body) return error;
    std::vector<std::pair<std::string, std::string>> errors;
    CreateUser c;
    c.details.email = stringField(*body, "email", errors).value_or("");
    c.details.givenName = stringField(*body, "givenName", errors).value_or("");
    c.details.surname = stringField(*body, "surname", errors).value_or("");
    c.details.jobTitle = stringField(*body, "jobTitle", errors).value_or("");
    c.details.managerEmail = stringField(*body, "managerEmail", errors).value_or("");
    c.details.country = stringField(*body, "country", errors);
    if (auto it = body->find("active"); it != body->end() && !it->is_null()) {
      if (!it->is_boolean())
        errors.emplace_back("active", "must be true or false");
      else
        c.details.active = it->get<bool>();
    }
    if (auto it = body->find("notify"); it != body->end() && !it->is_null()) {
      if (!it->is_boolean())
        errors.emplace_back("notify", "must be true or false");
      else
        c.notify = it->get<bool>();
    }
    refuseOtherFields(*body,
                      {"email", "givenName", "surname", "jobTitle", "managerEmail", "country", "active",
                       "notify"},
                      errors, "is not a field of a new user");
    if (!errors.empty()) {
      ValidDetails ignored;
      return validation(
          withValueProblems(std::move(errors), validateDetails(c.details, countries, ignored, "")));
    }
    MailBuilder outbox = c.notify ? welcomeMail(call.company()) : nullptr;
    return command(
        call, std::move(c),
        [this, company = call.company()](const CommandReply& reply) {
          HttpResponse r = userResponse(company, reply.decision.id, 201);
          r.headers.emplace_back("Location", "/api/v1/users/" + reply.decision.id);
          return r;
        },
        std::move(outbox));
  }

  HttpResponse getUser(Call& call) { return userResponse(call.company(), call.params[0]); }

  // Why a field of the user that PATCH does not take cannot be sent with a new value.
  // A PATCH body's fields besides those it changes (`patchable`), as GET shows the
  // resource: `version` is a form's precondition (412 when it changed since, as with
  // If-Match, which wins when sent too), and its `updatedAt` goes with it; any other
  // field sent back with the value shown (a form that returns the whole resource) is
  // no change; with another value it is refused as `readOnly` says (`readOnlyErrors`,
  // which `refuseReadOnly` weighs once the version to check is known); a field the
  // resource does not have is refused as not known (a misspelt "Country").
  struct ShownFields {
    std::vector<std::pair<std::string, std::string>> readOnlyErrors;
    std::optional<std::uint64_t> shownVersion;  // of the row the fields were judged against
  };
  static ShownFields judgeShownFields(const json& body,
                                      std::initializer_list<std::string_view> patchable,
                                      const RowRead& shownRow,
                                      const std::function<std::string(std::string_view)>& readOnly,
                                      const char* what, std::optional<std::uint64_t>& version,
                                      std::vector<std::pair<std::string, std::string>>& errors) {
    ShownFields out;
    std::optional<json> asShown;
    for (const auto& item : body.items()) {
      if (std::find(patchable.begin(), patchable.end(), item.key()) != patchable.end()) continue;
      if (item.key() == "updatedAt") continue;
      if (item.key() == "version") {
        if (!item.value().is_number_unsigned())
          errors.emplace_back("version", "must be a whole number");
        else
          version = item.value().get<std::uint64_t>();
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
  // A read-only field sent with another value than shown is refused, unless the form
  // is of another version than the one it was judged against: then it is stale, and
  // the decider's 412 says so rather than a 422 about what changed since.
  static void refuseReadOnly(const ShownFields& shown, const std::optional<std::uint64_t>& expected,
                             std::vector<std::pair<std::string, std::string>>& errors) {
    if (expected && shown.shownVersion && *expected != *shown.shownVersion) return;
    errors.insert(errors.end(), shown.readOnlyErrors.begin(), shown.readOnlyErrors.end());
  }

  static std::string readOnlyUserField(std::string_view field) {
    if (field == "active")
      return "is read-only: use POST /api/v1/users/{id}/deactivate or /reactivate";
    if (field == "isAdmin")
      return "is read-only: use POST /api/v1/admins or DELETE /api/v1/admins/{id}";
    if (field == "isOwner") return "is read-only: use POST /api/v1/owner";
    if (field == "anonymized") return "is read-only: use POST /api/v1/users/{id}/anonymize";
    return "is read-only";
  }

  HttpResponse patchUser(Call& call) {
    HttpResponse error;
    auto body = objectBody(call.req, error);
    if (!body) return error;
    const std::string& id = call.params[0];
    const auto stored = portal.users().row(call.company(), id);
    if (!stored) return userNotFound();
    UpdateUser u;
    u.userId = id;
    std::vector<std::pair<std::string, std::string>> errors;
    auto field = [&](const char* name, std::optional<std::optional<std::string>>& out) {
      auto it = body->find(name);
      if (it == body->end()) return;
      if (it->is_null())
        out = std::optional<std::string>();
      else if (it->is_string())
        out = std::optional<std::string>(it->get<std::string>());
      else
        errors.emplace_back(name, "must be a string or null");
    };
    field("givenName", u.givenName);
    field("surname", u.surname);
    field("jobTitle", u.jobTitle);
    field("managerEmail", u.managerEmail);
    field("country", u.country);
    if (auto it = body->find("email"); it != body->end()) {
      if (it->is_string()) {
        u.email = it->get<std::string>();
      } else {
        // An anonymized user reads `"email": null`: sent back so, it is no change
        // (the decider then answers that an anonymized user cannot change).
        auto doc = JsonDocument::parse(*stored);
        if (!it->is_null() || !doc || stringMember(*doc, "email"))
          errors.emplace_back("email", "cannot be changed");
      }
    }
    const ShownFields shown = judgeShownFields(
        *body, {"givenName", "surname", "jobTitle", "managerEmail", "country", "email"},
        userRow(call, id), readOnlyUserField, "user", u.expectedVersion, errors);
    if (!errors.empty()) {
      refuseReadOnly(shown, u.expectedVersion, errors);
      return validation(errors);
    }
    // A form sends back the manager as the user reads: where that is "anonymized" (a
    // manager erased), which is no address, it is no change. Only that value: any
    // other is decided by the processor against the user as it is then, not as the
    // view showed it (a change accepted but not yet shown would be lost).
    if (u.managerEmail && *u.managerEmail && **u.managerEmail == kAnonymizedMarker) {
      const std::string shownText = portal.users().get(call.company(), id).value_or("");
      if (auto shown = JsonDocument::parse(shownText);
          shown && stringMember(*shown, "managerEmail") == kAnonymizedMarker)
        u.managerEmail.reset();
    }
    if (auto failed = ifMatch(call.req, userTagNow(call, id), "user", u.expectedVersion))
      return *failed;
    refuseReadOnly(shown, u.expectedVersion, errors);
    if (!errors.empty()) return validation(errors);
    return command(call, std::move(u),
                   [=, this, company = call.company(), params = call.params](
                       const CommandReply& reply) -> HttpResponse {
                     return userResponse(company, subjectOf(reply, id));
                   });
  }

  HttpResponse deactivate(Call& call) {
    HttpResponse error;
    auto body = objectBody(call.req, error);
    if (!body) return error;
    std::vector<std::pair<std::string, std::string>> errors;
    auto to = stringField(*body, "transferTo", errors);
    if (to) to = idAsGiven(std::move(*to));
    refuseOtherFields(*body, {"transferTo"}, errors, "is not a field of a deactivation");
    if (!errors.empty()) return validation(errors);
    // A form's recipient left unpicked sends "": no recipient named.
    if (to && trim(*to).empty()) to.reset();
    const std::string& id = call.params[0];
    DeactivateUser d{id, to};
    if (auto failed = ifMatch(call.req, userTagNow(call, id), "user", d.expectedVersion))
      return *failed;
    return command(call, std::move(d),
                   [=, this, company = call.company(),
                    params = call.params](const CommandReply& reply) -> HttpResponse {
                     const std::string& user = subjectOf(reply, params[0]);
                     // A replay ends nothing: the user may have been reactivated since.
                     if (!reply.replayed) endSessionsSoon(company, user);
                     json transferred = json::array();
                     auto resources = portal.resources();
                     // The resources as the decision handed them over: a replay gives
                     // the first answer, whoever holds them now.
                     for (const auto& t : reply.decision.transferred) {
                       json item = {{"id", t.resourceId},
                                    {"kind", t.kind},
                                    {"service", t.service},
                                    {"name", t.name},
                                    {"ownerId", t.ownerId}};
                       if (t.mergedInto) item["mergedInto"] = *t.mergedInto;
                       // (An answer recorded before they were kept: read from the view.)
                       auto row = t.ownerId.empty()
                                      ? resources.row(company, t.mergedInto.value_or(t.resourceId))
                                      : std::nullopt;
                       if (row) {
                         json r = json::parse(*row, nullptr, false);
                         if (r.is_object()) {
                           item["service"] = r.value("service", "");
                           item["name"] = r.value("name", "");
                           item["ownerId"] = r.value("ownerId", "");
                         }
                       }
                       transferred.push_back(std::move(item));
                     }
                     return jsonResponse(200, "{\"user\":" + userJson(company, user) +
                                                  ",\"transferred\":" + transferred.dump() + "}");
                   });
  }

  HttpResponse reactivate(Call& call) {
    ReactivateUser r{call.params[0]};
    if (auto failed = ifMatch(call.req, userTagNow(call, r.userId), "user", r.expectedVersion))
      return *failed;
    return command(call, std::move(r),
                   [=, this, company = call.company(),
                    params = call.params](const CommandReply& reply) -> HttpResponse {
                     const std::string& user = subjectOf(reply, params[0]);
                     // A session the deactivation did not get to end (a crash between
                     // the two) must not come back with the user: they sign in anew.
                     if (!reply.replayed) endSessionsSoon(company, user);
                     return userResponse(company, user);
                   });
  }

  // A user as the users view shows them (readUserFlags).
  struct UserFlags {
    bool active = false, anonymized = false, isAdmin = false, isOwner = false;
    std::string email;  // empty once anonymized
  };
  // A read of the users view that failed (an I/O error), logged; 503.
  static HttpResponse usersViewUnreadable(const Call& call, const Error& e) {
    logLine("request " + call.req.requestId + ": " + e.message);
    return Api::problem(503, "view-unavailable", "The users view is not available",
                        "The portal cannot read its users now; nothing was done. Try again later.");
  }
  // What the users view says of a user now: nullopt when there is no such user, an
  // error when the view cannot be read (not the user's absence).
  Result<std::optional<UserFlags>> readUserFlags(const std::string& company,
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

  // A string member of a row's JSON; nullopt when absent or of another type.
  static std::optional<std::string_view> stringMember(const JsonDocument& doc, std::string_view name) {
    auto m = doc.member(doc.root(), name);
    if (!m || doc.node(*m).kind != JsonDocument::Kind::kString) return std::nullopt;
    return doc.node(*m).text;
  }

  static HttpResponse importLogsUnavailable(const Error& e, bool anonymized) {
    logLine("import logs: " + e.message);
    return Api::problem(503, "import-logs-unavailable", "The import logs cannot be removed",
                        anonymized ? "The user is anonymized, but the company's import logs, "
                                     "which may hold their personal data, are still kept; "
                                     "repeat the request."
                                   : "Nothing was changed by this request; try again later.");
  }
  // An import's log may hold the person's email or names, even ones changed since:
  // anonymization drops every log of the company (DESIGN.md: nothing else keeps
  // their personal data in clear). Before the command, with a mark that it is under
  // way (ImportLogs), the logs dropped in the same write when the view shows the user
  // deactivated (the command will be accepted), so that no crash between the two
  // leaves a log behind; and again once it was accepted, for a log an import kept in
  // between, removing the mark. A refusal removes the mark if this request made it.
  // A mark left (the drop after the command failed, or a crash) is finished by any
  // later request for the person (a repeat with the same key, a stale If-Match, a
  // 409 for someone anonymized already), and by the next start; without one such a
  // request drops nothing: the logs administrators kept since are not the person's
  // (a review found them removed by a refused repeat). A blocking route: the drops
  // are fsyncs. The mail drop's files to the person go before the command too: a
  // deactivated user is sent nothing more, and once anonymized their email is known
  // nowhere. A repeated Idempotency-Key gets the first answer, about the first
  // request's user, and does nothing else (no new drop, no session ended).
  HttpResponse anonymize(Call& call) {
    const std::string& id = call.params[0];
    // A repeat of the key sent while the first runs waits for its answer: it must not
    // drop mail and import logs for another user before it finds it is a repeat.
    const auto serial = serializeKey(call);
    const auto erasure = serializeErasure(call.company(), id);
    std::optional<HttpResponse> problem;
    if (auto first = earlierAnswer(call, AnonymizeUser{id}, problem)) {
      if (!first->accepted() && first->rejection.code != "already-anonymized")
        return rejected(first->rejection);
      const std::string& user = subjectOf(*first, id);
      if (auto undone = finishAnonymizationLeftUndone(call.company(), user)) return *undone;
      return first->accepted() ? userResponse(call.company(), user) : rejected(first->rejection);
    }
    if (problem) return *problem;
    // A stale If-Match is refused before the drops below, which come before the
    // command is decided: judged against a view that holds every durable event (a
    // change accepted a moment ago, not shown yet, would pass here and be refused
    // by the decider after the drops).
    AnonymizeUser anonymize{id};
    if (!call.req.header("if-match").empty())
      if (auto behind = viewsCaughtUp()) return *behind;
    // A read that fails is no absent user: the drops below would be passed over and
    // the person's mail kept once their email is shredded.
    auto read = readUserFlags(call.company(), id);
    if (!read) return usersViewUnreadable(call, read.error());
    const auto& user = *read;
    if (user && user->anonymized)  // whatever the If-Match: the drop of a command accepted
      if (auto undone = finishAnonymizationLeftUndone(call.company(), id)) return *undone;
    if (auto failed =
            ifMatch(call.req, userTagNow(call, id), "user", anonymize.expectedVersion, true))
      return *failed;
    const bool marking = user && !user->anonymized;
    const bool droppedBefore = marking && !user->active;
    bool madeMark = false;
    if (marking) {
      auto begun = importLogs.beginAnonymization(call.company(), id, droppedBefore);
      if (!begun) return importLogsUnavailable(begun.error(), false);
      madeMark = *begun;
      if (droppedBefore)
        if (auto forgotten = forgetMail(call.company(), *user); !forgotten) {
          if (madeMark) (void)importLogs.endAnonymization(call.company(), id, false);
          return Api::problem(503, "mail-drop-unavailable",
                              "The mails to the user cannot be removed",
                              "The user is not anonymized (the company's import logs were removed "
                              "already); try again later.");
        }
    }
    CommandReply reply;
    auto refused = run(call, std::move(anonymize), reply);
    // Refused by the decider or not sent (a bad Idempotency-Key): the mark goes if
    // this request made it (a failure to remove it costs a later drop); someone
    // anonymized meanwhile by another request finishes its drop if left undone.
    // When the log failed the command may be durable: the mark stays, and the next
    // start drops the logs. The same key's first request still in flight above: its
    // answer, and its drop finished if left undone.
    if (reply.replayed || reply.status == CommandReply::Status::kRejected ||
        (refused && reply.failure.empty())) {
      if (madeMark) (void)importLogs.endAnonymization(call.company(), id, false);
      if (reply.replayed && reply.accepted()) {
        const std::string& subject = subjectOf(reply, id);
        if (auto undone = finishAnonymizationLeftUndone(call.company(), subject)) return *undone;
        return userResponse(call.company(), subject);
      }
      if (reply.status == CommandReply::Status::kRejected &&
          reply.rejection.code == "already-anonymized")
        if (auto undone = finishAnonymizationLeftUndone(call.company(), id)) return *undone;
    }
    if (refused) return *refused;
    sessions.removeUser(call.company(), id);
    if (auto dropped = importLogs.endAnonymization(call.company(), id, true); !dropped)
      return importLogsUnavailable(dropped.error(), true);
    // The view still showed the user active (its deactivation's answer came before
    // the view had it): their mails go now, the email being known from that row.
    if (!droppedBefore && user) (void)forgetMail(call.company(), *user);
    return userResponse(call.company(), id);
  }

  // An anonymization accepted whose drop of the import logs was left undone (its
  // mark left): done now; a problem when it cannot be.
  std::optional<HttpResponse> finishAnonymizationLeftUndone(const std::string& company,
                                                            const std::string& id) {
    auto pending = importLogs.anonymizationPending(company, id);
    if (!pending) return importLogsUnavailable(pending.error(), true);
    if (*pending)
      if (auto dropped = importLogs.endAnonymization(company, id, true); !dropped)
        return importLogsUnavailable(dropped.error(), true);
    return std::nullopt;
  }

  // The mail drop's files to a user, removed; a failure is logged and returned.
  Result<void> forgetMail(const std::string& company, const UserFlags& user) {
    if (user.email.empty() || !options.forgetMail) return {};
    auto forgotten = options.forgetMail(company, user.email);
    if (!forgotten) logLine("mail drop: " + forgotten.error().message);
    return forgotten;
  }

  HttpResponse userResources(Call& call) {
    const std::string& id = call.params[0];
    if (!portal.users().row(call.company(), id)) return userNotFound();
    return listResources(call, id);
  }

  // The roles a user holds, by service and role.
  HttpResponse userRoles(Call& call) {
    const std::string& id = call.params[0];
    if (!portal.users().row(call.company(), id)) return userNotFound();
    return rowsPage(call, "roles:" + id, portal.roles(), RolesProjection::userList(call.company(), id));
  }

  // A page of a list's rows under `prefix` (a company, or a company and a user),
  // with the list's own cursors.
  HttpResponse rowsPage(Call& call, const std::string& list, const ListReader& reader,
                        const std::string& prefix) {
    HttpResponse error;
    auto limit = limitOf(call, error);
    if (!limit) return error;
    const auto cursor = openListCursor(call, list, error);
    if (!cursor) return error;
    RowPage page = reader.list(prefix, *limit, *cursor);
    return jsonResponse(200, itemsJson(page.items, sealListCursor(call, list, page.nextCursor)));
  }

  HttpResponse listResources(Call& call, const std::string& ownerId) {
    auto reader = portal.resources();
    const std::string list = "resources:" + ownerId;
    if (ownerId.empty()) return rowsPage(call, list, reader, call.company());
    HttpResponse error;
    auto limit = limitOf(call, error);
    if (!limit) return error;
    const auto cursor = openListCursor(call, list, error);
    if (!cursor) return error;
    std::vector<std::string> items;
    std::string next;
    for (const auto& rid : portal.resourcesOf(call.company(), ownerId)) {
      if (!cursor->empty() && rid <= *cursor) continue;
      if (items.size() == *limit) {
        next = json::parse(items.back()).value("id", "");
        break;
      }
      if (auto row = reader.row(call.company(), rid)) items.push_back(*row);
    }
    return jsonResponse(200, itemsJson(items, sealListCursor(call, list, next)));
  }

  HttpResponse userHistory(Call& call) {
    const std::string& id = call.params[0];
    if (!portal.users().row(call.company(), id)) return userNotFound();
    call.query["subject"] = id;
    return auditList(call);
  }

  HttpResponse countriesList(Call&) {
    json out = json::array();
    for (const auto& c : countries.all()) out.push_back({{"code", c.code}, {"name", c.name}});
    return jsonResponse(200, out.dump());
  }

  // --- batch import --------------------------------------------------------------------

  // A true/false query flag ("true", "false", "1", "0"; absent: false). A bare or blank
  // one (`?dryRun`, `?dryRun=`) is refused, unlike other blank parameters: read as
  // false, it would run for real an import someone meant as a dry run.
  std::optional<bool> queryFlag(const Call& call, const char* name, HttpResponse& error) {
    auto it = call.query.find(name);
    if (it == call.query.end() || it->second == "false" || it->second == "0") return false;
    if (it->second == "true" || it->second == "1") return true;
    error = badParam(
        name, std::string("The query parameter ") + name + " must be true or false (or 1 or 0).");
    return std::nullopt;
  }

  // A cell's value as the answer shows it: its first KiB (cut before a character)
  // and "…" for the rest. A name of 300,000 characters made an answer of 300 KB, and
  // a thousand such errors could make one of a file's size (a review); the error log
  // keeps the cell whole.
  static std::string shownValue(const std::string& value) {
    constexpr std::size_t kShownBytes = 1024;
    if (value.size() <= kShownBytes) return value;
    std::size_t end = kShownBytes;
    while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80) --end;
    return value.substr(0, end) + "\u2026";
  }

  static json issuesJson(const std::vector<ImportIssue>& issues) {
    json list = json::array();
    for (std::size_t i = 0; i < issues.size() && i < kMaxIssuesShown; ++i)
      list.push_back({{"row", issues[i].row},
                      {"column", issues[i].column},
                      {"value", shownValue(issues[i].value)},
                      {"message", issues[i].message}});
    return list;
  }

  HttpResponse importUsers(Call& call) {
    if (!isCsvMediaType(call.req.header("content-type")))
      return Api::notCsv(call.req.header("content-type"));
    // A repeat of the key sent while the first import runs waits for its outcome (a
    // file with errors would otherwise be answered anew, with another import id).
    const auto serial = serializeKey(call);
    // A browser gives an Excel workbook the type it gives a .csv file where Excel is
    // installed (application/vnd.ms-excel): a workbook is said to be one.
    if (const std::string_view body = call.req.body;
        body.starts_with("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") || body.starts_with("PK\x03\x04"))
      return Api::problem(415, "unsupported-media-type", "Unsupported media type", kWorkbookNotCsv);
    HttpResponse error;
    const auto notify = queryFlag(call, "notify", error);
    if (!notify) return error;
    const auto dryRun = queryFlag(call, "dryRun", error);
    if (!dryRun) return error;

    // Taken before the file is read: an anonymization from here on means the log,
    // which may name the person, is not kept.
    const std::uint64_t logGeneration = importLogs.generation(call.company());
    ImportReadOptions read;
    read.maxRows = options.importMaxRows;
    ImportFile file;
    {
      const CredentialsReader credentials = portal.credentials();  // not held while it runs
      read.inPool = [&](std::string_view email) {
        const auto account = credentials.accountByEmail(call.company(), email);
        using Member = ImportReadOptions::Member;
        return !account ? Member::kNone : account->active ? Member::kActive : Member::kDeactivated;
      };
      file = readUserImport(call.req.body, countries, read);
      read.inPool = nullptr;
    }
    if (file.tooManyRows)
      return Api::problem(413, "too-many-rows", "The file has too many rows",
                          "An import holds at most " + std::to_string(options.importMaxRows) +
                              " users; split the file. Nothing was created.");

    // A repeated Idempotency-Key of an import that was made gets its outcome again
    // (the warnings are this file's); sent with another file or query, it is refused
    // as reused (Submission::fingerprint, kept in its record). One that was refused is
    // checked anew (Submission::replayRefusals).
    std::optional<HttpResponse> problem;
    if (auto first = earlierAnswer(call, ImportUsers{}, problem); first && first->accepted())
      return importAnswer(first->decision.id, {}, file, false, first->decision.ids.size());
    else if (first && first->rejection.code == kKeyReusedCode)
      return rejected(first->rejection);
    if (problem) return *problem;

    std::string importId = ids.newId();
    std::vector<ImportIssue> errors = std::move(file.errors);
    std::size_t created = 0;
    if (!file.rows.empty()) {
      // The processor decides the rest (is an email in the pool already?) with the
      // pool as it is when the users are created; with errors, only as a dry run.
      ImportUsers c;
      c.importId = importId;
      c.notify = *notify;
      c.warnings = file.warnings.size();
      c.dryRun = *dryRun || !errors.empty();
      c.rows.reserve(file.rows.size());
      c.rowNumbers.reserve(file.rows.size());
      for (const ImportRow& r : file.rows) {
        c.rows.push_back(r.details);
        c.rowNumbers.push_back(r.row);
      }
      const bool real = !c.dryRun;
      CommandReply reply;
      auto refused = run(call, std::move(c), reply,
                         real && *notify ? welcomeMail(call.company()) : nullptr, real);
      const bool invalidRows = reply.status == CommandReply::Status::kRejected &&
                               reply.rejection.kind == RejectionKind::kInvalid;
      if (refused && !invalidRows) return *refused;
      if (invalidRows) {
        for (const FieldProblem& p : reply.rejection.problems)
          errors.push_back(issueOfProblem(p, file.rows));
        sortIssues(errors);
      } else if (real) {
        importId = reply.decision.id;  // the first answer's, for a repeated key
        created = reply.decision.ids.size();
      }
    }

    if (auto kept = importLogs.put(call.company(), importId, clock.now(),
                                   importLogCsv(errors, file.warnings, file.separator), logGeneration);
        !kept)
      logLine("import " + importId + ": " + kept.error().message);
    else if (!*kept)
      logLine("import " + importId + ": its log is not kept: a user was anonymized meanwhile");
    return importAnswer(importId, errors, file, *dryRun, created);
  }

  static HttpResponse importAnswer(const std::string& importId, const std::vector<ImportIssue>& errors,
                                   const ImportFile& file, bool dryRun, std::size_t created) {
    const bool ok = errors.empty();
    json body = {{"importId", importId},
                 {"status", ok ? "completed" : "rejected"},
                 {"dryRun", dryRun},
                 {"created", created},
                 {"rows", file.userRows},
                 {"warningCount", file.warnings.size()},
                 {"warnings", issuesJson(file.warnings)},
                 {"log", "/api/v1/users/import/" + importId + "/errors.csv"}};
    if (!ok) {
      body["errorCount"] = errors.size();
      body["errors"] = issuesJson(errors);
    }
    return jsonResponse(ok ? 200 : 422, body.dump(-1, ' ', false, json::error_handler_t::replace));
  }

  static HttpResponse download(std::string bytes, const char* type, const std::string& filename) {
    HttpResponse r;
    r.status = 200;
    r.contentType = type;
    r.body = std::move(bytes);
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + filename + "\"");
    return r;
  }

  HttpResponse importErrors(Call& call) {
    auto log = importLogs.get(call.company(), call.params[0], clock.now());
    // Logs hold the rows as uploaded, personal data of people who may be erased
    // since: they go after a week and at any anonymization in the company.
    if (!log)
      return notFound("The import's log",
                      "logs are kept for a week, and removed when anyone in the company is anonymized");
    return download(std::move(*log), "text/csv; charset=utf-8",
                    "import-" + call.params[0] + "-errors.csv");
  }

  HttpResponse templateCsv(Call&) {
    return download(importTemplateCsv(), "text/csv; charset=utf-8", "users-template.csv");
  }

  HttpResponse templateXlsx(Call&) {
    std::call_once(workbookOnce, [&] { workbook = importTemplateXlsx(countries); });
    if (!workbook) throw std::runtime_error(workbook.error().message);
    return download(*workbook, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "users-template.xlsx");
  }

  // --- administrators and ownership --------------------------------------------------

  HttpResponse listAdmins(Call& call) {
    HttpResponse error;
    auto limit = limitOf(call, error);
    if (!limit) return error;
    const std::string search = searchFold(trimText(param(call, "search")));
    // The search is part of the list: a cursor of another search starts elsewhere.
    const std::string list = "admins:" + search;
    const auto cursor = openListCursor(call, list, error);
    if (!cursor) return error;
    auto users = portal.users();
    std::vector<std::string> items;
    RowPage page = portal.admins().list(
        call.company(), *limit, *cursor, [&](const std::string& row) {
          json a = json::parse(row, nullptr, false);
          if (!a.is_object()) return false;
          auto user = users.get(call.company(), a.value("userId", ""));
          if (!user) return false;
          json u = json::parse(*user);
          if (!search.empty()) {
            const std::string hay =
                searchFold(u.value("givenName", "") + " " + u.value("surname", "") + " " +
                           (u["email"].is_string() ? u["email"].get<std::string>() : ""));
            if (hay.find(search) == std::string::npos) return false;
          }
          return true;
        });
    for (const auto& row : page.items) {
      json a = json::parse(row);
      items.push_back(adminEntryJson(users.get(call.company(), a.value("userId", "")).value_or("null"), row));
    }
    return jsonResponse(200, itemsJson(items, sealListCursor(call, list, page.nextCursor)));
  }

  // Whom an answer is about: the decision's (a repeated Idempotency-Key gets the
  // first request's answer, whatever this one's body or path names), else `asked`.
  static const std::string& subjectOf(const CommandReply& reply, const std::string& asked) {
    return reply.decision.id.empty() ? asked : reply.decision.id;
  }

  HttpResponse adminOf(const std::string& company, const std::string& userId, int status) {
    auto row = portal.admins().row(company, userId);
    return jsonResponse(status, adminEntryJson(userJson(company, userId), row.value_or("{}")));
  }

  HttpResponse includeAdmin(Call& call) {
    HttpResponse error;
    auto fields = requiredStrings<1>(call.req, {"userId"}, error, "is not a field of an inclusion");
    if (!fields) return error;
    const std::string userId = idAsGiven((*fields)[0]);  // clang 14 cannot capture a binding
    return command(call, IncludeAdmin{userId},
                   [=, this, company = call.company(),
                    params = call.params](const CommandReply& reply) -> HttpResponse {
                     const std::string& id = subjectOf(reply, userId);
                     HttpResponse r = adminOf(company, id, 201);
                     r.headers.emplace_back("Location", "/api/v1/admins/" + id);
                     return r;
                   });
  }

  // Where the 201 of POST /admins points: the same entry as in GET /admins.
  HttpResponse getAdmin(Call& call) {
    if (!portal.admins().row(call.company(), call.params[0])) return notFound("The administrator");
    return adminOf(call.company(), call.params[0], 200);
  }

  HttpResponse removeAdmin(Call& call) {
    return command(call, RemoveAdmin{call.params[0]},
                   [](const CommandReply&) -> HttpResponse { return noContent(); });
  }

  HttpResponse transferOwnership(Call& call) {
    HttpResponse error;
    auto fields = requiredStrings<1>(call.req, {"userId"}, error, "is not a field of an ownership transfer");
    if (!fields) return error;
    const std::string userId = idAsGiven((*fields)[0]);  // clang 14 cannot capture a binding
    return command(call, TransferOwnership{userId},
                   [=, this, company = call.company(), params = call.params](
                       const CommandReply& reply) -> HttpResponse {
                     return adminOf(company, subjectOf(reply, userId), 200);
                   });
  }

  // --- services, roles, resources, groups -----------------------------------------------

  // A list as every list is (items, nextCursor), in the order the company was
  // provisioned with; the cursor is the last service shown.
  HttpResponse servicesList(Call& call) {
    HttpResponse error;
    auto limit = limitOf(call, error);
    if (!limit) return error;
    const auto cursor = openListCursor(call, "services", error);
    if (!cursor) return error;
    auto company = portal.credentials().companyById(call.company());
    std::vector<std::string> items;
    std::string last, next;
    bool past = cursor->empty();
    if (company)
      for (const auto& name : company->services) {
        if (!past) {
          past = name == *cursor;
          continue;
        }
        const ServiceDefinition* s = findService(name);
        if (s == nullptr) continue;
        if (items.size() == *limit) {
          next = last;
          break;
        }
        items.push_back(json{{"name", s->name}, {"title", s->title}, {"roles", s->roles}}.dump());
        last = name;
      }
    return jsonResponse(200, itemsJson(items, sealListCursor(call, "services", next)));
  }

  HttpResponse grantRole(Call& call) {
    return command(call, GrantRole{call.params[0], call.params[1], call.params[2]},
                   [](const CommandReply&) -> HttpResponse { return noContent(); });
  }

  HttpResponse revokeRole(Call& call) {
    return command(call, RevokeRole{call.params[0], call.params[1], call.params[2]},
                   [](const CommandReply&) -> HttpResponse { return noContent(); });
  }

  // Every problem in one answer: beside the fields of the wrong JSON type, what the
  // value rules say of the others ("surname is required" beside "email must be a
  // string"), not in a second round.
  static std::vector<std::pair<std::string, std::string>> withValueProblems(
      std::vector<std::pair<std::string, std::string>> errors, std::vector<FieldProblem> problems) {
    for (auto& p : problems)
      if (std::none_of(errors.begin(), errors.end(),
                       [&](const auto& e) { return e.first == p.field; }))
        errors.emplace_back(std::move(p.field), std::move(p.message));
    return errors;
  }

  // 201 with the new row and its Location. A repeated Idempotency-Key gets 201 again
  // after the row was released or deleted since: with only its id, the one field of
  // the first answer still known (idempotency records hold ids, not bodies).
  static HttpResponse created(const std::string& path, const std::string& id,
                              const std::optional<std::string>& row) {
    HttpResponse r = jsonResponse(201, row ? *row : json{{"id", id}}.dump());
    r.headers.emplace_back("Location", path + id);
    return r;
  }

  HttpResponse createResource(Call& call) {
    HttpResponse error;
    auto body = objectBody(call.req, error);
    if (!body) return error;
    std::vector<std::pair<std::string, std::string>> errors;
    RegisterResource c;
    c.kind = stringField(*body, "kind", errors).value_or("");
    c.service = stringField(*body, "service", errors).value_or("");
    c.name = stringField(*body, "name", errors).value_or("");
    c.ownerId = idAsGiven(stringField(*body, "ownerId", errors).value_or(""));
    refuseOtherFields(*body, {"kind", "service", "name", "ownerId"}, errors,
                      "is not a field of a resource");
    if (!errors.empty()) {
      const auto company = portal.credentials().companyById(call.company());
      return validation(withValueProblems(
          std::move(errors),
          resourceFieldProblems(c, company ? company->services : std::vector<std::string>{})));
    }
    return command(call, std::move(c),
                   [=, this, company = call.company(),
                    params = call.params](const CommandReply& reply) -> HttpResponse {
                     return created("/api/v1/resources/", reply.decision.id,
                                    portal.resources().row(company, reply.decision.id));
                   });
  }

  HttpResponse resourcesList(Call& call) {
    const std::string owner = idParam(call, "ownerId");
    if (!owner.empty() && !uuidOf(owner)) return notAnId("ownerId", owner);
    if (!owner.empty() && !portal.users().row(call.company(), owner)) return notFound("The owner");
    return listResources(call, owner);
  }

  HttpResponse releaseResource(Call& call) {
    // A resource shows no ETag, so no tag can name it (RFC 9110 13.1.1): a client
    // guarding its delete with If-Match, as it does a group's, is not let through
    // (the decider's 412, after its 404). `*` is any version of one that exists.
    const std::string_view tag = call.req.header("if-match");
    return command(call, ReleaseResource{call.params[0], !tag.empty() && trim(tag) != "*"},
                   [](const CommandReply&) -> HttpResponse { return noContent(); });
  }

  HttpResponse listGroups(Call& call) {
    return rowsPage(call, "groups", portal.groups(), call.company());
  }

  static HttpResponse rowResponse(const std::optional<std::string>& row, const char* what,
                                  int status) {
    if (!row) return notFound(what);
    return jsonResponse(status, *row);
  }

  HttpResponse groupResponse(const std::string& company, const std::string& id, int status) {
    HttpResponse r = rowResponse(portal.groups().row(company, id), "The group", status);
    if (r.status == status) setETag(r, versionTag(r.body));
    return r;
  }

  // Where the 201 of POST /resources points.
  HttpResponse getResource(Call& call) {
    return rowResponse(portal.resources().row(call.company(), call.params[0]), "The resource", 200);
  }

  HttpResponse createGroup(Call& call) {
    HttpResponse error;
    auto body = objectBody(call.req, error);
    if (!body) return error;
    std::vector<std::pair<std::string, std::string>> errors;
    CreateGroup c;
    c.name = stringField(*body, "name", errors).value_or("");
    c.description = stringField(*body, "description", errors);
    refuseOtherFields(*body, {"name", "description"}, errors, "is not a field of a group");
    if (!errors.empty())
      return validation(
          withValueProblems(std::move(errors), groupFieldProblems(c.name, c.description)));
    return command(call, std::move(c),
                   [=, this, company = call.company(),
                    params = call.params](const CommandReply& reply) -> HttpResponse {
                     HttpResponse r = created("/api/v1/groups/", reply.decision.id,
                                              portal.groups().row(company, reply.decision.id));
                     setETag(r, versionTag(r.body));
                     return r;
                   });
  }

  HttpResponse getGroup(Call& call) { return groupResponse(call.company(), call.params[0], 200); }

  HttpResponse patchGroup(Call& call) {
    HttpResponse error;
    auto body = objectBody(call.req, error);
    if (!body) return error;
    std::vector<std::pair<std::string, std::string>> errors;
    UpdateGroup u;
    u.groupId = call.params[0];
    // A group deleted since it was read is 404, not its fields refused one by one.
    if (!portal.groups().row(call.company(), u.groupId)) return notFound("The group");
    if (auto it = body->find("name"); it != body->end()) {
      if (it->is_string())
        u.name = it->get<std::string>();
      else
        errors.emplace_back("name", "must be a string");
    }
    if (auto it = body->find("description"); it != body->end()) {
      if (it->is_null())
        u.description = std::optional<std::string>();
      else if (it->is_string())
        u.description = std::optional<std::string>(it->get<std::string>());
      else
        errors.emplace_back("description", "must be a string or null");
    }
    const ShownFields shown = judgeShownFields(
        *body, {"name", "description"}, groupRow(call, u.groupId),
        [](std::string_view field) {
          return std::string(
              field == "members"
                  ? "is read-only: use PUT or DELETE /api/v1/groups/{id}/members/{userId}"
                  : "is read-only");
        },
        "group", u.expectedVersion, errors);
    if (!errors.empty()) {
      refuseReadOnly(shown, u.expectedVersion, errors);
      return validation(errors);
    }
    if (auto failed = ifMatch(call.req, groupTagNow(call, u.groupId), "group", u.expectedVersion))
      return *failed;
    refuseReadOnly(shown, u.expectedVersion, errors);
    if (!errors.empty()) return validation(errors);
    return command(call, std::move(u),
                   [=, this, company = call.company(), params = call.params](
                       const CommandReply& reply) -> HttpResponse {
                     return groupResponse(company, subjectOf(reply, params[0]), 200);
                   });
  }

  HttpResponse deleteGroup(Call& call) {
    DeleteGroup d{call.params[0], std::nullopt};
    if (auto failed = ifMatch(call.req, groupTagNow(call, d.groupId), "group", d.expectedVersion))
      return *failed;
    return command(call, std::move(d),
                   [](const CommandReply&) -> HttpResponse { return noContent(); });
  }

  HttpResponse addMember(Call& call) {
    return command(call, AddGroupMember{call.params[0], call.params[1]},
                   [](const CommandReply&) -> HttpResponse { return noContent(); });
  }

  HttpResponse removeMember(Call& call) {
    return command(call, RemoveGroupMember{call.params[0], call.params[1]},
                   [](const CommandReply&) -> HttpResponse { return noContent(); });
  }

  // --- audit and events ------------------------------------------------------------

  HttpResponse auditList(Call& call) {
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
    // reversed one.
    if (q.from && q.to && parseRfc3339(fromText)->micros > q.to->micros)
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
        200,
        itemsJson(page->items, page->nextBefore
                                   ? sealListCursor(call, list, std::to_string(page->nextBefore))
                                   : ""));
  }

  // Long polls of GET /api/v1/events that wait at once: at most options.waitingPolls
  // in all, and a quarter of them (at least one, at most 4) for one company, so
  // that one company's consumers never take every slot.
  static std::string requestsWait(std::size_t n, const char* whose) {
    return std::to_string(n) + (n == 1 ? " request" : " requests") + whose +
           (n == 1 ? " waits" : " wait");
  }
  std::size_t waitingPollsPerCompany() const {
    return std::clamp<std::size_t>(options.waitingPolls / 4, 1, 4);
  }
  struct WaitingPolls {
    std::mutex mu;
    std::size_t total = 0;
    std::unordered_map<std::string, std::size_t> byCompany;
  };
  WaitingPolls polls;
  class PollSlot {
   public:
    PollSlot(WaitingPolls& polls, const std::string& company, std::size_t inAll,
             std::size_t perCompany)
        : polls_(polls), company_(company) {
      std::lock_guard lock(polls_.mu);
      std::size_t& mine = polls_.byCompany[company_];
      companyFull_ = mine >= perCompany;
      if (polls_.total < inAll && !companyFull_) {
        ++mine;
        ++polls_.total;
        held_ = true;
      } else if (mine == 0) {
        polls_.byCompany.erase(company_);
      }
    }
    ~PollSlot() {
      if (!held_) return;
      std::lock_guard lock(polls_.mu);
      --polls_.total;
      if (--polls_.byCompany[company_] == 0) polls_.byCompany.erase(company_);
    }
    PollSlot(const PollSlot&) = delete;
    PollSlot& operator=(const PollSlot&) = delete;
    bool held() const { return held_; }
    bool companyFull() const { return companyFull_; }  // refused for the company's cap

   private:
    WaitingPolls& polls_;
    const std::string company_;
    bool held_ = false, companyFull_ = false;
  };

  HttpResponse eventsList(Call& call) {
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
    if (!number(from, after))
      return badParam(from, std::string(from) + " must be a log position (a whole number).");
    if (!number("waitMs", waitMs))
      return badParam("waitMs", "waitMs must be a whole number of milliseconds.");
    waitMs = std::min<std::uint64_t>(waitMs, kMaxEventWaitMs);
    EventStore& store = portal.store();
    // A position the log has not reached is a cursor from elsewhere (another server,
    // a log restored from an older backup): waiting there would skip every event up
    // to it without a word.
    if (after > store.lastPosition())
      return Api::problem(409, "position-ahead", "The log has not reached that position",
                          "after=" + std::to_string(after) + " is past the log's last event (" +
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
          undecodable =
              makeError(event.error().code,
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

  // --- operations ------------------------------------------------------------------

  HttpResponse healthz(Call&) { return jsonResponse(200, R"({"status":"ok"})"); }

  // Ready: the log takes commands and every projection follows it (none stopped,
  // none more than kReadyLag events behind for longer than LagWatch allows).
  static constexpr std::uint64_t kReadyLag = 10'000;

  LagWatch lagWatch;
  HttpResponse readyz(Call& call) {
    const std::uint64_t head = portal.store().lastPosition();
    const bool logOpen = !portal.processor().failed();
    bool ready = logOpen, farBehind = false;
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
      out["projections"] = std::move(projections);
    }
    return jsonResponse(ready ? 200 : 503, out.dump());
  }

  HttpResponse metricsText(Call& call) {
    if (!options.metricsFrom.contains(call.req.clientAddress))
      return forbidden(
          "The metrics are served to the addresses portal-server's --metrics-from names (this "
          "host's by default).");
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
    counter("portal_fsync_batches_total",
            "Durable writes (one fsync each) of the command processor.", stats.groups);
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
    counter("portal_sessions", "Signed-in sessions.", sessions.size(), "gauge");
    counter("portal_password_hashes_total",
            "Argon2id hashes made or checked (sign-ins, password changes and resets): the CPU "
            "the hash cost takes.",
            passwordHashes.load(std::memory_order_relaxed));
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
};

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
        {{"GET", "/api/v1/admins"}, {"search", "limit", "cursor"}},
        {{"GET", "/api/v1/services"}, page},
        {{"GET", "/api/v1/resources"}, {"ownerId", "limit", "cursor"}},
        {{"GET", "/api/v1/groups"}, page},
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
  if (auto r = impl->importLogs.purgeAll(clock.now()); !r) return r.error();
  return std::unique_ptr<Api>(new Api(std::move(impl)));
}

SessionStore& Api::sessions() { return impl_->sessions; }

void Api::setPublicUrl(const std::string& url) {
  std::lock_guard lock(impl_->urlMu);
  impl_->options.publicUrl = url;
}

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

HttpResponse Api::unauthorized() {
  HttpResponse r = Api::problem(401, "unauthorized", "Sign-in required",
                                "Send a valid session token as 'Authorization: Bearer <token>'.");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
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

std::optional<HttpResponse> Api::refuseBody(std::string_view method, std::string_view target,
                                            std::string_view authorization) {
  HttpRequest head;
  head.method = std::string(method);
  head.target = std::string(target.substr(0, target.find('?')));
  head.headers.emplace_back("authorization", std::string(authorization));
  std::vector<std::string> params;
  std::vector<std::string_view> allowed;
  const Impl::Route* r = impl_->match(head, params, &allowed);
  std::string routeName;
  // No route takes it whatever its body: answered before the body is held.
  if (r == nullptr) return Impl::unmatched(head, allowed, routeName);
  if (r->info.access == Access::kPublic) return std::nullopt;
  Impl::Call call{head, {}, std::move(params), {}, {}, false, false, nullptr, std::string(r->info.pattern)};
  return impl_->authenticate(call, r->info);
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
  impl_->portal.submit(std::move(submission), [impl = impl_.get(), requestId = request.requestId,
                                               method = request.method, route, pending, start,
                                               post = std::move(post),
                                               done = std::move(done)](CommandReply reply) mutable {
    post([impl, requestId = std::move(requestId), method = std::move(method),
          route = std::move(route), pending = std::move(pending), start, reply = std::move(reply),
          done = std::move(done)]() mutable {
      HttpResponse response = impl->guarded(requestId, [&] { return impl->finish(*pending, reply); });
      impl->record(method, route, response.status, start);
      done(std::move(response));
    });
  });
}

}  // namespace portal
