// Links that act without a login: each names one recipient, one held message and one
// action, expires, and is signed with the gateway's key (HMAC-SHA256), so that nobody can
// make one for another recipient, message or action, or stretch its life. Single use is
// the store's part (Store::UseLinkNonce); what a link may do, Service's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/status.h"

namespace gw {

struct LinkClaim {
  std::string partner, customer;
  std::string recipient;  // the user the link was mailed to
  int64_t message = 0;    // the held message's id
  std::string action;     // release | request | allow | block
  int64_t expires_unix = 0;
  std::string nonce;  // random; recorded when the link is used
};

// "<payload>.<signature>", both base64url: fit for a URL's query.
std::string SignLink(std::string_view key, const LinkClaim& claim);

// The claim of a token this key signed, if it has not expired at `now_unix`.
// kInvalidArgument for anything else (altered, truncated, another key's), saying only
// that the link is not valid; kFailedPrecondition once expired.
Result<LinkClaim> VerifyLink(std::string_view key, std::string_view token, int64_t now_unix);

}  // namespace gw
