#include "gateway/domain_verifier.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace gw {

std::vector<DomainCheck> CheckClaims(DnsResolver& resolver,
                                     const std::vector<DomainClaim>& claims) {
  std::vector<DnsQuestion> questions;
  std::map<std::string, size_t> asked;  // domain -> its question
  for (const auto& claim : claims) {
    if (asked.emplace(claim.domain, questions.size()).second)
      questions.push_back({claim.domain, DnsType::kTxt});
  }
  std::vector<DnsAnswer> answers = resolver.Resolve(questions);
  std::vector<DomainCheck> checks;
  for (const auto& claim : claims) {
    const DnsAnswer& answer = answers[asked.at(claim.domain)];
    DomainCheck check{claim.partner, claim.customer, claim.domain, false, true, ""};
    std::string record = claim.record();
    switch (answer.outcome) {
      case DnsAnswer::Outcome::kFound:
        check.found =
            std::find(answer.records.begin(), answer.records.end(), record) != answer.records.end();
        check.detail = check.found ? fmt::format("TXT {} found", record)
                                   : fmt::format("{} publishes {} TXT record(s), none of them {}",
                                                 claim.domain, answer.records.size(), record);
        break;
      case DnsAnswer::Outcome::kNoRecords:
        check.detail = fmt::format("{} publishes no TXT records", claim.domain);
        break;
      case DnsAnswer::Outcome::kNoSuchName:
        check.detail = fmt::format("{} does not exist in DNS (NXDOMAIN)", claim.domain);
        break;
      case DnsAnswer::Outcome::kServerFailure:
      case DnsAnswer::Outcome::kTimeout:
        check.answered = false;
        check.detail = "could not check: " + answer.problem;
        break;
    }
    checks.push_back(std::move(check));
  }
  return checks;
}

struct DomainVerifier::Impl {
  Service& service;
  DomainVerifierOptions options;

  mutable std::mutex counters_mutex;
  int64_t pending_after_round = 0;
  std::map<std::string, int64_t> checks_by_outcome;  // found, not_found, unknown
  std::string last_problem;  // of the last scheduled round, logged when it changes

  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::thread thread;

  static constexpr const char* kJob = "domain-verification";

  Impl(Service& s, DomainVerifierOptions o) : service(s), options(std::move(o)) {}

  void Log(const std::string& message) const {
    if (options.log) options.log(message);
  }

  // Checks pending claims and records the checks; returns the claims as they are after,
  // and the first check DNS did not answer ("" if none).
  Result<std::vector<DomainClaim>> Check(const std::vector<DomainClaim>& claims,
                                         std::string& unanswered) {
    if (claims.empty()) return claims;
    auto resolver = DnsResolver::Create(options.dns);
    if (!resolver.ok()) return resolver.status();
    std::vector<DomainCheck> checks = CheckClaims(**resolver, claims);
    auto recorded = service.RecordDomainChecks(Actor::Local(), checks);
    if (!recorded.ok()) return recorded.status();
    std::lock_guard lock(counters_mutex);
    for (const auto& check : checks) {
      ++checks_by_outcome[check.found ? "found" : check.answered ? "not_found" : "unknown"];
      if (!check.answered && unanswered.empty())
        unanswered = fmt::format("{}: {}", check.domain, check.detail);
    }
    for (const auto& claim : *recorded) {
      if (claim.verified())
        Log(fmt::format("domain {} of {}/{} verified", claim.domain, claim.partner,
                        claim.customer));
    }
    return recorded;
  }

  void Round() {
    if (Status held = service.HoldJob(kJob, options.interval * 3); !held.ok()) {
      if (held.code() != StatusCode::kConflict) Report(held.message());
      return;  // another replica's to run
    }
    auto pending = service.ListDomainClaims(Actor::Local(), "", "", true);
    if (!pending.ok()) return Report(pending.status().message());
    std::string unanswered;
    auto checked = Check(*pending, unanswered);
    if (!checked.ok()) return Report(checked.status().message());
    int64_t still_pending = std::count_if(checked->begin(), checked->end(),
                                          [](const DomainClaim& c) { return !c.verified(); });
    {
      std::lock_guard lock(counters_mutex);
      pending_after_round = still_pending;
    }
    Report(unanswered);
  }

  // Logs a round's problem once, and its recovery.
  void Report(const std::string& problem) {
    if (problem == last_problem) return;
    Log(problem.empty() ? "domain verification: works again" : "domain verification: " + problem);
    last_problem = problem;
  }

  void Run() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      lock.unlock();
      Round();
      lock.lock();
      wake.wait_for(lock, options.interval, [&] { return stopping; });
    }
  }
};

DomainVerifier::DomainVerifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DomainVerifier::~DomainVerifier() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->service.ReleaseJob(Impl::kJob);
}

Result<std::unique_ptr<DomainVerifier>> DomainVerifier::Start(Service& service,
                                                              DomainVerifierOptions options) {
  if (auto resolver = DnsResolver::Create(options.dns); !resolver.ok()) return resolver.status();
  auto impl = std::make_unique<Impl>(service, std::move(options));
  Impl* running = impl.get();
  std::unique_ptr<DomainVerifier> verifier(new DomainVerifier(std::move(impl)));
  running->thread = std::thread([running] { running->Run(); });
  return verifier;
}

Result<std::vector<DomainClaim>> DomainVerifier::CheckNow(const std::string& partner,
                                                          const std::string& customer) {
  auto pending = impl_->service.ListDomainClaims(Actor::Local(), partner, customer, true);
  if (!pending.ok()) return pending.status();
  std::string unanswered;
  if (auto checked = impl_->Check(*pending, unanswered); !checked.ok()) return checked.status();
  return impl_->service.ListDomainClaims(Actor::Local(), partner, customer, false);
}

std::string DomainVerifier::Metrics() const {
  std::lock_guard lock(impl_->counters_mutex);
  std::string out = fmt::format(
      "# HELP gatewayd_domain_claims_pending Domain claims waiting for their TXT record after "
      "the last verification round.\n"
      "# TYPE gatewayd_domain_claims_pending gauge\n"
      "gatewayd_domain_claims_pending {}\n"
      "# HELP gatewayd_domain_checks_total Domain claim checks by outcome: found (the TXT "
      "record is published), not_found, unknown (DNS did not answer).\n"
      "# TYPE gatewayd_domain_checks_total counter\n",
      impl_->pending_after_round);
  for (const char* outcome : {"found", "not_found", "unknown"}) {
    auto it = impl_->checks_by_outcome.find(outcome);
    out += fmt::format("gatewayd_domain_checks_total{{outcome=\"{}\"}} {}\n", outcome,
                       it == impl_->checks_by_outcome.end() ? 0 : it->second);
  }
  return out;
}

}  // namespace gw
