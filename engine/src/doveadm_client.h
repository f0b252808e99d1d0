// The continuity mailboxes as gatewayd reaches them: Dovecot's doveadm HTTP API
// (POST /doveadm/v1, JSON commands, the API key as X-Dovecot-API). One call per request,
// each bounded by the timeout; failures are kUnavailable naming the command, never
// showing the key.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "gateway/endpoint.h"
#include "gateway/status.h"

namespace gw {

class DoveadmClient {
 public:
  DoveadmClient(Endpoint server, std::string api_key,
                std::chrono::milliseconds timeout = std::chrono::seconds(30))
      : server_(std::move(server)), api_key_(std::move(api_key)), timeout_(timeout) {}

  // The uids of the messages in `user`'s INBOX marked neither delivered nor refused,
  // oldest first.
  Result<std::vector<std::string>> Undelivered(const std::string& user) const;
  // One message whole, as Dovecot stored it. kNotFound when it is gone; kMalformed when
  // the API cannot carry it without loss (its JSON replaces bytes that are not UTF-8,
  // e.g. a raw Latin-1 body: seen by its length differing from the stored size).
  Result<std::string> Text(const std::string& user, const std::string& uid) const;
  // Marks one with a keyword (the message stays readable).
  Status Mark(const std::string& user, const std::string& uid, const char* keyword) const;
  // Expunges what was saved before `before_unix` (seconds since the epoch).
  Status ExpungeSavedBefore(const std::string& user, int64_t before_unix) const;

  // Delivered to the customer's server; refused by it for good (a 5xx: left to people).
  static constexpr const char* kDelivered = "$GwDelivered";
  static constexpr const char* kRefused = "$GwRefused";

 private:
  Result<std::string> Call(const std::string& command, const std::string& parameters) const;

  Endpoint server_;
  std::string api_key_;
  std::chrono::milliseconds timeout_;
};

}  // namespace gw
