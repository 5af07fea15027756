// Status and Result<T>: the library's only error currency (leveldb/absl style).
//
// Every function that can fail on user input, I/O or a device returns Status or Result<T>; the library never
// throws across its API and never calls exit(). Messages name the file, the field and what was expected, e.g.
//   "model.safetensors: tensor 'lm_head.weight': data_offsets [0, 96) hold 96 bytes, shape [4, 8] x BF16 needs 64".
// The CLI maps codes to exit codes (harness/exit_codes.h): input problems -> 2, everything else -> 3.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace fp4lab {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // malformed user input: a file's content, a flag, a config field
  kNotFound,            // a named file, tensor, run or metric does not exist
  kFailedPrecondition,  // input is well-formed but cannot be used here (e.g. wrong schema version)
  kUnimplemented,       // a valid request this build or device does not support
  kResourceExhausted,   // out of memory (host or device)
  kIoError,             // the operating system refused (read, write, rename)
  kInternal,            // a bug or an unexpected library/driver failure
  kAborted,             // interrupted (signal, cancelled by the user)
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: <message>" or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "<prefix>: <message>" (adds context while an error travels up).
  Status WithContext(const std::string& prefix) const {
    return ok() ? *this : Status(code_, prefix + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Result<T> holds either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status::Internal("Result constructed from an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  // On a temporary Result the status is returned by value, so `const Status& s = F().status();` cannot dangle
  // (ASan found that use-after-free in a config reader).
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }
  // REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

namespace status_internal {
inline const Status& AsStatus(const Status& s) { return s; }
template <typename T>
const Status& AsStatus(const Result<T>& r) { return r.status(); }
}  // namespace status_internal

}  // namespace fp4lab

#define FP4LAB_CONCAT_INNER(a, b) a##b
#define FP4LAB_CONCAT(a, b) FP4LAB_CONCAT_INNER(a, b)

// Returns the Status of `expr` (a Status or Result) from the enclosing function if it is not OK.
#define FP4LAB_RETURN_IF_ERROR(expr)                                              \
  do {                                                                            \
    const auto& fp4lab_status_tmp = (expr);                                       \
    if (!::fp4lab::status_internal::AsStatus(fp4lab_status_tmp).ok())             \
      return ::fp4lab::status_internal::AsStatus(fp4lab_status_tmp);              \
  } while (0)

// FP4LAB_ASSIGN_OR_RETURN(auto x, MakeX()); declares/assigns x or returns the error.
#define FP4LAB_ASSIGN_OR_RETURN(lhs, expr) \
  FP4LAB_ASSIGN_OR_RETURN_IMPL(FP4LAB_CONCAT(fp4lab_result_, __LINE__), lhs, expr)
#define FP4LAB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
