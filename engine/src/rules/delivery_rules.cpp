// Rules 4 and 5: where a customer's mail goes, how it is protected on the way, and who may
// relay as the customer.

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "gateway/domain_name.h"
#include "gateway/ip_range.h"
#include "rules/customer_checker.h"

namespace gw {

// Rule 4.
void CustomerChecker::CheckDestinations() {
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
      d.preference = static_cast<int>(entry["preference"].integer().value_or(DefaultPreference(i)));
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
      Error(at, "destination-self",
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
  config_.virus_action = spec_["filtering"]["virusAction"].string_or("quarantine");
  if (config_.filtering_enabled && !destinations.exists()) {
    Error(spec_, "destination-missing",
          "filtering is enabled but no destinations are set: the gateway would have nowhere to "
          "deliver mail");
  }
}

void CustomerChecker::CheckDeliveryTls() {
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
Status CustomerChecker::CheckInternal(const Destination& destination) const {
  if (!options_.destination_networks) return Status::Ok();
  auto address = IpRange::Parse(destination.host);
  if (!address.ok()) return Status::Ok();
  return options_.destination_networks->Check(*address);
}

bool CustomerChecker::IsGatewayItself(const Destination& destination) const {
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
void CustomerChecker::CheckOutboundRelay() {
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
void CustomerChecker::CheckRelayBinding(const JsonCursor& relay) {
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

}  // namespace gw
