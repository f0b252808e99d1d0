// FilterProfile: what the content milter (gw-milter) needs to know about the customer a
// message is for, as gatewayd hands it over (the socketmap's `filter` map, keyed by
// recipient address). It is derived from the compiled CustomerConfig, never written by
// hand, so the milter and gatewayd cannot disagree about a customer's settings.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/customer_config.h"
#include "gateway/status.h"

namespace gw {

enum class AttachmentAction {
  kCutAndInform,  // remove the attachment, deliver the rest with a notice
  kReject,        // refuse the message (550)
  kQuarantine,    // keep the message in the gateway's quarantine
};

// The attachment rules of one customer.
struct ContentRules {
  // Categories (executable, docmacro, xlsmacro, pptmacro, mediafile, archive) and
  // lower-case ".ext" extensions.
  std::vector<std::string> forbidden;
  bool forbid_encrypted = false;
  AttachmentAction action = AttachmentAction::kCutAndInform;

  bool any() const { return !forbidden.empty() || forbid_encrypted; }
};

struct FilterProfile {
  std::string customer;
  bool filtering = true;  // off: no content or spam filtering at all
  std::string level = "premium";
  bool infomail = false;
  ContentRules content;
};

FilterProfile FilterProfileOf(const std::string& customer, const CustomerConfig& config);

// The `filter` map's value: compact JSON, one line.
nlohmann::json ToJson(const FilterProfile& profile);
Result<FilterProfile> FilterProfileFromJson(const nlohmann::json& value);

const char* AttachmentActionName(AttachmentAction action);

}  // namespace gw
