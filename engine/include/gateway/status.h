// Status and Result<T>: the one way fallible calls report failure across gwctl and
// the engine. A Status is ok or carries a code and a message meant for a person;
// Result<T> holds either a value or a non-ok Status. Neither throws.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace gw {

enum class StatusCode {
  kOk,
  kInvalidArgument,  // the caller's input is wrong; retrying will not help
  kNotFound,
  kAlreadyExists,
  kConflict,              // held by someone else (a domain, the lease)
  kFailedPrecondition,    // a version or state check failed
  kPreconditionRequired,  // a write came without the version check it needs
  kUnauthenticated,       // no credentials, or wrong ones
  kPermissionDenied,      // authenticated, but not allowed to do this
  kMalformed,             // the request itself cannot be read (not JSON)
  kResourceExhausted,     // a size or count limit was hit
  kUnavailable,           // the environment failed (I/O, network); retrying may help
  kInternal,
};

// One of several problems with a request, e.g. every rule a customer's settings break.
struct StatusDetail {
  std::string field;  // JSON pointer
  std::string rule;   // stable id, e.g. "relay-source-conflict"
  std::string message;
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  // `field` is the JSON pointer of the offending value, e.g. "/spec/destinations/1/port".
  Status(StatusCode code, std::string message, std::string field)
      : code_(code), message_(std::move(message)), field_(std::move(field)) {}

  static Status Ok() { return {}; }
  // The caller's input is wrong (at `field`, a JSON pointer, when known).
  static Status Invalid(std::string message, std::string field = {}) {
    return {StatusCode::kInvalidArgument, std::move(message), std::move(field)};
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& field() const { return field_; }
  // How long the other side asked us to wait before trying again (HTTP Retry-After), if it did.
  int64_t retry_after_ms() const { return retry_after_ms_; }
  Status& set_retry_after_ms(int64_t ms) {
    retry_after_ms_ = ms;
    return *this;
  }
  // Every problem, when there is more than one thing wrong (message() then sums them up).
  const std::vector<StatusDetail>& details() const { return details_; }
  Status& set_details(std::vector<StatusDetail> details) {
    details_ = std::move(details);
    return *this;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string field_;
  int64_t retry_after_ms_ = 0;
  std::vector<StatusDetail> details_;
};

template <typename T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(state_).ok() && "a Result needs a value or an error");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(state_);
  }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace gw
