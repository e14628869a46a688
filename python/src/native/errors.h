// Failed Status values on their way to Python. The binding throws StatusError (C++), and the
// translator registered by RegisterErrors raises the engram exception class the Python layer
// registered for its code (engram/errors.py), with the Status message as its text.
#pragma once

#include <nanobind/nanobind.h>

#include <exception>
#include <string>
#include <utility>

#include "common/result.h"
#include "common/status.h"

namespace engram::python {

class StatusError : public std::exception {
 public:
  explicit StatusError(Status status) : status_(std::move(status)), what_(status_.ToString()) {}
  const Status& status() const { return status_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  Status status_;
  std::string what_;
};

[[noreturn]] inline void Throw(const Status& status) { throw StatusError(status); }
inline void Check(const Status& status) {
  if (!status.ok()) Throw(status);
}
template <class T>
T Unwrap(Result<T>&& result) {
  if (!result.ok()) Throw(result.status());
  return std::move(*result);
}

// Adds `_set_error_classes` to `m` and registers the StatusError translator.
void RegisterErrors(nanobind::module_& m);

}  // namespace engram::python
