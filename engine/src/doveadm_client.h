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

struct KeptMessage {
  std::string uid;
  std::string text;  // the whole message, as Dovecot stored it
};

class DoveadmClient {
 public:
  DoveadmClient(Endpoint server, std::string api_key,
                std::chrono::milliseconds timeout = std::chrono::seconds(30))
      : server_(std::move(server)), api_key_(std::move(api_key)), timeout_(timeout) {}

  // The messages in `user`'s INBOX not marked delivered yet, oldest first, at most `limit`.
  Result<std::vector<KeptMessage>> Undelivered(const std::string& user, size_t limit) const;
  // Marks one as delivered to the customer's server (a keyword; the message stays).
  Status MarkDelivered(const std::string& user, const std::string& uid) const;
  // Expunges what was saved before `before_unix` (seconds since the epoch).
  Status ExpungeSavedBefore(const std::string& user, int64_t before_unix) const;

  // The keyword that marks a message delivered.
  static constexpr const char* kDeliveredKeyword = "$GwDelivered";

 private:
  Result<std::string> Call(const std::string& command, const std::string& parameters) const;

  Endpoint server_;
  std::string api_key_;
  std::chrono::milliseconds timeout_;
};

}  // namespace gw
