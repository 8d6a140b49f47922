#include "src/app/system.h"

#include <fcntl.h>
#include <pwd.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace portal {

void keepFilesPrivate() { ::umask(077); }

std::optional<std::string> foreignPortalOwner(const std::string& dir) {
  struct stat st {};
  if (::geteuid() != 0 ||
      (::stat((dir + "/CURRENT").c_str(), &st) != 0 && ::stat(dir.c_str(), &st) != 0) ||
      st.st_uid == 0)
    return std::nullopt;
  const passwd* owner = ::getpwuid(st.st_uid);
  return owner != nullptr ? std::string(owner->pw_name) : std::to_string(st.st_uid);
}

void holdStandardStreams(bool outputMustBeSeen) {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    const int flags = fd == 0 || (fd == 1 && outputMustBeSeen) ? O_RDONLY : O_WRONLY;
    // open() takes the lowest free number: this one (the lower ones are open by now).
    const int opened = ::open("/dev/null", flags);
    if (opened != fd && opened >= 0) ::close(opened);
  }
}

Timestamp SystemClock::now() {
  return Timestamp{std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count()};
}

std::string RandomIds::newId() {
  // RFC 9562 version 7: 48 bits of Unix milliseconds, then a 12-bit counter that
  // orders ids made within one millisecond, then 62 random bits. Time-ordered ids
  // keep the keys RocksDB inserts for new streams, people and rows close together.
  std::uint8_t b[16];
  {
    std::lock_guard lock(mu_);
    std::uint64_t ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count());
    if (ms <= lastMs_) {
      if (++counter_ > 0xfff) {  // 4,096 ids in one millisecond: borrow the next one
        counter_ = 0;
        ++lastMs_;
      }
      ms = lastMs_;
    } else {
      lastMs_ = ms;
      counter_ = 0;
    }
    if (used_ + 8 > pool_.size()) {
      if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
      randombytes_buf(pool_.data(), pool_.size());
      used_ = 0;
    }
    for (int i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
    b[6] = static_cast<std::uint8_t>(0x70 | (counter_ >> 8));  // version 7
    b[7] = static_cast<std::uint8_t>(counter_ & 0xff);
    std::memcpy(b + 8, pool_.data() + used_, 8);
    used_ += 8;
  }
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 9562 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) id.push_back('-');
    id.push_back(kHex[b[i] >> 4]);
    id.push_back(kHex[b[i] & 0xf]);
  }
  return id;
}

std::string unknownFlag(const std::string& argument, const std::string& more) {
  std::string said = "unknown flag '" + argument + "'" + more;
  if (const std::size_t eq = argument.find('=');
      argument.starts_with("--") && eq != std::string::npos && eq > 2)
    said += " (write " + argument.substr(0, eq) + " " + argument.substr(eq + 1) +
            ": a flag and its value are two arguments)";
  return said;
}

std::optional<std::string> flagValueProblem(int argc, char** argv, int i, bool emptyAllowed) {
  const std::string flag = argv[i];
  if (i + 1 >= argc) return flag + " needs a value";
  const std::string_view value = argv[i + 1];
  if (value.empty() && !emptyAllowed) return flag + " needs a value (it is empty)";
  // What the programs' flags look like (`--data`, `--owner-given-name`); a name or
  // title that starts with dashes otherwise is taken.
  const bool flagLike = value.size() > 2 && value.starts_with("--") &&
                        std::all_of(value.begin() + 2, value.end(),
                                    [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; });
  if (flagLike || value == "--")
    return flag + " needs a value: '" + std::string(value) + "' after it is a flag";
  return std::nullopt;
}

}  // namespace portal
