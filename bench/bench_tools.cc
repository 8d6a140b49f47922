// bench_tools: the auditor's and operator's tools on a large log, each beside a
// plain forward read of the same log in the same run.
//
//   bench_tools [--quick] [--events N] [--per-projection] [--rebuild-memory MiB]
//
// 1. portal-replay verify (the hash chain recomputed) in events/s; target at
//    least half the plain read.
// 2. portalctl rebuild --projection all, offline (Projector::rebuild), in
//    events/s; target 300,000 events/s.
//    Beside it, the read with every event decoded (what the rebuild's reading
//    thread does before any projection applies an event).
// 3. A server's start: the log opened for writing (its stream heads and key vault
//    loaded) and the write model rebuilt from every event, chain checked, in
//    seconds and events/s, with the memory it holds afterwards.
// 4. portal-replay timeline of one user in milliseconds (answered from the audit
//    index, not a scan of the log): a typical user, and the user the generator
//    makes a tenth of all events about; target under 50 ms.
// 5. The log published to NATS JetStream (portal-server --nats) from its first
//    event, as the first start with --nats or a catch-up after a long outage
//    does, in events/s until the stream holds it all (Debian's nats-server on
//    loopback, its store on this disk; skipped when it is not installed).
// The log is bench_log.h's: one company, mixed events, 1,000,000 by default.
// --per-projection also rebuilds each projection alone (where the time goes);
// --rebuild-memory sets the rebuild's memory budget (Projector::setRebuildMemory).

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_log.h"
#include "bench/bench_support.h"
#include "projections/projector.h"
#include "src/app/command_processor.h"
#include "src/app/replay.h"
#include "src/app/system.h"
#include "src/publish/log_publisher.h"

namespace portal::bench {
namespace {

// CPU time of the whole process so far (every thread, user and system).
double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// CPU time of this thread so far.
double threadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// Page faults of the whole process so far: first touches of new memory, which cost
// about 11 us each on these VMs (a tenth of a rebuild's time when it is not reused).
long pageFaults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt + u.ru_majflt;
}

// Resident memory of the process now, in MiB.
double residentMiB() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * 4096 / (1 << 20);
}

struct StartFigures {
  double seconds = 0, cpuSeconds = 0, residentMiB = 0, events = 0;
};

// What portal-server does before it serves, on the log at `path` (Portal::open's
// two steps that read the whole log; the views are caught up already).
StartFigures serverStart(const std::string& path) {
  StartFigures f;
  CountryList countries({{"DE", "Germany", {}, {}}});
  SystemClock clock;
  RandomIds ids;
  const double before = residentMiB(), cpuBefore = cpuSeconds();
  Stopwatch sw;
  auto store = openBenchStore(path, true);
  auto processor = CommandProcessor::start(*store, countries, clock, ids);
  if (!processor) {
    std::fprintf(stderr, "bench_tools: start failed: %s\n", processor.error().message.c_str());
    std::exit(1);
  }
  f.seconds = sw.seconds();
  f.cpuSeconds = cpuSeconds() - cpuBefore;
  f.residentMiB = residentMiB() - before;
  f.events = static_cast<double>(store->lastPosition());
  return f;
}

// serverStart run by this program again (`--server-start DIR`), its figures read
// from its output.
StartFigures serverStartInAChild(const std::string& path) {
  char self[4096];
  const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) std::exit(1);
  self[len] = '\0';
  const std::string command = std::string("'") + self + "' --server-start '" + path + "'";
  FILE* child = ::popen(command.c_str(), "r");
  StartFigures f;
  if (child == nullptr ||
      std::fscanf(child, "%lf %lf %lf %lf", &f.seconds, &f.cpuSeconds, &f.residentMiB, &f.events) !=
          4 ||
      ::pclose(child) != 0) {
    std::fprintf(stderr, "bench_tools: the server start in a child process failed\n");
    std::exit(1);
  }
  return f;
}

// Events/s of a plain forward read through the store (records checked, bytes
// handed out, nothing decoded).
double plainRead(EventStore& store, std::uint64_t& events) {
  Stopwatch sw;
  std::uint64_t n = 0;
  if (!store.scan(1, ~0ull, [&](const RawEvent&) { return ++n, true; })) std::exit(1);
  events = n;
  return n / sw.seconds();
}

// Events/s of the rebuild's reading thread alone: the same read, every event decoded
// (its JSON parsed, its personal fields opened), nothing applied.
// Also the CPU time it took an event (this thread's, which a shared machine's
// stolen time does not inflate as it does the rate).
double readAndDecode(EventStore& store, double& cpuMicros) {
  Stopwatch sw;
  const double cpu0 = threadCpuSeconds();
  std::uint64_t n = 0;
  auto r = store.scan(1, ~0ull, [&](const RawEvent& raw) {
    if (!store.decode(raw)) std::exit(1);
    return ++n, true;
  });
  if (!r) std::exit(1);
  cpuMicros = (threadCpuSeconds() - cpu0) * 1e6 / static_cast<double>(n);
  return n / sw.seconds();
}

// 5. The whole log published to a nats-server of its own, from an empty stream.
void publishToNats(const EventStore& store, const std::string& scratch, double plain) {
  const char* binary = "/usr/sbin/nats-server";
  if (::access(binary, X_OK) != 0) {
    std::printf("publish to NATS JetStream: skipped (%s is not installed)\n", binary);
    return;
  }
  // On a port it picks (-1), which its log names.
  const std::string storeDir = scratch + "/nats", logFile = scratch + "/nats.log";
  std::vector<std::string> args{binary, "-js", "-a", "127.0.0.1", "-p", "-1", "-sd", storeDir};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 1, logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&files, 1, 2);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, binary, &files, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  if (spawned != 0) {
    std::fprintf(stderr, "bench_tools: cannot start %s\n", binary);
    std::exit(1);
  }
  const std::string listening = "client connections on 127.0.0.1:";
  std::string port;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
       port.empty() && std::chrono::steady_clock::now() < until;
       std::this_thread::sleep_for(std::chrono::milliseconds(10))) {
    std::ifstream in(logFile);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (const std::size_t at = text.find(listening); at != std::string::npos)
      port = text.substr(
          at + listening.size(),
          text.find_first_not_of("0123456789", at + listening.size()) - at - listening.size());
  }
  if (port.empty()) {
    std::fprintf(stderr, "bench_tools: %s did not start (its log: %s)\n", binary, logFile.c_str());
    std::exit(1);
  }
  PublisherOptions options;
  options.url = "nats://127.0.0.1:" + port;
  options.stream = "bench";
  options.retryFirst = options.retryMost = std::chrono::milliseconds(100);
  LogPublisher publisher(store, options);
  const std::uint64_t head = store.lastPosition();
  Stopwatch sw;  // (from the start: the server's own start is a few milliseconds)
  publisher.start();
  const bool done = publisher.waitPublished(head, std::chrono::minutes(10));
  const double seconds = sw.seconds();
  publisher.stop();
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!done) {
    std::fprintf(stderr, "bench_tools: publishing stopped at %llu of %llu: %s\n",
                 static_cast<unsigned long long>(publisher.published()),
                 static_cast<unsigned long long>(head), publisher.refused().c_str());
    std::exit(1);
  }
  printRatio("publish to NATS JetStream, whole log", head / seconds, plain, "events/s", 0.0);
}

void run(std::uint64_t events, bool perProjection, std::uint64_t rebuildMiB) {
  ScratchDir dir("tools");
  std::printf("(building a log of %llu events)\n", static_cast<unsigned long long>(events));
  double plain = 0, decoded = 0, decodeCpuMicros = 0, rebuild = 0, rebuildCpuMicros = 0;
  long rebuildFaults = 0;
  {
    auto store = openBenchStore(dir.path(), false);
    buildLog(*store, events);
    // A log as an operator's server holds it: written over months, long since
    // compacted. Without this the compaction of the log just written runs beside
    // the rebuild on the same two cores.
    if (!store->compact()) std::exit(1);
  }
  // In a process of its own, so that the memory it holds afterwards is the start's.
  const StartFigures start = serverStartInAChild(dir.path());
  {
    auto store = openBenchStore(dir.path(), false);
    auto projector = Projector::open(*store, allProjections());
    if (!projector) std::exit(1);
    if (rebuildMiB != 0) (*projector)->setRebuildMemory(std::size_t{rebuildMiB} << 20);
    std::uint64_t n = 0;
    plain = plainRead(*store, n);
    decoded = readAndDecode(*store, decodeCpuMicros);
    const double cpuBefore = cpuSeconds();
    const long faultsBefore = pageFaults();
    Stopwatch sw;
    auto r = (*projector)->rebuild("all", nullptr);
    rebuild = n / sw.seconds();
    rebuildCpuMicros = (cpuSeconds() - cpuBefore) * 1e6 / static_cast<double>(n);
    rebuildFaults = pageFaults() - faultsBefore;
    if (!r) {
      std::fprintf(stderr, "bench_tools: rebuild failed: %s\n", r.error().message.c_str());
      std::exit(1);
    }
    if (perProjection)
      for (const auto& p : allProjections()) {
        Stopwatch one;
        if (!(*projector)->rebuild(p->name(), nullptr)) std::exit(1);
        std::printf("  rebuild %-16s %12.0f events/s\n", p->name().c_str(), n / one.seconds());
      }
  }
  printRatio("read and decode (one thread)", decoded, plain, "events/s", 0.0);
  std::printf("(read and decode: %.2f us of CPU per event)\n", decodeCpuMicros);
  printRatio("rebuild --projection all, offline", rebuild, plain, "events/s", 0.0);
  printFigure("rebuild, absolute", rebuild, "events/s", 300'000);
  std::printf("(rebuild: %.1f us of CPU per event, all threads of the process; %ld page faults, %.1f MiB first touched)\n",
              rebuildCpuMicros, rebuildFaults, static_cast<double>(rebuildFaults) * 4096 / (1 << 20));

  printRatio("server start (log, write model)", start.events / start.seconds, plain, "events/s",
             0.0);
  std::printf(
      "(server start: %.2f s, %.1f us of CPU per event, all threads; %.0f MiB resident "
      "afterwards)\n",
      start.seconds, start.cpuSeconds * 1e6 / static_cast<double>(start.events), start.residentMiB);

  // The replay tool's way in: a read-only (secondary) instance.
  auto log = ReplayLog::open(dir.path());
  if (!log) {
    std::fprintf(stderr, "bench_tools: %s\n", log.error().message.c_str());
    std::exit(1);
  }
  std::uint64_t n = 0;
  plainRead((*log)->store(), n);  // warms the read-only instance's cache, as verify finds it
  // Best of three of each, taken in turns, so that a moment of another process's
  // load on the shared cores does not decide the ratio.
  double plainRo = 0, verified = 0;
  for (int run = 0; run < 3; ++run) {
    plainRo = std::max(plainRo, plainRead((*log)->store(), n));
    Stopwatch sw;
    auto report = (*log)->store().verify();
    const double verifySeconds = sw.seconds();
    if (!report || report->firstBad != 0) {
      std::fprintf(stderr, "bench_tools: verify failed\n");
      std::exit(1);
    }
    verified = std::max(verified, report->checked / verifySeconds);
  }
  printRatio("verify (best of 3)", verified, plainRo, "events/s", 0.5);

  const std::string company(kBenchCompany);
  const double plainMs = n / plainRo * 1000;
  // A typical user (created, a few changes) and the one most events are about
  // (the log generator picks "u1" for about one event in ten).
  for (const char* user : {"u123456", "u1"}) {
    std::size_t lines = 0;
    Stopwatch tl;
    auto t = (*log)->timeline(company, user, false, [&](std::string_view) { ++lines; });
    const double ms = tl.seconds() * 1000;
    if (!t) {
      std::fprintf(stderr, "bench_tools: timeline failed: %s\n", t.error().message.c_str());
      std::exit(1);
    }
    std::printf("timeline of %-8s %9zu events %9.1f ms   plain read of the log %7.1f ms  ratio %6.3f  target < 50 ms  %s\n",
                user, lines, ms, plainMs, ms / plainMs, ms < 50 ? "ok" : "MISSED");
  }
  publishToNats((*log)->store(), dir.path(), plainRo);
}

}  // namespace
}  // namespace portal::bench

int main(int argc, char** argv) {
  std::uint64_t events = 1'000'000;
  bool perProjection = false;
  std::uint64_t rebuildMiB = 0;  // 0: the projector's default
  if (argc == 3 && std::strcmp(argv[1], "--server-start") == 0) {
    const auto f = portal::bench::serverStart(argv[2]);
    std::printf("%f %f %f %f\n", f.seconds, f.cpuSeconds, f.residentMiB, f.events);
    return 0;
  }
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      events = 20'000;
    } else if (std::strcmp(argv[i], "--per-projection") == 0) {
      perProjection = true;
    } else if (std::strcmp(argv[i], "--rebuild-memory") == 0 && i + 1 < argc) {
      rebuildMiB = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--events") == 0 && i + 1 < argc) {
      events = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: bench_tools [--quick] [--events N] [--per-projection] [--rebuild-memory MiB]\n");
      return 2;
    }
  }
  std::printf("bench_tools: verify, rebuild and timeline beside a plain read of the same log\n");
  portal::bench::run(events, perProjection, rebuildMiB);
  return 0;
}
