#include "gwctl/reconcile.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "change_scope.h"
#include "retry.h"

namespace gwctl {
namespace {

gw::Status Failed(const std::string& message) {
  return gw::Status(gw::StatusCode::kUnavailable, message);
}

// The stages before planning that narrow a `since` pass: the files to read, and later
// the customers the change touches.
struct Narrowing {
  std::optional<Change> change;
  std::string base;
};

gw::Result<Narrowing> NarrowToChange(const std::string& since, OpenedSource& source) {
  Narrowing narrowing;
  if (since.empty()) return narrowing;
  if (!source.git) return gw::Status::Invalid("--since needs --repo");
  auto resolved = source.git->Resolve(since);
  if (!resolved.ok()) return Failed("--since: " + resolved.status().message());
  narrowing.base = *resolved;
  // Read only what the change can touch, unless the Repository or defaults changed.
  auto compared = CompareCommits(*source.git, narrowing.base, source.commit);
  if (!compared.ok()) return Failed("--since: " + compared.status().message());
  narrowing.change = std::move(*compared);
  auto files = FilesForChange(*narrowing.change, *source.tree);
  if (!files.ok()) return Failed("--since: " + files.status().message());
  if (*files) source.tree = RestrictManifests(std::move(source.tree), std::move(**files));
  return narrowing;
}

// The customers a pass plans: the target's, and with `since`, those the change touches.
gw::Result<std::optional<std::set<std::string>>> PlannedCustomers(const ReconcileTarget& target,
                                                                  const Narrowing& narrowing,
                                                                  const Manifests& manifests) {
  std::optional<std::set<std::string>> only;
  if (!target.customers.empty()) only = target.customers;
  if (!narrowing.change) return only;
  auto affected = CustomersAffected(*narrowing.change, manifests);
  if (!affected.ok()) return Failed("--since: " + affected.status().message());
  if (!*affected) return only;
  std::set<std::string> selected = **affected;
  if (only) {  // a target and --since together: both must hold
    std::set<std::string> both;
    for (const auto& name : selected) {
      if (only->count(name)) both.insert(name);
    }
    selected = std::move(both);
  }
  return std::optional<std::set<std::string>>(std::move(selected));
}

// Each covered customer's standing, from the plan and what applying it did.
std::vector<CustomerResult> CustomerResults(const Plan& plan, const ApplyReport* report,
                                            const DesiredState& desired,
                                            const std::set<std::string>& target) {
  using State = CustomerResult::State;
  std::map<std::string, CustomerResult> results;
  auto covered = [&](const std::string& name) { return target.empty() || target.count(name); };
  for (const auto& customer : desired.customers) {
    if (covered(customer.name)) results[customer.name] = {customer.name, State::kInSync, ""};
  }
  for (const auto& c : plan.changes) {
    if (!covered(c.customer)) continue;
    CustomerResult& r = results[c.customer];
    r.name = c.customer;
    if (c.kind == ChangeKind::kConflict) {
      r.state = State::kConflict;
      r.error = c.observed_owner.empty() ? "exists on the gateway without an owner"
                                         : "exists on the gateway owned by " + c.observed_owner;
    } else if (!report) {
      r.state = State::kPending;
    } else if (auto failed = report->failed.find(c.customer); failed != report->failed.end()) {
      r.state = State::kFailed;
      r.error = failed->second;
    } else if (report->not_started > 0) {
      r.state = State::kNotStarted;  // stopped: maybe not written
    } else {
      r.state = c.kind == ChangeKind::kDelete ? State::kDeleted : State::kInSync;
    }
  }
  std::vector<CustomerResult> out;
  for (auto& [name, result] : results) out.push_back(std::move(result));
  return out;
}

// What an untrusted pass did not take from the revision's gwctl.yaml, for the plan.
std::optional<std::string> IgnoredGateway(const RepositoryGateway& revision,
                                          const RepositoryGateway& base) {
  if (revision == base) return std::nullopt;
  std::vector<std::string> changes;
  auto quoted = [](const std::string& value) {
    return value.empty() ? "(unset)" : "'" + value + "'";
  };
  if (revision.url != base.url)
    changes.push_back(fmt::format("url {} -> {}", quoted(base.url), quoted(revision.url)));
  if (revision.token_ref != base.token_ref) {
    changes.push_back(
        fmt::format("tokenRef {} -> {}", quoted(base.token_ref), quoted(revision.token_ref)));
  }
  return fmt::format(
      "gwctl.yaml: spec.gateway changes in this revision ({}): an untrusted plan ignores it "
      "and uses the base revision's; it takes effect after merge",
      fmt::join(changes, ", "));
}

bool Refused(const Plan& plan, bool conflicts_refuse) {
  return !plan.refusals.empty() || (conflicts_refuse && plan.Count(ChangeKind::kConflict) > 0);
}

}  // namespace

gw::Result<PassOutcome> Reconcile(const ReconcileTarget& target, ReconcileDeps& deps) {
  OpenedSource& source = *deps.source;
  auto narrowing = NarrowToChange(target.since, source);
  if (!narrowing.ok()) return narrowing.status();

  PassOutcome outcome;
  auto report = ValidateRepository(*source.tree, {}, deps.secrets);
  if (!report.ok()) return Failed(report.status().message());
  outcome.validation = std::move(*report);
  if (deps.validated) deps.validated(outcome.validation);
  if (outcome.validation.diagnostics.has_errors()) {
    outcome.result = PassResult::kInvalid;
    return outcome;
  }
  const Manifests& manifests = outcome.validation.manifests;
  for (const auto& name : target.customers) {
    bool known = std::any_of(manifests.customers.begin(), manifests.customers.end(),
                             [&](const CustomerManifest& c) { return c.name == name; });
    if (!known)
      outcome.warnings.push_back(fmt::format("--customer {} is not in the manifests", name));
  }
  PlanOptions& plan_options = outcome.plan_options;
  auto only = PlannedCustomers(target, *narrowing, manifests);
  if (!only.ok()) return only.status();
  plan_options.only = *only;

  RepositoryGateway repository_gateway =
      RepositoryGatewayOf(manifests.repository ? manifests.repository->value() : nlohmann::json());
  std::optional<std::string> ignored_gateway;
  std::optional<TrustedBase> trusted_base;
  if (deps.untrusted) {
    // The base is --since's (none without it: nothing of the repository is trusted).
    if (narrowing->change) {
      trusted_base.emplace(*narrowing->change->base_tree, *source.tree, narrowing->change->paths);
    } else {
      trusted_base.emplace();
    }
    ignored_gateway = IgnoredGateway(repository_gateway, trusted_base->gateway());
    repository_gateway = trusted_base->gateway();
  }

  DesiredOptions desired_options;
  desired_options.secrets = deps.secrets;
  desired_options.trusted_base = trusted_base ? &*trusted_base : nullptr;
  desired_options.revision = source.commit;
  desired_options.display_root = source.display_root;
  desired_options.directories =
      UserDirectories({deps.secrets, deps.directory_cache}, deps.read_directories);
  desired_options.not_due = deps.directory_not_due;
  desired_options.only = plan_options.only;  // directories are read only for planned customers
  auto desired = BuildDesiredState(manifests, desired_options);
  if (!desired.ok()) return Failed(desired.status().message());
  outcome.desired = std::move(*desired);

  std::unique_ptr<gw::GatewayClient>& gateway = *deps.gateway;
  if (!gateway) {
    auto connected = deps.connect(repository_gateway);
    if (!connected.ok()) return Failed(connected.status().message());
    gateway = std::move(*connected);
  }
  // Embedded (or with an operator token) the partner is made on first use; a partner's
  // token confirms its existing partner, and for a missing one (403) reading its state
  // says what is wrong.
  if (gw::Status s = gateway->EnsurePartner(outcome.desired.partner);
      !s.ok() && s.code() != gw::StatusCode::kPermissionDenied) {
    return Failed(gateway->Describe() + ": " + s.message());
  }
  plan_options.safety =
      SafetyFromRepository(manifests.repository ? &*manifests.repository : nullptr);
  plan_options.force = deps.force;
  plan_options.adopt = deps.adopt;
  auto plan = ComputePlan(outcome.desired, *gateway, plan_options);
  if (!plan.ok()) return Failed(gateway->Describe() + ": " + plan.status().message());
  outcome.plan = std::move(*plan);
  outcome.plan.repository_revision = source.commit;
  outcome.plan.base_revision = narrowing->base;
  if (ignored_gateway)
    outcome.plan.warnings.insert(outcome.plan.warnings.begin(), *ignored_gateway);

  if (Refused(outcome.plan, deps.conflicts_refuse)) {
    outcome.result = PassResult::kRefused;
    return outcome;
  }
  bool changes = outcome.plan.changes.size() > outcome.plan.Count(ChangeKind::kConflict);
  if (changes && deps.apply) {
    auto applied = ApplyPlan(outcome.plan, outcome.desired, *gateway, *deps.apply);
    if (!applied.ok()) return applied.status();
    outcome.applied = std::move(*applied);
  }
  outcome.result = !changes           ? PassResult::kNoChanges
                   : !outcome.applied ? PassResult::kChanges
                   : outcome.applied->failed.empty() && outcome.applied->not_started == 0
                       ? PassResult::kApplied
                       : PassResult::kPartial;
  if (outcome.result == PassResult::kPartial) {
    const ApplyReport& applied = *outcome.applied;
    outcome.requeue_after = applied.failed.empty() ? std::chrono::milliseconds(0)
                                                   : kCustomerRetry.Delay(1, applied.retry_after);
  }
  ApplyReport nothing_to_apply;
  outcome.customers = CustomerResults(
      outcome.plan, outcome.applied ? &*outcome.applied : (changes ? nullptr : &nothing_to_apply),
      outcome.desired, target.customers);
  return outcome;
}

}  // namespace gwctl
