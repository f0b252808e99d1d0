// DomainVerifier: proves domain claims against DNS. A pending claim (model.h DomainClaim)
// whose domain publishes the TXT record `gwctl-verify=<token>` becomes verified
// (Service::RecordDomainChecks), on a schedule and on demand.
//
// Contract:
// - CheckClaims asks for every claim's domain's TXT records at once and says, per claim,
//   whether the record is there and what was seen instead. A resolver timeout or failure
//   is reported as such ("could not check: ..."), never as the record being absent.
// - The scheduled round checks every pending claim of the gateway, on one replica at a
//   time (the store's "domain-verification" job lease); a claim not verified yet is
//   checked again next round.
// - CheckNow checks one customer's pending claims at once, on the replica asked.
// Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/dns_resolver.h"
#include "gateway/model.h"
#include "gateway/service.h"
#include "gateway/status.h"

namespace gw {

// What DNS says about each claim's record (claims verified already are checked too).
std::vector<DomainCheck> CheckClaims(DnsResolver& resolver, const std::vector<DomainClaim>& claims);

struct DomainVerifierOptions {
  DnsResolverOptions dns;
  std::chrono::milliseconds interval{std::chrono::minutes(5)};
  std::function<void(const std::string&)> log;  // may be empty
};

class DomainVerifier {
 public:
  // Starts the scheduled rounds (the first at once) on a thread of its own.
  static Result<std::unique_ptr<DomainVerifier>> Start(Service& service,
                                                       DomainVerifierOptions options);
  ~DomainVerifier();  // stops the rounds, giving the job lease up

  // Checks the customer's pending claims now; returns all its claims after.
  Result<std::vector<DomainClaim>> CheckNow(const std::string& partner,
                                            const std::string& customer);

  // Prometheus text: claims pending after the last round, checks by outcome.
  std::string Metrics() const;

  DomainVerifier(const DomainVerifier&) = delete;
  DomainVerifier& operator=(const DomainVerifier&) = delete;

 private:
  struct Impl;
  explicit DomainVerifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gw
