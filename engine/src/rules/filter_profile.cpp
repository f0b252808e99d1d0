#include "gateway/filter_profile.h"

#include "gateway/json_reader.h"

namespace gw {

namespace {

constexpr std::pair<AttachmentAction, const char*> kActions[] = {
    {AttachmentAction::kCutAndInform, "cut-and-inform"},
    {AttachmentAction::kReject, "reject"},
    {AttachmentAction::kQuarantine, "quarantine"},
};

}  // namespace

const char* AttachmentActionName(AttachmentAction action) {
  for (const auto& [value, name] : kActions) {
    if (value == action) return name;
  }
  return "cut-and-inform";
}

FilterProfile FilterProfileOf(const std::string& customer, const CustomerConfig& config,
                              bool outbound) {
  FilterProfile profile;
  profile.archive =
      config.archiving_enabled && (outbound ? config.archive_outbound : config.archive_inbound);
  profile.customer = customer;
  profile.filtering = config.filtering_enabled;
  profile.level = config.filtering_level;
  profile.infomail = config.infomail;
  profile.reject_viruses = config.virus_action == "reject";
  profile.content.forbidden = config.forbidden_attachments;
  profile.content.forbid_encrypted = config.forbid_encrypted_attachments;
  for (const auto& [value, name] : kActions) {
    if (config.attachment_action == name) profile.content.action = value;
  }
  return profile;
}

TenantProof TenantProofOf(const CustomerConfig& config) {
  TenantProof proof;
  if (config.relay.service.empty()) return proof;
  proof.service = config.relay.service;
  proof.tenant_id = config.relay.tenant_id;
  if (proof.service == "google") proof.dkim_domains = config.domains;
  return proof;
}

double SpamThreshold(const std::string& level) {
  // Premium filters harder: rspamd's own "add header" default is 6.
  return level == "standard" ? 8.0 : 5.0;
}

nlohmann::json ToJson(const FilterProfile& profile) {
  nlohmann::json out = {{"customer", profile.customer},
                        {"filtering", profile.filtering},
                        {"level", profile.level},
                        {"infomail", profile.infomail},
                        {"rejectViruses", profile.reject_viruses},
                        {"forbidden", profile.content.forbidden},
                        {"forbidEncrypted", profile.content.forbid_encrypted},
                        {"action", AttachmentActionName(profile.content.action)},
                        {"skipSpam", profile.skip_spam},
                        {"archive", profile.archive}};
  if (!profile.proof.service.empty()) {
    out["proof"] = {{"service", profile.proof.service},
                    {"tenantId", profile.proof.tenant_id},
                    {"dkimDomains", profile.proof.dkim_domains}};
  }
  return out;
}

nlohmann::json ToJson(const RelayFilter& filter) {
  nlohmann::json out = {{"sender", ToJson(filter.sender)}};
  if (filter.recipient) out["recipient"] = ToJson(*filter.recipient);
  return out;
}

Result<RelayFilter> RelayFilterFromJson(const nlohmann::json& value) {
  if (!value.is_object() || !value.contains("sender")) {
    return Status::Invalid("a relay filter without a sender");
  }
  RelayFilter filter;
  auto sender = FilterProfileFromJson(value["sender"]);
  if (!sender.ok()) return sender.status();
  filter.sender = std::move(*sender);
  if (auto it = value.find("recipient"); it != value.end()) {
    auto recipient = FilterProfileFromJson(*it);
    if (!recipient.ok()) return recipient.status();
    filter.recipient = std::move(*recipient);
  }
  return filter;
}

Result<FilterProfile> FilterProfileFromJson(const nlohmann::json& value) {
  JsonReader r(value, "");
  FilterProfile profile;
  std::string action = "cut-and-inform";
  r.Get("customer", profile.customer, true);
  r.Get("filtering", profile.filtering);
  r.Get("level", profile.level);
  r.Get("infomail", profile.infomail);
  r.Get("rejectViruses", profile.reject_viruses);
  r.Get("forbidden", profile.content.forbidden);
  r.Get("forbidEncrypted", profile.content.forbid_encrypted);
  r.Get("action", action);
  r.Get("skipSpam", profile.skip_spam);
  r.Get("archive", profile.archive);
  if (!r.status().ok()) return r.status();
  if (auto proof = value.find("proof"); proof != value.end()) {
    JsonReader p(*proof, "proof");
    p.Get("service", profile.proof.service, true);
    p.Get("tenantId", profile.proof.tenant_id);
    p.Get("dkimDomains", profile.proof.dkim_domains);
    if (!p.status().ok()) return p.status();
  }
  bool known = false;
  for (const auto& [kind, name] : kActions) {
    if (action == name) {
      profile.content.action = kind;
      known = true;
    }
  }
  if (!known) return Status::Invalid("unknown action '" + action + "'");
  return profile;
}

}  // namespace gw
