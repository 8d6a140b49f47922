#include "events/log.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "events/text.h"
#include "events/timestamp.h"

namespace portal {
namespace {

class Log {
 public:
  Log() {
    try {
      std::thread([this] { run(); }).detach();
      threaded_ = true;
    } catch (const std::system_error&) {
      // No thread to be had (a process at its limit): lines are written as they come.
    }
    // What waits at exit is written (a return from main, std::exit).
    std::atexit([] { flushLog(); });
  }

  void add(std::string_view line) {
    const auto now = std::chrono::system_clock::now();
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    std::string stamped = stamp(micros);
    stamped.reserve(stamped.size() + line.size() + 1);
    // One line each, and nothing a terminal runs: a control character (C0, DEL,
    // C1: a line break, an escape sequence a client put in a name the line repeats)
    // and a byte that is not UTF-8 (a lone 0x9b is CSI to an 8-bit terminal) are
    // written as \xHH (an end-to-end review: the operator's log line repeated a
    // command's error with its escape bytes; a review of that). A backslash stays:
    // the access log writes its own escapes (\x5c for one a client sent).
    static constexpr char kHex[] = "0123456789abcdef";
    auto escape = [&stamped](unsigned char u) {
      stamped += "\\x";
      stamped += kHex[u >> 4];
      stamped += kHex[u & 15];
    };
    for (std::size_t i = 0; i < line.size();) {
      const auto u = static_cast<unsigned char>(line[i]);
      if (u < 0x80) {
        if (u >= 0x20 && u != 0x7f)
          stamped += line[i];
        else
          escape(u);
        ++i;
        continue;
      }
      char32_t c = 0;
      const std::size_t n = decodeUtf8(line.substr(i), c);
      const std::size_t taken = std::max<std::size_t>(n, 1);  // a byte not UTF-8 alone
      if (n == 0 || (c >= 0x80 && c <= 0x9f))
        for (std::size_t k = i; k < i + taken; ++k) escape(static_cast<unsigned char>(line[k]));
      else
        stamped.append(line, i, n);
      i += taken;
    }
    stamped += '\n';
    if (!threaded_) return writeAll(stamped);
    std::lock_guard lock(mu_);
    if (waiting_.size() >= kMaxWaitingLines) {
      ++dropped_;
      ++droppedUnsaid_;
      return;
    }
    // The lines dropped are said where they are missing, stamped as every line is.
    if (droppedUnsaid_ > 0) {
      waiting_.push_back(stamp(micros) +
                         "log: " + std::to_string(std::exchange(droppedUnsaid_, 0)) +
                         " line(s) dropped before this one: stderr was not read fast enough\n");
      ++queued_;
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
    if (!threaded_) return true;
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
      lock.unlock();
      std::string out;
      for (const std::string& l : batch) out += l;
      writeAll(out);
      lock.lock();
      done_ += batch.size();
      written_.notify_all();
    }
  }

  // What a line begins with: the time, RFC 3339, UTC, to the millisecond (the event
  // log has the microseconds).
  static std::string stamp(std::int64_t micros) {
    std::string t = formatRfc3339(Timestamp{micros - micros % 1000});
    if (t.ends_with("000Z")) t.replace(t.size() - 4, 4, "Z");
    return t + ' ';
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
  bool threaded_ = false;  // set before any other thread can see the object
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
