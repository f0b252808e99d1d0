#include "gateway/customer_rules.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>

#include <fmt/format.h>

#include "gateway/domain_name.h"
#include "gateway/ip_range.h"
#include "gateway/json_cursor.h"
#include "gateway/quantity.h"
#include "gateway/time_zone.h"

namespace gw {

std::string RuleFinding::Text(const std::function<std::string(const std::string&)>& where) const {
  static constexpr std::string_view kSlot = "{related}";
  auto slot = message.find(kSlot);
  if (slot == std::string::npos) return message;
  return message.substr(0, slot) + where(related) + message.substr(slot + kSlot.size());
}

bool HasErrors(const RuleFindings& findings) {
  return std::any_of(findings.begin(), findings.end(),
                     [](const RuleFinding& f) { return f.is_error(); });
}

std::optional<AddressProblem> FindAddressProblem(std::string_view text,
                                                 const std::vector<std::string>& domains) {
  auto address = ParseEmailAddress(text);
  if (!address.ok()) return AddressProblem{"user-invalid", address.status().message()};
  if (std::find(domains.begin(), domains.end(), address->domain) == domains.end()) {
    return AddressProblem{"user-domain", fmt::format("'{}' is not in this customer's domains ({})",
                                                     text, fmt::join(domains, ", "))};
  }
  return std::nullopt;
}

namespace {

constexpr uint64_t kMinMessageSize = 1024;
constexpr uint64_t kMaxMessageSize = 2ull << 30;
const std::set<std::string> kAttachmentCategories = {"executable", "docmacro",  "xlsmacro",
                                                     "pptmacro",   "mediafile", "archive"};

class Rules {
 public:
  Rules(const nlohmann::json& document, const CustomerRuleOptions& options, RuleFindings& findings)
      : options_(options), findings_(findings), spec_(JsonCursor::Root(document)["spec"]) {}

  CompiledCustomer Compile() {
    if (!spec_.is_object()) return Finish();
    config_.product = spec_["product"].string_or("");
    config_.address_discovery = spec_["users"]["addressDiscovery"].boolean_or(false);
    CheckDomains();
    CheckDestinations();
    CheckDeliveryTls();
    CheckOutboundRelay();
    CheckLdapSources();
    CheckContentFilter();
    CheckLists();
    CheckSpamReport();
    CheckContinuity();
    CheckArchiving();
    return Finish();
  }

  // The checks that need nothing but the values themselves, for PartnerDefaults.
  void CheckValues() {
    CheckContentFilter();
    CheckSpamReport();
    CheckRetention(spec_["continuity"]["retention"]);
    CheckArchiving();
  }

 private:
  CompiledCustomer Finish() {
    return {std::move(config_), std::move(domain_pointers_), std::move(relay_pointers_)};
  }

  void Add(RuleFinding::Severity severity, const JsonCursor& at, const char* rule,
           std::string message, std::string related = {}) {
    findings_.push_back(
        {severity, at.pointer(), false, rule, std::move(message), std::move(related)});
  }
  void Error(const JsonCursor& at, const char* rule, std::string message,
             std::string related = {}) {
    Add(RuleFinding::Severity::kError, at, rule, std::move(message), std::move(related));
  }
  void Warning(const JsonCursor& at, const char* rule, std::string message) {
    Add(RuleFinding::Severity::kWarning, at, rule, std::move(message));
  }

  // Rule 3 (this customer's part): valid names, alias != primary, no repeats.
  void CheckDomains() {
    auto domains = spec_["domains"];
    std::set<std::string> seen;
    bool has_primary = false;
    auto add = [&](const JsonCursor& at, bool is_alias) {
      const std::string* text = at.string();
      if (!text) return;
      auto normalized = NormalizeDomain(*text);
      if (!normalized.ok()) {
        Error(at, "domain-invalid", normalized.status().message());
        return;
      }
      if (is_alias && has_primary && *normalized == config_.domains.front()) {
        Error(at, "alias-equals-primary", fmt::format("alias '{}' is the primary domain", *text));
        return;
      }
      if (!seen.insert(*normalized).second) {
        Error(at, "domain-duplicate",
              fmt::format("domain '{}' is listed twice for this customer", *text));
        return;
      }
      config_.domains.push_back(*normalized);
      domain_pointers_.push_back(at.pointer());
      if (!is_alias) has_primary = true;
    };
    add(domains["primary"], false);
    auto aliases = domains["aliases"];
    for (size_t i = 0; i < aliases.size(); ++i) add(aliases[i], true);
  }

  // Rule 4.
  void CheckDestinations() {
    auto destinations = spec_["destinations"];
    std::vector<std::pair<Destination, JsonCursor>> parsed;
    if (const std::string* shorthand = destinations.string()) {
      auto list = ParseDestinationShorthand(*shorthand);
      if (!list.ok()) {
        Error(destinations, "destination-invalid", list.status().message());
      } else {
        for (auto& d : *list) parsed.emplace_back(std::move(d), destinations);
      }
    } else {
      for (size_t i = 0; i < destinations.size(); ++i) {
        auto entry = destinations[i];
        const std::string* host = entry["host"].string();
        if (!host) continue;
        auto normalized = NormalizeHost(*host);
        if (!normalized.ok()) {
          Error(entry["host"], "destination-invalid", normalized.status().message());
          continue;
        }
        Destination d;
        d.host = std::move(normalized).value();
        d.port = static_cast<int>(entry["port"].integer().value_or(25));
        d.preference =
            static_cast<int>(entry["preference"].integer().value_or(DefaultPreference(i)));
        if (d.port < 1 || d.port > 65535 || d.preference < 0 || d.preference > 65535)
          continue;  // the schema reports it
        parsed.emplace_back(std::move(d), entry);
      }
    }
    std::set<std::pair<std::string, int>> seen;
    for (const auto& [destination, at] : parsed) {
      if (!seen.emplace(destination.host, destination.port).second) {
        Error(at, "destination-duplicate",
              fmt::format("destination {}:{} is listed twice", destination.host, destination.port));
        continue;
      }
      if (IsGatewayItself(destination)) {
        Error(
            at, "destination-self",
            fmt::format("destination {} is the gateway itself; mail would loop", destination.host));
        continue;
      }
      if (Status internal = CheckInternal(destination); !internal.ok()) {
        Error(at, "destination-internal",
              fmt::format("destination {}: {} (the gateway's operator may allow internal "
                          "networks)",
                          destination.host, internal.message()));
        continue;
      }
      config_.destinations.push_back(destination);
    }
    std::stable_sort(
        config_.destinations.begin(), config_.destinations.end(),
        [](const Destination& a, const Destination& b) { return a.preference < b.preference; });
    config_.filtering_enabled = spec_["filtering"]["enabled"].boolean_or(true);
    config_.filtering_level = spec_["filtering"]["level"].string_or("premium");
    config_.infomail = spec_["filtering"]["infomail"].boolean_or(false);
    if (config_.filtering_enabled && !destinations.exists()) {
      Error(spec_, "destination-missing",
            "filtering is enabled but no destinations are set: the gateway would have nowhere to "
            "deliver mail");
    }
  }

  void CheckDeliveryTls() {
    auto tls = spec_["tls"];
    DeliveryTls& out = config_.delivery_tls;
    const std::string level = tls["delivery"].string_or("opportunistic");
    if (level == "required") out.level = DeliveryTls::Level::kRequired;
    if (level == "verify") out.level = DeliveryTls::Level::kVerified;
    auto names = tls["serverNames"], pins = tls["fingerprints"];
    for (const auto& [field, detail] : {std::pair{"serverNames", names}, {"fingerprints", pins}}) {
      if (detail.exists() && out.level != DeliveryTls::Level::kVerified) {
        Error(detail, "tls-setting", fmt::format("{} applies to delivery: verify", field));
      }
    }
    for (size_t i = 0; i < names.size(); ++i) {
      if (const std::string* name = names[i].string()) out.names.push_back(AsciiLower(*name));
    }
    for (size_t i = 0; i < pins.size(); ++i) {
      const std::string* pin = pins[i].string();
      if (!pin) continue;
      std::string hex;
      for (char c : *pin) {
        if (c != ':') hex += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
      std::string colons;
      for (size_t at = 0; at < hex.size(); ++at) {
        if (at && at % 2 == 0) colons += ':';
        colons += hex[at];
      }
      out.fingerprints.push_back(std::move(colons));
    }
    if (out.level != DeliveryTls::Level::kVerified || !out.names.empty() ||
        !out.fingerprints.empty()) {
      return;
    }
    // A certificate names hosts, not addresses: a server written as an address needs the
    // names its certificate carries, or pins.
    for (const Destination& d : config_.destinations) {
      if (IpRange::Parse(d.host).ok()) {
        Error(tls["delivery"], "tls-verify-name",
              fmt::format("delivery: verify checks the name in the server's certificate, and "
                          "destination {} is an address: add serverNames (the names its "
                          "certificate carries) or fingerprints",
                          d.host));
        return;
      }
    }
  }

  // Only an address literal is checked here; a name is checked where it is resolved.
  Status CheckInternal(const Destination& destination) const {
    if (!options_.destination_networks) return Status::Ok();
    auto address = IpRange::Parse(destination.host);
    if (!address.ok()) return Status::Ok();
    return options_.destination_networks->Check(*address);
  }

  bool IsGatewayItself(const Destination& destination) const {
    const auto& hosts = options_.gateway_hosts;
    if (std::find(hosts.begin(), hosts.end(), destination.host) != hosts.end()) return true;
    bool loopback = destination.host == "localhost";
    if (auto address = IpRange::Parse(destination.host); address.ok()) {
      static const IpRange kLoopback4 = *IpRange::Parse("127.0.0.0/8");
      static const IpRange kLoopback6 = *IpRange::Parse("::1");
      loopback = kLoopback4.Contains(*address) || kLoopback6.Contains(*address);
    }
    if (options_.gateway_smtp.empty()) return loopback && destination.port == 25;
    return std::any_of(options_.gateway_smtp.begin(), options_.gateway_smtp.end(),
                       [&](const Endpoint& smtp) {
                         bool wildcard = smtp.host == "0.0.0.0" || smtp.host == "::";
                         return smtp.port == destination.port &&
                                (smtp.host == destination.host || (wildcard && loopback));
                       });
  }

  // Rule 5 (this customer's part; overlaps with other customers are CheckClaims').
  void CheckOutboundRelay() {
    auto relay = spec_["outboundRelay"];
    if (!relay.is_object()) return;
    auto sources = relay["sources"];
    RelayPolicy& policy = config_.relay;
    policy.enabled = relay["enabled"].boolean_or(true);
    policy.require_tls = relay["requireTls"].boolean_or(false);
    if (sources.exists() && relay["service"].exists()) {
      Error(relay, "relay-config", "set either sources or service, not both");
    } else if (policy.enabled && !sources.exists() && !relay["service"].exists()) {
      Error(relay, "relay-config",
            "the outbound relay is enabled but has neither sources nor service");
    }
    if (const std::string* service = relay["service"].string(); service && !sources.exists()) {
      if (const auto* ranges = RelayServiceRanges(*service)) {
        policy.service = *service;
        policy.sources = *ranges;
      }
    }
    CheckRelayBinding(relay);
    std::vector<std::pair<std::string, JsonCursor>> entries;
    if (const std::string* comma = sources.string()) {
      for (size_t start = 0; start <= comma->size();) {
        size_t end = std::min(comma->find(',', start), comma->size());
        std::string part = comma->substr(start, end - start);
        part.erase(0, part.find_first_not_of(" \t"));
        part.erase(part.find_last_not_of(" \t") + 1);
        if (!part.empty()) entries.emplace_back(std::move(part), sources);
        start = end + 1;
      }
    } else {
      for (size_t i = 0; i < sources.size(); ++i) {
        if (const std::string* text = sources[i].string()) entries.emplace_back(*text, sources[i]);
      }
    }
    std::set<IpRange> seen;
    for (const auto& [text, at] : entries) {
      auto range = IpRange::Parse(text);
      if (!range.ok()) {
        Error(at, "relay-source-invalid", range.status().message());
        continue;
      }
      if (!seen.insert(*range).second) {
        Error(at, "relay-source-duplicate",
              fmt::format("relay source {} is listed twice", range->ToString()));
        continue;
      }
      int widest = range->is_v6() ? 48 : 16;
      if (range->prefix_length() < widest) {
        Warning(at, "relay-source-wide",
                fmt::format(
                    "relay source {} is wider than /{}: everyone in it may relay as this customer",
                    range->ToString(), widest));
      }
      if (range->IsPrivate()) {
        Warning(at, "relay-source-private",
                fmt::format("relay source {} is a private range; the gateway sees the customer's "
                            "public address",
                            range->ToString()));
      }
      policy.sources.push_back(*range);
      relay_pointers_.push_back(at.pointer());
    }
  }

  // A shared provider's ranges admit every tenant of the provider, so a service relay
  // must say how its mail proves it is this customer's (the EchoSpoofing class of flaw).
  void CheckRelayBinding(const JsonCursor& relay) {
    const std::string* service = relay["service"].string();
    auto tenant = relay["tenantId"];
    auto dkim = relay["dkimSigned"];
    bool office365 = service && *service == "office365", google = service && *service == "google";
    if (tenant.exists() && !office365) {
      Error(tenant, "relay-binding", "tenantId binds a relay with service: office365");
    }
    if (dkim.exists() && !google) {
      Error(dkim, "relay-binding", "dkimSigned binds a relay with service: google");
    }
    if (office365 && !tenant.exists()) {
      Error(relay["service"], "relay-binding",
            "service office365 needs tenantId, the customer's Microsoft 365 tenant id: every "
            "Microsoft 365 tenant sends from these ranges, and only the tenant id in the "
            "message tells this customer's mail from theirs");
    }
    if (google && !dkim.exists()) {
      Error(relay["service"], "relay-binding",
            "service google needs dkimSigned: true, with DKIM signing on for the customer's "
            "domains in Google Workspace: every Google tenant sends from these ranges, and the "
            "gateway relays only mail signed by one of this customer's domains");
    }
    if (const std::string* id = tenant.string(); id && office365) {
      config_.relay.tenant_id = AsciiLower(*id);
    }
  }

  // Rule 7.
  void CheckLdapSources() {
    auto sources = spec_["users"]["ldap"];
    for (size_t i = 0; i < sources.size(); ++i) {
      auto source = sources[i];
      const std::string* url = source["url"].string();
      if (!url) continue;
      bool ldaps = url->rfind("ldaps://", 0) == 0;
      if (!ldaps && url->rfind("ldap://", 0) != 0) continue;  // the schema reports it
      std::string authority = url->substr(ldaps ? 8 : 7);
      if (!authority.empty() && authority.back() == '/') authority.pop_back();
      std::string host = authority;
      int port = ldaps ? 636 : 389;
      if (!authority.empty() && authority.front() == '[') {
        size_t close = authority.find(']');
        host = authority.substr(1, close == std::string::npos ? std::string::npos : close - 1);
        if (close != std::string::npos && close + 1 < authority.size())
          port = std::atoi(authority.c_str() + close + 2);
      } else if (auto colon = authority.find(':'); colon != std::string::npos) {
        host = authority.substr(0, colon);
        port = std::atoi(authority.c_str() + colon + 1);
      }
      bool starttls = source["startTLS"].boolean_or(false);
      if (ldaps && starttls)
        Error(source["startTLS"], "ldap-config",
              "startTLS upgrades ldap:// connections; ldaps:// is TLS already");
      bool tls = ldaps || starttls;
      if (tls && IpRange::Parse(host).ok()) {
        Error(
            source["url"], "ldap-tls-host",
            fmt::format("TLS certificate checking needs a hostname, not the IP address {}", host));
      }
      if (port == 636 && !tls)
        Warning(source["url"], "ldap-port", "port 636 is LDAPS; this source does not use TLS");
      if (ldaps && port == 389)
        Warning(source["url"], "ldap-port", "ldaps:// on port 389, the plain LDAP port");
      if (port < 1 || port > 65535) Error(source["url"], "ldap-config", "the port must be 1-65535");
      if (source["bindDN"].exists() && !source["bindPasswordRef"].exists()) {
        Error(source, "ldap-config",
              "bindDN is set but bindPasswordRef is not (omit bindDN for an anonymous bind)");
      }
      if (!source["bindDN"].exists() && source["bindPasswordRef"].exists()) {
        Error(source["bindPasswordRef"], "ldap-config", "bindPasswordRef is set but bindDN is not");
      }
      // A simple bind sends the password as it is: over plain LDAP, to anyone on the path.
      bool insecure = source["insecure"].boolean_or(false);
      if (!tls && source["bindPasswordRef"].exists()) {
        if (insecure) {
          Warning(source["insecure"], "ldap-cleartext",
                  "insecure: true: the bind password crosses the network in cleartext; use "
                  "ldaps:// or startTLS");
        } else {
          Error(source["url"], "ldap-cleartext",
                "a password bind over ldap:// without startTLS sends the password in cleartext: "
                "use ldaps:// or startTLS: true (or say insecure: true to accept it)");
        }
      } else if (insecure) {
        Warning(source["insecure"], "ldap-config",
                "insecure: true has no effect: this source sends no password in cleartext");
      }
    }
  }

  // Rule 8.
  void CheckContentFilter() {
    auto filter = spec_["filtering"]["contentFilter"];
    config_.forbid_encrypted_attachments = filter["forbidEncryptedAttachments"].boolean_or(false);
    config_.attachment_action = filter["attachmentAction"].string_or("cut-and-inform");
    if (const std::string* size = filter["maxMessageSize"].string()) {
      auto bytes = ParseSize(*size);
      if (bytes.ok() && (*bytes < kMinMessageSize || *bytes > kMaxMessageSize)) {
        Error(filter["maxMessageSize"], "content-filter-size",
              fmt::format("maxMessageSize {} is outside 1KiB-2GiB", *size));
      } else if (bytes.ok()) {
        config_.max_message_size_bytes = *bytes;
      }
    }
    auto attachments = filter["forbiddenAttachments"];
    for (size_t i = 0; i < attachments.size(); ++i) {
      const std::string* entry = attachments[i].string();
      if (!entry) continue;
      if (kAttachmentCategories.count(*entry)) {
        config_.forbidden_attachments.push_back(*entry);
        continue;
      }
      std::string lower = *entry;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      bool extension_chars =
          lower.size() > 1 && std::all_of(lower.begin() + 1, lower.end(), [](unsigned char c) {
            return std::isalnum(c) || c == '-' || c == '_' || c == '.';
          });
      if (entry->front() == '.' && extension_chars && lower != *entry) {
        Error(attachments[i], "attachment-type",
              fmt::format("extension '{}' must be lowercase: '{}'", *entry, lower));
      } else if (entry->front() != '.' || !extension_chars) {
        Error(
            attachments[i], "attachment-type",
            fmt::format(
                "'{}' is neither a category (executable, docmacro, xlsmacro, pptmacro, mediafile, "
                "archive) nor an extension such as .iso",
                *entry));
      } else {
        config_.forbidden_attachments.push_back(*entry);
      }
    }
  }

  // A list entry normalised, or nothing when it is invalid (reported) or malformed.
  std::optional<ListEntry> ListEntryAt(const JsonCursor& entry, bool own_domain_warning) {
    for (const char* field : {"sender", "senderDomain", "ip", "recipient", "recipientDomain"}) {
      const std::string* value = entry[field].string();
      if (!value) continue;
      std::string kind(field);
      Result<std::string> normalized = Status(StatusCode::kInvalidArgument, "");
      std::string domain;
      if (kind == "sender" || kind == "recipient") {
        auto address = ParseEmailAddress(*value);
        if (address.ok()) domain = address->domain;
        normalized = address.ok() ? Result<std::string>(address->ToString()) : address.status();
      } else if (kind == "ip") {
        auto range = IpRange::Parse(*value);
        normalized = range.ok() ? Result<std::string>(range->ToString()) : range.status();
      } else {
        normalized = NormalizeDomain(*value);
        if (normalized.ok()) domain = *normalized;
      }
      if (!normalized.ok()) {
        Error(entry[field], "list-entry-invalid", normalized.status().message());
        return std::nullopt;
      }
      if (own_domain_warning && !domain.empty()) {
        for (const auto& own : config_.domains) {
          if (IsSameOrSubdomain(domain, own)) {
            Warning(
                entry[field], "allow-own-domain",
                fmt::format("allow-listing the customer's own domain {} lets spoofed mail through",
                            own));
            break;
          }
        }
      }
      return ListEntry{kind, *normalized};
    }
    return std::nullopt;
  }

  // Rule 9.
  void CheckLists() {
    auto lists = spec_["lists"];
    Lists& out = config_.lists;
    std::map<std::pair<std::string, std::string>, std::string> allowed;  // -> pointer
    auto allow = lists["allow"];
    for (size_t i = 0; i < allow.size(); ++i) {
      if (auto entry = ListEntryAt(allow[i], true)) {
        allowed.emplace(std::make_pair(entry->kind, entry->value), allow[i].pointer());
        out.allow.push_back(std::move(*entry));
      }
    }
    auto block = lists["block"];
    for (size_t i = 0; i < block.size(); ++i) {
      auto entry = ListEntryAt(block[i], false);
      if (!entry) continue;
      if (auto it = allowed.find({entry->kind, entry->value}); it != allowed.end()) {
        Error(block[i], "list-conflict",
              fmt::format("{} is on both the allow list ({{related}}) and the block list",
                          entry->value),
              it->second);
        continue;
      }
      out.block.push_back(std::move(*entry));
    }
    auto outbound = lists["outboundBlock"];
    for (size_t i = 0; i < outbound.size(); ++i) {
      if (auto entry = ListEntryAt(outbound[i], false)) out.outbound_block.push_back(*entry);
    }
    auto recipient_allow = lists["recipientAllow"];
    std::map<std::string, std::string> allowed_recipients;  // -> pointer
    for (size_t i = 0; i < recipient_allow.size(); ++i) {
      const std::string* local = recipient_allow[i].string();
      if (!local) continue;
      if (*local == "*") {
        Error(recipient_allow[i], "recipient-allow-all",
              "recipientAllow: \"*\" would deliver every message unfiltered, switching filtering "
              "off");
        continue;
      }
      allowed_recipients.emplace(*local, recipient_allow[i].pointer());
      out.recipient_allow.push_back(*local);
    }
    auto recipient_block = lists["recipientBlock"];
    for (size_t i = 0; i < recipient_block.size(); ++i) {
      const std::string* local = recipient_block[i].string();
      if (!local) continue;
      if (auto it = allowed_recipients.find(*local); it != allowed_recipients.end()) {
        Error(
            recipient_block[i], "list-conflict",
            fmt::format("'{}' is on both recipientAllow ({{related}}) and recipientBlock", *local),
            it->second);
        continue;
      }
      out.recipient_block.push_back(*local);
    }
  }

  // Rule 10.
  void CheckSpamReport() {
    auto report = spec_["filtering"]["spamReport"];
    if (!report.is_object()) return;
    SpamReportSettings& schedule = config_.spam_report;
    schedule.enabled = report["enabled"].boolean_or(false);
    schedule.whitelist_spam = report["whitelist"]["spam"].boolean_or(false);
    schedule.whitelist_infomail = report["whitelist"]["infomail"].boolean_or(false);
    if (auto categories = report["categories"]; categories.exists()) {
      schedule.categories.clear();
      for (size_t i = 0; i < categories.size(); ++i) {
        if (const std::string* text = categories[i].string()) schedule.categories.push_back(*text);
      }
    }
    if (schedule.enabled) {
      if (report["days"].size() == 0)
        Error(report, "spam-report", "the spam report is enabled but has no days");
      if (report["times"].size() == 0)
        Error(report, "spam-report", "the spam report is enabled but has no times");
    }
    for (const char* key : {"days", "times"}) {
      auto list = report[key];
      auto& into = std::string_view(key) == "days" ? schedule.days : schedule.times;
      for (size_t i = 0; i < list.size(); ++i) {
        if (const std::string* text = list[i].string()) into.push_back(*text);
      }
    }
    if (const std::string* zone = report["timezone"].string()) {
      if (IsKnownTimeZone(*zone)) {
        schedule.time_zone = *zone;
      } else {
        Error(
            report["timezone"], "spam-report",
            fmt::format("unknown time zone '{}' (use an IANA name such as Europe/London)", *zone));
      }
    }
  }

  // Rule 11 (members are CheckContinuityMembers', which needs the users).
  void CheckContinuity() {
    auto continuity = spec_["continuity"];
    if (!continuity.is_object()) return;
    ContinuityPolicy& policy = config_.continuity;
    auto enabled = continuity["enabled"];
    policy.enabled = enabled.boolean_or(false);
    if (policy.enabled) {
      if (spec_["product"].string_or("") != "ultimate-access" && spec_["product"].exists()) {
        Error(spec_["product"], "continuity",
              fmt::format("continuity is enabled ({{related}}) but needs product ultimate-access, "
                          "not {}",
                          spec_["product"].string_or("")),
              enabled.pointer());
      }
      // With filtering on, a missing destination is already reported by rule 4.
      if (!spec_["destinations"].exists() && !spec_["filtering"]["enabled"].boolean_or(true)) {
        Error(enabled, "continuity",
              "continuity needs a destination: it keeps mail while that server is down");
      }
    }
    if (auto days = CheckRetention(continuity["retention"])) policy.retention_days = *days;
    auto members = continuity["members"];
    std::string scope = continuity["scope"].string_or("all");
    policy.all_users = scope != "selected";
    if (members.size() > 0 && scope != "selected") {
      Error(members, "continuity", "members are only used with scope: selected");
    }
    if (scope == "selected" && members.size() == 0) {
      Error(continuity["scope"], "continuity", "scope: selected needs at least one member");
    }
    for (size_t i = 0; i < members.size(); ++i) {
      const std::string* text = members[i].string();
      if (!text) continue;
      auto address = ParseEmailAddress(*text);
      if (!address.ok()) {
        Error(members[i], "continuity", address.status().message());
      } else {
        policy.members.push_back(address->ToString());
      }
    }
  }

  std::optional<int64_t> CheckRetention(const JsonCursor& retention) {
    const std::string* text = retention.string();
    if (!text) return std::nullopt;
    auto days = ParseDays(*text);
    if (!days.ok()) return std::nullopt;
    if (*days < 1 || *days > 365) {
      Error(retention, "continuity", fmt::format("retention {} is outside 1d-365d", *text));
      return std::nullopt;
    }
    return *days;
  }

  void CheckArchiving() {
    auto archiving = spec_["archiving"];
    config_.archiving_enabled = archiving["enabled"].boolean_or(false);
    if (const std::string* text = archiving["retention"].string()) {
      auto days = ParseDays(*text);
      if (days.ok() && *days < 1) {
        Error(archiving["retention"], "archiving", "retention must be at least 1d");
      } else if (days.ok()) {
        config_.archive_retention_days = *days;
      }
    }
  }

  const CustomerRuleOptions& options_;
  RuleFindings& findings_;
  JsonCursor spec_;
  CustomerConfig config_;
  std::vector<std::string> domain_pointers_;
  std::vector<std::string> relay_pointers_;
};

std::string HolderText(const ClaimHolder& holder) {
  if (!holder.same_partner) return "another customer on this gateway";
  return holder.where.empty() ? fmt::format("customer '{}'", holder.customer)
                              : fmt::format("customer '{}' ({})", holder.customer, holder.where);
}

}  // namespace

CompiledCustomer CompileCustomer(const nlohmann::json& document, const CustomerRuleOptions& options,
                                 RuleFindings& findings) {
  return Rules(document, options, findings).Compile();
}

CompiledCustomer CompileStored(const Customer& customer) {
  RuleFindings ignored;
  return CompileCustomer(nlohmann::json{{"spec", customer.spec}}, {}, ignored);
}

std::vector<IpRange> RelayClaims(const CompiledCustomer& customer) {
  // Compile keeps one pointer per hand-written source, in order; a service's ranges
  // have none.
  const auto& sources = customer.config.relay.sources;
  return {sources.begin(),
          sources.begin() + static_cast<std::ptrdiff_t>(customer.relay_source_pointers.size())};
}

void CheckPartnerDefaults(const nlohmann::json& document, RuleFindings& findings) {
  CustomerRuleOptions options;
  Rules(document, options, findings).CheckValues();
}

void CheckContinuityMembers(const nlohmann::json& document,
                            const std::function<bool(const std::string&)>& is_user,
                            RuleFindings& findings) {
  auto spec = JsonCursor::Root(document)["spec"];
  if (spec["users"]["ldap"].size() > 0) return;  // directory users are known at plan time
  auto members = spec["continuity"]["members"];
  for (size_t i = 0; i < members.size(); ++i) {
    const std::string* text = members[i].string();
    if (!text) continue;
    auto address = ParseEmailAddress(*text);
    if (address.ok() && !is_user(address->ToString())) {
      findings.push_back({RuleFinding::Severity::kError, members[i].pointer(), false, "continuity",
                          fmt::format("member '{}' is not one of this customer's users", *text),
                          ""});
    }
  }
}

Status CheckClaims(const CompiledCustomer& customer, ClaimLookup& lookup, RuleFindings& findings) {
  const CustomerConfig& config = customer.config;
  for (size_t i = 0; i < config.domains.size() && i < customer.domain_pointers.size(); ++i) {
    const std::string& domain = config.domains[i];
    auto holder = lookup.DomainHolder(domain);
    if (!holder.ok()) return holder.status();
    if (*holder) {
      findings.push_back(
          {RuleFinding::Severity::kError, customer.domain_pointers[i], false, "domain-duplicate",
           fmt::format("domain '{}' is already claimed by {}", domain, HolderText(**holder)), ""});
      continue;
    }
    // A subdomain of another customer's domain is allowed, but usually a mistake.
    for (size_t dot = domain.find('.'); dot != std::string::npos; dot = domain.find('.', dot + 1)) {
      std::string parent = domain.substr(dot + 1);
      auto parent_holder = lookup.DomainHolder(parent);
      if (!parent_holder.ok()) return parent_holder.status();
      if (*parent_holder && (*parent_holder)->same_partner) {
        findings.push_back(
            {RuleFinding::Severity::kWarning, customer.domain_pointers[i], false, "subdomain",
             fmt::format("'{}' is a subdomain of '{}', which belongs to customer '{}'", domain,
                         parent, (*parent_holder)->customer),
             ""});
        break;
      }
    }
  }
  std::vector<IpRange> claims = RelayClaims(customer);
  for (size_t i = 0; i < claims.size(); ++i) {
    const IpRange& range = claims[i];
    auto overlap = lookup.RelayOverlap(range);
    if (!overlap.ok()) return overlap.status();
    if (!*overlap) continue;
    const auto& [other, holder] = **overlap;
    // Another partner's range stays private: naming it would map its customers' servers.
    std::string message = holder.same_partner
                              ? fmt::format("relay source {} overlaps {} of {}", range.ToString(),
                                            other.ToString(), HolderText(holder))
                              : fmt::format("relay source {} overlaps a relay source of {}",
                                            range.ToString(), HolderText(holder));
    findings.push_back({RuleFinding::Severity::kError, customer.relay_source_pointers[i], false,
                        "relay-source-conflict", std::move(message), ""});
  }
  return Status::Ok();
}

}  // namespace gw
