// Spam scoring by rspamd over its HTTP protocol (/checkv2), with the customer's
// thresholds sent along with each message (the `Settings` header), so rspamd needs no
// per-customer configuration files and a change in gatewayd applies to the next message.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/endpoint.h"
#include "gateway/filter_profile.h"
#include "gateway/status.h"

namespace gw {

struct SpamVerdict {
  bool spam = false;
  double score = 0;
  std::string action;   // rspamd's: "no action", "add header", "reject", ...
  std::string symbols;  // the symbols that scored, for the log
  // The domains (d=) of the message's DKIM signatures rspamd verified, lower case.
  std::vector<std::string> dkim_domains;
};

// The envelope rspamd scores with (sender, recipients, client), besides the message.
struct SpamEnvelope {
  std::string sender;
  std::vector<std::string> recipients;
  std::string client_address;
  std::string queue_id;
};

// rspamd's `Settings` for a customer: every action from the level's threshold, so any
// action rspamd picks but "no action" (and its own "soft reject") means spam.
std::string RspamdSettings(const FilterProfile& profile);

// The DKIM signature domains rspamd's answer (its `symbols` object) found valid.
std::vector<std::string> VerifiedDkimDomains(const nlohmann::json& symbols);

// kUnavailable when rspamd cannot be reached or does not answer within `timeout`.
Result<SpamVerdict> CheckWithRspamd(const Endpoint& rspamd, std::string_view message,
                                    const FilterProfile& profile, const SpamEnvelope& envelope,
                                    std::chrono::milliseconds timeout);

}  // namespace gw
