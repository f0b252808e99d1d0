#include "dns_warnings.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gateway/dns_checks.h"

namespace gwctl {

using Mx = gw::DomainDnsReport::Mx;
using Spf = gw::DomainDnsReport::Spf;

std::vector<DomainOfCustomer> DomainsOf(const Manifests& manifests,
                                        const std::vector<std::string>& only) {
  std::vector<DomainOfCustomer> domains;
  for (const auto& customer : manifests.customers) {
    if (!only.empty() && std::find(only.begin(), only.end(), customer.name) == only.end()) continue;
    for (const auto& domain : customer.domains())
      domains.push_back({customer.name, domain, customer.compiled.config.relay.enabled});
  }
  return domains;
}

std::vector<std::string> DnsWarnings(gw::DnsResolver& resolver, const gw::GatewayFacts& facts,
                                     const std::vector<DomainOfCustomer>& domains) {
  std::vector<std::string> warnings;
  if (domains.empty()) return warnings;
  if (facts.mx_hosts.empty()) {
    warnings.push_back(
        "the gateway names no MX hosts (gatewayd --hostname): customers' MX records are not "
        "checked");
  }
  std::vector<std::string> names;
  for (const auto& d : domains) names.push_back(d.domain);
  std::vector<gw::DomainDnsReport> reports =
      gw::CheckDomains(resolver, names, facts.mx_hosts, facts.spf_include);
  // DNS not answering at all is one warning, not one per domain.
  size_t unanswered = std::count_if(reports.begin(), reports.end(),
                                    [](const auto& report) { return report.mx == Mx::kUnknown; });
  if (unanswered > 3) {
    auto first = std::find_if(reports.begin(), reports.end(),
                              [](const auto& report) { return report.mx == Mx::kUnknown; });
    warnings.push_back(fmt::format("DNS could not be checked for {} of {} domains (first, {}: {})",
                                   unanswered, domains.size(), first->domain, first->detail));
  }
  for (size_t i = 0; i < domains.size(); ++i) {
    const DomainOfCustomer& d = domains[i];
    const gw::DomainDnsReport& report = reports[i];
    auto warn = [&](const std::string& what) {
      warnings.push_back(fmt::format("{} (customer {}): {}", d.domain, d.customer, what));
    };
    if (report.mx == Mx::kUnknown) {
      if (unanswered <= 3) warn("DNS could not be checked: " + report.detail);
      continue;
    }
    if (report.mx == Mx::kNoSuchDomain) {
      warn("does not exist in DNS (NXDOMAIN): no mail reaches it");
      continue;
    }
    if (!facts.mx_hosts.empty()) {
      if (report.mx == Mx::kNoMx) {
        warn(fmt::format("publishes no MX records; point them at {}",
                         fmt::join(facts.mx_hosts, ", ")));
      } else if (report.mx == Mx::kElsewhere) {
        warn(fmt::format("MX points to {}, not only the gateway ({}): that mail is not filtered",
                         fmt::join(report.mx_hosts, ", "), fmt::join(facts.mx_hosts, ", ")));
      }
    }
    if (!d.relays_outbound || facts.spf_include.empty()) continue;
    switch (report.spf) {
      case Spf::kIncludesGateway:
        break;
      case Spf::kMissing:
        warn(
            fmt::format("the SPF policy does not include:{}; mail it relays through the "
                        "gateway may be rejected",
                        facts.spf_include));
        break;
      case Spf::kNoPolicy:
        warn(fmt::format("publishes no SPF policy; add \"v=spf1 include:{} ~all\"",
                         facts.spf_include));
        break;
      case Spf::kInvalid:
        warn("the SPF policy is invalid: " + report.detail);
        break;
      case Spf::kUnknown:
        warn("the SPF policy could not be checked: " + report.detail);
        break;
    }
  }
  return warnings;
}

}  // namespace gwctl
