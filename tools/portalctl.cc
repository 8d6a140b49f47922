// portalctl: operations on a portal data directory. Works on the directory itself
// when no server holds it, and through the running server's operator socket when
// one does; the same library call (runOperatorRequest) does the work either way.
//
//   portalctl provision --data DIR --company SLUG --name NAME --owner-email E
//       --owner-given-name G --owner-surname S --owner-job-title T
//       --owner-manager-email M [--owner-country C] [--services a,b,c]
//       [--password-hash-cost interactive|minimum]
//   portalctl rebuild --data DIR [--projection NAME|all]
//   portalctl compact --data DIR
//   portalctl backup --data DIR --to DIR

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "events/log.h"
#include "projections/projector.h"
#include "src/app/countries_file.h"
#include "src/app/operator.h"
#include "src/app/portal.h"
#include "src/app/system.h"
#include "src/app/version.h"
#include "src/auth/passwords.h"

namespace {

using namespace portal;
using json = nlohmann::json;

// A progress line on a terminal ends with no line break until the next replaces it.
std::atomic<bool> gProgressLineOpen{false};  // read in a signal handler:
static_assert(std::atomic<bool>::is_always_lock_free);

[[noreturn]] void fail(const std::string& message, int code = 1) {
  // Ended first: the verdict on a line of its own, not glued to the progress line
  // (std::exit passes over the printer's destructor, which would end it).
  if (gProgressLineOpen) std::fputc('\n', stderr);
  gProgressLineOpen = false;
  flushLog();  // what the library logged (RocksDB, a projection) comes before the verdict
  std::fprintf(stderr, "portalctl: %s\n", message.c_str());
  std::exit(code);
}

const char* const kUsage =
    "usage: portalctl provision --data DIR --company SLUG --name NAME --owner-email E\n"
    "         --owner-given-name G --owner-surname S --owner-job-title T --owner-manager-email M\n"
    "         [--owner-country C] [--services modeler,automation,studio]\n"
    "         [--password-hash-cost interactive|minimum]\n"
    "       portalctl rebuild --data DIR [--projection NAME|all]\n"
    "       portalctl compact --data DIR\n"
    "       portalctl backup --data DIR --to DIR\n"
    "       portalctl --version\n";

std::atomic<bool> interrupted{false};

// The data directory checked as every program checks it (missing, not a directory,
// unreadable: one line each); `missing` is added to the message of a missing one.
void requireDirectory(const std::string& data, const std::string& missing = "") {
  if (auto checked = EventStore::checkDirectory(data); !checked)
    fail(checked.error().message + (checked.error().code == ErrorCode::kNotFound ? missing : ""));
}

// Sends `request` to the server that holds `data`, after `why` (the reason the
// directory could not be opened) said that one does.
std::string viaServer(const std::string& data, const json& request, const Error& why,
                      const std::function<void(std::string_view)>& onProgress = nullptr) {
  if (why.code != ErrorCode::kBusy) fail(why.message);
  // No time limit: a compaction of a large log takes minutes and says nothing until
  // done, and the socket takes one request at a time. Ctrl-C leaves; a server that
  // dies closes the connection.
  auto answer = callOperatorSocket(operatorSocketPath(data), request.dump(),
                                   kNoTimeout, onProgress);
  // Nobody answered the socket: the lock is another portalctl's, working on the
  // directory offline (a review found RocksDB's lock and the socket's error in one
  // long sentence).
  if (!answer && answer.error().code == ErrorCode::kNotFound)
    fail("data directory " + data +
         " is in use by another process, and no server answers on its operator socket (another "
         "portalctl working on it, or a server starting); try again once it is done");
  if (!answer)
    fail("the server holding " + data + " stopped before it answered (" + answer.error().message +
         "); the job may not have finished: run it again");
  return *answer;
}

// Root working on a directory that is another user's (the service account the
// server runs as): the files it would make (a new MANIFEST, table files, a new
// portal) would be root's, 0600, and the server could not start on them (a
// review). A server that holds the directory does the job itself, as its own user;
// with none, this is refused.
void refuseForeignFiles(const std::string& data) {
  const auto name = foreignPortalOwner(data);
  if (!name) return;
  // A process holds the log's lock (RocksDB's fcntl lock on LOCK): a server, which
  // does the job itself through its socket.
  if (const int fd =
          ::open((data + "/LOCK").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
      fd >= 0) {
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    const bool held = ::fcntl(fd, F_GETLK, &lock) == 0 && lock.l_type != F_UNLCK;
    ::close(fd);
    if (held) return;
  }
  fail("the portal in " + data + " is " + *name + "'s: run portalctl as " + *name + " (sudo -u " +
       *name +
       " portalctl ...); files it made as root would be unreadable to a "
       "server running as " +
       *name);
}

// Runs `request` with the whole portal open (provisioning), or through the server
// that holds the directory.
std::string run(const std::string& data, const json& request, const std::string& cost) {
  requireDirectory(data, " (a new portal is made in an empty directory: create it first)");
  refuseForeignFiles(data);
  // Empty but for a volume's lost+found (a portal may be made in a volume's root).
  std::error_code ec;
  bool wasEmpty = true;
  for (const auto& entry : std::filesystem::directory_iterator(data, ec))
    wasEmpty = wasEmpty && entry.path().filename() == "lost+found";
  wasEmpty = wasEmpty && !ec;
  auto countries = loadCountries();
  if (!countries) fail(countries.error().message);
  SystemClock clock;
  RandomIds ids;
  PortalOptions options;
  options.dataDir = data;
  options.recoverDamagedWal = false;  // the server's start decides (StoreOptions)
  // The server's --idempotency-hours decides what records outlived: none go here.
  options.processor.recordLifetime = std::chrono::seconds(0);
  auto portal = Portal::open(options, *countries, clock, ids);
  if (!portal) return viaServer(data, request, portal.error());
  PasswordHasher hasher(cost == "minimum" ? HashCost::minimum() : HashCost::interactive());
  OperatorContext context{(*portal)->store(), (*portal)->projector(), portal->get(), &hasher};
  std::string text = runOperatorRequest(context, request.dump());
  // A job refused in a directory that was empty leaves it empty: a new log is made
  // only by a job that succeeds there.
  if (json out = json::parse(text, nullptr, false); wasEmpty && (!out.is_object() || !out.value("ok", false))) {
    portal->reset();
    for (const auto& entry : std::filesystem::directory_iterator(data, ec))
      if (entry.path().filename() != "lost+found") std::filesystem::remove_all(entry.path(), ec);
  }
  return text;
}

// `handler` for Ctrl-C and SIGTERM alike.
void onInterrupt(void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Runs a maintenance request (rebuild, compact, backup) on the log and its
// projections alone, without starting the command processor, or through the
// server that holds the directory. Progress lines go to `onProgress`.
std::string maintain(const std::string& data, const json& request,
                     const std::function<void(std::string_view)>& onProgress) {
  requireDirectory(data);
  refuseForeignFiles(data);
  StoreOptions so;
  so.path = data;
  so.recoverDamagedWal = false;  // the server's start decides
  auto store = EventStore::open(so);
  const bool rebuild = request.value("command", "") == "rebuild";
  if (!store) {
    // Through the server, Ctrl-C ends this process and the server, seeing the socket
    // close, stops the rebuild unless it was switching to the new projection by
    // then: said so (a review found exit 130 and nothing said).
    if (rebuild)
      onInterrupt([](int signal) {
        static constexpr char kSaid[] =
            "\nportalctl: rebuild interrupted; the server stops it and keeps the old projection, "
            "unless it was switching to the new one already (its log says which)\n";
        const std::size_t from = gProgressLineOpen ? 0 : 1;  // its own line
        (void)!::write(2, kSaid + from, sizeof kSaid - 1 - from);
        ::_exit(128 + signal);
      });
    else  // a compaction or a backup, which the server runs to its end once begun (a
          // review: portalctl ended without a word, and the next backup found the
          // target taken); one still queued behind another operator's is dropped
      onInterrupt([](int signal) {
        static constexpr char kSaid[] =
            "portalctl: interrupted; the server runs the job to its end if it had begun it, "
            "and not at all if it was waiting for its turn (its log says which)\n";
        (void)!::write(2, kSaid, sizeof kSaid - 1);
        ::_exit(128 + signal);
      });
    std::string answer = viaServer(data, request, store.error(), onProgress);
    onInterrupt(SIG_DFL);
    return answer;
  }
  auto projector = Projector::open(**store, allProjections());
  if (!projector) fail(projector.error().message);
  // A compaction or a backup waits for the views to take in the whole log (the
  // rows an anonymization overwrites): a server stopped before its views did leaves
  // them behind. A projection that stops on the way (it says why) is passed over,
  // as the server passes it over.
  if (!rebuild) (void)(*projector)->catchUp();
  OperatorContext context{**store, **projector, nullptr, nullptr};
  // Ctrl-C stops a rebuild cleanly: the old projection keeps serving. (Through the
  // server, Ctrl-C ends this process and the server sees the socket close.) A
  // compaction or a backup has no such point: Ctrl-C ends it as it ends any program.
  if (rebuild) onInterrupt([](int) { interrupted = true; });
  return runOperatorRequest(
      context, request.dump(),
      [&](std::string_view line) {
        if (onProgress) onProgress(line);
        return true;
      },
      &interrupted);
}

// Progress of a rebuild on stderr: one line rewritten in place on a terminal,
// plain lines every few seconds otherwise (logs, pipes).
class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::string what) : what_(std::move(what)), tty_(isatty(2) != 0) {}
  ~ProgressPrinter() { finish(); }
  // Ends the progress before the answer is printed: the last report, when it was
  // not printed (a catch-up beside a busy server ends past the first line that
  // said 100%: a review saw "51 of 51" above an answer of 68 events), and the
  // terminal's line.
  void finish() {
    if (!pending_.empty()) print(pending_, pendingCount_);
    if (tty_ && printed_) std::fputc('\n', stderr);
    printed_ = false;
    gProgressLineOpen = false;
  }
  void operator()(std::string_view line) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_object() || !j["progress"].is_object()) return;
    const auto& p = j["progress"];
    const double done = p.value("done", 0.0), total = p.value("total", 0.0),
                 rate = p.value("eventsPerSecond", 0.0);
    const auto now = std::chrono::steady_clock::now();
    const bool last = done >= total;
    char text[256];
    std::snprintf(text, sizeof text, "rebuild %s: %.0f of %.0f events (%.0f%%), %.0f events/s, %.1f s left",
                  what_.c_str(), done, total, total > 0 ? 100.0 * done / total : 100.0, rate,
                  rate > 0 && total > done ? (total - done) / rate : 0.0);
    // Past the first line at 100%, the catch-up's reports are kept for the end
    // (those that say something new: the end is reported again).
    const std::pair<double, double> count{done, total};
    pending_ = count == printedCount_ ? "" : text;
    pendingCount_ = count;
    if (finished_) return;
    finished_ = last;
    if (!tty_ && printed_ && !last && now - lastLine_ < std::chrono::seconds(2)) return;
    lastLine_ = now;
    print(text, count);
  }

 private:
  void print(std::string text, std::pair<double, double> count) {  // a copy: it may be pending_
    pending_.clear();
    printedCount_ = count;
    if (tty_) {
      std::fprintf(stderr, "\r%-90s", text.c_str());
      gProgressLineOpen = true;
    } else {
      std::fprintf(stderr, "%s\n", text.c_str());
    }
    std::fflush(stderr);
    printed_ = true;
  }

  std::string what_;
  std::string pending_;  // the last report, when it was not printed
  std::pair<double, double> pendingCount_, printedCount_{-1, -1};  // (done, total)
  bool tty_;
  bool printed_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point lastLine_{};
};

// The value of the flag argv[i] (moving i past it): fails when it is missing, empty
// (unless `emptyAllowed`) or when the flag was `given` before.
std::string flagValue(int argc, char** argv, int& i, std::set<std::string>& given,
                      bool emptyAllowed = false) {
  const std::string a = argv[i];
  if (auto problem = flagValueProblem(argc, argv, i, emptyAllowed))
    fail(*problem + " (portalctl --help shows the usage)", 2);
  if (!given.insert(a).second) fail(a + " is given twice (it takes one value)", 2);
  return argv[++i];
}

// Flags of the form --name VALUE; fails on any other, and on a missing value.
std::map<std::string, std::string> parseFlags(int argc, char** argv,
                                              const std::vector<std::string>& allowed) {
  std::map<std::string, std::string> flags;
  std::set<std::string> given;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (std::find(allowed.begin(), allowed.end(), a) == allowed.end())
      fail(unknownFlag(a, std::string(" for ") + argv[1]) + " (portalctl --help shows the usage)",
           2);
    flags[a] = flagValue(argc, argv, i, given);
  }
  if (!flags.count("--data")) fail("--data DIR is required (portalctl --help shows the usage)", 2);
  return flags;
}

// Prints the answer without "ok", or fails with its error.
int answer(const std::string& text, const char* what) {
  json out = json::parse(text, nullptr, false);
  if (!out.is_object()) fail("the answer is not JSON");
  if (!out.value("ok", false)) {
    const std::string error = out.value("error", std::string(what) + " failed");
    // A value the decider refused (a slug, an email, a service, a country) is a bad
    // flag's value: exit 2, as every bad flag (a review found exit 1).
    fail(error, error.starts_with("validation-failed: ") ? 2 : 1);
  }
  out.erase("ok");
  std::printf("%s\n", out.dump().c_str());
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    fail(std::string(what) + " done, but its answer could not be written to the output" +
         (out.contains("temporaryPassword") ? " (the owner's temporary password is in the mail sent to them)" : ""));
  return 0;
}

int rebuild(int argc, char** argv) {
  auto flags = parseFlags(argc, argv, {"--data", "--projection"});
  const std::string asked = flags.count("--projection") ? flags["--projection"] : "all";
  const auto name = projectionNamed(asked);
  if (!name)
    fail("there is no projection named '" + asked + "' (there are: all, " + projectionNameList() + ")", 2);
  ProgressPrinter printer(*name);
  const std::string text = maintain(flags["--data"], {{"command", "rebuild"}, {"projection", *name}},
                                    [&](std::string_view line) { printer(line); });
  printer.finish();
  // Cancelled with Ctrl-C: exit 130 as through a server, and as any program Ctrl-C
  // ends (a review found exit 1 here and 130 there).
  if (interrupted) {
    const json out = json::parse(text, nullptr, false);
    if (out.is_object() && !out.value("ok", false))
      fail(out.value("error", std::string("rebuild cancelled")), 128 + SIGINT);
  }
  return answer(text, "rebuild");
}

int compact(int argc, char** argv) {
  auto flags = parseFlags(argc, argv, {"--data"});
  return answer(maintain(flags["--data"], {{"command", "compact"}}, nullptr), "compact");
}

int backup(int argc, char** argv) {
  auto flags = parseFlags(argc, argv, {"--data", "--to"});
  if (!flags.count("--to")) fail("--to DIR is required (portalctl --help shows the usage)", 2);
  // The server may run elsewhere in the file system: it gets an absolute path.
  std::error_code ec;
  const std::string to = std::filesystem::absolute(flags["--to"], ec).lexically_normal().string();
  if (ec) fail("cannot resolve " + flags["--to"] + ": " + ec.message(), 2);
  // A target refused is refused before the log is opened (which writes to it).
  requireDirectory(flags["--data"]);
  if (auto target = EventStore::backupTarget(flags["--data"], to); !target)
    fail(target.error().message);
  return answer(maintain(flags["--data"], {{"command", "backup"}, {"to", to}}, nullptr), "backup");
}

int provision(int argc, char** argv) {
  static const std::map<std::string, std::string> flags = {
      {"--company", "company"},
      {"--name", "name"},
      {"--owner-email", "ownerEmail"},
      {"--owner-given-name", "ownerGivenName"},
      {"--owner-surname", "ownerSurname"},
      {"--owner-job-title", "ownerJobTitle"},
      {"--owner-manager-email", "ownerManagerEmail"},
      {"--owner-country", "ownerCountry"}};
  json request = {{"command", "provision"}};
  std::string data, cost = "interactive";
  std::set<std::string> given;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    // An empty --services is told apart below.
    const std::string v = flagValue(argc, argv, i, given, a == "--services");
    if (a == "--data")
      data = v;
    else if (a == "--password-hash-cost")
      cost = v;
    else if (a == "--services") {
      json list = json::array();
      std::size_t start = 0;
      while (start <= v.size()) {
        std::size_t comma = v.find(',', start);
        if (comma == std::string::npos) comma = v.size();
        if (comma > start) list.push_back(v.substr(start, comma - start));
        start = comma + 1;
      }
      if (list.empty()) fail("--services needs at least one service (leave it out for the defaults)", 2);
      request["services"] = list;
    } else if (auto f = flags.find(a); f != flags.end())
      request[f->second] = v;
    else
      fail(unknownFlag(a) + " (portalctl --help shows the usage)", 2);
  }
  if (data.empty()) fail("--data DIR is required (portalctl --help shows the usage)", 2);
  for (const char* required : {"--company", "--name", "--owner-email", "--owner-given-name",
                               "--owner-surname", "--owner-job-title", "--owner-manager-email"})
    if (!request.contains(flags.at(required)))
      fail(std::string(required) + " is required (portalctl --help shows the usage)", 2);
  if (cost != "interactive" && cost != "minimum")
    fail("--password-hash-cost must be interactive or minimum", 2);
  return answer(run(data, request, cost), "provisioning");
}

}  // namespace

int main(int argc, char** argv) {
  keepFilesPrivate();
  holdStandardStreams(true);
  // An answer that cannot be written (| true closed the pipe) is said on stderr with
  // exit 1 (see answer()), not a silent death by SIGPIPE after the work was done.
  ::signal(SIGPIPE, SIG_IGN);
  if (argc < 2) fail("a command is required: provision, rebuild, compact or backup (portalctl --help shows the usage)", 2);
  const std::string command = argv[1];
  if (command == "--version") {
    std::printf("%s\n", versionLine("portalctl").c_str());
    return 0;
  }
  // `portalctl provision --help` as well as `portalctl --help`.
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
  if (command == "provision") return provision(argc, argv);
  if (command == "rebuild") return rebuild(argc, argv);
  if (command == "compact") return compact(argc, argv);
  if (command == "backup") return backup(argc, argv);
  if (command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  fail("unknown command '" + command + "' (portalctl --help shows the usage)", 2);
}
