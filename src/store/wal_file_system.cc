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
    if (failure_->failed() && ownFile(name, ".sst")) return refusal();
    return kept(name, file, target()->NewWritableFile(name, options, file, debug));
  }
  // (WAL files are recycled only with recycle_log_file_num, which the store's
  // recovery mode rules out; wrapped all the same.)
  rocksdb::IOStatus ReuseWritableFile(const std::string& name, const std::string& old,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* file,
                                      rocksdb::IODebugContext* debug) override {
    return kept(name, file, target()->ReuseWritableFile(name, old, options, file, debug));
  }

 private:
  rocksdb::IOStatus kept(const std::string& name, std::unique_ptr<rocksdb::FSWritableFile>* file,
                         rocksdb::IOStatus made) {
    if (made.ok() && ownFile(name, ".log"))
      *file = std::make_unique<WalFile>(std::move(*file), failure_);
    return made;
  }
  // A WAL that lost writes holds less than the memtables: a flush or compaction
  // after it is refused its table file, as RocksDB would have stopped its background
  // work had it seen the failure, so that no column family's table files move past
  // what the others replay from the WAL. (Only table files: a refused new WAL or
  // MANIFEST leads RocksDB 7.8 into paths that end on its assertions, a review
  // found: a memtable switched twice, a recovery after a refused family change.)
  rocksdb::IOStatus refusal() const {
    return rocksdb::IOStatus::IOError(
        "no table file is made once a write of the write-ahead log failed (" +
        failure_->status().ToString() + ")");
  }
  // DIR/NNNNNN<suffix>, RocksDB's name for one of its numbered files in the data
  // directory: ".log" a WAL file, ".sst" a table file.
  bool ownFile(std::string_view name, std::string_view suffix) const {
    if (name.size() <= dir_.size() + 1 || name.substr(0, dir_.size()) != dir_ ||
        name[dir_.size()] != '/')
      return false;
    std::string_view base = name.substr(dir_.size() + 1);
    while (!base.empty() && base.front() == '/') base.remove_prefix(1);
    if (base.size() <= suffix.size() || base.substr(base.size() - suffix.size()) != suffix)
      return false;
    for (char c : base.substr(0, base.size() - suffix.size()))
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
