// FilterProfile: what the content milter (gw-milter) needs to know to filter one message:
// the settings of the customer it is for, and whether its sender skips spam scoring, as
// gatewayd hands them over (the socketmap's `filter` and `relay-filter` maps, keyed by
// recipient, sender and client address). It is derived from the compiled CustomerConfig and
// gatewayd's own mail decision, never written by hand, so the milter and gatewayd cannot disagree.
#pragma once

#include <optional>
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

// What relayed mail from a shared service's ranges must show to be the customer's
// (customer_config.h, RelayPolicy); an empty service asks nothing.
struct TenantProof {
  std::string service;                    // "office365" | "google" | ""
  std::string tenant_id;                  // office365: lower case
  std::vector<std::string> dkim_domains;  // google: the customer's domains
  bool operator==(const TenantProof&) const = default;
};

struct FilterProfile {
  std::string customer;
  bool filtering = true;  // off: no content or spam filtering at all
  std::string level = "premium";
  bool infomail = false;
  bool reject_viruses = false;  // refuse what ClamAV finds (else quarantine it)
  ContentRules content;
  // The sender (or client) is on the customer's allow list, or the recipient on
  // recipientAllow: no spam scoring. Attachment rules still apply.
  bool skip_spam = false;
  TenantProof proof;  // only in the sender's profile of relayed mail
  // Keep a copy of the message as delivered in the customer's archive: its archiving
  // covers this direction (inbound for a recipient's profile, outbound for a sender's).
  bool archive = false;
};

// The relay listener's question: the sending customer's settings (its outbound
// filtering, and its tenant proof), and when the mail is for another customer of the
// gateway, that customer's as for inbound mail.
struct RelayFilter {
  FilterProfile sender;
  std::optional<FilterProfile> recipient;
};

// The customer's settings for mail to it, or with `outbound` for mail it sends.
FilterProfile FilterProfileOf(const std::string& customer, const CustomerConfig& config,
                              bool outbound = false);
TenantProof TenantProofOf(const CustomerConfig& config);

// The spam score (rspamd's) from which a message of a customer at `level` is spam.
double SpamThreshold(const std::string& level);

// The `filter` map's value: compact JSON, one line.
nlohmann::json ToJson(const FilterProfile& profile);
Result<FilterProfile> FilterProfileFromJson(const nlohmann::json& value);
nlohmann::json ToJson(const RelayFilter& filter);
Result<RelayFilter> RelayFilterFromJson(const nlohmann::json& value);

const char* AttachmentActionName(AttachmentAction action);

}  // namespace gw
