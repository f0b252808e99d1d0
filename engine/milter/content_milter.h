// What gw-milter does with one message, apart from libmilter (milter_main.cpp carries it
// over the milter protocol): find the customer's filter settings by recipient, scan, and
// decide. Pure but for `lookup`, so it is tested without Postfix.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/content_scan.h"
#include "gateway/filter_profile.h"
#include "gateway/status.h"

namespace gw {

struct MilterDecision {
  enum class Kind { kAccept, kReject, kTempfail, kRewrite };
  Kind kind = Kind::kAccept;
  std::string reply;  // kReject, kTempfail: the text after the SMTP codes
  // kRewrite: the new body (CRLF line ends) and the top-level headers to set (nullopt:
  // delete), e.g. Content-Type when the message became multipart/mixed.
  std::string body;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  std::string removed;  // kRewrite: what was removed, for an X-GW-Removed header
  std::string log;      // one line for the log
};

// The filter settings of the customer `recipient` belongs to; nullopt when it is no
// customer's (nothing to filter).
using ProfileLookup = std::function<Result<std::optional<FilterProfile>>(const std::string&)>;

// `message` is the whole message as received (headers, blank line, body).
MilterDecision DecideContent(const std::vector<std::string>& recipients, std::string_view message,
                             const ProfileLookup& lookup, const ContentLimits& limits = {});

}  // namespace gw
