// Status: the outcome of an operation that can fail because of the world (bad input, missing
// files, I/O), as opposed to a bug. Errors cross module boundaries as Status or Result<T>
// (common/result.h), never as exceptions.
//
// Success is a null pointer, so returning and checking an OK Status costs one word. An error
// carries a code and a message that says what was wrong and where, e.g.
//   Status::Corruption("gguf: tensor 'blk.3.ffn_up.weight' extends past end of file (offset 123)")
//
// Thread safety: a Status is a value; distinct objects may be used from distinct threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace engram {

enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument,     // the caller passed something malformed (flag, text, file content)
  kNotFound,            // a named file, key, model or collection does not exist
  kAlreadyExists,       // creating something that is already there
  kCorruption,          // persisted data is damaged or not in the expected format
  kNotSupported,        // valid but not handled here (tensor type, device, architecture)
  kOutOfRange,          // an index, position or length beyond what is allowed
  kFailedPrecondition,  // the system is not in a state where the call can run
  kResourceExhausted,   // out of memory, disk, or a configured budget
  kIOError,             // the operating system refused a read, write, open or map
  kUnavailable,         // a device or service is not reachable right now
  kCancelled,           // the caller asked to stop
  kInternal,            // a bug in engram; the message says which invariant broke
};

// "invalid argument", "not found", ...: the prefix Status::ToString() uses.
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;  // OK
  Status(StatusCode code, std::string_view message);

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&& other) noexcept = default;
  Status& operator=(Status&& other) noexcept = default;
  ~Status() = default;

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string_view msg) {
    return {StatusCode::kInvalidArgument, msg};
  }
  static Status NotFound(std::string_view msg) { return {StatusCode::kNotFound, msg}; }
  static Status AlreadyExists(std::string_view msg) { return {StatusCode::kAlreadyExists, msg}; }
  static Status Corruption(std::string_view msg) { return {StatusCode::kCorruption, msg}; }
  static Status NotSupported(std::string_view msg) { return {StatusCode::kNotSupported, msg}; }
  static Status OutOfRange(std::string_view msg) { return {StatusCode::kOutOfRange, msg}; }
  static Status FailedPrecondition(std::string_view msg) {
    return {StatusCode::kFailedPrecondition, msg};
  }
  static Status ResourceExhausted(std::string_view msg) {
    return {StatusCode::kResourceExhausted, msg};
  }
  static Status IOError(std::string_view msg) { return {StatusCode::kIOError, msg}; }
  static Status Unavailable(std::string_view msg) { return {StatusCode::kUnavailable, msg}; }
  static Status Cancelled(std::string_view msg) { return {StatusCode::kCancelled, msg}; }
  static Status Internal(std::string_view msg) { return {StatusCode::kInternal, msg}; }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  // The message without the code prefix; empty for OK.
  std::string_view message() const;
  // "OK", or "<code name>: <message>".
  std::string ToString() const;

  // Returns a copy whose message reads "<context>: <message>"; OK stays OK. For adding the
  // caller's view ("loading model 'x.gguf'") to an error from below.
  Status WithContext(std::string_view context) const;

  bool operator==(const Status& other) const;

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;  // null means OK
};

// An error for a failed system call, with strerror(errnum) appended:
// "<what>: No such file or directory". ENOENT maps to kNotFound, everything else to kIOError.
Status ErrnoStatus(std::string_view what, int errnum);

}  // namespace engram
