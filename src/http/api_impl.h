#pragma once
// The inside of the API (api.h), shared by the files that serve its routes: the
// helpers that read requests and make answers (api_detail, defined in
// api_support.cc), and Api::Impl, whose handlers are defined by area in api_*.cc.
// Private to src/http: only the API's own files include it, and they use the
// helpers unqualified.

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
#include "src/csv/charset.h"
#include "src/csv/csv_reader.h"
#include "src/csv/user_import.h"
#include "src/domain/services.h"
#include "src/domain/user_details.h"
#include "src/http/api.h"
#include "src/http/lag_watch.h"
#include "src/http/metrics.h"
#include "src/http/url.h"
#include "src/http/work_pool.h"
#include "src/mail/outbox.h"
#include "src/store/sha256.h"

namespace portal {
namespace api_detail {

using json = nlohmann::json;

inline constexpr std::size_t kDefaultLimit = 50;
inline constexpr std::size_t kMaxLimit = 500;
inline constexpr std::int64_t kResetValidityMicros = 5LL * 60 * 1'000'000;
inline constexpr std::int64_t kMaxEventWaitMs = 30'000;
// How long a retry of a change gets its first answer once the right to make it is
// gone (Api::madeBefore).
inline constexpr auto kRetryAfterLostRightWithin = std::chrono::minutes(10);
// An import's answer lists this many errors and warnings at most; its log has all.
inline constexpr std::size_t kMaxIssuesShown = 1000;

// --- small helpers -------------------------------------------------------------

HttpResponse jsonResponse(int status, std::string body);

HttpResponse noContent();

json problemJson(int status, std::string_view code, std::string_view title,
                 std::string_view detail);

HttpResponse problemResponse(const json& body);

HttpResponse validation(const std::vector<std::pair<std::string, std::string>>& errors,
                        std::string_view detail = kValidationDetail);

// A query parameter refused: the detail, and the parameter in `errors` as API.md
// lists a validation's fields (a review: a client showing `errors` beside a form's
// fields had nothing to show).
HttpResponse badParam(std::string_view field, std::string_view detail);

// A query parameter that takes an id, given text that is none: said so, with the way
// to an id when it is an email (a review: `actor=owner@acme.example` answered an
// empty trail, `ownerId=` of an email "the owner does not exist").
HttpResponse notAnId(std::string_view field, std::string_view text, bool orSystem = false);

// `why`, when given, says why something that existed may be gone.
HttpResponse notFound(std::string_view what, std::string_view why = {});

// What a workbook sent for an import is told (as a CSV type or a workbook's own).
inline constexpr char kWorkbookNotCsv[] =
    "The file is a spreadsheet workbook (.xls, .xlsx or .ods), not CSV: save it as \"CSV "
    "UTF-8\" and send that.";

int statusOf(RejectionKind kind);

HttpResponse rejected(const Rejection& r);

// 415 when a body's Content-Type is given and is not a JSON media type.
std::optional<HttpResponse> notJsonType(std::string_view contentType);

// The value of a Content-Type's charset parameter, unquoted, as sent; nullopt when it
// names none. `conflicting` (when given) is set when a second one names another.
std::optional<std::string> charsetParameter(std::string_view contentType,
                                            bool* conflicting = nullptr);
// 415 when the Content-Type names two different charsets.
std::optional<HttpResponse> twoCharsets(std::string_view contentType);

// A JSON body that must be an object; nullopt (and the answer in `error`) when not.
std::optional<json> objectBody(const HttpRequest& req, HttpResponse& error);

// A string field: absent or null gives nullopt; another type is a problem.
std::optional<std::string> stringField(const json& body, const char* name,
                                       std::vector<std::pair<std::string, std::string>>& errors);

// A body names only the fields its route takes: one misspelt ("Name", "Country")
// would otherwise be dropped without a word while the answer says 200 or 201.
template <class Names>
void refuseFieldsNotIn(const json& body, const Names& known,
                       std::vector<std::pair<std::string, std::string>>& errors,
                       const char* message) {
  for (const auto& item : body.items())
    if (std::none_of(known.begin(), known.end(), [&](const auto& n) { return item.key() == n; }))
      errors.emplace_back(item.key(), message);
}
void refuseOtherFields(const json& body, std::initializer_list<std::string_view> known,
                       std::vector<std::pair<std::string, std::string>>& errors,
                       const char* message = "cannot be changed here");

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

// A wait of `seconds` for a person: "a second", "40 seconds", "15 minutes" (rounded up).
std::string waitInWords(std::int64_t seconds);
// 429 with the seconds to wait.
HttpResponse tooMany(std::int64_t wait, std::string_view title, std::string_view detail,
                     std::string_view code = "too-many-attempts");

std::string itemsJson(const std::vector<std::string>& items, const std::string& nextCursor);

}  // namespace api_detail

using namespace api_detail;  // NOLINT: a private header of the API's files alone

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
  // with a temporary password above all) from changing it. Each session is the
  // "network" of the sign-in throttle's policy: the account's limit (5) counts per
  // session and its account-wide one (20) over all of the user's sessions, so one
  // stolen session's guesses do not stop the user's own session from changing the
  // password (a review: with 5 over all sessions they did, for 15 minutes).
  LoginThrottle passwordThrottle;
  std::atomic<bool> stopping{false};        // stopWaiting()
  std::atomic<bool> markedStopping{false};  // markStopping()
  WorkPool hashPool;
  std::atomic<std::uint64_t> passwordHashes{0};  // made or checked: /metrics
  std::atomic<std::uint64_t> unrecordedFailures{0};  // LoginThrottle::recordable: /metrics
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

  // The ETag of a user or a group: its version, and for a user "-a" once its
  // manager shows as anonymized.
  struct VersionTag {
    std::uint64_t version = 0;
    std::string text;  // "3" or "3-a"
  };
  // The ETag a user or group shows now (read when a request has If-Match, and for the
  // ETag of a 412).
  using TagRead = std::function<std::optional<VersionTag>()>;

  // A command whose answer `render` makes once it is durable and projected. The
  // handler returns at once; Api::handle runs it and waits, Api::handleAsync hands
  // it to the processor and answers from its callback, so that no thread waits.
  struct PendingCommand {
    Submission submission;
    std::function<HttpResponse(const CommandReply&)> render;
    bool mail = false;
    bool rightGone = false;  // Call::rightGone
    TagRead tagNow;          // Call::tagNow
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
    // A retry let through although the caller's right to make the change has gone
    // since (madeBefore): its answer shows no record as it reads now.
    bool rightGone = false;
    // How the ETag of what the request changes reads now (set by ifMatch): a 412 names it.
    TagRead tagNow;
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

  Impl(Portal& p, const CountryList& c, Clock& cl, IdSource& i, ApiOptions o, PasswordPolicy pol);

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

  // Requests that check something before the command that depends on it (the
  // current password, a reset token, an Idempotency-Key's first answer) run one after
  // another for the same thing: the second then sees what the first changed, where
  // both would otherwise pass the check (two password changes from the old password
  // both taking effect; a repeated key acting before the first answer exists).
  // Striped: a few mutexes for all users and keys, held for one request each.
  std::array<std::mutex, 64> serialLocks;
  // Anonymizations of one person, one after another (their mark beside the import
  // logs is one for the person: a refusal beside another's acceptance would take it
  // away, a review found). Apart from serialLocks: taken under a key's stripe, which
  // may be the same mutex.
  std::array<std::mutex, 64> erasureLocks;

  // How a user or group reads in its view now (for If-Match and a PATCH's fields).
  using RowRead = std::function<std::optional<std::string>()>;
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

  // A user as the users view shows them (readUserFlags).
  struct UserFlags {
    bool active = false, anonymized = false, isAdmin = false, isOwner = false;
    std::string email;  // empty once anonymized
  };
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

  // Ready: the log takes commands and every projection follows it (none stopped,
  // none more than kReadyLag events behind for longer than LagWatch allows).
  static constexpr std::uint64_t kReadyLag = 10'000;

  LagWatch lagWatch;

  // --- plumbing: routing, authentication, commands, tags, cursors (api.cc) ---

  // What the company's users type as "company" to sign in; empty if it is unknown.
  std::string companySlugOf(const std::string& companyId);

  static const std::vector<Route>& routes();
  static constexpr std::size_t kMaxRoutes = 128;  // match() keeps a word a route on its stack

  void record(const std::string& method, const std::string& route, int status,
              std::chrono::steady_clock::time_point start);

  // The route a request names (nullptr: none), with its path parameters; the
  // methods the path answers otherwise go to `allowed`. `malformedPath` (when given)
  // is set by a % in the path not followed by two hexadecimal digits, `notUtf8Path`
  // by a segment that is not UTF-8 once decoded (`%FF`): such a segment takes a
  // parameter's place as "%", so that its bytes go nowhere (not into a refusal's
  // text), and the request is refused as the path's once its sender is known.
  static const Route* match(const HttpRequest& req, std::vector<std::string>& params,
                            std::vector<std::string_view>* allowed, bool* malformedPath = nullptr,
                            bool* notUtf8Path = nullptr);

  HttpResponse dispatch(const HttpRequest& req, std::string& routeName,
                        std::shared_ptr<PendingCommand>& pending);

  // The methods a path answers (`allowed`, HEAD with GET), as Allow lists them.
  static std::string methodList(const std::vector<std::string_view>& allowed);
  // Whether `origin` (a request's Origin field) is one of options.corsOrigins.
  bool crossOriginAllowed(std::string_view origin) const;
  // The answer to a browser's CORS preflight (an OPTIONS with Origin and
  // Access-Control-Request-Method) of a path that answers `allowed`, when the server
  // takes some origins; nullopt when the request is none.
  std::optional<HttpResponse> preflight(const HttpRequest& req,
                                        const std::vector<std::string_view>& allowed,
                                        std::string& routeName) const;

  // A parameter's name that can be repeated in a message as it is.
  static bool isPlainName(const std::string& name);

  // Two names a letter apart, or two letters swapped ("serach", "limt", "stauts"),
  // compared without case, '_' and '-' ("owner_id" is ownerId).
  static bool nearlyTheSame(std::string_view given, std::string_view known);

  // A route takes only the query parameters it names: a misspelt one would otherwise
  // be passed over, and a command run for real (`?dryrun=true` imported the file) or
  // a list answered unfiltered (`?serach=ada` listed everyone, `?stauts=inactive`
  // the active users too: a review).
  static std::optional<HttpResponse> unknownParameter(const Call& call, const Route& r);

  // A body sent to a command that takes none: an empty object is no body, anything
  // else is refused as a body would be that names fields the route does not know
  // (a malformed one 400, one with fields 422), so that an irreversible command (an
  // anonymization) does not run on a request meant for another route.
  static std::optional<HttpResponse> unwantedBody(const Call& call, const Route& r);

  // The 400 of a path whose %-escapes a route cannot take (`malformed`, `notUtf8`:
  // as match() set them), asked once the caller is known, before a body is read
  // (refuseBody) and at dispatch; nullopt when neither.
  static std::optional<HttpResponse> pathRefused(bool malformed, bool notUtf8);

  // The answer to a request no route takes: 405 when the path answers other methods
  // (`allowed`), else 404.
  static HttpResponse unmatched(const HttpRequest& req,
                                const std::vector<std::string_view>& allowed,
                                std::string& routeName);

  // The hash of the bearer token of an Authorization header; nullopt when it names none.
  static std::optional<std::string> bearerHash(std::string_view auth);

  // Whether this user made this command before, with this Idempotency-Key, and it
  // was accepted: the right to make it may be gone since (an owner who passed
  // ownership on, retrying after a lost answer), and the retry gets the first
  // answer as any retry does, not 403 for a change that was made. (The route runs:
  // its command finds the key's answer and does nothing again.)
  bool madeBefore(const Call& call);

  std::optional<HttpResponse> authenticate(Call& call, const RouteInfo& route);

  static HttpResponse unauthorized(bool tokenSent = true) { return Api::unauthorized(tokenSent); }

  // Ends the user's sessions at once, from a command's answer (the projector's
  // thread, which must not wait for a disk); their removal is synced on a pool thread.
  void endSessionsSoon(const std::string& company, const std::string& user);

  // At start: a password change, deactivation or anonymization ends sessions after
  // its event is durable, and a crash between the two leaves them behind. The
  // account as the log has it decides: a session begun before the password's last
  // change (and not the one it was changed through) ends, as does one of an account
  // that is inactive or gone. A stopped credentials view cannot tell (it may show
  // the account as it was before the change): then nothing ends, and sessionsChecked
  // answers every signed-in request but a sign-out 503 until a rebuild lets this
  // run. False then.
  bool endSessionsTheLogEnded();
  // At start: the sign-in throttle as the log's last window left it, so that a
  // restart (a deploy, a crash someone caused) gives no guesser a fresh count (an
  // end-to-end review: five wrong passwords, a restart, five more). Replays the
  // window's sign-ins of accounts (LoginFailed, LoginSucceeded) and completed resets
  // into it, at their times; failures of addresses that are nobody's keep no client
  // address in the log and are not counted again. At most kThrottleEventsRead of the
  // window's newest events are read. While the credentials view is stopped it
  // cannot tell accounts: false, and the first sign-in once it runs again does it.
  bool restoreSignInThrottle();
  void replaySignIns();
  static constexpr std::uint64_t kThrottleEventsRead = 2'000'000;
  std::atomic<bool> throttleUnrestored{false};
  std::mutex throttleRestoreMu;  // one restore at a time
  // nullopt once the sessions were checked at start (endSessionsTheLogEnded): at
  // once, or now that the credentials view runs again; else its 503.
  std::optional<HttpResponse> sessionsChecked();
  std::atomic<bool> sessionsUnchecked{false};
  std::mutex sessionsCheckMu;  // one check at a time

  // A user the users view does not show: 404, unless the view stopped at an event
  // (then it may not show users that exist, one just created too): 503, as /readyz
  // says, rather than an answer that the user does not exist.
  // 404 for the user `id` names (an email in its place is said to be one).
  HttpResponse userNotFound(std::string_view id = {});
  // 404 for the group `id` names, an email in its place said to be one, as the
  // group's commands say it ("Group is given as …" there; before, its reads said
  // only that it does not exist: a review).
  static HttpResponse groupNotFound(std::string_view id);

  // 503 view-unavailable while that projection (`view` as people say it) is stopped
  // at an event, its detail ending with `consequence`; nullopt while it runs.
  std::optional<HttpResponse> whileStopped(const char* projection, std::string_view view,
                                           std::string_view consequence) const;
  static HttpResponse viewUnavailable(std::string_view view, std::string_view consequence);
  // 503 view-unavailable while the credentials view is stopped: it may show a
  // password changed since, or an account deactivated since, as they were, so
  // nothing that proves who someone is (a sign-in, a password change, a reset) is
  // decided on it.
  std::optional<HttpResponse> credentialsStopped() const;

  // A command the log could not take: it stopped at a failed write, which may have
  // reached the disk before it failed, so the change may be there after a restart.
  static HttpResponse logUnavailable();

  static HttpResponse forbidden(std::string_view detail);

  // Runs a command for the signed-in user, with the request's Idempotency-Key.
  std::optional<HttpResponse> run(const Call& call, CommandBody body, CommandReply& reply,
                                  MailBuilder outbox = nullptr, bool useKey = true);

  // `useKey` false: the request's Idempotency-Key is not this command's (a dry run).
  std::optional<HttpResponse> runAs(const HttpRequest& req, const std::string& route,
                                    const std::string& company, const std::string& actor,
                                    CommandBody body, CommandReply& reply,
                                    MailBuilder outbox = nullptr, bool useKey = true);

  HttpResponse command(Call& call, CommandBody body,
                       std::function<HttpResponse(const CommandReply&)> render,
                       MailBuilder outbox = nullptr);

  // Sets the command and correlation ids from the request; a problem when the
  // Idempotency-Key is unusable.
  std::optional<HttpResponse> idempotency(const HttpRequest& req, const std::string& route,
                                          Submission& s, bool useKey = true);
  std::unique_lock<std::mutex> serialize(std::string_view what);
  std::unique_lock<std::mutex> serializeUser(const std::string& company, const std::string& user);
  // Under a user's stripe, before the password is checked: the views hold every
  // durable event (the change of the request before, above all), or 503. A view that
  // lagged would let a second change be checked against the password the first
  // replaced.
  std::optional<HttpResponse> viewsCaughtUp(
      std::string_view detail = "The portal's views are behind its log; nothing was changed.");
  std::unique_lock<std::mutex> serializeErasure(const std::string& company,
                                                const std::string& user);
  // Not held (nothing to wait for) when the request has no Idempotency-Key.
  std::unique_lock<std::mutex> serializeKey(const Call& call);

  // For a route that checks things before it runs its command, which the command may
  // have changed the grounds of: the first answer to the request's Idempotency-Key,
  // when it has one that was answered (an accepted one once durable and projected).
  // nullopt with `problem` set when the key is unusable or that answer not durable yet.
  std::optional<CommandReply> earlierAnswer(const Call& call, CommandBody body,
                                            std::optional<HttpResponse>& problem);

  // The answer to a command: the problem when it failed or was refused, else what
  // `render` makes of it.
  HttpResponse finish(const PendingCommand& pending, const CommandReply& reply);

  std::string userJson(const std::string& company, const std::string& id);
  // A replay's answer to someone whose right has gone since (Call::rightGone): the
  // first status and the id of what it was about, not the record as it reads now.
  static HttpResponse idOnly(int status, const std::string& id);
  // The user a replayed command was about, as `call`'s caller may read them.
  HttpResponse replayedUser(const Call& call, const std::string& id);

  HttpResponse userResponse(const std::string& company, const std::string& id, int status = 200);
  static void setETag(HttpResponse& r, const std::optional<VersionTag>& tag);
  // A row's ETag, from its API JSON: its version; a user's with "-a" once its manager
  // shows as anonymized (`userMarks`). That erasure changes what the user shows
  // (managerEmail) but is no change of the user, whose version stays: without the
  // mark, a form read before it passed If-Match and sent back the erased manager's
  // old address, which may be someone else's by then (a review).
  static std::optional<VersionTag> versionTag(std::string_view row, bool userMarks = false);
  static std::optional<VersionTag> userTag(std::string_view user);
  RowRead userRow(const Call& call, const std::string& id);
  RowRead groupRow(const Call& call, const std::string& id);
  TagRead userTagNow(const Call& call, const std::string& id);
  TagRead groupTagNow(const Call& call, const std::string& id);

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
  // Every 412 of the request, its decider's too, names the tag shown then in `ETag`
  // (call.tagNow keeps `shownTag` for the command's answer).
  static std::optional<HttpResponse> ifMatch(Call& call, TagRead shownTag, const char* what,
                                             std::optional<std::uint64_t>& expected,
                                             bool shownOnly = false);

  // If-Match and If-None-Match of a change to a target that shows no ETag (a
  // resource, a role, a membership), for its decider to weigh (Untagged).
  static Untagged untaggedConditions(const HttpRequest& req);

  // Whether an If-Match or If-None-Match list names `etag` (quoted, as sent in ETag),
  // "*" naming any: weak comparison (W/ set aside), RFC 9110 8.8.3.2.
  static bool namesTag(std::string_view list, std::string_view etag);
  // 412: If-Match does not name the `what` as it is now, whose tag is `etag`.
  static HttpResponse notAsShown(const char* what, const std::string& etag);
  // A read's preconditions on its 200 answer `r` with an ETag (RFC 9110 13.1;
  // neither was looked at on a read: a review): If-Match not naming the tag shown is
  // 412 (notAsShown), If-None-Match naming it 304 with the tag.
  static HttpResponse conditionalRead(const Call& call, HttpResponse r, const char* what);
  // The answer to a command refused as `r`: a 412 names in ETag the tag `tagNow`
  // reads (when given), as every 412 of a user or group does.
  static HttpResponse refusedWithTag(const Rejection& r, const TagRead& tagNow);

  // A whole number as a query parameter gives it: digits only (no sign, no spaces),
  // at most 19 of them; nullopt otherwise.
  static std::optional<std::uint64_t> wholeNumber(std::string_view text);

  std::optional<std::size_t> limitOf(const Call& call, HttpResponse& error);

  std::string param(const Call& call, const char* name) const;
  // A query parameter that names someone or something by id.
  std::string idParam(const Call& call, const char* name) const;
  // An id as a client gave it: one with a UUID's shape in the lower case ids are
  // written in (UUIDs' digits have no case: 01A2… from a spreadsheet is 01a2…), any
  // other text as it is (which then names nothing, and is said so).
  static std::string idAsGiven(std::string given);
  // An id in a request's path or query: as idAsGiven, but one padded with spaces
  // (`<id>%20`) is kept as it is and so names nothing (a review).
  static std::string idInTarget(std::string given);

  static HttpResponse badCursor(std::string_view detail =
                                    "The cursor is not one this list gave with these filters "
                                    "(or it was changed; a users list's cursor also ends with "
                                    "a restart of the server): list again from the start.");

  // The cursors of the lists in id order (administrators, resources, groups): the
  // last id shown, with the list and the company it belongs to, sealed, so that a
  // cursor not given by this list (forged, another list's, another company's) is
  // refused instead of paging from somewhere else.
  std::optional<std::string> openListCursor(const Call& call, std::string_view list,
                                            HttpResponse& error, const Sealer* sealer = nullptr);
  std::string sealListCursor(const Call& call, std::string_view list, const std::string& lastId,
                             const Sealer* sealer = nullptr);
  static ShownFields judgeShownFields(const json& body,
                                      std::initializer_list<std::string_view> patchable,
                                      const RowRead& shownRow,
                                      const std::function<std::string(std::string_view)>& readOnly,
                                      const char* what, std::optional<std::uint64_t>& version,
                                      std::vector<std::pair<std::string, std::string>>& errors);
  // A read-only field sent with another value than shown is refused, unless the form
  // is of another version than the one it was judged against: then it is stale, and
  // the decider's 412 says so rather than a 422 about what changed since.
  static void refuseReadOnly(const ShownFields& shown, const std::optional<std::uint64_t>& expected,
                             std::vector<std::pair<std::string, std::string>>& errors);

  // Why a field of the user that PATCH does not take cannot be sent with a new value.
  static std::string readOnlyUserField(std::string_view field);
  // A read of the users view that failed (an I/O error), logged; 503.
  static HttpResponse usersViewUnreadable(const Call& call, const Error& e);
  // What the users view says of a user now: nullopt when there is no such user, an
  // error when the view cannot be read (not the user's absence).
  Result<std::optional<UserFlags>> readUserFlags(const std::string& company, const std::string& id);

  // A string member of a row's JSON; nullopt when absent or of another type.
  static std::optional<std::string_view> stringMember(const JsonDocument& doc,
                                                      std::string_view name);

  // A page of a list's rows under `prefix` (a company, or a company and a user),
  // with the list's own cursors.
  HttpResponse rowsPage(Call& call, const std::string& list, const ListReader& reader,
                        const std::string& prefix);

  // Whom an answer is about: the decision's (a repeated Idempotency-Key gets the
  // first request's answer, whatever this one's body or path names), else `asked`.
  static const std::string& subjectOf(const CommandReply& reply, const std::string& asked);

  // Every problem in one answer: beside the fields of the wrong JSON type, what the
  // value rules say of the others ("surname is required" beside "email must be a
  // string"), not in a second round.
  static std::vector<std::pair<std::string, std::string>> withValueProblems(
      std::vector<std::pair<std::string, std::string>> errors, std::vector<FieldProblem> problems);

  // 201 with the new row and its Location. A repeated Idempotency-Key gets 201 again
  // after the row was released or deleted since: with only its id, the one field of
  // the first answer still known (idempotency records hold ids, not bodies).
  static HttpResponse created(const std::string& path, const std::string& id,
                              const std::optional<std::string>& row);

  // --- sessions and passwords (api_sessions.cc) ------------------------------

  // The policy's verdict on `password` for the account: its email, the person's names
  // and the company's (a password of them is the first a guesser who knows them tries).
  std::vector<PolicyProblem> policyProblems(std::string_view password,
                                            const AccountRecord& account);

  HttpResponse policyRejected(const std::vector<PolicyProblem>& problems, const char* field);

  Result<std::string> hashPassword(const std::string& password);

  bool verifyPassword(const std::string& hash, const std::string& password);

  // Whatever was wrong (company, email, password, an inactive user): one answer.
  static HttpResponse badCredentials();

  HttpResponse signIn(Call& call);

  HttpResponse signOut(Call& call);

  HttpResponse me(Call& call);

  HttpResponse changePassword(Call& call);

  HttpResponse passwordPolicy(Call&);

  HttpResponse requestReset(Call& call);

  HttpResponse confirmReset(Call& call);

  // --- users (api_users.cc) --------------------------------------------------

  HttpResponse listUsers(Call& call);

  // The welcome mail for each user a command created: the decision's `ids` (an
  // import), else its `id` (a single create).
  MailBuilder welcomeMail(const std::string& companyId);
  // The mail that tells a user their password was changed (api_sessions.cc).
  MailBuilder passwordChangedMail(const std::string& companyId);

  HttpResponse createUser(Call& call);

  HttpResponse getUser(Call& call);

  HttpResponse patchUser(Call& call);

  HttpResponse deactivate(Call& call);

  HttpResponse reactivate(Call& call);

  static HttpResponse importLogsUnavailable(const Error& e, bool anonymized);
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
  HttpResponse anonymize(Call& call);

  // An anonymization accepted whose drop of the import logs was left undone (its
  // mark left): done now; a problem when it cannot be.
  std::optional<HttpResponse> finishAnonymizationLeftUndone(const std::string& company,
                                                            const std::string& id);

  // The mail drop's files to a user, removed; a failure is logged and returned.
  Result<void> forgetMail(const std::string& company, const UserFlags& user);

  HttpResponse userResources(Call& call);

  // The roles a user holds, by service and role.
  HttpResponse userRoles(Call& call);

  HttpResponse userHistory(Call& call);

  // --- batch import (api_import.cc) ------------------------------------------

  HttpResponse countriesList(Call&);

  // A true/false query flag ("true", "false", "1", "0"; absent: false). A bare or blank
  // one (`?dryRun`, `?dryRun=`) is refused, unlike other blank parameters: read as
  // false, it would run for real an import someone meant as a dry run.
  std::optional<bool> queryFlag(const Call& call, const char* name, HttpResponse& error);

  // A cell's value as the answer shows it: its first KiB (cut before a character)
  // and "…" for the rest. A name of 300,000 characters made an answer of 300 KB, and
  // a thousand such errors could make one of a file's size (a review); the error log
  // keeps the cell whole.
  static std::string shownValue(const std::string& value);

  static json issuesJson(const std::vector<ImportIssue>& issues);

  HttpResponse importUsers(Call& call);

  // `logKept`: false when the error log was not kept (an anonymization in the
  // company while the file was checked): `log` is null rather than a link to a 404.
  static HttpResponse importAnswer(const std::string& importId,
                                   const std::vector<ImportIssue>& errors, const ImportFile& file,
                                   bool dryRun, std::size_t created, bool logKept = true);

  static HttpResponse download(std::string bytes, const char* type, const std::string& filename);

  HttpResponse importErrors(Call& call);

  HttpResponse templateCsv(Call&);

  HttpResponse templateXlsx(Call&);

  // --- administrators and ownership (api_admins.cc) --------------------------

  HttpResponse listAdmins(Call& call);

  // `at`: the moment of a check made before (empty: now).
  HttpResponse adminOf(const std::string& company, const std::string& userId, int status,
                       ViewMoment at = {});

  HttpResponse includeAdmin(Call& call);

  // Where the 201 of POST /admins points: the same entry as in GET /admins.
  HttpResponse getAdmin(Call& call);

  HttpResponse removeAdmin(Call& call);

  HttpResponse transferOwnership(Call& call);

  // --- services, roles, resources (api_resources.cc) -------------------------

  // `at`: the moment the owner was found at (empty: now).
  HttpResponse listResources(Call& call, const std::string& ownerId, ViewMoment at = {});

  // A list as every list is (items, nextCursor), in the order the company was
  // provisioned with; the cursor is the last service shown.
  HttpResponse servicesList(Call& call);

  HttpResponse grantRole(Call& call);

  HttpResponse revokeRole(Call& call);

  HttpResponse createResource(Call& call);

  HttpResponse resourcesList(Call& call);

  HttpResponse releaseResource(Call& call);

  // Where the 201 of POST /resources points.
  HttpResponse getResource(Call& call);

  // --- groups (api_groups.cc) ------------------------------------------------

  HttpResponse listGroups(Call& call);

  HttpResponse groupResponse(const std::string& company, const std::string& id, int status);

  HttpResponse createGroup(Call& call);

  HttpResponse getGroup(Call& call);

  HttpResponse patchGroup(Call& call);

  HttpResponse deleteGroup(Call& call);

  HttpResponse addMember(Call& call);

  HttpResponse removeMember(Call& call);

  // A page of the ids `reader` lists for the row `of` (ListReader::memberIds), each as
  // `show` reads it (none: its id alone), its cursor bound to `list`.
  HttpResponse idsPage(
      Call& call, const std::string& list, const ListReader& reader, const std::string& of,
      const std::function<std::optional<std::string>(const std::string& id)>& show);

  // A page of the group's members, as GET /api/v1/users/{id} shows each.
  HttpResponse listMembers(Call& call);

  // A page of the groups the user is in, as GET /api/v1/groups shows each.
  HttpResponse userGroups(Call& call);

  // --- audit and events (api_events.cc) --------------------------------------

  HttpResponse auditList(Call& call);

  // Long polls of GET /api/v1/events that wait at once: at most options.waitingPolls
  // in all, and a quarter of them (at least one, at most 4) for one company, so
  // that one company's consumers never take every slot.
  static std::string requestsWait(std::size_t n, const char* whose);
  std::size_t waitingPollsPerCompany() const;

  HttpResponse eventsList(Call& call);

  // --- operations (api_probes.cc) --------------------------------------------

  HttpResponse healthz(Call&);
  HttpResponse readyz(Call& call);

  HttpResponse metricsText(Call& call);
};

}  // namespace portal
