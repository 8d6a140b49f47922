#pragma once
// Errors cross module boundaries as values: a stable machine-readable code and a
// message for people. Result<T> holds either a T or an Error.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace portal {

enum class ErrorCode {
  kInvalidArgument,    // the caller passed something malformed
  kNotFound,           // the thing asked for does not exist
  kVersionConflict,    // a stream's expected version did not match
  kCorrupt,            // stored bytes are not what this program wrote
  kUnknownEventType,   // a stored event names a type this build does not know
  kUnsupportedSchema,  // a stored event has a schema newer than this build
  kIoError,            // the disk or RocksDB failed
  kBusy,               // another process holds the data directory
  kNotPortalData,      // the directory holds no portal data
  kReadOnly,           // a write was attempted on a read-only store
  kCrypto,             // sealing or opening personal data failed
  kUnavailable,        // a service relied on (a mail relay) takes nothing now, whatever is sent
};

const char* errorCodeName(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;
};

// Result<T>: either a value or an Error. Result<void> holds only the error, if any.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT(implicit)
  Result(Error error) : v_(std::move(error)) {}        // NOLINT(implicit)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(implicit)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_{ErrorCode::kInvalidArgument, {}};
  bool ok_ = true;
};

inline Error makeError(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace portal
