// The continuity mailboxes as gatewayd reaches them: Dovecot's doveadm HTTP API
// (POST /doveadm/v1, JSON commands, the API key as X-Dovecot-API). One call per request,
// each bounded by the timeout; failures are kUnavailable naming the command, never
// showing the key.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/endpoint.h"
#include "gateway/status.h"

namespace gw {

class DoveadmClient {
 public:
  // `imap`: Dovecot's IMAP on loopback, where the API key is also the master login's
  // password (dovecot-config writes both), for messages the API cannot carry.
  DoveadmClient(Endpoint server, std::string api_key, std::optional<Endpoint> imap = std::nullopt,
                std::chrono::milliseconds timeout = std::chrono::seconds(30))
      : server_(std::move(server)),
        api_key_(std::move(api_key)),
        imap_(std::move(imap)),
        timeout_(timeout) {}

  // The uids of the messages in `user`'s INBOX marked neither delivered nor refused,
  // oldest first.
  Result<std::vector<std::string>> Undelivered(const std::string& user) const;
  // One message whole, as Dovecot stored it. kNotFound when it is gone. The API's JSON
  // replaces bytes that are not UTF-8 (a raw Latin-1 body: seen by its length differing
  // from the stored size); such a message is read over IMAP instead, or without `imap`
  // is kMalformed.
  Result<std::string> Text(const std::string& user, const std::string& uid) const;
  // Marks one with a keyword (the message stays readable).
  Status Mark(const std::string& user, const std::string& uid, const char* keyword) const;
  // Expunges what was saved before `before_unix` (seconds since the epoch).
  Status ExpungeSavedBefore(const std::string& user, int64_t before_unix) const;

  // Delivered to the customer's server; refused by it for good (a 5xx: left to people).
  static constexpr const char* kDelivered = "$GwDelivered";
  static constexpr const char* kRefused = "$GwRefused";
  // The master login's name (dovecot-config's master passdb takes any name with the key).
  static constexpr const char* kMasterUser = "gatewayd";

 private:
  Result<std::string> Call(const std::string& command, const std::string& parameters) const;

  Endpoint server_;
  std::string api_key_;
  std::optional<Endpoint> imap_;
  std::chrono::milliseconds timeout_;
};

}  // namespace gw
