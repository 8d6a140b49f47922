#include "src/store/wal_file_system.h"

#include <rocksdb/file_system.h>
#include <rocksdb/io_status.h>

#include <cctype>
#include <string_view>
#include <utility>

namespace portal {

rocksdb::Status WalFailure::status() const {
  if (!failed()) return rocksdb::Status::OK();
  std::lock_guard lock(mu_);
  return first_;
}

void WalFailure::record(const rocksdb::Status& status) {
  std::lock_guard lock(mu_);
  if (failed_.load(std::memory_order_relaxed)) return;
  first_ = status;
  failed_.store(true, std::memory_order_release);
}

namespace {

class WalFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  WalFile(std::unique_ptr<rocksdb::FSWritableFile> file, std::shared_ptr<WalFailure> failure)
      : FSWritableFileOwnerWrapper(std::move(file)), failure_(std::move(failure)) {}

  using IOStatus = rocksdb::IOStatus;
  using IOOptions = rocksdb::IOOptions;
  using Debug = rocksdb::IODebugContext;

  IOStatus Append(const rocksdb::Slice& data, const IOOptions& o, Debug* d) override {
    return kept([&] { return target()->Append(data, o, d); });
  }
  IOStatus Append(const rocksdb::Slice& data, const IOOptions& o,
                  const rocksdb::DataVerificationInfo& v, Debug* d) override {
    return kept([&] { return target()->Append(data, o, v, d); });
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset, const IOOptions& o,
                            Debug* d) override {
    return kept([&] { return target()->PositionedAppend(data, offset, o, d); });
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset, const IOOptions& o,
                            const rocksdb::DataVerificationInfo& v, Debug* d) override {
    return kept([&] { return target()->PositionedAppend(data, offset, o, v, d); });
  }
  IOStatus Truncate(uint64_t size, const IOOptions& o, Debug* d) override {
    return kept([&] { return target()->Truncate(size, o, d); });
  }
  IOStatus Flush(const IOOptions& o, Debug* d) override {
    return kept([&] { return target()->Flush(o, d); });
  }
  IOStatus Sync(const IOOptions& o, Debug* d) override {
    return kept([&] { return target()->Sync(o, d); });
  }
  IOStatus Fsync(const IOOptions& o, Debug* d) override {
    return kept([&] { return target()->Fsync(o, d); });
  }
  IOStatus RangeSync(uint64_t offset, uint64_t bytes, const IOOptions& o, Debug* d) override {
    return kept([&] { return target()->RangeSync(offset, bytes, o, d); });
  }
  // Closed whatever came before (its descriptor goes), the failure kept as any other.
  IOStatus Close(const IOOptions& o, Debug* d) override {
    IOStatus s = target()->Close(o, d);
    if (!s.ok()) failure_->record(s);
    return IOStatus::OK();
  }

 private:
  template <typename Op>
  IOStatus kept(Op op) {
    if (failure_->failed()) return IOStatus::OK();  // nothing after a failure: no hole
    IOStatus s = op();
    if (!s.ok()) failure_->record(s);
    return IOStatus::OK();
  }
  std::shared_ptr<WalFailure> failure_;
};

class WalFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  WalFileSystem(std::shared_ptr<rocksdb::FileSystem> base, std::string dir,
                std::shared_ptr<WalFailure> failure)
      : FileSystemWrapper(std::move(base)), dir_(std::move(dir)), failure_(std::move(failure)) {
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  }
  const char* Name() const override { return "PortalWalFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* debug) override {
    if (failure_->failed()) return refusal();
    return kept(name, file, target()->NewWritableFile(name, options, file, debug));
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& name, const std::string& old,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* file,
                                      rocksdb::IODebugContext* debug) override {
    if (failure_->failed()) return refusal();
    return kept(name, file, target()->ReuseWritableFile(name, old, options, file, debug));
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* file,
                                       rocksdb::IODebugContext* debug) override {
    if (failure_->failed()) return refusal();
    return kept(name, file, target()->ReopenWritableFile(name, options, file, debug));
  }

 private:
  rocksdb::IOStatus kept(const std::string& name, std::unique_ptr<rocksdb::FSWritableFile>* file,
                         rocksdb::IOStatus made) {
    if (made.ok() && isWal(name)) *file = std::make_unique<WalFile>(std::move(*file), failure_);
    return made;
  }
  // A WAL that lost writes holds less than the memtables: a flush after it (its
  // table file, or the new WAL of a memtable switch) is refused, as RocksDB would
  // have stopped its background work had it seen the failure, so that no column
  // family's table files move past what the others replay from the WAL.
  rocksdb::IOStatus refusal() const {
    return rocksdb::IOStatus::IOError(
        "no file is made once a write of the write-ahead log failed (" +
        failure_->status().ToString() + ")");
  }
  // One of the data directory's WAL files: DIR/NNNNNN.log (RocksDB's own name).
  bool isWal(std::string_view name) const {
    if (name.size() <= dir_.size() + 1 || name.substr(0, dir_.size()) != dir_ ||
        name[dir_.size()] != '/')
      return false;
    std::string_view base = name.substr(dir_.size() + 1);
    while (!base.empty() && base.front() == '/') base.remove_prefix(1);
    constexpr std::string_view kSuffix = ".log";
    if (base.size() <= kSuffix.size() || base.substr(base.size() - kSuffix.size()) != kSuffix)
      return false;
    for (char c : base.substr(0, base.size() - kSuffix.size()))
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return true;
  }
  std::string dir_;
  std::shared_ptr<WalFailure> failure_;
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> walFailuresKept(std::shared_ptr<rocksdb::FileSystem> base,
                                                     const std::string& dbPath,
                                                     std::shared_ptr<WalFailure> failure) {
  return std::make_shared<WalFileSystem>(std::move(base), dbPath, std::move(failure));
}

}  // namespace portal
