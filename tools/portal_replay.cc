// portal-replay: an auditor's view of the event log. Opens the data directory
// read-only (a RocksDB secondary instance whose scratch files live in /tmp), so it
// runs beside a live server and never writes to the directory.
//
//   portal-replay verify   --data DIR
//   portal-replay timeline --data DIR --company SLUG --user EMAIL|ID [--format text|jsonl]
//   portal-replay as-of    --data DIR --company SLUG --at TIME [--view users|admins]
//   portal-replay events   --data DIR [--company SLUG] [--from POS] [--to POS]
//                          [--since TIME] [--until TIME] [--type T] [--actor ID]
//
// Exit 0 on success; 1 when the chain is broken or the directory cannot be read;
// 2 for bad flags. Errors are one line on stderr.

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "events/event.h"
#include "events/log.h"
#include "events/text.h"
#include "events/timestamp.h"
#include "src/app/replay.h"
#include "src/app/system.h"
#include "src/app/version.h"
#include "src/domain/email.h"
#include "src/store/sha256.h"

namespace {

using namespace portal;

// The open log; closed before exiting on an error too, so that the read-only
// instance's scratch directory in /tmp goes with it.
std::unique_ptr<ReplayLog> openedLog;

[[noreturn]] void fail(const std::string& message, int code = 1) {
  flushLog();  // what the library logged (RocksDB, a projection) comes before the verdict
  std::fprintf(stderr, "portal-replay: %s\n", message.c_str());
  openedLog.reset();
  std::exit(code);
}

const char* const kUsage =
    "usage: portal-replay verify   --data DIR [--anchor POS:HASH]\n"
    "       portal-replay timeline --data DIR --company SLUG --user EMAIL|ID [--format "
    "text|jsonl]\n"
    "       portal-replay as-of    --data DIR --company SLUG --at TIME [--view users|admins]\n"
    "       portal-replay events   --data DIR [--company SLUG] [--from POS] [--to POS]\n"
    "                              [--since TIME] [--until TIME] [--type T] [--actor ID]\n"
    "       portal-replay --version\n";

using Flags = std::map<std::string, std::string>;

Flags parseFlags(int argc, char** argv, const std::vector<std::string>& allowed,
                 const std::vector<std::string>& required) {
  Flags flags;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (std::find(allowed.begin(), allowed.end(), a) == allowed.end())
      fail(unknownFlag(a, std::string(" for ") + argv[1]) +
               " (portal-replay --help shows the usage)",
           2);
    if (auto problem = flagValueProblem(argc, argv, i)) fail(*problem, 2);
    if (flags.count(a)) fail(a + " is given twice (it takes one value)", 2);
    flags[a] = argv[++i];
  }
  for (const auto& r : required)
    if (!flags.count(r)) fail(r + " is required for " + argv[1] + " (portal-replay --help shows the usage)", 2);
  return flags;
}

// Where a range of time starts or ends, or a moment (--at: what was so then).
enum class TimeIs { kStart, kEnd, kMoment };

// A date alone is its first moment (UTC), or as the range's end its last, so that
// "--until 2026-11-30" takes in the events of that day.
Timestamp timeFlag(const std::string& flag, const std::string& text, TimeIs is) {
  auto t = is == TimeIs::kEnd     ? parseRangeEnd(text)
           : is == TimeIs::kStart ? parseRangeStart(text)
                                  : parseRfc3339(text);
  if (!t) fail(flag + " must be an RFC 3339 time such as 2026-11-23T10:15:30Z, not '" + text + "'", 2);
  return *t;
}

// A flag that names a user: an id (a UUID, in any case), or with `emailToo` an
// email; anything else names nobody and is refused before the log is read.
void requireUserFlag(const std::string& flag, const std::string& text, bool emailToo) {
  if (uuidOf(text) || (emailToo && text.find('@') != std::string::npos)) return;
  if (!emailToo && asciiLower(trim(text)) == kSystemActor) return;
  if (emailToo)
    fail(flag + " takes a user's email or id (a UUID), not '" + text + "'", 2);
  fail(flag + " takes a user's id (a UUID) or system, not " +
           (text.find('@') != std::string::npos ? "an email ('" + text + "')" : "'" + text + "'"),
       2);
}

std::uint64_t positionFlag(const std::string& flag, const std::string& text) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoull(text) == 0)
    fail(flag + " must be a log position (a whole number from 1), not '" + text + "'", 2);
  return std::stoull(text);
}

ReplayLog* openLog(const std::string& data) {
  auto log = ReplayLog::open(data);
  if (!log) fail(log.error().message);
  openedLog = std::move(*log);
  return openedLog.get();
}

template <class T>
T check(Result<T> r) {
  if (!r) fail(r.error().message);
  return std::move(*r);
}
void check(Result<void> r) {
  if (!r) fail(r.error().message);
}

// A write that fails ends the program at once: a reader that closed the pipe
// (| head) has all it wanted, and quietly; any other failure is an error.
void printLine(std::string_view line) {
  if (std::fwrite(line.data(), 1, line.size(), stdout) == line.size() &&
      std::fputc('\n', stdout) != EOF)
    return;
  // Not closed here, in the middle of a read (its iterator still open): the lock on
  // its scratch directory goes with the process, and the next reader removes the
  // directory.
  const int err = errno;
  if (err == EPIPE) std::_Exit(0);
  std::fprintf(stderr, "portal-replay: cannot write the output: %s\n", std::strerror(err));
  std::_Exit(1);
}

int verify(int argc, char** argv) {
  Flags f = parseFlags(argc, argv, {"--data", "--anchor"}, {"--data"});
  // An anchor: a head that verify printed once (its count and hash), kept elsewhere
  // since. The chain holds it at that position only if nothing up to it changed.
  std::uint64_t anchorAt = 0;
  std::string anchorHash;
  if (f.count("--anchor")) {
    const std::string& a = f["--anchor"];
    const std::size_t colon = a.find(':');
    if (colon == std::string::npos)
      fail("--anchor takes POS:HASH, a count and a head that verify printed (e.g. 65:3f2a...)", 2);
    anchorAt = positionFlag("--anchor's position", a.substr(0, colon));
    anchorHash = asciiLower(a.substr(colon + 1));
    if (anchorHash.size() != 64 ||
        anchorHash.find_first_not_of("0123456789abcdef") != std::string::npos)
      fail("--anchor's hash must be 64 hex digits, as verify prints it", 2);
  }
  auto log = openLog(f["--data"]);
  auto broken = [](const VerifyReport& report, std::uint64_t before) {
    const std::uint64_t verified = before + report.checked;
    // The head record wrong or missing: the events' hashes, past the one named, may
    // all hold (a review read "broken at event 6 (63369 events before it verified)").
    std::printf(verified >= report.firstBad
                    ? "broken at event %llu: %s (the hashes of all %llu events hold)\n"
                    : "broken at event %llu: %s (%llu events before it verified)\n",
                static_cast<unsigned long long>(report.firstBad), report.problem.c_str(),
                static_cast<unsigned long long>(verified));
    return 1;
  };
  // With an anchor, the chain up to it, then on from it: one pass in all.
  std::uint64_t checked = 0;
  if (anchorAt != 0) {
    VerifyReport upTo = check(log->store().verify(1, anchorAt));
    if (upTo.firstBad != 0) return broken(upTo, 0);
    if (upTo.checked < anchorAt) {
      std::printf("anchor not found: the log holds %llu events, the anchor is at event %llu\n",
                  static_cast<unsigned long long>(upTo.checked),
                  static_cast<unsigned long long>(anchorAt));
      return 1;
    }
    if (toHex(upTo.head) != anchorHash) {
      std::printf("anchor not found: event %llu's hash is %s, not the anchor's %s\n",
                  static_cast<unsigned long long>(anchorAt), toHex(upTo.head).c_str(),
                  anchorHash.c_str());
      return 1;
    }
    checked = upTo.checked;
  }
  VerifyReport report = check(log->store().verify(checked + 1, 0));
  if (report.firstBad != 0) return broken(report, checked);
  std::printf("ok: %llu events, head %s%s\n",
              static_cast<unsigned long long>(checked + report.checked), toHex(report.head).c_str(),
              anchorAt != 0
                  ? ("; event " + std::to_string(anchorAt) + "'s hash is the anchor's").c_str()
                  : "");
  return 0;
}

int timeline(int argc, char** argv) {
  Flags f = parseFlags(argc, argv, {"--data", "--company", "--user", "--format"},
                       {"--data", "--company", "--user"});
  const std::string format = f.count("--format") ? f["--format"] : "text";
  if (format != "text" && format != "jsonl") fail("--format must be text or jsonl", 2);
  requireUserFlag("--user", f["--user"], true);
  auto log = openLog(f["--data"]);
  const std::string company = check(log->companyId(f["--company"]));
  auto user = log->userId(company, f["--user"]);
  // No one's, and no email at all (bob@): a typing error, said as one. (An address
  // today's rules refuse may still name someone an older version let in.)
  if (!user && user.error().code == ErrorCode::kNotFound && !uuidOf(f["--user"]))
    if (auto problem = emailProblem(trim(f["--user"])))
      fail("--user takes a user's email or id (a UUID): '" + f["--user"] + "' " + *problem, 2);
  check(log->timeline(company, check(std::move(user)), format == "jsonl", printLine));
  return 0;
}

int asOf(int argc, char** argv) {
  Flags f = parseFlags(argc, argv, {"--data", "--company", "--at", "--view"},
                       {"--data", "--company", "--at"});
  const std::string view = f.count("--view") ? f["--view"] : "users";
  if (view != "users" && view != "admins") fail("--view must be users or admins", 2);
  const Timestamp at = timeFlag("--at", f["--at"], TimeIs::kMoment);
  auto log = openLog(f["--data"]);
  const std::string company = check(log->companyId(f["--company"]));
  std::optional<Timestamp> first;
  check(log->asOf(company, at, view, printLine, &first));
  // Answers that read as real ones but come of a time outside the log: said on
  // stderr (the view on stdout stays what it is), as a mistyped year would be.
  if (first && at < *first)
    std::fprintf(stderr,
                 "portal-replay: note: %s is before %s's first event (%s): the view is empty\n",
                 formatRfc3339(at).c_str(), f["--company"].c_str(), formatRfc3339(*first).c_str());
  else if (SystemClock clock; at > clock.now())
    std::fprintf(stderr, "portal-replay: note: %s is in the future: the view is as it stands now\n",
                 formatRfc3339(at).c_str());
  return 0;
}

int events(int argc, char** argv) {
  Flags f = parseFlags(argc, argv,
                       {"--data", "--company", "--from", "--to", "--since", "--until", "--type", "--actor"},
                       {"--data"});
  ReplayLog::EventFilter filter;
  if (f.count("--from")) filter.from = positionFlag("--from", f["--from"]);
  if (f.count("--to")) filter.to = positionFlag("--to", f["--to"]);
  if (f.count("--since")) filter.since = timeFlag("--since", f["--since"], TimeIs::kStart);
  if (f.count("--until")) filter.until = timeFlag("--until", f["--until"], TimeIs::kEnd);
  if (f.count("--from") && f.count("--to") && filter.from > filter.to)
    fail("--from " + f["--from"] + " is past --to " + f["--to"], 2);
  // Compared as typed (the start not rounded up): a range within one microsecond is
  // no reversed one, unless its digits past the microsecond say so.
  if (filter.since && filter.until &&
      laterAsTyped(*parseRfc3339(f["--since"]), f["--since"], *filter.until, f["--until"]))
    fail("--since " + f["--since"] + " is after --until " + f["--until"], 2);
  if (f.count("--type")) {
    filter.type = f["--type"];
    if (!isEventTypeName(filter.type))
      fail("--type '" + filter.type + "' is not an event type; one of " + eventTypeNameList(), 2);
  }
  if (f.count("--actor")) requireUserFlag("--actor", f["--actor"], false);
  auto log = openLog(f["--data"]);
  // A position past the next one the log will write is a mistyped one (or one from
  // another log): said, as the API's 409 position-ahead says it of an `after` past
  // the last event, not an empty answer. (--from last+1, "what came after last", is
  // an empty answer until something comes.)
  if (const std::uint64_t last = log->store().lastPosition();
      f.count("--from") && filter.from > last + 1)
    fail("--from " + f["--from"] + " is past the log's end: it holds " + std::to_string(last) +
             (last == 1 ? " event" : " events"),
         2);
  if (f.count("--company")) filter.companyId = check(log->companyId(f["--company"]));
  if (f.count("--actor")) filter.actor = check(log->actorId(filter.companyId, f["--actor"]));
  check(log->events(filter, printLine));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  portal::keepFilesPrivate();
  portal::holdStandardStreams(true);
  // A reader that closes the pipe early (| head) makes the next write fail with
  // EPIPE (see printLine), and the log is closed on the way out, its scratch
  // directory with it.
  std::signal(SIGPIPE, SIG_IGN);
  if (argc < 2)
    fail("a command is required: verify, timeline, as-of or events (portal-replay --help shows the usage)", 2);
  const std::string command = argv[1];
  if (command == "--version") {
    std::printf("%s\n", versionLine("portal-replay").c_str());
    return 0;
  }
  // `portal-replay events --help` as well as `portal-replay --help`.
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
  int code = 2;
  if (command == "verify") code = verify(argc, argv);
  else if (command == "timeline") code = timeline(argc, argv);
  else if (command == "as-of") code = asOf(argc, argv);
  else if (command == "events") code = events(argc, argv);
  else if (command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  } else {
    fail("unknown command '" + command + "' (portal-replay --help shows the usage)", 2);
  }
  if (std::fflush(stdout) != 0) {
    if (errno == EPIPE) {  // the reader has all it wanted; a broken chain still exits 1
      openedLog.reset();
      return code;
    }
    fail("cannot write the output: " + std::string(std::strerror(errno)));
  }
  openedLog.reset();
  return code;
}
