// Result<T>: either a value of type T or an error Status. The return type of every fallible
// function that produces something; factories return Result<std::unique_ptr<T>>.
//
//   Result<std::unique_ptr<MmapFile>> file = MmapFile::Open(path);
//   if (!file.ok()) return file.status();
//   Use((*file)->bytes());
//
// Reading the value of an error Result is a bug in the caller and aborts with the error's
// message (in every build type: undefined behaviour would be worse than a crash with a reason).
#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include "common/status.h"

namespace engram {

namespace internal {
[[noreturn]] void DieOnBadResultAccess(const Status& status);
[[noreturn]] void DieOnOkStatusInResult();
}  // namespace internal

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "use Status, not Result<Status>");
  static_assert(!std::is_reference_v<T>, "Result<T&> is not supported; return a pointer");

 public:
  // An error. Passing an OK status is a bug (there would be no value); it aborts.
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) internal::DieOnOkStatusInResult();
  }

  // A value; implicit so that `return value;` works in functions returning Result<T>.
  template <typename U = T,
            typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                        !std::is_same_v<std::decay_t<U>, Status> &&
                                        !std::is_same_v<std::decay_t<U>, Result<T>>>>
  Result(U&& value) : value_(std::forward<U>(value)) {}  // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  T& value() & {
    CheckOk();
    return *value_;
  }
  const T& value() const& {
    CheckOk();
    return *value_;
  }
  T&& value() && {
    CheckOk();
    return std::move(*value_);
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The value, or `fallback` when this holds an error.
  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void CheckOk() const {
    if (!status_.ok()) internal::DieOnBadResultAccess(status_);
  }

  Status status_;  // OK exactly when value_ holds a value
  std::optional<T> value_;
};

}  // namespace engram

// ENGRAM_TRY_ASSIGN(lhs, expr): evaluates `expr` (a Result), returns its Status from the
// enclosing function on error, else moves the value into `lhs`, which may be a declaration:
//   ENGRAM_TRY_ASSIGN(const std::string name, value.StringField("name"));
// Expands to several statements: inside an if/else, use braces.
#define ENGRAM_TRY_ASSIGN(lhs, expr) \
  ENGRAM_TRY_ASSIGN_IMPL_(ENGRAM_TRY_CONCAT_(engram_try_result_, __LINE__), lhs, expr)
#define ENGRAM_TRY_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return tmp.status();           \
  lhs = std::move(*tmp)
#define ENGRAM_TRY_CONCAT_(a, b) ENGRAM_TRY_CONCAT_INNER_(a, b)
#define ENGRAM_TRY_CONCAT_INNER_(a, b) a##b

