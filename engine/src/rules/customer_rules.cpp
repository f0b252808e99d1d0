#include "gateway/customer_rules.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "gateway/domain_name.h"
#include "gateway/ip_range.h"
#include "gateway/json_cursor.h"
#include "gateway/model.h"
#include "gateway/quantity.h"
#include "rules/customer_checker.h"

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

CompiledCustomer CustomerChecker::Compile() {
  if (!spec_.is_object()) return Finish();
  config_.product = spec_["product"].string_or("");
  config_.address_discovery = spec_["users"]["addressDiscovery"].boolean_or(false);
  CheckDomains();
  CheckDestinations();
  CheckDeliveryTls();
  CheckOutboundRelay();
  CheckLdapSources();
  CheckCloudDirectories();
  CheckSyncIntervals();
  CheckContentFilter();
  CheckLists();
  CheckSpamReport();
  CheckSelfService();
  CheckContinuity();
  CheckArchiving();
  CheckRegion();
  return Finish();
}

void CustomerChecker::CheckValues() {
  CheckContentFilter();
  CheckSpamReport();
  CheckSelfService();
  CheckRetention(spec_["continuity"]["retention"]);
  CheckArchiving();
}

CompiledCustomer CustomerChecker::Finish() {
  return {std::move(config_), std::move(domain_pointers_), std::move(relay_pointers_)};
}

// Rule 3 (this customer's part): valid names, alias != primary, no repeats.
void CustomerChecker::CheckDomains() {
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

// Rule 7.
void CustomerChecker::CheckLdapSources() {
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
      Error(source["url"], "ldap-tls-host",
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

// Rule 7 for Microsoft 365 and Google Workspace: one way to authenticate, and a tenant
// or account read once (two readings of one directory would claim every address twice).
void CustomerChecker::CheckCloudDirectories() {
  auto microsoft = spec_["users"]["microsoft365"];
  std::map<std::string, std::string> tenants;  // lowercased tenant -> pointer
  for (size_t i = 0; i < microsoft.size(); ++i) {
    auto source = microsoft[i];
    bool secret = source["clientSecretRef"].exists(),
         certificate = source["certificateRef"].exists();
    if (secret == certificate) {
      Error(source, "directory-config",
            secret ? "set clientSecretRef or certificateRef, not both"
                   : "set clientSecretRef (the app's client secret) or certificateRef (its "
                     "certificate and private key)");
    }
    if (const std::string* tenant = source["tenant"].string()) {
      auto [it, inserted] = tenants.emplace(AsciiLower(*tenant), source["tenant"].pointer());
      if (!inserted) {
        Error(source["tenant"], "directory-duplicate",
              fmt::format("tenant {} is already read ({{related}})", *tenant), it->second);
      }
    }
  }
  auto google = spec_["users"]["googleWorkspace"];
  std::map<std::string, std::string> accounts;  // customerId -> pointer
  for (size_t i = 0; i < google.size(); ++i) {
    auto source = google[i];
    std::string account = source["customerId"].string_or("my_customer");
    if (account == "my_customer")
      account += " of " + AsciiLower(source["adminEmail"].string_or(""));
    auto [it, inserted] = accounts.emplace(account, source.pointer());
    if (!inserted) {
      Error(source, "directory-duplicate", "this Workspace account is already read ({related})",
            it->second);
    }
  }
}

// A directory read more often than every five minutes gains nothing (directories change
// slowly) and invites throttling, which every other customer of the tenant's app shares.
void CustomerChecker::CheckSyncIntervals() {
  for (std::string_view kind : kDirectorySources) {
    auto sources = spec_["users"][kind];
    for (size_t i = 0; i < sources.size(); ++i) {
      auto interval = sources[i]["syncInterval"];
      const std::string* text = interval.string();
      if (!text) continue;
      auto ms = ParseDurationMs(*text);
      if (ms.ok() && *ms < 5 * 60 * 1000) {
        Error(interval, "directory-config",
              fmt::format("syncInterval {} is shorter than 5m: directories change slowly, and "
                          "reading them more often invites throttling",
                          *text));
      }
    }
  }
}

// Rule 11 (members are CheckContinuityMembers', which needs the users).
void CustomerChecker::CheckContinuity() {
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

std::optional<int64_t> CustomerChecker::CheckRetention(const JsonCursor& retention) {
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

// region promised where mail is routed and stored, and nothing made it so: refused
// rather than accepted and ignored.
void CustomerChecker::CheckRegion() {
  if (!spec_["region"].exists()) return;
  Error(spec_["region"], "region-unsupported",
        "region is not supported: a gateway keeps a customer's mail and data where that "
        "gateway runs, so run one gateway per region and apply that region's customers to it; "
        "remove region (README: Regions)");
}

void CustomerChecker::CheckArchiving() {
  auto archiving = spec_["archiving"];
  config_.archiving_enabled = archiving["enabled"].boolean_or(false);
  if (archiving["directions"].exists()) {
    config_.archive_inbound = config_.archive_outbound = false;
    for (size_t i = 0; i < archiving["directions"].size(); ++i) {
      if (const std::string* name = archiving["directions"][i].string()) {
        (*name == "inbound" ? config_.archive_inbound : config_.archive_outbound) = true;
      }
    }
  }
  if (const std::string* text = archiving["retention"].string()) {
    auto days = ParseDays(*text);
    if (days.ok() && *days < 1) {
      Error(archiving["retention"], "archiving", "retention must be at least 1d");
    } else if (days.ok()) {
      config_.archive_retention_days = *days;
    }
  }
}

namespace {

std::string HolderText(const ClaimHolder& holder) {
  if (!holder.same_partner) return "another customer on this gateway";
  return holder.where.empty() ? fmt::format("customer '{}'", holder.customer)
                              : fmt::format("customer '{}' ({})", holder.customer, holder.where);
}

}  // namespace

CompiledCustomer CompileCustomer(const nlohmann::json& document, const CustomerRuleOptions& options,
                                 RuleFindings& findings) {
  return CustomerChecker(document, options, findings).Compile();
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
  CustomerChecker(document, options, findings).CheckValues();
}

// Declared in model.h; defined here, in gw_schema, because the rules use them and
// model.cpp (gw_engine) links after the rules.
bool IsDirectorySource(std::string_view source) {
  return std::find(std::begin(kDirectorySources), std::end(kDirectorySources), source) !=
         std::end(kDirectorySources);
}

bool ReadsDirectoryUsers(const nlohmann::json& spec) {
  if (!spec.is_object() || !spec.contains("users") || !spec["users"].is_object()) return false;
  const nlohmann::json& users = spec["users"];
  return std::any_of(std::begin(kDirectorySources), std::end(kDirectorySources), [&](auto kind) {
    auto it = users.find(std::string(kind));
    return it != users.end() && it->is_array() && !it->empty();
  });
}

void CheckContinuityMembers(const nlohmann::json& document,
                            const std::function<bool(const std::string&)>& is_user,
                            RuleFindings& findings) {
  auto spec = JsonCursor::Root(document)["spec"];
  if (spec.get() && ReadsDirectoryUsers(*spec.get())) return;  // known at plan time
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
