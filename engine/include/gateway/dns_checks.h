// What customers' published DNS says about the gateway: where their MX records point,
// and whether their SPF policy includes the gateway's. These feed warnings (a domain
// whose mail does not reach the gateway yet), never refusals.
//
// Contract:
// - CheckDomains resolves every domain's MX and TXT records at once, then follows SPF
//   include: and redirect= terms level by level, at most 10 lookups per domain (RFC 7208's
//   limit), each level one batch.
// - A resolver failure or timeout gives kUnknown with the resolver's words, never
//   "missing": a warning must not claim what DNS did not say.
// - MX: kToGateway when every MX host is one of `gateway_hosts` (case and trailing dot
//   ignored), kElsewhere when any is not (listed), kNoMx, kNoSuchDomain.
// - SPF: kIncludesGateway when `include:<spf_include>` is reached, kMissing when the
//   policy never reaches it, kNoPolicy without a v=spf1 record, kInvalid with more than
//   one, or more than 10 lookups.
#pragma once

#include <string>
#include <vector>

#include "gateway/dns_resolver.h"

namespace gw {

struct DomainDnsReport {
  enum class Mx { kToGateway, kElsewhere, kNoMx, kNoSuchDomain, kUnknown };
  enum class Spf { kIncludesGateway, kMissing, kNoPolicy, kInvalid, kUnknown };
  std::string domain;
  Mx mx = Mx::kUnknown;
  std::vector<std::string> mx_hosts;  // as published, by preference
  Spf spf = Spf::kUnknown;
  std::string detail;  // why kUnknown or kInvalid
};

std::vector<DomainDnsReport> CheckDomains(DnsResolver& resolver,
                                          const std::vector<std::string>& domains,
                                          const std::vector<std::string>& gateway_hosts,
                                          const std::string& spf_include);

}  // namespace gw
