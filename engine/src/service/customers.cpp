// Service: customers, checked by the schema and the rules, with their claims; leases.
#include "gateway/service.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <fmt/format.h>

#include "gateway/destination.h"
#include "gateway/field_annotations.h"
#include "gateway/schema.h"

#include "service/service_impl.h"

namespace gw {

namespace {

using nlohmann::json;

// The request's pointer for a pointer into the manifest-shaped document the schema and
// rules read: the name and labels travel outside the spec.
std::string RequestField(const std::string& pointer) {
  if (pointer.rfind("/metadata/name", 0) == 0) return "/name";
  if (pointer.rfind("/metadata/labels", 0) == 0) return pointer.substr(9);
  return pointer;
}

// Domains and relay sources as the store holds them, for the claim rules.
class StoreClaims : public ClaimLookup {
 public:
  StoreClaims(Store& store, ClaimOwner self) : store_(store), self_(std::move(self)) {}

  Result<std::optional<ClaimHolder>> DomainHolder(const std::string& domain) override {
    auto owner = store_.DomainOwner(domain);
    if (!owner.ok()) return owner.status();
    if (!*owner || ((**owner).partner == self_.partner && (**owner).customer == self_.customer))
      return std::optional<ClaimHolder>();
    return std::optional<ClaimHolder>(Holder(**owner));
  }

  Result<std::optional<std::pair<IpRange, ClaimHolder>>> RelayOverlap(
      const IpRange& range) override {
    auto claim = store_.RelayOverlap(range, self_);
    if (!claim.ok()) return claim.status();
    if (!*claim) return std::optional<std::pair<IpRange, ClaimHolder>>();
    return std::optional<std::pair<IpRange, ClaimHolder>>(
        std::make_pair((**claim).range, Holder((**claim).owner)));
  }

 private:
  ClaimHolder Holder(const ClaimOwner& owner) const {
    bool same_partner = owner.partner == self_.partner;
    return {same_partner ? owner.customer : "", same_partner, ""};
  }

  Store& store_;
  ClaimOwner self_;
};

// Which top-level settings a replace changed, for the audit log.
std::vector<std::string> ChangedSettings(const json& before, const json& after) {
  std::vector<std::string> changed;
  for (const auto& [key, value] : after.items()) {
    if (!before.contains(key) || before[key] != value) changed.push_back(key);
  }
  for (const auto& [key, value] : before.items()) {
    if (!after.contains(key)) changed.push_back(key);
  }
  return changed;
}

// Refuses a secret the gateway does not keep, naming those it does.
Status CheckSecretsKept(const CustomerWrite& write) {
  const auto& secret_fields = CustomerFields::Get().secrets();
  for (const auto& [pointer, value] : write.secrets) {
    if (std::any_of(
            secret_fields.begin(), secret_fields.end(),
            [&pointer = pointer](const auto& field) { return field.gateway_field == pointer; }))
      continue;
    std::vector<std::string> known;
    for (const auto& field : secret_fields) known.push_back(field.gateway_field);
    return Status::Invalid(fmt::format("'{}' is not a secret the gateway keeps (known: {})",
                                       pointer, fmt::join(known, ", ")),
                           "/secrets");
  }
  return Status::Ok();
}

// The fingerprints of the written secrets. A value already stored keeps its fingerprint,
// so writing it again changes nothing.
std::map<std::string, std::string> Fingerprints(const Customer* before,
                                                const std::map<std::string, std::string>& secrets) {
  std::map<std::string, std::string> fingerprints;
  for (const auto& [pointer, value] : secrets) {
    auto stored = before ? before->secret_fingerprints.find(pointer)
                         : std::map<std::string, std::string>::const_iterator();
    bool same = before && stored != before->secret_fingerprints.end() &&
                SecretMatches(stored->second, value);
    fingerprints[pointer] = same ? stored->second : SecretFingerprint(value);
  }
  return fingerprints;
}

Status CheckCondition(const Customer* before, const WriteCondition& condition,
                      const std::string& name) {
  if (condition.kind == WriteCondition::Kind::kCreateOnly && before) {
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("customer '{}' already exists", name));
  }
  if (condition.kind == WriteCondition::Kind::kVersion) {
    if (!before) return NotFound(fmt::format("customer '{}'", name));
    if (before->version != condition.version) {
      return Status(StatusCode::kFailedPrecondition,
                    fmt::format("customer '{}' is at version {}, not {}", name, before->version,
                                condition.version));
    }
  }
  return Status::Ok();
}

// A field that names where the customer lives cannot move under it.
void CheckImmutable(const Customer& before, const json& spec, std::vector<StatusDetail>& problems) {
  for (const auto& field : CustomerFields::Get().immutable()) {
    json::json_pointer at(field);
    if (!before.spec.contains(at) || (spec.contains(at) && spec[at] == before.spec[at])) continue;
    problems.push_back({"/spec" + field, "immutable",
                        fmt::format("{} cannot change once set (it is {}); delete the customer "
                                    "and create it again",
                                    field.substr(1), before.spec[at].dump())});
  }
}

// Users must stay inside the customer's domains: a domain that still has users cannot go.
Status CheckUsersStayInDomains(Store& store, const ClaimOwner& owner,
                               const std::vector<std::string>& domains) {
  auto old_domains = store.CustomerDomains(owner.partner, owner.customer);
  if (!old_domains.ok()) return old_domains.status();
  for (const auto& old_domain : *old_domains) {
    if (std::find(domains.begin(), domains.end(), old_domain) != domains.end()) continue;
    auto users = store.UsersInDomain(owner.partner, owner.customer, old_domain);
    if (!users.ok()) return users.status();
    if (users->first > 0) {
      return Status(StatusCode::kConflict,
                    fmt::format("{} users are in domain '{}', which this change removes "
                                "(first: {}); remove them first",
                                users->first, old_domain, users->second),
                    "/spec/domains");
    }
  }
  return Status::Ok();
}

// The audit entry's detail of a write: the version, the settings and secrets it changed.
json AuditDetail(const Customer* before, const Customer& after, const CustomerWrite& write) {
  json detail = {{"version", after.version}};
  if (before) {
    detail["changed"] = ChangedSettings(before->spec, after.spec);
    std::vector<std::string> secrets_changed;
    for (const auto& [pointer, fingerprint] : after.secret_fingerprints) {
      auto old = before->secret_fingerprints.find(pointer);
      if (old == before->secret_fingerprints.end() || old->second != fingerprint)
        secrets_changed.push_back(pointer);
    }
    if (!secrets_changed.empty()) detail["secretsChanged"] = secrets_changed;
  }
  if (!write.applied_revision.empty()) detail["appliedRevision"] = write.applied_revision;
  return detail;
}

}  // namespace

Result<std::vector<Customer>> Service::ListCustomers(const Actor& actor,
                                                     const std::string& partner) {
  return impl_->Read<std::vector<Customer>>([&]() -> Result<std::vector<Customer>> {
    if (Status s = impl_->CheckPartner(actor, Action::kReadCustomers, partner); !s.ok()) return s;
    return impl_->CustomersWithClaims(partner, NarrowedCustomer(actor, ""));
  });
}

Result<PartnerState> Service::GetState(const Actor& actor, const std::string& partner) {
  return impl_->Read<PartnerState>([&]() -> Result<PartnerState> {
    if (Status s = impl_->CheckPartner(actor, Action::kReadState, partner); !s.ok()) return s;
    PartnerState state;
    state.partner = partner;
    auto revision = impl_->store->PartnerRevision(partner);
    if (!revision.ok()) return revision.status();
    state.revision = *revision;
    auto customers = impl_->CustomersWithClaims(partner);
    if (!customers.ok()) return customers.status();
    state.customers = std::move(*customers);
    return state;
  });
}

Result<Customer> Service::GetCustomer(const Actor& actor, const std::string& partner,
                                      const std::string& name) {
  return impl_->Read<Customer>([&]() -> Result<Customer> {
    if (Status s = impl_->CheckPartner(actor, Action::kReadCustomers, partner, name); !s.ok())
      return s;
    auto customer = impl_->ExistingCustomer(partner, name);
    if (!customer.ok()) return customer;
    if (Status s = impl_->AttachClaims(partner, {&*customer}); !s.ok()) return s;
    return customer;
  });
}

Result<Customer> Service::PutCustomer(const Actor& actor, const std::string& partner,
                                      const std::string& name, const CustomerWrite& write,
                                      WriteCondition condition) {
  // Shape first, with the very schema gwctl validates manifests with.
  json document = {{"apiVersion", "gwctl/v1"},
                   {"kind", "Customer"},
                   {"metadata", {{"name", name}, {"labels", write.labels}}},
                   {"spec", write.spec}};
  // Then the rules, also on a document the schema refused (they skip what they cannot
  // read), so one answer lists every problem; a value the schema refused is not
  // reported again by a rule.
  std::vector<StatusDetail> problems;
  std::set<std::string> refused_values;
  for (const auto& v : SchemaSet::Builtin().Validate("customer.schema.json", document)) {
    problems.push_back({RequestField(v.pointer), "schema", v.message});
    refused_values.insert(v.pointer);
  }
  if (Status s = CheckSecretsKept(write); !s.ok()) return s;
  RuleFindings findings;
  CompiledCustomer compiled = CompileCustomer(document, impl_->rules, findings);

  return impl_->Write<Customer>([&]() -> Result<Customer> {
    Store& store = *impl_->store;
    if (Status s = impl_->CheckPartner(actor, Action::kWriteCustomers, partner, name); !s.ok())
      return s;
    auto existing = store.LoadCustomer(partner, name);
    if (!existing.ok()) return existing.status();
    const Customer* before = existing->has_value() ? &**existing : nullptr;
    std::map<std::string, std::string> fingerprints = Fingerprints(before, write.secrets);
    if (Status s = CheckCondition(before, condition, name); !s.ok()) return s;
    if (before) CheckImmutable(*before, write.spec, problems);
    StoreClaims claims(store, {partner, name});
    if (Status s = CheckClaims(compiled, claims, findings); !s.ok()) return s;
    for (const auto& f : findings) {
      if (!f.is_error() || refused_values.count(f.pointer)) continue;
      problems.push_back({f.pointer, f.rule, f.Text([](const std::string& p) { return p; })});
    }
    if (!problems.empty()) return Refusal(std::move(problems));
    if (before && before->spec == write.spec && before->labels == write.labels &&
        before->owner == write.owner && before->applied_revision == write.applied_revision &&
        before->secret_fingerprints == fingerprints) {
      Customer same = *before;  // identical: no new version
      if (Status s = impl_->AttachClaims(partner, {&same}); !s.ok()) return s;
      return same;
    }
    if (before) {
      Status kept = CheckUsersStayInDomains(store, {partner, name}, compiled.config.domains);
      if (!kept.ok()) return kept;
    }
    Customer after;
    after.name = name;
    after.version = before ? before->version + 1 : 1;
    after.owner = write.owner;
    after.applied_revision = write.applied_revision;
    after.labels = write.labels;
    after.spec = write.spec;
    after.secret_fingerprints = fingerprints;
    after.user_count = before ? before->user_count : 0;
    after.users_digest = before ? before->users_digest : kEmptyDigest;
    after.updated_at = Now();
    after.created_at = before ? before->created_at : after.updated_at;
    if (Status s = store.SaveCustomer(partner, after); !s.ok()) return s;
    if (Status s = impl_->SaveClaims({partner, name}, compiled); !s.ok()) return s;
    if (Status s = impl_->AttachClaims(partner, {&after}); !s.ok()) return s;
    if (Status s = impl_->Changed(actor, partner, before ? "customer.update" : "customer.create",
                                  name, AuditDetail(before, after, write));
        !s.ok()) {
      return s;
    }
    return after;
  });
}

Status Service::DeleteCustomer(const Actor& actor, const std::string& partner,
                               const std::string& name, int64_t version) {
  return impl_
      ->Write<bool>([&]() -> Result<bool> {
        if (Status s = impl_->CheckPartner(actor, Action::kWriteCustomers, partner, name); !s.ok())
          return s;
        auto existing = impl_->ExistingCustomer(partner, name);
        if (!existing.ok()) return existing.status();
        if (existing->version != version) {
          return Status(StatusCode::kFailedPrecondition,
                        fmt::format("customer '{}' is at version {}, not {}", name,
                                    existing->version, version));
        }
        auto domains = impl_->store->CustomerDomains(partner, name);
        if (!domains.ok()) return domains.status();
        if (Status s = impl_->ReleaseProofs(partner, *domains); !s.ok()) return s;
        if (Status s = impl_->store->DeleteCustomer(partner, name); !s.ok()) return s;
        json detail = {{"version", version}, {"users", existing->user_count}};
        if (Status s = impl_->Changed(actor, partner, "customer.delete", name, detail); !s.ok())
          return s;
        return true;
      })
      .status();
}

Result<Lease> Service::TakeLease(const Actor& actor, const std::string& partner,
                                 const std::string& holder, int64_t ttl_seconds) {
  if (holder.empty()) return Status::Invalid("a lease needs a holder", "/holder");
  if (ttl_seconds < 0 || ttl_seconds > 3600)
    return Status::Invalid("ttl must be 0-3600 seconds", "/ttlSeconds");
  return impl_->Write<Lease>([&]() -> Result<Lease> {
    Store& store = *impl_->store;
    if (Status s = impl_->CheckPartner(actor, Action::kTakeLease, partner); !s.ok()) return s;
    int64_t now = UnixNow();
    auto current = store.GetLease(partner);
    if (!current.ok()) return current.status();
    bool ours = false;  // held by `holder` and not expired: a renewal or a release
    if (*current && (**current).expires_at_unix > now) {
      if ((**current).holder != holder) {
        return Status(
            StatusCode::kConflict,
            fmt::format("the apply lease of partner '{}' is held by '{}' for {} more seconds",
                        partner, (**current).holder, (**current).expires_at_unix - now));
      }
      ours = true;
    }
    if (ttl_seconds == 0) {
      if (Status s = store.DeleteLease(partner, holder); !s.ok()) return s;
      if (ours) {
        if (Status s = impl_->Audit(actor, partner, "lease.release", holder, json::object());
            !s.ok())
          return s;
      }
      return Lease{holder, 0};
    }
    // Who held the lease when is in the audit log; renewals are not.
    if (!ours) {
      if (Status s = impl_->Audit(actor, partner, "lease.acquire", holder,
                                  json{{"ttlSeconds", ttl_seconds}});
          !s.ok())
        return s;
    }
    Lease lease{holder, now + ttl_seconds};
    if (Status s = store.PutLease(partner, lease); !s.ok()) return s;
    return lease;
  });
}

}  // namespace gw
