#include "gateway/service.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <openssl/rand.h>

#include "gateway/customer_rules.h"
#include "gateway/destination.h"
#include "gateway/domain_name.h"
#include "gateway/field_annotations.h"
#include "gateway/password_hash.h"
#include "gateway/rfc3339.h"
#include "gateway/schema.h"
#include "gateway/spam_report.h"

namespace gw {

namespace {

using nlohmann::json;

const std::string kEmptyDigest(32, '0');

std::string Now() {
  return FormatRfc3339(std::chrono::system_clock::now());
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status Invalid(std::string message, std::string field) {
  return Status(StatusCode::kInvalidArgument, std::move(message), std::move(field));
}

Status NotFound(std::string what) {
  return Status(StatusCode::kNotFound, fmt::format("{} not found", what));
}

// How long a partner's proof of a domain outlives its last claim: a customer replaced, or
// a domain moved between the partner's customers within it, takes mail on at once. Past
// it the partner proves the domain again, with a new record.
constexpr std::chrono::hours kProofOutlivesClaims{24 * 7};

// A domain claim's verification token: 16 random bytes, hex.
Result<std::string> NewVerificationToken() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    return Status(StatusCode::kInternal, "no random bytes for a domain verification token");
  std::string hex;
  for (unsigned char b : bytes) hex += fmt::format("{:02x}", b);
  return hex;
}

bool ValidName(const std::string& name) {
  static const std::regex kName("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
  return std::regex_match(name, kName);
}

// A refusal that names every problem: the first in field() and message() for clients
// that read one, all of them in details().
Status Refusal(std::vector<StatusDetail> details) {
  std::string message;
  if (details.size() == 1) {
    message = details.front().message;
  } else {
    message = fmt::format("{} problems:", details.size());
    for (const auto& d : details)
      message += fmt::format(" {}: {} [{}];", d.field, d.message, d.rule);
    message.pop_back();
  }
  std::string field = details.front().field;
  return Invalid(std::move(message), std::move(field)).set_details(std::move(details));
}

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

// An address names one user of a customer: no user's address or alias may be another's
// (rule user-duplicate, as gwctl validate checks across inline mailboxes and CSV files).
// `upserts` are normalised and in the customer's domains; users they replace and users
// removed in the same batch give their addresses up.
Status CheckAddressesAreFree(Store& store, const std::string& partner, const std::string& customer,
                             const std::vector<User>& upserts,
                             const std::vector<std::string>& removed,
                             std::vector<StatusDetail>& problems) {
  // Most customers have no aliases at all: then no address can be one.
  auto stored_aliases = store.HasAliases(partner, customer);
  if (!stored_aliases.ok()) return stored_aliases.status();
  bool batch_aliases = std::any_of(upserts.begin(), upserts.end(),
                                   [](const User& user) { return !user.aliases.empty(); });
  if (!*stored_aliases && !batch_aliases) return Status::Ok();  // addresses are unique already
  std::set<std::string> changing(removed.begin(), removed.end());
  for (const auto& user : upserts) changing.insert(user.address);
  // What the store holds for every address and alias of the batch, in three queries: a
  // batch is thousands of users, and the store may be across a network.
  std::vector<std::string> addresses, aliases;
  for (const auto& user : upserts) {
    addresses.push_back(user.address);
    aliases.insert(aliases.end(), user.aliases.begin(), user.aliases.end());
  }
  std::map<std::string, std::string> alias_owners;  // of addresses and aliases alike
  if (*stored_aliases) {
    std::vector<std::string> asked = addresses;
    asked.insert(asked.end(), aliases.begin(), aliases.end());
    auto owners = store.AliasOwners(partner, customer, asked);
    if (!owners.ok()) return owners.status();
    alias_owners = std::move(*owners);
  }
  auto alias_users = store.UserHashesOf(partner, customer, aliases);  // aliases that are users
  if (!alias_users.ok()) return alias_users.status();
  auto owner_of = [&](const std::string& address) -> const std::string* {
    auto found = alias_owners.find(address);
    return found == alias_owners.end() ? nullptr : &found->second;
  };

  std::map<std::string, std::string> claimed;  // address or alias -> user, in this batch
  for (const auto& user : upserts) claimed.emplace(user.address, user.address);
  for (size_t i = 0; i < upserts.size(); ++i) {
    const User& user = upserts[i];
    if (const std::string* owner = owner_of(user.address); owner && !changing.count(*owner)) {
      problems.push_back(
          {fmt::format("/upsert/{}/address", i), "user-duplicate",
           fmt::format("'{}' is already an alias of user '{}'", user.address, *owner)});
    }
    for (size_t k = 0; k < user.aliases.size(); ++k) {
      const std::string& alias = user.aliases[k];
      std::string field = fmt::format("/upsert/{}/aliases/{}", i, k);
      auto [it, fresh] = claimed.emplace(alias, user.address);
      if (!fresh) {
        problems.push_back(
            {field, "user-duplicate",
             fmt::format(
                 "'{}' is also {} in this batch", alias,
                 it->second == alias ? "a user" : fmt::format("an alias of '{}'", it->second))});
        continue;
      }
      const std::string* owner = owner_of(alias);
      if (alias_users->count(alias) && !changing.count(alias)) {
        problems.push_back({field, "user-duplicate", fmt::format("'{}' is already a user", alias)});
      } else if (owner && *owner != user.address && !changing.count(*owner)) {
        problems.push_back({field, "user-duplicate",
                            fmt::format("'{}' is already an alias of user '{}'", alias, *owner)});
      }
    }
  }
  return Status::Ok();
}

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

// A customer's spam report settings as of one version of it.
struct ReportSettingsAt {
  int64_t version = -1;
  SpamReportSettings settings;  // disabled unless the customer sends reports
};

}  // namespace

struct Service::Impl {
  ServiceOptions options;
  CustomerRuleOptions rules;  // options' gateway names, normalised
  std::unique_ptr<Store> store;
  std::mutex mutex;
  // Quarantined messages being delivered now: a second release of one waits its turn
  // out rather than delivering it again.
  std::mutex releasing_mutex;
  std::set<std::pair<std::string, int64_t>> releasing;
  // One spam report pass at a time; the settings it read, by customer, under it.
  std::mutex reports_mutex;
  std::map<std::pair<std::string, std::string>, ReportSettingsAt> report_settings;

  // Runs `body` (returning Result<T>) as one store transaction, serialised with every
  // other call. The body's writes are kept only if it succeeds.
  template <typename T, typename Body>
  Result<T> Transact(bool write, Body body) {
    std::lock_guard lock(mutex);
    std::optional<Result<T>> result;
    Status status = store->Transaction(write, [&]() -> Status {
      result.emplace(body());
      return result->status();
    });
    if (!status.ok()) return status;
    return std::move(*result);
  }
  template <typename T, typename Body>
  Result<T> Read(Body body) {
    return Transact<T>(false, std::move(body));
  }
  template <typename T, typename Body>
  Result<T> Write(Body body) {
    return Transact<T>(true, std::move(body));
  }

  // Takes or renews the store's job lease `job` for this replica for `ttl`; kConflict
  // naming the replica that has it.
  Status HoldJob(const std::string& job, std::chrono::milliseconds ttl) {
    std::lock_guard lock(mutex);
    auto holder = store->HoldJobFor(job, options.replica, ttl);
    if (!holder.ok()) return holder.status();
    if (*holder == options.replica) return Status::Ok();
    return Status(StatusCode::kConflict,
                  fmt::format("replica '{}' holds the {} job now", *holder, job));
  }
  void ReleaseJob(const std::string& job) {
    std::lock_guard lock(mutex);
    store->ReleaseJob(job, options.replica);
  }

  Status CanSendMail(const char* what) const {
    if (options.send_mail) return Status::Ok();
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("this gateway cannot deliver mail: {} needs gatewayd started with "
                              "--release-smtp",
                              what));
  }

  Status CheckPartner(const Actor& actor, const std::string& partner) {
    if (actor.is_filter || (!actor.is_operator && actor.partner != partner))
      return NotFound(fmt::format("partner '{}'", partner));
    auto exists = store->PartnerExists(partner);
    if (!exists.ok()) return exists.status();
    if (!*exists) return NotFound(fmt::format("partner '{}'", partner));
    return Status::Ok();
  }

  Result<Customer> ExistingCustomer(const std::string& partner, const std::string& name) {
    auto customer = store->LoadCustomer(partner, name);
    if (!customer.ok()) return customer.status();
    if (!*customer) return NotFound(fmt::format("customer '{}'", name));
    return std::move(**customer);
  }

  // Records a change and bumps the partner's revision, which every change does.
  Status Changed(const Actor& actor, const std::string& partner, const std::string& action,
                 const std::string& target, json detail) {
    if (Status s = store->BumpPartnerRevision(partner); !s.ok()) return s;
    return Audit(actor, partner, action, target, std::move(detail));
  }

  Status Audit(const Actor& actor, const std::string& partner, const std::string& action,
               const std::string& target, json detail) {
    return store->AppendAudit({0, Now(), partner, actor.name, action, target, std::move(detail)});
  }

  // Those of `domains` the owner claims already (`held`) as they are; a new one with the
  // partner's proof of the domain: verified at once when the partner proved it and has
  // held it within kProofOutlivesClaims (or the gateway does not verify), else pending
  // with the proof's token (a new one once a proof has lapsed).
  Result<std::vector<DomainClaim>> ClaimsFor(const ClaimOwner& owner,
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
        auto token = NewVerificationToken();
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
  Status ReleaseProofs(const std::string& partner, const std::vector<std::string>& domains) {
    for (const auto& domain : domains) {
      auto proof = store->LoadDomainProof(partner, domain);
      if (!proof.ok()) return proof.status();
      if (!*proof) continue;
      (*proof)->released_at = Now();
      if (Status s = store->SaveDomainProof(**proof); !s.ok()) return s;
    }
    return Status::Ok();
  }

  Status SaveClaims(const ClaimOwner& owner, const CompiledCustomer& compiled) {
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
  Status AttachClaims(const std::string& partner, std::vector<Customer*> customers) {
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
  Status VerifyClaim(const Actor& actor, DomainClaim& claim, const std::string& at) {
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
  Status Recompile(const ClaimOwner& owner) {
    auto customer = ExistingCustomer(owner.partner, owner.customer);
    if (!customer.ok()) return customer.status();
    // Stored before the rules ran: kept as it is, findings or not.
    return SaveClaims(owner, CompileStored(*customer));
  }
};

Service::Service(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Service::~Service() = default;

Result<std::unique_ptr<Service>> Service::Open(const std::string& path, ServiceOptions options) {
  auto store = OpenStore(path, {options.busy_timeout_ms});
  if (!store.ok()) return store.status();
  return Create(std::move(*store), options);
}

Result<std::unique_ptr<Service>> Service::Create(std::unique_ptr<Store> store,
                                                 ServiceOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  for (const std::string& name : options.gateway_hosts) {
    auto host = NormalizeHost(name);
    if (!host.ok())
      return Status(StatusCode::kInvalidArgument,
                    "the gateway's host name: " + host.status().message());
    impl->rules.gateway_hosts.push_back(*host);
  }
  for (Endpoint smtp : options.gateway_smtp) {
    auto host = NormalizeHost(smtp.host);
    if (!host.ok())
      return Status(StatusCode::kInvalidArgument,
                    "the gateway's SMTP address: " + host.status().message());
    smtp.host = *host;
    impl->rules.gateway_smtp.push_back(smtp);
  }
  impl->rules.destination_networks = options.destination_networks;
  impl->store = std::move(store);
  auto upgraded = impl->Write<bool>([&]() -> Result<bool> {
    auto stale = impl->store->TakeCustomersToRecompile();
    if (!stale.ok()) return stale.status();
    for (const auto& owner : *stale) {
      if (Status s = impl->Recompile(owner); !s.ok()) return s;
    }
    return true;
  });
  if (!upgraded.ok()) return upgraded.status();
  return std::unique_ptr<Service>(new Service(std::move(impl)));
}

Status Service::PutPartner(const Actor& actor, const std::string& partner) {
  if (!actor.is_operator) {
    // A partner may confirm its own partner exists (gwctl does before every plan), so
    // that costs neither a refusal nor a write; only an operator creates one.
    if (actor.partner == partner) {
      auto exists = impl_->Read<bool>([&]() -> Result<bool> {
        if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
        return true;
      });
      if (exists.ok()) return Status::Ok();
    }
    return Status(StatusCode::kPermissionDenied, "only an operator can create partners");
  }
  if (!ValidName(partner))
    return Invalid(fmt::format("'{}' is not a valid partner name", partner), "/name");
  return impl_
      ->Write<bool>([&]() -> Result<bool> {
        auto inserted = impl_->store->InsertPartner(partner, Now());
        if (!inserted.ok() || !*inserted) return inserted;
        if (Status s = impl_->Audit(actor, partner, "partner.create", partner, json::object());
            !s.ok())
          return s;
        return true;
      })
      .status();
}

Result<std::vector<std::string>> Service::ListPartners(const Actor& actor) {
  if (!actor.is_operator)
    return Status(StatusCode::kPermissionDenied, "only an operator can list partners");
  return impl_->Read<std::vector<std::string>>([&] { return impl_->store->ListPartners(); });
}

Result<std::vector<Customer>> Service::ListCustomers(const Actor& actor,
                                                     const std::string& partner) {
  auto state = GetState(actor, partner);
  if (!state.ok()) return state.status();
  return std::move(state->customers);
}

Result<PartnerState> Service::GetState(const Actor& actor, const std::string& partner) {
  return impl_->Read<PartnerState>([&]() -> Result<PartnerState> {
    if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
    PartnerState state;
    state.partner = partner;
    auto revision = impl_->store->PartnerRevision(partner);
    if (!revision.ok()) return revision.status();
    state.revision = *revision;
    auto customers = impl_->store->ListCustomers(partner);
    if (!customers.ok()) return customers.status();
    state.customers = std::move(*customers);
    std::vector<Customer*> listed;
    for (auto& customer : state.customers) listed.push_back(&customer);
    if (Status s = impl_->AttachClaims(partner, listed); !s.ok()) return s;
    return state;
  });
}

Result<Customer> Service::GetCustomer(const Actor& actor, const std::string& partner,
                                      const std::string& name) {
  return impl_->Read<Customer>([&]() -> Result<Customer> {
    if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
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
  std::map<std::string, std::string> secret_values;
  const auto& secret_fields = CustomerFields::Get().secrets();
  for (const auto& [pointer, value] : write.secrets) {
    if (std::none_of(
            secret_fields.begin(), secret_fields.end(),
            [&pointer = pointer](const auto& field) { return field.gateway_field == pointer; })) {
      std::vector<std::string> known;
      for (const auto& field : secret_fields) known.push_back(field.gateway_field);
      return Invalid(fmt::format("'{}' is not a secret the gateway keeps (known: {})", pointer,
                                 fmt::join(known, ", ")),
                     "/secrets");
    }
    secret_values[pointer] = value;
  }
  RuleFindings findings;
  CompiledCustomer compiled = CompileCustomer(document, impl_->rules, findings);

  return impl_->Write<Customer>([&]() -> Result<Customer> {
    Store& store = *impl_->store;
    if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
    auto existing = store.LoadCustomer(partner, name);
    if (!existing.ok()) return existing.status();
    const Customer* before = existing->has_value() ? &**existing : nullptr;
    // A value already stored keeps its fingerprint, so writing it again changes nothing.
    std::map<std::string, std::string> fingerprints;
    for (const auto& [pointer, value] : secret_values) {
      auto stored = before ? before->secret_fingerprints.find(pointer)
                           : std::map<std::string, std::string>::const_iterator();
      bool same = before && stored != before->secret_fingerprints.end() &&
                  SecretMatches(stored->second, value);
      fingerprints[pointer] = same ? stored->second : SecretFingerprint(value);
    }
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
    if (before) {
      // A field that names where the customer lives cannot move under it.
      for (const auto& field : CustomerFields::Get().immutable()) {
        json::json_pointer at(field);
        if (!before->spec.contains(at) ||
            (write.spec.contains(at) && write.spec[at] == before->spec[at]))
          continue;
        problems.push_back({"/spec" + field, "immutable",
                            fmt::format("{} cannot change once set (it is {}); delete the customer "
                                        "and create it again",
                                        field.substr(1), before->spec[at].dump())});
      }
    }
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
    const std::vector<std::string>& domains = compiled.config.domains;
    if (before) {
      // Users must stay inside the customer's domains.
      auto old_domains = store.CustomerDomains(partner, name);
      if (!old_domains.ok()) return old_domains.status();
      for (const auto& old_domain : *old_domains) {
        if (std::find(domains.begin(), domains.end(), old_domain) != domains.end()) continue;
        auto users = store.UsersInDomain(partner, name, old_domain);
        if (!users.ok()) return users.status();
        if (users->first > 0) {
          return Status(StatusCode::kConflict,
                        fmt::format("{} users are in domain '{}', which this change removes "
                                    "(first: {}); remove them first",
                                    users->first, old_domain, users->second),
                        "/spec/domains");
        }
      }
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
    json detail = {{"version", after.version}};
    if (before) {
      detail["changed"] = ChangedSettings(before->spec, after.spec);
      std::vector<std::string> secrets_changed;
      for (const auto& [pointer, fingerprint] : fingerprints) {
        auto old = before->secret_fingerprints.find(pointer);
        if (old == before->secret_fingerprints.end() || old->second != fingerprint)
          secrets_changed.push_back(pointer);
      }
      if (!secrets_changed.empty()) detail["secretsChanged"] = secrets_changed;
    }
    if (!write.applied_revision.empty()) detail["appliedRevision"] = write.applied_revision;
    if (Status s = impl_->Changed(actor, partner, before ? "customer.update" : "customer.create",
                                  name, std::move(detail));
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
        if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
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

Result<UserPage> Service::ListUsers(const Actor& actor, const std::string& partner,
                                    const std::string& customer, const std::string& after,
                                    size_t limit) {
  if (limit == 0 || limit > impl_->options.max_page_size) limit = impl_->options.max_page_size;
  return impl_->Read<UserPage>([&]() -> Result<UserPage> {
    if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
    if (auto exists = impl_->ExistingCustomer(partner, customer); !exists.ok())
      return exists.status();
    auto users = impl_->store->ListUsers(partner, customer, after, limit + 1);
    if (!users.ok()) return users.status();
    UserPage page;
    page.users = std::move(*users);
    if (page.users.size() > limit) {
      page.users.pop_back();
      page.next_after = page.users.back().address;
    }
    return page;
  });
}

Result<UserBatchResult> Service::BatchUsers(const Actor& actor, const std::string& partner,
                                            const std::string& customer, const UserBatch& batch) {
  if (batch.upsert.size() + batch.remove.size() > impl_->options.max_users_per_batch) {
    return Status(StatusCode::kResourceExhausted, fmt::format("a batch holds at most {} users",
                                                              impl_->options.max_users_per_batch));
  }
  return impl_->Write<UserBatchResult>([&]() -> Result<UserBatchResult> {
    Store& store = *impl_->store;
    if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
    auto existing = impl_->ExistingCustomer(partner, customer);
    if (!existing.ok()) return existing.status();
    auto domains = store.CustomerDomains(partner, customer);
    if (!domains.ok()) return domains.status();

    // Validate everything before writing anything; report every problem (up to a page).
    constexpr size_t kMaxProblems = 100;
    std::vector<StatusDetail> problems;
    std::vector<User> upserts;
    upserts.reserve(batch.upsert.size());
    std::set<std::string> seen;
    for (size_t i = 0; i < batch.upsert.size() && problems.size() < kMaxProblems; ++i) {
      auto user = NormalizeUser(batch.upsert[i], fmt::format("/upsert/{}", i));
      if (!user.ok()) {
        problems.push_back({user.status().field(), "user-invalid", user.status().message()});
        continue;
      }
      bool in_domains = true;
      for (size_t k = 0; k <= user->aliases.size(); ++k) {
        const std::string& address = k == 0 ? user->address : user->aliases[k - 1];
        if (auto problem = FindAddressProblem(address, *domains)) {
          problems.push_back({k == 0 ? fmt::format("/upsert/{}/address", i)
                                     : fmt::format("/upsert/{}/aliases/{}", i, k - 1),
                              problem->rule, problem->message});
          in_domains = false;
        }
      }
      if (!seen.insert(user->address).second) {
        problems.push_back({fmt::format("/upsert/{}", i), "user-duplicate",
                            fmt::format("'{}' appears twice in the batch", user->address)});
      }
      if (in_domains) upserts.push_back(std::move(*user));
    }
    for (size_t i = 0; i < batch.remove.size() && problems.size() < kMaxProblems; ++i) {
      if (seen.count(batch.remove[i])) {
        problems.push_back({fmt::format("/delete/{}", i), "user-duplicate",
                            fmt::format("'{}' is both upserted and removed", batch.remove[i])});
      }
    }
    if (!problems.empty()) return Refusal(std::move(problems));
    if (Status s = CheckAddressesAreFree(store, partner, customer, upserts, batch.remove, problems);
        !s.ok())
      return s;
    if (!problems.empty()) return Refusal(std::move(problems));

    UserBatchResult result;
    result.user_count = existing->user_count;
    result.users_digest = existing->users_digest;
    std::vector<std::string> addresses;
    addresses.reserve(upserts.size() + batch.remove.size());
    for (const auto& user : upserts) addresses.push_back(user.address);
    addresses.insert(addresses.end(), batch.remove.begin(), batch.remove.end());
    auto stored = store.UserHashesOf(partner, customer, addresses);
    if (!stored.ok()) return stored.status();
    std::vector<Store::UserWrite> writes;
    for (const auto& user : upserts) {
      std::string hash = UserHash(user);
      auto previous = stored->find(user.address);
      bool exists = previous != stored->end();
      if (exists && previous->second == hash) continue;
      result.users_digest =
          XorHex(XorHex(result.users_digest, hash), exists ? previous->second : kEmptyDigest);
      if (!exists) ++result.user_count;
      ++result.upserted;
      writes.push_back({&user, std::move(hash), exists});
    }
    std::vector<std::string> removals;
    std::set<std::string> removing;
    for (const auto& address : batch.remove) {
      auto previous = stored->find(address);
      if (previous == stored->end() || !removing.insert(address).second) continue;
      result.users_digest = XorHex(result.users_digest, previous->second);
      --result.user_count;
      ++result.removed;
      removals.push_back(address);
    }
    if (Status s = store.PutUsers(partner, customer, writes); !s.ok()) return s;
    if (Status s = store.RemoveUsers(partner, customer, removals); !s.ok()) return s;
    if (result.upserted == 0 && result.removed == 0) return result;
    if (Status s = store.SetUserSummary(partner, customer, result.user_count, result.users_digest);
        !s.ok()) {
      return s;
    }
    json detail = {{"upserted", result.upserted},
                   {"removed", result.removed},
                   {"userCount", result.user_count}};
    if (Status s = impl_->Changed(actor, partner, "users.batch", customer, detail); !s.ok())
      return s;
    return result;
  });
}

Result<Lease> Service::TakeLease(const Actor& actor, const std::string& partner,
                                 const std::string& holder, int64_t ttl_seconds) {
  if (holder.empty()) return Invalid("a lease needs a holder", "/holder");
  if (ttl_seconds < 0 || ttl_seconds > 3600)
    return Invalid("ttl must be 0-3600 seconds", "/ttlSeconds");
  return impl_->Write<Lease>([&]() -> Result<Lease> {
    Store& store = *impl_->store;
    if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
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

Result<int64_t> Service::Quarantine(const Actor& actor, const std::string& partner,
                                    QuarantinedMessage meta, const std::string& message) {
  if (!actor.is_operator && !actor.is_filter) {
    return Status(StatusCode::kPermissionDenied, "only the gateway's filter keeps messages");
  }
  if (meta.reason != "spam" && meta.reason != "infomail" && meta.reason != "attachment")
    return Invalid("reason must be spam, infomail or attachment", "/reason");
  if (message.empty()) return Invalid("the message is empty", "/message");
  if (meta.recipients.empty()) return Invalid("a message needs recipients", "/recipients");
  // Released mail is handed to SMTP with these: nothing that could end a command.
  auto plain = [](const std::string& address) {
    return std::none_of(address.begin(), address.end(), [](unsigned char c) {
      return c <= ' ' || c == '<' || c == '>' || c >= 0x7f;
    });
  };
  if (!plain(meta.sender)) return Invalid("the sender is not an address", "/sender");
  for (size_t i = 0; i < meta.recipients.size(); ++i) {
    if (meta.recipients[i].empty() || !plain(meta.recipients[i]))
      return Invalid("a recipient is not an address", fmt::format("/recipients/{}", i));
  }
  meta.received_at = Now();
  return impl_->Write<int64_t>([&]() -> Result<int64_t> {
    if (Status s = impl_->CheckPartner(actor.is_filter ? Actor::Local() : actor, partner);
        !s.ok()) {
      return s;
    }
    auto customer = impl_->ExistingCustomer(partner, meta.customer);
    if (!customer.ok()) return customer.status();
    // A release delivers to these recipients: mail kept for the customer is mail to its
    // users, or mail from it (outbound mail held), never a message between strangers.
    auto domains = impl_->store->CustomerDomains(partner, meta.customer);
    if (!domains.ok()) return domains.status();
    auto ours = [&](const std::string& address) {
      return !FindAddressProblem(address, *domains).has_value();
    };
    if (!ours(meta.sender) && !std::all_of(meta.recipients.begin(), meta.recipients.end(), ours)) {
      return Invalid(fmt::format("neither the sender nor every recipient is in a domain of "
                                 "customer '{}'",
                                 meta.customer),
                     "/recipients");
    }
    return impl_->store->AddQuarantined(partner, meta, message);
  });
}

Result<std::vector<QuarantinedMessage>> Service::ListQuarantine(const Actor& actor,
                                                                const std::string& partner,
                                                                const std::string& customer,
                                                                int64_t after, size_t limit) {
  if (limit == 0 || limit > impl_->options.max_page_size) limit = impl_->options.max_page_size;
  return impl_->Read<std::vector<QuarantinedMessage>>(
      [&]() -> Result<std::vector<QuarantinedMessage>> {
        if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
        auto existing = impl_->ExistingCustomer(partner, customer);
        if (!existing.ok()) return existing.status();
        return impl_->store->ListQuarantined(partner, customer, after, limit);
      });
}

Result<QuarantinedMessage> Service::ReleaseQuarantined(const Actor& actor,
                                                       const std::string& partner,
                                                       const std::string& customer, int64_t id) {
  if (Status s = impl_->CanSendMail("releasing"); !s.ok()) return s;
  {
    std::lock_guard lock(impl_->releasing_mutex);
    if (!impl_->releasing.emplace(partner, id).second) {
      return Status(StatusCode::kConflict, fmt::format("message {} is being released", id));
    }
  }
  struct Done {
    Impl& impl;
    std::pair<std::string, int64_t> key;
    ~Done() {
      std::lock_guard lock(impl.releasing_mutex);
      impl.releasing.erase(key);
    }
  } done{*impl_, {partner, id}};
  using Kept = std::pair<QuarantinedMessage, std::string>;
  auto kept = impl_->Read<Kept>([&]() -> Result<Kept> {
    if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
    auto loaded = impl_->store->LoadQuarantined(partner, customer, id);
    if (!loaded.ok()) return loaded.status();
    if (!*loaded)
      return NotFound(fmt::format("quarantined message {} of customer '{}'", id, customer));
    if (!(*loaded)->first.released_at.empty()) {
      return Status(StatusCode::kFailedPrecondition,
                    fmt::format("message {} was released at {}", id, (*loaded)->first.released_at));
    }
    return std::move(**loaded);
  });
  if (!kept.ok()) return kept.status();
  // Delivered outside the transaction (it waits on Postfix); marked after. A failure in
  // between leaves it unreleased, so a retry may deliver it twice, never not at all.
  // Marked, so whoever reads it knows the filter held it and a person let it go.
  std::string marked = fmt::format("X-GW-Released: from quarantine ({}, {})\r\n{}",
                                   kept->first.reason, kept->first.received_at, kept->second);
  if (Status s = impl_->options.send_mail(kept->first.sender, kept->first.recipients, marked);
      !s.ok())
    return s;
  return impl_->Write<QuarantinedMessage>([&]() -> Result<QuarantinedMessage> {
    QuarantinedMessage released = kept->first;
    released.released_at = Now();
    if (Status s = impl_->store->MarkReleased(partner, customer, id, released.released_at); !s.ok())
      return s;
    if (Status s = impl_->Audit(actor, partner, "quarantine.release", customer,
                                json{{"id", id}, {"reason", released.reason}});
        !s.ok())
      return s;
    return released;
  });
}

Status Service::SetContinuityPassword(const Actor& actor, const std::string& partner,
                                      const std::string& customer, const std::string& address,
                                      const std::string& password) {
  auto parsed = ParseEmailAddress(address);
  if (!parsed.ok()) return Invalid(parsed.status().message(), "/address");
  if (Status s = CheckPasswordRules(password); !s.ok()) return Invalid(s.message(), "/password");
  std::string user = parsed->ToString();
  auto check = [&]() -> Status {
    if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
    auto existing = impl_->store->UserHashOf(partner, customer, user);
    if (!existing.ok()) return existing.status();
    if (!*existing) {
      return NotFound(fmt::format("user {} of customer '{}' (a user's own address, not an alias)",
                                  user, customer));
    }
    return Status::Ok();
  };
  // Checked before hashing too, so that a caller without the right cannot make the
  // gateway spend the KDF's memory and time.
  if (Status s = impl_
                     ->Read<bool>([&]() -> Result<bool> {
                       if (Status c = check(); !c.ok()) return c;
                       return true;
                     })
                     .status();
      !s.ok())
    return s;
  // Hashing takes tens of milliseconds and memory: outside the store's transaction.
  auto hash = HashPassword(password);
  if (!hash.ok()) return hash.status();
  return impl_
      ->Write<bool>([&]() -> Result<bool> {
        if (Status c = check(); !c.ok()) return c;
        if (Status s = impl_->store->SetContinuityPassword(partner, customer, user, *hash, Now());
            !s.ok())
          return s;
        if (Status s = impl_->Audit(actor, partner, "continuity.password", customer,
                                    json{{"address", user}});
            !s.ok())
          return s;
        return true;
      })
      .status();
}

Result<int64_t> Service::PurgeQuarantine(int64_t retention_days) {
  auto cutoff = std::chrono::system_clock::now() - std::chrono::hours(24 * retention_days);
  std::string before = FormatRfc3339(cutoff);
  return impl_->Write<int64_t>(
      [&]() -> Result<int64_t> { return impl_->store->PurgeQuarantine(before); });
}

namespace {

// A customer with a report time in a pass's window, and what its recipients have held.
struct DueReport {
  ClaimOwner owner;
  SpamReportSettings settings;
  SpamReportState state;
  bool first_pass = false;
  std::vector<QuarantinedMessage> held;  // unreleased, oldest first
};

bool SpamReportEnabled(const json& spec) {
  const json* report = &spec;
  for (const char* key : {"filtering", "spamReport", "enabled"}) {
    if (!report->is_object() || !report->contains(key)) return false;
    report = &(*report)[key];
  }
  return report->is_boolean() && report->get<bool>();
}

}  // namespace

Result<SpamReportRun> Service::RunSpamReports(const Actor& actor,
                                              std::chrono::system_clock::time_point as_of) {
  if (!actor.is_operator) {
    return Status(StatusCode::kPermissionDenied, "only the gateway's operator runs spam reports");
  }
  if (as_of > std::chrono::system_clock::now() + std::chrono::minutes(1))
    return Invalid("asOf is in the future", "/asOf");
  if (Status s = impl_->CanSendMail("sending spam reports"); !s.ok()) return s;
  std::lock_guard one_pass(impl_->reports_mutex);
  // One pass at a time across replicas too, held while it runs (renewed per customer).
  constexpr const char* kJob = "spam-reports";
  constexpr auto kJobLease = std::chrono::minutes(10);
  if (Status s = impl_->HoldJob(kJob, kJobLease); !s.ok()) return s;
  struct ReleaseWhenDone {
    Impl& impl;
    ~ReleaseWhenDone() { impl.ReleaseJob(kJob); }
  } release{*impl_};
  Store& store = *impl_->store;
  auto due = impl_->Read<std::vector<DueReport>>([&]() -> Result<std::vector<DueReport>> {
    std::vector<DueReport> out;
    auto marks = store.ListCustomerMarks();
    if (!marks.ok()) return marks.status();
    // Settings are read again only for customers whose version moved since the last pass.
    std::map<std::pair<std::string, std::string>, ReportSettingsAt> seen;
    for (const CustomerMark& mark : *marks) {
      const auto& [partner, name] = mark.customer;
      auto& known = seen[{partner, name}];
      if (auto cached = impl_->report_settings.find({partner, name});
          cached != impl_->report_settings.end() && cached->second.version == mark.version) {
        known = cached->second;
      } else {
        auto customer = store.LoadCustomer(partner, name);
        if (!customer.ok()) return customer.status();
        if (!*customer) continue;
        known.version = mark.version;
        // Most customers send no reports: their settings are not compiled.
        if (SpamReportEnabled((*customer)->spec))
          known.settings = CompileStored(**customer).config.spam_report;
      }
      if (!known.settings.enabled) continue;
      DueReport report;
      report.owner = mark.customer;
      report.settings = known.settings;
      auto state = store.LoadSpamReportState(partner, name);
      if (!state.ok()) return state.status();
      report.state = std::move(*state);
      auto checked = ParseRfc3339(report.state.checked_at);
      report.first_pass = !checked;
      if (checked && !LatestReportTime(report.settings, *checked, as_of)) continue;
      for (int64_t after = 0; !report.first_pass;) {
        auto page = store.ListQuarantined(partner, name, after, 1000);
        if (!page.ok()) return page.status();
        if (page->empty()) break;
        after = page->back().id;
        for (auto& m : *page) {
          if (m.released_at.empty()) report.held.push_back(std::move(m));
        }
      }
      out.push_back(std::move(report));
    }
    impl_->report_settings = std::move(seen);  // deleted customers forgotten
    return out;
  });
  if (!due.ok()) return due.status();

  SpamReportRun run;
  for (DueReport& report : *due) {
    const std::string name = report.owner.partner + "/" + report.owner.customer;
    if (Status s = impl_->HoldJob(kJob, kJobLease); !s.ok()) {
      run.failures.push_back("the pass stopped: " + s.message());  // the rest next pass
      break;
    }
    SpamReportState next{report.state.checked_at, {}};
    bool complete = true;
    if (!report.first_pass) {
      ++run.customers_due;
      // Each recipient's held mail that no report of theirs covered yet.
      std::map<std::string, std::vector<QuarantinedMessage>> by_recipient;
      for (const QuarantinedMessage& m : report.held) {
        for (const std::string& recipient : m.recipients) {
          auto mark = report.state.reported_through.find(recipient);
          if (mark == report.state.reported_through.end() || m.id > mark->second)
            by_recipient[recipient].push_back(m);
        }
      }
      for (const auto& [recipient, held] : by_recipient) {
        auto mail = ComposeSpamReport(report.settings, impl_->options.report_sender, recipient,
                                      held, as_of);
        if (mail) {
          Status sent =
              impl_->options.send_mail(impl_->options.report_sender, {recipient}, mail->message);
          if (!sent.ok()) {
            run.failures.push_back(fmt::format("{}: {}: {}", name, recipient, sent.message()));
            complete = false;
            continue;
          }
          ++run.reports_sent;
          run.messages_listed += static_cast<int64_t>(mail->listed);
        }
        // Sections the customer hides count as reported: they never will be.
        next.reported_through[recipient] = held.back().id;
      }
    }
    // A pass with a failure keeps its start, so the next pass finds the same report time.
    if (complete) next.checked_at = FormatRfc3339(as_of);
    Status saved =
        impl_
            ->Write<bool>([&]() -> Result<bool> {
              auto exists = store.LoadCustomer(report.owner.partner, report.owner.customer);
              if (!exists.ok()) return exists.status();
              if (!*exists) return false;  // deleted meanwhile: nothing to keep for it
              if (Status s =
                      store.SaveSpamReportState(report.owner.partner, report.owner.customer, next);
                  !s.ok())
                return s;
              return true;
            })
            .status();
    if (!saved.ok()) run.failures.push_back(fmt::format("{}: {}", name, saved.message()));
  }
  return run;
}

Result<std::vector<AuditEntry>> Service::ListAudit(const Actor& actor, const std::string& partner,
                                                   int64_t after, size_t limit) {
  if (limit == 0 || limit > impl_->options.max_page_size) limit = impl_->options.max_page_size;
  return impl_->Read<std::vector<AuditEntry>>([&]() -> Result<std::vector<AuditEntry>> {
    if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
    return impl_->store->ListAudit(partner, after, limit);
  });
}

}  // namespace gw

namespace gw {

Result<std::vector<DomainClaim>> Service::ListDomainClaims(const Actor& actor,
                                                           const std::string& partner,
                                                           const std::string& customer,
                                                           bool pending_only) {
  if (partner.empty() && !actor.is_operator)
    return Status(StatusCode::kPermissionDenied,
                  "only an operator can list every partner's claims");
  return impl_->Read<std::vector<DomainClaim>>([&]() -> Result<std::vector<DomainClaim>> {
    if (!partner.empty()) {
      if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
    }
    return impl_->store->ListDomainClaims(partner, customer, pending_only);
  });
}

Result<std::vector<DomainClaim>> Service::RecordDomainChecks(
    const Actor& actor, const std::vector<DomainCheck>& checks) {
  if (!actor.is_operator)
    return Status(StatusCode::kPermissionDenied, "only an operator can verify domains");
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
  if (!actor.is_operator)
    return Status(StatusCode::kPermissionDenied, "only an operator can verify domains");
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

Status Service::HoldJob(const std::string& job, std::chrono::milliseconds ttl) {
  return impl_->HoldJob(job, ttl);
}

void Service::ReleaseJob(const std::string& job) {
  impl_->ReleaseJob(job);
}

}  // namespace gw
