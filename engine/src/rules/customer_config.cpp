// What customer_config.h declares beside the configuration itself: the relay services'
// published ranges and the configuration as JSON.
#include "gateway/customer_config.h"

#include <cstdlib>
#include <map>

#include <nlohmann/json.hpp>

namespace gw {

namespace detail {
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_files();
}  // namespace detail

namespace {
using RelayServices = std::map<std::string, std::vector<IpRange>, std::less<>>;

RelayServices& AllRelayServices() {
  // Parsed once from the embedded file; a bad entry there is a build mistake.
  static auto* services = [] {
    auto* parsed = new RelayServices();
    for (const auto& [name, text] : detail::embedded_files()) {
      if (name != "relay-services.json") continue;
      auto document = nlohmann::json::parse(text);
      for (const auto& [service_name, entry] : document["services"].items()) {
        auto& ranges = (*parsed)[service_name];
        for (const auto& written : entry["ranges"]) {
          auto range = IpRange::Parse(written.get<std::string>());
          if (!range.ok()) std::abort();
          ranges.push_back(*range);
        }
      }
    }
    return parsed;
  }();
  return *services;
}
}  // namespace

const std::vector<IpRange>* RelayServiceRanges(std::string_view service) {
  const RelayServices& services = AllRelayServices();
  auto it = services.find(service);
  return it == services.end() ? nullptr : &it->second;
}

void ExtendRelayServiceRanges(std::string_view service, const IpRange& range) {
  AllRelayServices()[std::string(service)].push_back(range);
}

const char* QuarantineRightName(QuarantineRight right) {
  switch (right) {
    case QuarantineRight::kRelease:
      return "release";
    case QuarantineRight::kRequest:
      return "request";
    case QuarantineRight::kView:
      return "view";
    case QuarantineRight::kNone:
      break;
  }
  return "none";
}

namespace {

nlohmann::json SelfServiceJson(const SelfService& self) {
  nlohmann::json quarantine = nlohmann::json::object();
  for (const auto& [reason, right] : self.quarantine)
    quarantine[reason] = QuarantineRightName(right);
  return {{"quarantine", std::move(quarantine)},
          {"releaseRequestsTo", self.release_requests_to},
          {"personalLists", self.personal_lists},
          {"digestActions", self.digest_actions}};
}

}  // namespace

nlohmann::json ToJson(const CustomerConfig& config) {
  using nlohmann::json;
  auto ranges = [](const std::vector<IpRange>& list) {
    json out = json::array();
    for (const auto& range : list) out.push_back(range.ToString());
    return out;
  };
  auto entries = [](const std::vector<ListEntry>& list) {
    json out = json::array();
    for (const auto& entry : list) out.push_back({{"kind", entry.kind}, {"value", entry.value}});
    return out;
  };
  json destinations = json::array();
  for (const auto& d : config.destinations) {
    destinations.push_back({{"host", d.host}, {"port", d.port}, {"preference", d.preference}});
  }
  return {
      {"product", config.product},
      {"domains", config.domains},
      {"destinations", destinations},
      {"addressDiscovery", config.address_discovery},
      {"filteringEnabled", config.filtering_enabled},
      {"filteringLevel", config.filtering_level},
      {"infomail", config.infomail},
      {"virusAction", config.virus_action},
      {"maxMessageSizeBytes", config.max_message_size_bytes},
      {"forbiddenAttachments", config.forbidden_attachments},
      {"forbidEncryptedAttachments", config.forbid_encrypted_attachments},
      {"attachmentAction", config.attachment_action},
      {"deliveryTls",
       {{"level", std::array{"opportunistic", "required",
                             "verify"}[static_cast<int>(config.delivery_tls.level)]},
        {"names", config.delivery_tls.names},
        {"fingerprints", config.delivery_tls.fingerprints}}},
      {"relay",
       {{"enabled", config.relay.enabled},
        {"service", config.relay.service},
        {"tenantId", config.relay.tenant_id},
        {"requireTls", config.relay.require_tls},
        {"sources", ranges(config.relay.sources)}}},
      {"lists",
       {{"allow", entries(config.lists.allow)},
        {"block", entries(config.lists.block)},
        {"outboundBlock", entries(config.lists.outbound_block)},
        {"recipientAllow", config.lists.recipient_allow},
        {"recipientBlock", config.lists.recipient_block}}},
      {"spamReport",
       {{"enabled", config.spam_report.enabled},
        {"days", config.spam_report.days},
        {"times", config.spam_report.times},
        {"timeZone", config.spam_report.time_zone},
        {"categories", config.spam_report.categories},
        {"whitelist",
         {{"spam", config.spam_report.whitelist_spam},
          {"infomail", config.spam_report.whitelist_infomail}}}}},
      {"continuity",
       {{"enabled", config.continuity.enabled},
        {"retentionDays", config.continuity.retention_days},
        {"allUsers", config.continuity.all_users},
        {"members", config.continuity.members}}},
      {"archiving",
       {{"enabled", config.archiving_enabled},
        {"retentionDays", config.archive_retention_days},
        {"inbound", config.archive_inbound},
        {"outbound", config.archive_outbound}}},
      {"selfService", SelfServiceJson(config.self_service)},
  };
}

}  // namespace gw
