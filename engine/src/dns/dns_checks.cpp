#include "gateway/dns_checks.h"

#include <algorithm>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "gateway/domain_name.h"

namespace gw {

namespace {

constexpr int kMaxSpfLookups = 10;  // RFC 7208 section 4.6.4

std::string Canonical(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return AsciiLower(name);
}

// The domains a v=spf1 record sends the check on to (include: and redirect=).
std::vector<std::string> SpfTargets(const std::string& record) {
  std::vector<std::string> targets;
  std::istringstream terms(record);
  for (std::string term; terms >> term;) {
    std::string lower = Canonical(term);
    for (const char* prefix : {"include:", "+include:", "redirect="}) {
      if (lower.rfind(prefix, 0) == 0) targets.push_back(lower.substr(std::string(prefix).size()));
    }
  }
  return targets;
}

// The v=spf1 records among a name's TXT records.
std::vector<std::string> SpfRecords(const DnsAnswer& answer) {
  std::vector<std::string> out;
  for (const auto& record : answer.records) {
    std::string lower = Canonical(record);
    if (lower == "v=spf1" || lower.rfind("v=spf1 ", 0) == 0) out.push_back(record);
  }
  return out;
}

// One domain's walk through SPF records: names still to look up, lookups spent.
struct SpfWalk {
  std::vector<std::string> pending;
  std::set<std::string> seen;
  int lookups = 0;

  // Takes a policy's includes: the walk ends where one is `wanted`, or goes on to them.
  void Follow(const std::string& policy, const std::string& wanted, DomainDnsReport& report) {
    for (const auto& target : SpfTargets(policy)) {
      if (target == wanted) {
        report.spf = DomainDnsReport::Spf::kIncludesGateway;
        pending.clear();
        return;
      }
      pending.push_back(target);
    }
  }
};

}  // namespace

std::vector<DomainDnsReport> CheckDomains(DnsResolver& resolver,
                                          const std::vector<std::string>& domains,
                                          const std::vector<std::string>& gateway_hosts,
                                          const std::string& spf_include) {
  std::set<std::string> gateway;
  for (const auto& host : gateway_hosts) gateway.insert(Canonical(host));
  const std::string wanted = Canonical(spf_include);

  std::vector<DnsQuestion> first;
  for (const auto& domain : domains) {
    first.push_back({domain, DnsType::kMx});
    first.push_back({domain, DnsType::kTxt});
  }
  std::vector<DnsAnswer> answers = resolver.Resolve(first);
  std::vector<DomainDnsReport> reports(domains.size());
  std::vector<SpfWalk> walks(domains.size());
  for (size_t i = 0; i < domains.size(); ++i) {
    DomainDnsReport& report = reports[i];
    report.domain = domains[i];
    const DnsAnswer& mx = answers[2 * i];
    const DnsAnswer& txt = answers[2 * i + 1];
    switch (mx.outcome) {
      case DnsAnswer::Outcome::kFound: {
        std::vector<std::pair<int, std::string>> hosts;
        for (const auto& record : mx.records) {
          size_t space = record.find(' ');
          hosts.emplace_back(std::atoi(record.substr(0, space).c_str()), record.substr(space + 1));
        }
        std::sort(hosts.begin(), hosts.end());
        bool all_gateway = true;
        for (const auto& [preference, host] : hosts) {
          report.mx_hosts.push_back(host);
          if (!gateway.count(Canonical(host))) all_gateway = false;
        }
        report.mx = all_gateway ? DomainDnsReport::Mx::kToGateway : DomainDnsReport::Mx::kElsewhere;
        break;
      }
      case DnsAnswer::Outcome::kNoRecords:
        report.mx = DomainDnsReport::Mx::kNoMx;
        break;
      case DnsAnswer::Outcome::kNoSuchName:
        report.mx = DomainDnsReport::Mx::kNoSuchDomain;
        break;
      default:
        report.mx = DomainDnsReport::Mx::kUnknown;
        report.detail = fmt::format("MX: {}", mx.problem);
    }
    if (!txt.Known()) {
      report.detail += fmt::format("{}TXT: {}", report.detail.empty() ? "" : "; ", txt.problem);
      continue;  // kUnknown
    }
    auto policies = SpfRecords(txt);
    if (policies.empty()) {
      report.spf = DomainDnsReport::Spf::kNoPolicy;
    } else if (policies.size() > 1) {
      report.spf = DomainDnsReport::Spf::kInvalid;
      report.detail = "more than one v=spf1 record";
    } else {
      report.spf = DomainDnsReport::Spf::kMissing;  // until the walk reaches the include
      walks[i].Follow(policies[0], wanted, report);
    }
  }

  // Follow include: and redirect= one level at a time, all domains together.
  while (true) {
    std::vector<DnsQuestion> level;
    std::vector<std::pair<size_t, std::string>> asked;  // domain index, name
    for (size_t i = 0; i < walks.size(); ++i) {
      for (const auto& name : std::exchange(walks[i].pending, {})) {
        if (!walks[i].seen.insert(name).second) continue;  // a loop: counted once
        if (++walks[i].lookups > kMaxSpfLookups) {
          reports[i].spf = DomainDnsReport::Spf::kInvalid;
          reports[i].detail =
              fmt::format("its SPF policy needs more than {} lookups", kMaxSpfLookups);
          break;
        }
        level.push_back({name, DnsType::kTxt});
        asked.emplace_back(i, name);
      }
    }
    if (level.empty()) break;
    std::vector<DnsAnswer> found = resolver.Resolve(level);
    for (size_t k = 0; k < asked.size(); ++k) {
      auto [i, name] = asked[k];
      DomainDnsReport& report = reports[i];
      if (report.spf != DomainDnsReport::Spf::kMissing) continue;  // decided already
      if (!found[k].Known()) {
        report.spf = DomainDnsReport::Spf::kUnknown;
        report.detail = fmt::format("SPF include {}: {}", name, found[k].problem);
        walks[i].pending.clear();
        continue;
      }
      auto policies = SpfRecords(found[k]);
      if (policies.size() != 1) continue;  // an include without a policy matches nothing
      walks[i].Follow(policies[0], wanted, report);
    }
  }
  return reports;
}

}  // namespace gw
