// EmlDirectoryTransport (transport.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "src/mail/transport.h"

#include "events/text.h"

namespace portal {
namespace {

namespace fs = std::filesystem;

Error ioError(const std::string& what, int err) {
  return makeError(ErrorCode::kIoError, what + ": " + std::strerror(err));
}

// A stem is one file name of plain characters: nothing that leaves the directory
// or hides the file.
bool plainStem(const std::string& stem) {
  if (stem.empty() || stem.size() > 200 || stem.front() == '.') return false;
  for (char c : stem) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Result<void> writeAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ioError("cannot write " + path, errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

constexpr std::string_view kCompanyHeader = "X-Portal-Company: ";

// Whom the .eml file at `path` is to: its company header's id (empty in files from
// before it) and the address of its To: header ("Name <address>", perhaps folded
// over lines), lower-cased.
struct Addressee {
  std::string companyId, address;
};
Addressee addresseeOf(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line, to;
  Addressee a;
  bool inTo = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;  // the end of the header
    if (inTo && (line.front() == ' ' || line.front() == '\t')) {
      to += line;
      continue;
    }
    inTo = line.size() > 3 && asciiLower(line.substr(0, 3)) == "to:";
    if (inTo) to = line.substr(3);
    if (line.starts_with(kCompanyHeader)) a.companyId = line.substr(kCompanyHeader.size());
  }
  const auto open = to.rfind('<');
  const auto close = to.rfind('>');
  if (open != std::string::npos && close != std::string::npos && close > open)
    to = to.substr(open + 1, close - open - 1);
  a.address = emailKey(to);
  return a;
}

// A file deliver() was writing when the process ended: ".<stem>.eml.XXXXXX".
bool isHalfWritten(const fs::path& path) {
  const std::string name = path.filename().string();
  const auto dot = name.rfind(".eml.");
  return name.front() == '.' && dot != std::string::npos && name.size() == dot + 5 + 6;
}

// Removes what deliver() left half-written when the process ended (its outbox record
// is still there: the mail is written again); such a file may name a person who is
// anonymized since.
void removeHalfWritten(const std::string& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (isHalfWritten(it->path())) fs::remove(it->path(), ec);
}

// Makes the names in `dir` durable: files renamed into it, or removed from it.
Result<void> syncDirectory(const std::string& dir) {
  int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd < 0) return ioError("cannot open " + dir, errno);
  int rc = ::fsync(dirFd);
  int err = errno;
  ::close(dirFd);
  if (rc != 0) return ioError("cannot fsync " + dir, err);
  return {};
}

}  // namespace

Result<void> EmlDirectoryTransport::forgetRecipient(const std::string& companyId,
                                                    const std::string& address) {
  const std::string key = emailKey(address);
  if (key.empty()) return {};
  // Nothing is being written now (the Mailer does not deliver meanwhile): a
  // half-written file is one a crash left, whoever it is to.
  removeHalfWritten(dir_);
  std::error_code ec;
  fs::directory_iterator it(dir_, ec);
  if (ec == std::errc::no_such_file_or_directory) return {};
  bool removed = false;
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    if (path.extension() != ".eml" || path.filename().string().front() == '.') continue;
    const Addressee to = addresseeOf(path);
    if (to.address != key || (!to.companyId.empty() && to.companyId != companyId)) continue;
    if (!fs::remove(path, ec) && ec) break;
    removed = true;
  }
  if (ec) return makeError(ErrorCode::kIoError, "cannot remove mails from " + dir_ + ": " + ec.message());
  // Durable before the anonymization is: a power cut after it must not bring a
  // removed file (a person's name and address) back.
  if (removed) return syncDirectory(dir_);
  return {};
}

EmlDirectoryTransport::EmlDirectoryTransport(std::string dir) : dir_(std::move(dir)) {
  removeHalfWritten(dir_);
}

Result<void> EmlDirectoryTransport::deliver(const Message& message, const std::string& fileStem) {
  if (!plainStem(fileStem))
    return makeError(ErrorCode::kInvalidArgument, "not a plain file name: " + fileStem);
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    if (errno != ENOENT) return ioError("cannot create " + dir_, errno);
    std::error_code ec;
    fs::create_directories(fs::path(dir_).parent_path(), ec);
    if (ec) return makeError(ErrorCode::kIoError, "cannot create " + dir_ + ": " + ec.message());
    if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
      return ioError("cannot create " + dir_, errno);
  }

  const std::string finalPath = dir_ + "/" + fileStem + ".eml";
  // A dot name, so that whoever picks *.eml files up never sees a half-written one.
  std::string tmpPath = dir_ + "/." + fileStem + ".eml.XXXXXX";
  int fd = ::mkostemp(tmpPath.data(), O_CLOEXEC);  // mode 0600
  if (fd < 0) return ioError("cannot create a file in " + dir_, errno);
  auto fail = [&](Error e) {
    ::close(fd);
    ::unlink(tmpPath.c_str());
    return e;
  };
  std::string text = toRfc5322(message, dateOf(message));
  // The last header field (an id: nothing in it could end the line).
  if (const auto end = text.find("\r\n\r\n"); end != std::string::npos && plainStem(message.companyId))
    text.insert(end, "\r\n" + std::string(kCompanyHeader) + message.companyId);
  if (auto w = writeAll(fd, text, tmpPath); !w) return fail(w.error());
  if (::fsync(fd) != 0) return fail(ioError("cannot fsync " + tmpPath, errno));
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmpPath.c_str());
    return ioError("cannot close " + tmpPath, err);
  }
  if (::rename(tmpPath.c_str(), finalPath.c_str()) != 0) {
    int err = errno;
    ::unlink(tmpPath.c_str());
    return ioError("cannot rename to " + finalPath, err);
  }
  // The rename is durable once the directory is.
  return syncDirectory(dir_);
}

}  // namespace portal
