#pragma once
// The real clock and id source the server uses (tests pass fixed ones), and what
// every program sets up about the files it creates.

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "src/domain/context.h"

namespace portal {

// Called first in each program's main: what it creates (a data directory, database
// files, backups, scratch copies) is its owner's alone (umask 077), whatever umask
// it was started with, since the directory holds the key vault beside the data it
// opens.
void keepFilesPrivate();

// Called next: a standard stream the program was started without (`>&-`) is opened
// on /dev/null, so that no file the program opens takes its number and gets what
// is printed (a review found portal-replay's events, emails and all, written into
// its scratch lock file). With `outputMustBeSeen` standard output is opened
// read-only, so that printing to it fails as it would closed, and a tool says so
// with a non-zero exit; otherwise (the server's log lines) it is written away.
void holdStandardStreams(bool outputMustBeSeen);

// Run as root on a portal that is another user's (the service account a server runs
// as): that user's name, since what a program makes there (a new MANIFEST, table
// files, a new portal) would be root's, 0600, and the server as that user could then
// not start (a review). nullopt when not root, or the portal is root's or missing.
// Whose the portal is: its log's owner (CURRENT), or for a directory with no portal
// yet (a first install) the directory's.
std::optional<std::string> foreignPortalOwner(const std::string& dir);

// What is wrong with the value after the flag argv[i], for every program's flags;
// nullopt when it can be taken. Missing, empty (unless `emptyAllowed`), or another
// flag: `--data --quiet` has left the value out, and took `--quiet` for it (a review
// found a demo portal made in a directory named --quiet): a value that looks like a
// flag (`--` and lower-case letters and dashes, or `--` alone) is written otherwise
// (`./--quiet`).
std::optional<std::string> flagValueProblem(int argc, char** argv, int i,
                                            bool emptyAllowed = false);

// Every program's words for an argument it does not take: "unknown flag '--data=x'
// (write --data x: a flag and its value are two arguments)" for the `--flag=value`
// form other programs take (a review), "unknown flag '--dat'" otherwise; `more`
// (" for verify") follows the argument.
std::string unknownFlag(const std::string& argument, const std::string& more = "");

class SystemClock final : public Clock {
 public:
  Timestamp now() override;
};

// Time-ordered (version 7) UUIDs: milliseconds, a counter, and 62 bits from
// libsodium's CSPRNG (drawn 4 KiB at a time). Unique and increasing within the
// process. Thread-safe.
class RandomIds final : public IdSource {
 public:
  std::string newId() override;

 private:
  std::mutex mu_;
  std::array<std::uint8_t, 4096> pool_{};
  std::size_t used_ = sizeof(pool_);
  std::uint64_t lastMs_ = 0;
  std::uint32_t counter_ = 0;
};

// A clock a test or a tool sets by hand. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp t) : t_(t.micros) {}
  Timestamp now() override { return Timestamp{t_.load()}; }
  void set(Timestamp t) { t_.store(t.micros); }
  void advance(std::int64_t micros) { t_.fetch_add(micros); }

 private:
  std::atomic<std::int64_t> t_;
};

}  // namespace portal
