#pragma once
// Small helpers for the benchmarks: timing, temporary directories and the figure
// lines every benchmark prints ("what, ours, baseline, ratio, target").

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "src/store/event_store.h"

namespace portal::bench {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    path_ = (std::filesystem::temp_directory_path() /
             ("portal-bench-" + name + "-" + std::to_string(::getpid())))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  // PORTAL_BENCH_KEEP=1 keeps the directory (to profile a tool on it afterwards).
  ~ScratchDir() {
    if (const char* keep = std::getenv("PORTAL_BENCH_KEEP"); keep != nullptr && *keep == '1') {
      std::fprintf(stderr, "(kept %s)\n", path_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// CPU seconds and page faults (minor and major) of this process's threads, by
// thread name (threads of one name summed), from /proc/self/task: threads alive
// when it is read, so a thread that ended between two readings is not counted.
struct ThreadUse {
  double seconds = 0, faults = 0;
};
inline std::map<std::string, ThreadUse> useByThread() {
  std::map<std::string, ThreadUse> out;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream stat(task.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    const std::string name = line.substr(open + 1, close - open - 1);
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0, faults = 0;
    for (int i = 3; rest >> field; ++i) {                  // proc(5): field 3 is the state
      if (i == 10 || i == 12) faults += std::stod(field);  // minflt, majflt
      if (i == 14) utime = std::stod(field);
      if (i == 15) {
        stime = std::stod(field);
        break;
      }
    }
    out[name].seconds += (utime + stime) / tick;
    out[name].faults += faults;
  }
  return out;
}

// Prints each thread's CPU time per unit of work (`units` of `unit`) and its page
// faults between two readings of useByThread(); threads that did nothing are left out.
inline void printUseByThread(const std::map<std::string, ThreadUse>& before,
                             const std::map<std::string, ThreadUse>& after, double units,
                             const char* unit) {
  for (const auto& [name, use] : after) {
    const auto was = before.find(name);
    const ThreadUse b = was == before.end() ? ThreadUse{} : was->second;
    const double seconds = use.seconds - b.seconds, faults = use.faults - b.faults;
    if (seconds <= 0 && faults <= 0) continue;
    std::printf("  %-16s %6.1f us/%s  %8.0f page faults\n", name.c_str(), seconds / units * 1e6,
                unit, faults);
  }
}

// A writable store in `path`; exits with the reason when it cannot be opened.
inline std::unique_ptr<EventStore> openBenchStore(const std::string& path, bool sync = true) {
  StoreOptions o;
  o.path = path;
  o.createIfMissing = true;
  o.sync = sync;
  auto s = EventStore::open(o);
  if (!s) {
    std::fprintf(stderr, "benchmark: %s\n", s.error().message.c_str());
    std::exit(1);
  }
  return std::move(*s);
}

// One line of figures: ours beside the baseline measured in the same run. The ratio
// has three decimals so that one just under its target (0.498) does not read as met.
inline void printRatio(const char* what, double ours, double baseline, const char* unit,
                       double target) {
  const double ratio = baseline > 0 ? ours / baseline : 0;
  std::printf("%-34s %12.0f %-9s baseline %12.0f %-9s ratio %6.3f  target >= %.2f  %s\n", what,
              ours, unit, baseline, unit, ratio, target, ratio >= target ? "ok" : "MISSED");
}

inline void printFigure(const char* what, double value, const char* unit, double target) {
  std::printf("%-34s %12.0f %-9s target >= %.0f  %s\n", what, value, unit, target,
              value >= target ? "ok" : "MISSED");
}

}  // namespace portal::bench
