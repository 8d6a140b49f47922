#include "events/log.h"

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "events/timestamp.h"

namespace portal {
namespace {

class Log {
 public:
  Log() {
    std::thread([this] { run(); }).detach();
    // What waits at exit is written (a return from main, std::exit).
    std::atexit([] { flushLog(); });
  }

  void add(std::string_view line) {
    const auto now = std::chrono::system_clock::now();
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    // Milliseconds are enough to place a line; the event log has the microseconds.
    std::string stamped = formatRfc3339(Timestamp{micros - micros % 1000});
    if (stamped.size() > 8 && stamped.ends_with("000Z"))
      stamped.replace(stamped.size() - 4, 4, "Z");
    stamped += ' ';
    stamped += line;
    stamped += '\n';
    std::lock_guard lock(mu_);
    if (waiting_.size() >= kMaxWaitingLines) {
      ++dropped_;
      ++droppedUnsaid_;
      return;
    }
    waiting_.push_back(std::move(stamped));
    ++queued_;
    wake_.notify_one();
  }

  std::uint64_t dropped() {
    std::lock_guard lock(mu_);
    return dropped_;
  }

  bool flush(int timeoutMs) {
    std::unique_lock lock(mu_);
    const std::uint64_t target = queued_;
    return written_.wait_for(lock, std::chrono::milliseconds(timeoutMs),
                             [&] { return done_ >= target; });
  }

 private:
  void run() {
    pthread_setname_np(pthread_self(), "log");
    std::unique_lock lock(mu_);
    while (true) {
      wake_.wait(lock, [&] { return !waiting_.empty(); });
      std::deque<std::string> batch;
      batch.swap(waiting_);
      const std::uint64_t unsaid = std::exchange(droppedUnsaid_, 0);
      lock.unlock();
      std::string out;
      if (unsaid > 0)
        out = "log: " + std::to_string(unsaid) +
              " line(s) dropped before this one: stderr was not read fast enough\n";
      for (const std::string& l : batch) out += l;
      writeAll(out);
      lock.lock();
      done_ += batch.size();
      written_.notify_all();
    }
  }

  static void writeAll(std::string_view out) {
    while (!out.empty()) {
      const ssize_t n = ::write(STDERR_FILENO, out.data(), out.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // stderr is gone: the lines are lost, not the process
      out.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  std::mutex mu_;
  std::condition_variable wake_, written_;
  std::deque<std::string> waiting_;
  std::uint64_t queued_ = 0, done_ = 0, dropped_ = 0, droppedUnsaid_ = 0;
};

// Never destroyed: threads that outlive main's return may still log.
Log& theLog() {
  static Log* log = new Log();
  return *log;
}

}  // namespace

void logLine(std::string_view line) { theLog().add(line); }

std::uint64_t logLinesDropped() { return theLog().dropped(); }

bool flushLog(int timeoutMs) { return theLog().flush(timeoutMs); }

}  // namespace portal
