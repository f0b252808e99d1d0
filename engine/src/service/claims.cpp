// Service: domain claims, their proofs and their verification.
#include "gateway/service.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <fmt/format.h>

#include "service/service_impl.h"

namespace gw {

namespace {

using nlohmann::json;

// How long a partner's proof of a domain outlives its last claim: a customer replaced, or
// a domain moved between the partner's customers within it, takes mail on at once. Past
// it the partner proves the domain again, with a new record.
constexpr std::chrono::hours kProofOutlivesClaims{24 * 7};

}  // namespace

// Those of `domains` the owner claims already (`held`) as they are; a new one with the
// partner's proof of the domain: verified at once when the partner proved it and has
// held it within kProofOutlivesClaims (or the gateway does not verify), else pending
// with the proof's token (a new one once a proof has lapsed).
Result<std::vector<DomainClaim>> Service::Impl::ClaimsFor(const ClaimOwner& owner,
                                                          const std::vector<std::string>& domains,
                                                          const std::vector<DomainClaim>& held) {
  std::vector<DomainClaim> claims;
  auto now = std::chrono::system_clock::now();
  std::string at = FormatRfc3339(now);
  for (const auto& domain : domains) {
    auto it = std::find_if(held.begin(), held.end(),
                           [&](const DomainClaim& claim) { return claim.domain == domain; });
    if (it != held.end()) {
      claims.push_back(*it);
      continue;
    }
    auto loaded = store->LoadDomainProof(owner.partner, domain);
    if (!loaded.ok()) return loaded.status();
    DomainProof proof = loaded->value_or(DomainProof{owner.partner, domain, "", "", ""});
    auto released = ParseRfc3339(proof.released_at);
    bool proven =
        !proof.verified_at.empty() &&
        (proof.released_at.empty() || (released && now - *released < kProofOutlivesClaims));
    if (!proof.verified_at.empty() && !proven) proof = {owner.partner, domain, "", "", ""};
    if (proof.token.empty()) {
      auto token = RandomHex(16);  // the claim's verification token
      if (!token.ok()) return token.status();
      proof.token = *token;
    }
    proof.released_at.clear();
    DomainClaim claim{domain, owner.partner, owner.customer, proof.token, at, "", "", ""};
    if (proven) {
      claim.verified_at = at;
      claim.check_detail = "proven by this partner before (" + proof.verified_at + ")";
    } else if (!options.verify_domains) {
      claim.verified_at = proof.verified_at = at;
    }
    if (Status s = store->SaveDomainProof(proof); !s.ok()) return s;
    claims.push_back(std::move(claim));
  }
  return claims;
}

// Marks the partner's proofs of `domains` released now (their claims are going).
Status Service::Impl::ReleaseProofs(const std::string& partner,
                                    const std::vector<std::string>& domains) {
  for (const auto& domain : domains) {
    auto proof = store->LoadDomainProof(partner, domain);
    if (!proof.ok()) return proof.status();
    if (!*proof) continue;
    (*proof)->released_at = Now();
    if (Status s = store->SaveDomainProof(**proof); !s.ok()) return s;
  }
  return Status::Ok();
}

Status Service::Impl::SaveClaims(const ClaimOwner& owner, const CompiledCustomer& compiled) {
  const std::vector<std::string>& domains = compiled.config.domains;
  auto held = store->ListDomainClaims(owner.partner, owner.customer, false);
  if (!held.ok()) return held.status();
  std::vector<std::string> dropped;
  for (const auto& claim : *held) {
    if (std::find(domains.begin(), domains.end(), claim.domain) == domains.end())
      dropped.push_back(claim.domain);
  }
  if (Status s = ReleaseProofs(owner.partner, dropped); !s.ok()) return s;
  auto claims = ClaimsFor(owner, domains, *held);
  if (!claims.ok()) return claims.status();
  return store->ReplaceClaims(owner, *claims, RelayClaims(compiled));
}

// Gives each customer its domain claims, read in one query.
Status Service::Impl::AttachClaims(const std::string& partner, std::vector<Customer*> customers) {
  auto claims =
      store->ListDomainClaims(partner, customers.size() == 1 ? customers[0]->name : "", false);
  if (!claims.ok()) return claims.status();
  std::map<std::string, Customer*> by_name;
  for (Customer* customer : customers) by_name[customer->name] = customer;
  for (auto& claim : *claims) {
    auto it = by_name.find(claim.customer);
    if (it != by_name.end()) it->second->domain_claims.push_back(std::move(claim));
  }
  return Status::Ok();  // each customer's by domain, as listed
}

// Verifies the claim if no other customer's verified claim holds its name; else says
// so in its detail. Audited when verified.
Status Service::Impl::VerifyClaim(const Actor& actor, DomainClaim& claim, const std::string& at) {
  auto owner = store->DomainOwner(claim.domain);
  if (!owner.ok()) return owner.status();
  if (*owner && ((**owner).partner != claim.partner || (**owner).customer != claim.customer)) {
    claim.check_detail +=
        "; another customer's verified claim holds the name, so this one stays pending";
    return Status::Ok();
  }
  claim.verified_at = at;
  auto proof = store->LoadDomainProof(claim.partner, claim.domain);
  if (!proof.ok()) return proof.status();
  DomainProof proven =
      proof->value_or(DomainProof{claim.partner, claim.domain, claim.token, "", ""});
  proven.verified_at = at;
  if (Status s = store->SaveDomainProof(proven); !s.ok()) return s;
  return Audit(actor, claim.partner, "domain.verify", claim.domain,
               {{"customer", claim.customer}, {"detail", claim.check_detail}});
}

// Derives a stored customer's claims from its settings, for customers stored before
// the store kept them.
Status Service::Impl::Recompile(const ClaimOwner& owner) {
  auto customer = ExistingCustomer(owner.partner, owner.customer);
  if (!customer.ok()) return customer.status();
  // Stored before the rules ran: kept as it is, findings or not.
  return SaveClaims(owner, CompileStored(*customer));
}

Result<std::vector<DomainClaim>> Service::ListDomainClaims(const Actor& actor,
                                                           const std::string& partner,
                                                           const std::string& customer,
                                                           bool pending_only) {
  std::string narrowed = NarrowedCustomer(actor, customer);
  if (partner.empty()) {
    if (Status s = Authorize(actor, Action::kReadDomainClaims, partner); !s.ok()) return s;
  }
  return impl_->Read<std::vector<DomainClaim>>([&]() -> Result<std::vector<DomainClaim>> {
    if (!partner.empty()) {
      if (Status s = impl_->CheckPartner(actor, Action::kReadDomainClaims, partner, narrowed);
          !s.ok())
        return s;
    }
    return impl_->store->ListDomainClaims(partner, narrowed, pending_only);
  });
}

Result<std::vector<DomainClaim>> Service::RecordDomainChecks(
    const Actor& actor, const std::vector<DomainCheck>& checks) {
  if (Status s = Authorize(actor, Action::kVerifyDomains, ""); !s.ok()) return s;
  return impl_->Write<std::vector<DomainClaim>>([&]() -> Result<std::vector<DomainClaim>> {
    Store& store = *impl_->store;
    std::vector<DomainClaim> checked;
    std::string now = Now();
    for (const auto& check : checks) {
      auto claims = store.ListDomainClaims(check.partner, check.customer, false);
      if (!claims.ok()) return claims.status();
      auto it = std::find_if(claims->begin(), claims->end(), [&](const DomainClaim& claim) {
        return claim.domain == check.domain;
      });
      if (it == claims->end()) continue;
      DomainClaim claim = std::move(*it);
      if (!claim.verified()) {
        claim.checked_at = now;
        claim.check_detail = check.detail;
        if (check.found) {
          if (Status s = impl_->VerifyClaim(actor, claim, now); !s.ok()) return s;
        }
        if (Status s = store.SaveDomainCheck(claim); !s.ok()) return s;
      }
      checked.push_back(std::move(claim));
    }
    return checked;
  });
}

Result<int64_t> Service::VerifyPendingClaims(const Actor& actor) {
  if (Status s = Authorize(actor, Action::kVerifyDomains, ""); !s.ok()) return s;
  return impl_->Write<int64_t>([&]() -> Result<int64_t> {
    auto pending = impl_->store->ListDomainClaims("", "", true);
    if (!pending.ok()) return pending.status();
    std::string now = Now();
    int64_t verified = 0;
    for (auto& claim : *pending) {
      claim.checked_at = now;
      claim.check_detail = "verified: the gateway does not verify domains";
      if (Status s = impl_->VerifyClaim(actor, claim, now); !s.ok()) return s;
      if (Status s = impl_->store->SaveDomainCheck(claim); !s.ok()) return s;
      verified += claim.verified();
    }
    return verified;
  });
}

}  // namespace gw
