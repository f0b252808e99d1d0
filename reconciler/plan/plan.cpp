#include "gwctl/plan.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "gateway/field_annotations.h"
#include "gateway/json_cursor.h"

namespace gwctl {

using nlohmann::json;

const char* ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kCreate:
      return "create";
    case ChangeKind::kUpdate:
      return "update";
    case ChangeKind::kReplace:
      return "replace";
    case ChangeKind::kDelete:
      return "delete";
    case ChangeKind::kConflict:
      return "conflict";
  }
  return "?";
}

size_t Plan::Count(ChangeKind kind) const {
  return static_cast<size_t>(std::count_if(
      changes.begin(), changes.end(), [&](const CustomerChange& c) { return c.kind == kind; }));
}

namespace {

std::string DottedPath(const std::string& pointer) {
  std::string path;
  for (char c : pointer.substr(1)) path += c == '/' ? '.' : c;
  return path;
}

// Leaf-level differences between two settings documents: objects recurse, lists and
// scalars are compared whole.
void DiffJson(const json& before, const json& after, const std::string& pointer,
              const DesiredCustomer& desired, std::vector<FieldChange>& out) {
  if (before.is_object() && after.is_object()) {
    std::set<std::string> keys;
    for (const auto& [k, v] : before.items()) keys.insert(k);
    for (const auto& [k, v] : after.items()) keys.insert(k);
    for (const auto& key : keys) {
      static const json kAbsent;
      const json& b = before.contains(key) ? before[key] : kAbsent;
      const json& a = after.contains(key) ? after[key] : kAbsent;
      if (b != a) DiffJson(b, a, PointerAppend(pointer, key), desired, out);
    }
    return;
  }
  FieldChange change;
  change.path = DottedPath(pointer);
  change.before = before;
  change.after = after;
  change.immutable = gw::CustomerFields::Get().IsImmutable(pointer) && !before.is_null();
  change.source = desired.effective->LocationOf("/spec" + pointer);
  out.push_back(std::move(change));
}

// Equal, taking inline and CSV as one kind of source: moving a user between a manifest
// and its CSV file (as export does by count) is not a change on the gateway.
bool SameDeclaredUser(const gw::User& observed, const gw::User& desired) {
  auto declared = [](const std::string& source) { return source == "manifest" || source == "csv"; };
  if (declared(observed.source) && declared(desired.source)) {
    gw::User same = observed;
    same.source = desired.source;
    return same == desired;
  }
  return observed == desired;
}

UserChanges DiffUsers(const std::vector<gw::User>& desired, const std::vector<gw::User>& observed,
                      const std::set<std::string>& failed_sources) {
  UserChanges changes;
  std::map<std::string_view, const gw::User*> have;
  for (const auto& u : observed) have.emplace(u.address, &u);
  std::set<std::string_view> wanted;
  for (const auto& u : desired) {
    wanted.insert(u.address);
    auto it = have.find(u.address);
    if (it == have.end()) {
      changes.add.push_back(u);
    } else if (!SameDeclaredUser(*it->second, u)) {
      changes.change.push_back(u);
    }
  }
  for (const auto& u : observed) {
    if (wanted.count(u.address)) continue;
    if (u.source == "discovered" || failed_sources.count(u.source)) {
      ++changes.kept;
    } else {
      changes.remove.push_back(u.address);
    }
  }
  return changes;
}

size_t CountDestinations(const json& spec) {
  if (!spec.contains("destinations")) return 0;
  const json& d = spec["destinations"];
  if (d.is_array()) return d.size();
  if (d.is_string()) {
    const std::string& s = d.get_ref<const std::string&>();
    return static_cast<size_t>(std::count(s.begin(), s.end(), ';')) +
           (s.empty() || s.back() == ';' ? 0 : 1);
  }
  return 0;
}

size_t CountDomains(const json& spec) {
  size_t n = spec.contains("domains") && spec["domains"].contains("primary") ? 1 : 0;
  if (n && spec["domains"].contains("aliases")) n += spec["domains"]["aliases"].size();
  return n;
}

}  // namespace

gw::Result<CustomerChange> PlanCustomer(const DesiredCustomer& desired,
                                        const gw::Customer* observed, const std::string& owner,
                                        gw::GatewayClient& gateway, const std::string& partner,
                                        bool adopt) {
  CustomerChange change;
  change.customer = desired.name;
  change.file = desired.file;
  change.write = desired.write;
  change.domains = CountDomains(desired.write.spec);
  change.destinations = CountDestinations(desired.write.spec);
  change.desired_users = desired.users.size();
  if (!observed) {
    change.kind = ChangeKind::kCreate;
    change.users.add = desired.users;
    return change;
  }
  change.observed_version = observed->version;
  change.observed_owner = observed->owner;
  bool adopting = observed->owner != owner;
  if (adopting && (!adopt || !observed->owner.empty())) {
    change.kind = ChangeKind::kConflict;
    return change;
  }
  DiffJson(observed->spec, desired.write.spec, "", desired, change.fields);
  // Where a secret comes from is the repository's business; the secret itself is compared
  // by fingerprint below.
  std::erase_if(change.fields,
                [](const FieldChange& f) { return f.path == "panelLogin.passwordRef"; });
  for (const auto& [key, value] : desired.write.labels) {
    auto it = observed->labels.find(key);
    if (it == observed->labels.end() || it->second != value) {
      FieldChange f;
      f.path = "labels." + key;
      if (it != observed->labels.end()) f.before = it->second;
      f.after = value;
      f.source = desired.effective->LocationOf("/metadata/labels/" + key);
      change.fields.push_back(std::move(f));
    }
  }
  for (const auto& [key, value] : observed->labels) {
    if (desired.write.labels.count(key)) continue;
    FieldChange f;
    f.path = "labels." + key;
    f.before = value;
    f.source = desired.effective->LocationOf("/metadata");
    change.fields.push_back(std::move(f));
  }
  std::set<std::string> secret_paths;
  for (const auto& [k, v] : desired.secret_fingerprints) secret_paths.insert(k);
  for (const auto& [k, v] : observed->secret_fingerprints) secret_paths.insert(k);
  for (const auto& pointer : secret_paths) {
    auto want = desired.secret_fingerprints.find(pointer);
    auto have = observed->secret_fingerprints.find(pointer);
    auto value = desired.write.secrets.find(pointer);  // absent when left unread
    if (want != desired.secret_fingerprints.end() && have != observed->secret_fingerprints.end() &&
        value != desired.write.secrets.end() && gw::SecretMatches(have->second, value->second)) {
      continue;
    }
    FieldChange f;
    f.path = DottedPath(pointer);
    f.secret = true;
    if (have != observed->secret_fingerprints.end()) f.before = "(secret)";
    if (want != desired.secret_fingerprints.end()) f.after = "(secret)";
    for (const auto& secret : gw::CustomerFields::Get().secrets()) {
      if (secret.gateway_field == pointer)
        f.source = desired.effective->LocationOf("/spec" + secret.reference);
    }
    change.fields.push_back(std::move(f));
  }
  if (desired.users_digest != observed->users_digest) {
    auto users = gw::ListAllUsers(gateway, partner, desired.name);
    if (!users.ok()) return users.status();
    change.users = DiffUsers(desired.users, *users, desired.failed_sources);
  }
  if (adopting) {
    // Adoption takes only what already matches: ownership is all that changes.
    if (!change.fields.empty() || !change.users.empty()) {
      change.kind = ChangeKind::kConflict;
      change.detail = fmt::format(
          "differs from its manifest ({} field{}, users +{} ~{} -{}); --adopt takes only exact "
          "matches",
          change.fields.size(), change.fields.size() == 1 ? "" : "s", change.users.add.size(),
          change.users.change.size(), change.users.remove.size());
      change.fields.clear();
      change.users = {};
      return change;
    }
    // The document as the gateway has it, with the owner: nothing else is rewritten.
    change.write.spec = observed->spec;
    change.write.labels = observed->labels;
    FieldChange f;
    f.path = "owner";
    f.after = owner;
    f.source = desired.effective ? desired.effective->LocationOf("/metadata/name") : Location{};
    change.fields.push_back(std::move(f));
    change.kind = ChangeKind::kUpdate;
    return change;
  }
  bool replace = std::any_of(change.fields.begin(), change.fields.end(),
                             [](const FieldChange& f) { return f.immutable; });
  change.kind = replace ? ChangeKind::kReplace : ChangeKind::kUpdate;
  if (replace) change.users.add = desired.users;  // a replacement starts without users
  return change;
}

SafetyLimits SafetyFromRepository(const LocatedDocument* repository) {
  SafetyLimits limits;
  if (!repository) return limits;
  JsonCursor spec = JsonCursor::Root(repository->value())["spec"];
  JsonCursor safety = spec["safety"];
  limits.max_delete_percent = static_cast<int>(safety["maxDeletePercent"].integer().value_or(30));
  limits.max_update_percent = static_cast<int>(safety["maxUpdatePercent"].integer().value_or(50));
  limits.min_existing = static_cast<int>(safety["minExisting"].integer().value_or(10));
  for (size_t i = 0; i < safety["protect"].size(); ++i)
    limits.protect.push_back(safety["protect"][i].string_or(""));
  limits.prune = spec["prune"].string_or("owned") == "owned";
  return limits;
}

namespace {

void ReportUserSources(const DesiredCustomer& customer, Plan& plan) {
  for (const auto& note : customer.untrusted_notes)
    plan.warnings.push_back(fmt::format("customer {}: {}", customer.name, note));
  if (!customer.has_directory_sources) return;
  plan.user_sources.push_back({customer.name, customer.sources});
  for (const auto& source : customer.sources) {
    for (const auto& warning : source.warnings) {
      plan.warnings.push_back(fmt::format("customer {}: {} source {}: {}", customer.name,
                                          source.kind, source.name, warning));
    }
    if (!source.failed) continue;
    plan.warnings.push_back(fmt::format(
        "customer {}: {} source {} was not read, so the users it gave stay on the gateway as "
        "they are: {}",
        customer.name, source.kind, source.name, source.detail));
  }
}

void CheckSafety(const DesiredState& desired, const PlanOptions& options, Plan& plan) {
  const SafetyLimits& limits = options.safety;
  std::vector<std::string> refusals;
  size_t owned = plan.owned_customers;
  size_t deletes = plan.Count(ChangeKind::kDelete);
  size_t updates = plan.Count(ChangeKind::kUpdate);
  if (desired.customers.empty() && owned > 0 && !options.only) {  // a subset may rightly be empty
    refusals.push_back(
        fmt::format("the manifests hold no customers but the gateway holds {} managed by this "
                    "repository; refusing to delete "
                    "them all (is this the right directory or commit?)",
                    owned));
  }
  if (owned >= static_cast<size_t>(limits.min_existing) && owned > 0) {
    if (deletes * 100 > static_cast<size_t>(limits.max_delete_percent) * owned) {
      refusals.push_back(
          fmt::format("{} of {} customers would be deleted ({}%), over maxDeletePercent {}%",
                      deletes, owned, deletes * 100 / owned, limits.max_delete_percent));
    }
    if (updates * 100 > static_cast<size_t>(limits.max_update_percent) * owned) {
      refusals.push_back(
          fmt::format("{} of {} customers would be updated ({}%), over maxUpdatePercent {}%",
                      updates, owned, updates * 100 / owned, limits.max_update_percent));
    }
  }
  auto is_protected = [&](const char* kind) {
    return std::find(limits.protect.begin(), limits.protect.end(), kind) != limits.protect.end();
  };
  if (is_protected("customers") && deletes > 0) {
    refusals.push_back(
        fmt::format("customers are protected (safety.protect) and {} would be deleted", deletes));
  }
  size_t removed_users = 0;
  for (const auto& c : plan.changes) {
    if (c.kind == ChangeKind::kReplace) {
      for (const auto& f : c.fields) {
        if (f.immutable) {
          refusals.push_back(
              fmt::format("customer {}: {} changes from {} to {}, which deletes and re-creates the "
                          "customer with all its users",
                          c.customer, f.path, f.before.dump(), f.after.dump()));
        }
      }
    }
    removed_users += c.users.remove.size();
    if (is_protected("domains")) {
      for (const auto& f : c.fields) {
        if (f.path == "domains.aliases" && f.before.is_array()) {
          for (const auto& d : f.before) {
            if (!f.after.is_array() ||
                std::find(f.after.begin(), f.after.end(), d) == f.after.end()) {
              refusals.push_back(fmt::format(
                  "domains are protected (safety.protect) and customer {} would lose {}",
                  c.customer, d.get<std::string>()));
            }
          }
        }
      }
    }
  }
  if (is_protected("users") && removed_users > 0) {
    refusals.push_back(
        fmt::format("users are protected (safety.protect) and {} would be removed", removed_users));
  }
  if (options.force) {
    for (auto& r : refusals) plan.warnings.push_back("forced past a safety limit: " + r);
  } else {
    plan.refusals = std::move(refusals);
  }
}

}  // namespace

gw::Result<Plan> ComputePlan(const DesiredState& desired, gw::GatewayClient& gateway,
                             const PlanOptions& options) {
  auto state = gateway.GetState(desired.partner);
  if (!state.ok()) return state.status();
  Plan plan;
  plan.partner = desired.partner;
  plan.gateway = gateway.Describe();
  plan.observed_revision = state->revision;
  plan.observed_checksum = gw::StateChecksum(*state);
  std::map<std::string, const gw::Customer*> observed;
  for (const auto& c : state->customers) {
    observed.emplace(c.name, &c);
    if (c.owner == desired.owner) {
      ++plan.owned_customers;
      ++plan.gateway_revisions[c.applied_revision];
    }
  }
  std::set<std::string> wanted;
  auto selected = [&](const std::string& name) {
    return !options.only || options.only->count(name) > 0;
  };
  for (const auto& customer : desired.customers) {
    wanted.insert(customer.name);
    if (!selected(customer.name)) continue;
    ReportUserSources(customer, plan);
    auto it = observed.find(customer.name);
    if (it != observed.end()) {
      for (const auto& claim : it->second->domain_claims)
        if (!claim.verified()) plan.pending_domains.push_back(claim);
    }
    auto change = PlanCustomer(customer, it == observed.end() ? nullptr : it->second, desired.owner,
                               gateway, desired.partner, options.adopt);
    if (!change.ok()) return change.status();
    bool changed =
        change->kind != ChangeKind::kUpdate || !change->fields.empty() || !change->users.empty();
    if (changed) plan.changes.push_back(std::move(*change));
  }
  for (const auto& c : state->customers) {
    if (wanted.count(c.name) || c.owner != desired.owner || !selected(c.name)) continue;
    if (!options.safety.prune) {
      plan.warnings.push_back(
          fmt::format("customer {} is no longer in the manifests; prune: none keeps it", c.name));
      continue;
    }
    CustomerChange change;
    change.kind = ChangeKind::kDelete;
    change.customer = c.name;
    change.observed_version = c.version;
    change.observed_owner = c.owner;
    change.desired_users = static_cast<size_t>(c.user_count);
    plan.changes.push_back(std::move(change));
  }
  CheckSafety(desired, options, plan);
  return plan;
}

}  // namespace gwctl
