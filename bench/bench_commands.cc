// bench_commands: the write side and the read side of the domain at scale.
//
//   bench_commands [--quick] [--commands N] [--rebuild-events N]
//
// 1. create-user commands/s through the command processor with 64 concurrent
//    submitters, each keeping up to 16 commands in flight and waiting for every
//    answer (durable: one fsync per group), beside raw RocksDB writing the same
//    events (the very keys and values the store wrote, in its order) in batches of
//    the same average size with sync = true, in the same run. Also with one command in
//    flight per submitter, where the fsync time bounds what 64 clients can do.
// 2. projection rebuild events/s: Projector::rebuild("all") over a log of mixed
//    events (users created, updated, deactivated, admins, groups, members,
//    resources), beside a plain forward read of the same log.

#include <rocksdb/db.h>
#include <sys/resource.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>
#include <condition_variable>
#include <mutex>
#include <cstring>
#include <future>
#include <thread>

#include "bench/bench_log.h"
#include "bench/bench_support.h"
#include "bench/captured_writes.h"
#include "projections/projector.h"
#include "src/app/command_processor.h"
#include "src/app/system.h"

namespace portal::bench {
namespace {

CountryList benchCountries() {
  return CountryList({{"DE", "Germany", {}, {}}, {"FR", "France", {}, {}}});
}

NewUserDetails person(std::uint64_t n) {
  NewUserDetails d;
  d.email = "person." + std::to_string(n) + "@example-company.com";
  d.givenName = "Given" + std::to_string(n);
  d.surname = "Surname" + std::to_string(n);
  d.jobTitle = "Senior Process Analyst";
  d.managerEmail = "head.of.department@example-company.com";
  d.country = "DE";
  return d;
}


struct CommandFigures {
  double portal = 0, raw = 0, averageGroup = 0;
  double cores = 0;  // CPU seconds per second while the processor ran
};

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int gSubmitters = 64;
std::size_t gWindow = 16;

CommandFigures benchCreateUsers(std::uint64_t commands, std::size_t window) {
  ScratchDir dir("commands");
  CountryList countries = benchCountries();
  SystemClock clock;
  RandomIds ids;
  CommandFigures f;
  std::vector<Write> captured;  // what the store wrote, in order
  {
    auto store = openBenchStore(dir.path() + "/portal", true);
    auto processor = CommandProcessor::start(*store, countries, clock, ids);
    if (!processor) std::exit(1);
    auto& p = **processor;
    ProvisionCompany prov{"bench", "Bench", {}, person(0), "$argon2id$bench"};
    auto provisioned =
        p.execute(Submission{Command{"", "system", prov}, "p", false, "p", "", nullptr, true, {}});
    const std::string company = provisioned.decision.companyId;
    const std::string owner = provisioned.decision.ids.at(0);
    const ProcessorStats before = p.stats();

    // Each submitter keeps up to `window` commands in flight, as a client with
    // several connections or pipelined requests does, and waits for every answer.
    const int kSubmitters = gSubmitters;
    std::atomic<std::uint64_t> next{1};
    std::atomic<bool> failed{false};
    const double cpuBefore = cpuSeconds();
    const auto threadsBefore = useByThread();
    Stopwatch sw;
    std::vector<std::thread> threads;
    for (int t = 0; t < kSubmitters; ++t)
      threads.emplace_back([&] {
        // A send window with hysteresis: the submitter sleeps when the window is
        // full and is woken once half of it is answered, not on every answer.
        std::mutex mu;
        std::condition_variable cv;
        std::size_t outstanding = 0;
        bool sleeping = false;
        const std::size_t resume = window / 2;
        for (std::uint64_t n = next++; n <= commands; n = next++) {
          {
            std::unique_lock lock(mu);
            if (outstanding >= window) {
              sleeping = true;
              cv.wait(lock, [&] { return outstanding <= resume; });
              sleeping = false;
            }
            ++outstanding;
          }
          Submission s{Command{company, owner, CreateUser{person(n), false}},
                       "c" + std::to_string(n),
                       false,
                       "c" + std::to_string(n),
                       "",
                       nullptr,
                       true,
                       {}};
          p.submit(std::move(s), [&](CommandReply r) {
            if (!r.accepted()) failed = true;
            std::lock_guard lock(mu);
            --outstanding;
            if (sleeping && (outstanding <= resume || outstanding == 0)) cv.notify_one();
          });
        }
        std::unique_lock lock(mu);
        sleeping = true;
        cv.wait(lock, [&] { return outstanding == 0; });
      });
    for (auto& t : threads) t.join();
    f.portal = commands / sw.seconds();
    f.cores = (cpuSeconds() - cpuBefore) / sw.seconds();
    if (std::getenv("BENCH_THREADS") != nullptr) {
      // (The submitters have ended: their time is lost.)
      printUseByThread(threadsBefore, useByThread(), static_cast<double>(commands), "command");
    }
    if (failed) {
      std::fprintf(stderr, "bench_commands: a command was not accepted\n");
      std::exit(1);
    }
    const ProcessorStats after = p.stats();
    f.averageGroup = static_cast<double>(after.commands - before.commands) /
                     static_cast<double>(after.groups - before.groups);
    p.stop();
    captured = capturedWrites(*store);
  }
  // The baseline: the same keys and values, in batches of the average group size.
  {
    rocksdb::DB* db = nullptr;
    rocksdb::DBOptions o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> d = {
        {"default", {}}, {"events", {}}, {"streams", {}}, {"keys", {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> h;
    if (!rocksdb::DB::Open(o, dir.path() + "/raw", d, &h, &db).ok()) std::exit(1);
    const std::size_t perBatch = std::max<std::size_t>(1, static_cast<std::size_t>(f.averageGroup));
    std::map<std::string, rocksdb::ColumnFamilyHandle*> cf = {
        {"events", h[1]}, {"streams", h[2]}, {"keys", h[3]}};
    std::vector<rocksdb::WriteBatch> batches;
    std::size_t n = 0;
    for (const auto& w : captured) {
      if (w.family == "events" && n++ % perBatch == 0) batches.emplace_back();
      batches.back().Put(cf[w.family], w.key, w.value);
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    Stopwatch sw;
    for (auto& b : batches)
      if (!db->Write(wo, &b).ok()) std::exit(1);
    f.raw = n / sw.seconds();
    for (auto* x : h) db->DestroyColumnFamilyHandle(x);
    delete db;
  }
  return f;
}

void benchRebuild(std::uint64_t events) {
  ScratchDir dir("rebuild");
  auto store = openBenchStore(dir.path(), false);
  std::printf("(building a log of %llu events for the rebuild benchmark)\n",
              static_cast<unsigned long long>(events));
  buildLog(*store, events);
  auto projector = Projector::open(*store, allProjections());
  if (!projector) std::exit(1);
  double plain = 0;
  {
    Stopwatch sw;
    std::uint64_t n = 0;
    if (!store->scan(1, ~0ull, [&](const RawEvent&) { return ++n, true; })) std::exit(1);
    plain = n / sw.seconds();
  }
  Stopwatch sw;
  auto r = (*projector)->rebuild("all", nullptr);
  if (!r) {
    std::fprintf(stderr, "bench_commands: rebuild failed: %s\n", r.error().message.c_str());
    std::exit(1);
  }
  const double rebuild = events / sw.seconds();
  printRatio("rebuild all projections", rebuild, plain, "events/s", 0.0);
  printFigure("rebuild, absolute", rebuild, "events/s", 300'000);
}

}  // namespace
}  // namespace portal::bench

int main(int argc, char** argv) {
  using namespace portal::bench;
  std::uint64_t commands = 200'000, rebuildEvents = 1'000'000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      commands = 5'000;
      rebuildEvents = 20'000;
    } else if (std::strcmp(argv[i], "--commands") == 0 && i + 1 < argc) {
      commands = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--submitters") == 0 && i + 1 < argc) {
      gSubmitters = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--window") == 0 && i + 1 < argc) {
      gWindow = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--rebuild-events") == 0 && i + 1 < argc) {
      rebuildEvents = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr,
                   "usage: bench_commands [--quick] [--commands N] [--submitters N] [--window N] "
                   "[--rebuild-events N]\n");
      return 2;
    }
  }
  std::printf("bench_commands: create-user commands through the processor, projection rebuild\n");
  for (std::size_t window : {gWindow, std::size_t{1}}) {
    const CommandFigures f = benchCreateUsers(window == 1 ? commands / 4 : commands, window);
    char what[64];
    std::snprintf(what, sizeof what, "create-user, %d x %zu in flight", gSubmitters, window);
    std::printf("(%d submitters with up to %zu commands in flight each: %.0f commands per fsync, "
                "%.2f cores busy)\n",
                gSubmitters, window, f.averageGroup, f.cores);
    printRatio(what, f.portal, f.raw, "cmds/s", 0.5);
    if (window > 1) printFigure("create-user, absolute", f.portal, "cmds/s", 100'000);
  }
  benchRebuild(rebuildEvents);
  return 0;
}
