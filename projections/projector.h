#pragma once
// The projector: follows the log and keeps every projection up to date, each at its
// own checkpoint. A projection that cannot apply an event stops there and reports
// why (status()), while the others go on. Callers wait for a position to be
// projected by all healthy projections (read-your-writes).
//
// Threads: start() runs a follower thread woken by notify() (the server calls it
// when the log grows). Reads of projection rows (handle(), status(), waitFor()) are
// safe from any thread. rebuild() may run on any thread beside the follower: it
// fills a new generation of the projection's column families and switches to it
// once caught up, without stopping reads.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "projections/projection.h"
#include "src/store/event_store.h"

namespace rocksdb {
class ColumnFamilyHandle;
}

namespace portal {

struct ProjectionStatus {
  std::string name;
  std::uint64_t checkpoint = 0;  // last position applied
  std::uint64_t generation = 0;
  bool failed = false;
  std::string error;  // why it stopped, with the position
};

struct RebuildProgress {
  std::uint64_t done = 0;   // events read
  std::uint64_t total = 0;  // events in the log when the rebuild started
  double eventsPerSecond = 0;
};

class Projector {
 public:
  // Opens (creating if needed) the current generation of each projection's column
  // families. `store` must be the writer's and must outlive the projector.
  static Result<std::unique_ptr<Projector>> open(EventStore& store,
                                                 std::vector<std::unique_ptr<Projection>> projections);
  ~Projector();  // shutDown()s
  Projector(const Projector&) = delete;
  Projector& operator=(const Projector&) = delete;

  // Applies every event after each projection's checkpoint up to the log's head.
  // `sayBuilt`: a view built from the whole log (new to the data directory) is said
  // on stderr, before and after (a program's start).
  Result<void> catchUp(bool sayBuilt = false);

  // Starts the follower thread; notify() wakes it when the log has grown.
  void start();
  // Stops the follower and answers every whenReached callback still waiting with
  // false (one asked for later is answered so at once). For an owner whose callbacks
  // go to things it destroys before the projector; the destructor does it otherwise.
  void shutDown();
  void notify();

  // Waits until every healthy projection has applied `position`, or the timeout.
  bool waitFor(std::uint64_t position, std::chrono::milliseconds timeout);
  // Calls fn(true) once every projection that has not stopped reached `position`
  // (at once when they have), or fn(false) when none can (all stopped, or the
  // projector ends) or `timeout` passed first. fn runs on the projector's thread or
  // the caller's: keep it short.
  void whenReached(std::uint64_t position, std::chrono::milliseconds timeout,
                   std::function<void(bool reached)> fn);

  // Called (on the projector's thread, or a rebuild's at its switch) when the
  // follower could not write a projection's rows to the database (a full disk), or a
  // rebuild its switch (which may be on disk all the same): the views stop where they are,
  // so an owner stops too, as for a failed write of the log (portal-server does:
  // fail-stop, and a restart carries the views on from their checkpoints).
  void onWriteFailure(std::function<void(const std::string& why)> fn) {
    std::lock_guard lock(writeFailureMu_);
    onWriteFailure_ = std::move(fn);
  }

  std::vector<ProjectionStatus> status() const;
  // Whether the projection of that full name stopped at an event: it shows its rows
  // as they were then, and position() and the waits pass it over.
  bool stopped(std::string_view name) const;
  // The lowest checkpoint of the healthy projections.
  std::uint64_t position() const;

  // The column family of a projection's family, current generation; nullptr if
  // unknown. Call it while holding a Reading, and use the handle only while that
  // Reading lives: a rebuild's switch drops the old generation.
  rocksdb::ColumnFamilyHandle* handle(std::string_view projection, int family) const;

  // Keeps the current generations alive (no switch completes while one is held).
  // While a switch has waited long for a moment without readers, a new one waits
  // for it first, a short while at most (admitReader()).
  class Reading {
   public:
    explicit Reading(const Projector& p) : lock_(p.admitReader()) {}

   private:
    std::shared_lock<std::shared_mutex> lock_;
  };

  // Rebuilds one projection (or all, with "all") from the whole log into a new
  // generation, then switches to it; `progress` is called now and then. Stops
  // early, leaving the old generation serving, when `cancel` becomes true.
  Result<void> rebuild(const std::string& name, const std::function<void(const RebuildProgress&)>& progress,
                       const std::atomic<bool>* cancel = nullptr);

  // The memory a rebuild may hold its rows in before it writes them out (all
  // projections together); 512 MiB unless set. Tests set it small.
  void setRebuildMemory(std::size_t bytes) { rebuildMemory_ = bytes; }

  // Every row of a projection's current generation, family by family (tests and
  // tools compare builds with it).
  std::vector<std::vector<std::pair<std::string, std::string>>> dump(std::string_view name) const;

 private:
  static Result<void> dropSupersededVersions(EventStore& store, const std::string& name);
  struct Slot;
  explicit Projector(EventStore& store);
  // `stoppedToo`: the slots are applied though stopped (the events before the one a
  // projection refused; it stays stopped throughout, to every reader).
  Result<void> applyRange(std::vector<Slot*> slots, std::uint64_t upTo, bool followerSlots,
                          const std::function<void(std::uint64_t)>& onProgress,
                          const std::atomic<bool>* cancel, bool stoppedToo = false);
  // Fills fresh generations from the log up to `upTo` through GenerationBuilders:
  // the log is read and decoded once, and the projections are shared between this
  // thread and one more.
  Result<void> fill(const std::vector<Slot*>& slots, std::uint64_t upTo,
                    const std::function<void(std::uint64_t)>& onProgress,
                    const std::atomic<bool>* cancel);
  // Marks a projection stopped, with why (status() reports it).
  void stop(Slot* s, std::string why);
  std::mutex writeFailureMu_;
  std::function<void(const std::string&)> onWriteFailure_;
  // Decodes an event (or takes `ahead`'s decoding of it, when there is one); one
  // that does not decode stops every projection of `slots` (nobody can apply it).
  Result<RecordedEvent> decodeOrStop(const std::vector<Slot*>& slots, const RawEvent& raw,
                                     std::optional<Result<RecordedEvent>>* ahead);
  Slot* find(std::string_view name) const;
  void follow();

  EventStore& store_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::size_t rebuildMemory_ = std::size_t{512} << 20;
  mutable std::shared_mutex switchMu_;  // generation switches take it exclusively
  // The readers' gate. Readers that come and go all the time, however short, can
  // hold the generation without a moment free (std::shared_mutex lets readers in
  // while a writer waits). So once a switch has tried for a while, new readers wait
  // at the gate until it is done, kGateWait at most (a thread holding a Reading
  // that takes another is only delayed), and the readers inside drain out. It is
  // closed for a tenth of the rounds only: a reader that stays long (an import's
  // check) makes it of no use, and readers on the network threads wait at it with
  // every connection of their thread (a review: with a gate closed throughout, of
  // 20 ms, requests took 670 ms for as long as an import's check lasted).
  static constexpr std::chrono::milliseconds kGateWait{5};
  std::shared_mutex& admitReader() const;
  void closeGate();
  void openGate();
  std::atomic<bool> gateClosed_{false};
  mutable std::mutex gateMu_;
  mutable std::condition_variable gateOpened_;
  std::mutex applyMu_;                  // one applier at a time per slot set
  std::mutex rebuildMu_;                // one rebuild at a time
  // A switch whose write failed: the disk may name either generation, so no other
  // rebuild may drop the fresh one before a restart settles it (under rebuildMu_).
  bool switchFailed_ = false;

  std::thread follower_;
  std::mutex wakeMu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::mutex shutDownMu_;  // held through shutDown(): a second caller waits for the first
  bool ended_ = false;     // under progressMu_: shutDown() answered the callbacks
  std::uint64_t notified_ = 0;
  mutable std::mutex progressMu_;
  // Callers of waitFor(), by the position they wait for: each is woken alone, once
  // the views reach it, rather than all at every commit (many server threads wait).
  std::multimap<std::uint64_t, std::condition_variable*> waiters_;  // under progressMu_
  struct Callback {
    std::function<void(bool)> fn;
    std::chrono::steady_clock::time_point deadline;
  };
  std::multimap<std::uint64_t, Callback> callbacks_;  // under progressMu_
  using Due = std::vector<std::pair<std::function<void(bool)>, bool>>;
  // Wakes the waiters whose position is reached and takes the callbacks that are
  // due, for the caller to run once it released progressMu_ (which it holds).
  Due wakeReached();
  bool allStopped() const;  // holds progressMu_
};

// The projections of the portal, current versions.
std::vector<std::unique_ptr<Projection>> allProjections();

// A projection's name as an operator may give it: its full name ("users_v1"), its
// name without the version ("users"), or "all". The full name (or "all"); nullopt
// when no projection has that name.
std::optional<std::string> projectionNamed(std::string_view name);
// The full names of allProjections(), comma-separated, for messages.
std::string projectionNameList();

// The serving generation of one projection in `store` as the last writer left it,
// read without a Projector: its column families (in the order of families()) and
// its checkpoint. Works on a read-only store beside a running server (after
// EventStore::refresh, it sees the generation switched to since). kNotFound when
// the projection has never been built there.
struct ServingProjection {
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  std::uint64_t checkpoint = 0;
};
Result<ServingProjection> servingProjection(const EventStore& store, const Projection& projection);

}  // namespace portal
