// Reconcile: one pass of gwctl, as data. It reads what a repository wants (validation,
// defaults, users, secrets), compares it with the gateway, and, when asked, applies the
// difference. `gwctl plan`, `gwctl apply` and the loop of `gwctl run` are its callers:
// they only choose what to print, and which exit code or loop state an outcome means.
//
// Contract:
// - The pass fails (an error Result) only when it cannot run: the source, a directory
//   source, a secret or the gateway cannot be read, or the gateway cannot be written at
//   all. Everything else is an outcome: invalid manifests, a plan refused by a safety
//   limit or in conflict, a plan with or without changes, an apply with or without
//   failed customers.
// - Nothing is written to the gateway unless `apply` is set and the plan is allowed.
// - The gateway is connected only once the manifests are valid (`connect`), so an
//   invalid repository is reported without one; a client given in `gateway` is used as
//   it is (the loop keeps one from pass to pass).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gateway/client.h"
#include "gwctl/apply.h"
#include "gwctl/desired_state.h"
#include "gwctl/plan.h"
#include "gwctl/secrets.h"
#include "gwctl/source.h"
#include "gwctl/trust.h"
#include "gwctl/validate.h"

namespace gwctl {

// What a pass covers.
struct ReconcileTarget {
  std::set<std::string> customers;  // empty: every customer of the partner
  // With a git source: only the customers whose files changed since this revision (all of
  // them when gwctl.yaml or the defaults changed).
  std::string since;
};

struct ReconcileDeps {
  OpenedSource* source = nullptr;  // required; a `since` pass narrows its tree
  // The gateway: used if set, else made by `connect` from gwctl.yaml's spec.gateway (the
  // base revision's in an untrusted run) once the manifests are valid.
  std::unique_ptr<gw::GatewayClient>* gateway = nullptr;
  std::function<gw::Result<std::unique_ptr<gw::GatewayClient>>(const RepositoryGateway&)> connect;
  // Called once the repository is validated, before anything else can fail: a caller
  // shows the diagnostics where they belong.
  std::function<void(const ValidationReport&)> validated;
  bool read_directories = false;          // unset: directory sources are not read; their users stay
  std::filesystem::path directory_cache;  // DirectoryReading::cache_dir
  // DesiredOptions::not_due: which directory sources wait for their next read (the loop).
  std::function<std::optional<std::string>(const std::string&, const std::string&,
                                           const nlohmann::json&)>
      directory_not_due;
  // The revision is untrusted (gwctl/trust.h): trusted configuration is taken from the
  // target's `since` revision only (none without one), and what differs is shown instead.
  bool untrusted = false;
  SecretPolicy secrets;               // which secrets manifests may name
  bool force = false;                 // past safety limits and immutable-field replacements
  bool adopt = false;                 // take matching customers that have no owner
  std::optional<ApplyOptions> apply;  // set: apply an allowed plan with changes
  // A customer in conflict (on the gateway, not ours) refuses the whole plan; otherwise
  // the others are applied and it is left alone (the loop).
  bool conflicts_refuse = true;
};

enum class PassResult {
  kInvalid,    // the manifests have errors (see `validation`)
  kRefused,    // the plan is over a safety limit or in conflict (see `plan`); nothing applied
  kNoChanges,  // the gateway matches
  kChanges,    // the plan has changes and was not applied (no `apply`)
  kApplied,    // applied; every customer written
  kPartial,    // applied; some customers failed or were not started (see `applied`)
};

// Where one customer stands after a pass that ran to a plan (and its apply, if any).
struct CustomerResult {
  enum class State {
    kInSync,      // the gateway holds what the repository says
    kFailed,      // its apply failed (error: why)
    kConflict,    // a customer of that name on the gateway is not ours (error: whose)
    kDeleted,     // removed from the gateway, as the repository no longer has it
    kNotStarted,  // the apply stopped before it (it may or may not be written)
    kPending,     // it has changes that were not applied (no `apply`)
  };
  std::string name;
  State state = State::kPending;
  std::string error;
};

struct PassOutcome {
  PassResult result = PassResult::kInvalid;
  ValidationReport validation;
  std::vector<std::string> warnings;  // about the target, e.g. an unknown --customer
  DesiredState desired;               // from here on, set unless kInvalid
  PlanOptions plan_options;           // how `plan` was computed (to compute it again)
  Plan plan;
  std::optional<ApplyReport> applied;  // kApplied and kPartial
  // Every customer the pass covered (the target's, or all), by name; empty when kInvalid
  // or kRefused.
  std::vector<CustomerResult> customers;
  // Set when the pass left work undone (kPartial): the soonest another pass over the
  // customers it left can help. Zero when only a stop left them; for a failed customer,
  // the first wait of the customer retry policy, or longer if the gateway asked for it.
  // A caller that retries again and again backs off from here.
  std::optional<std::chrono::milliseconds> requeue_after;
};

gw::Result<PassOutcome> Reconcile(const ReconcileTarget& target, ReconcileDeps& deps);

}  // namespace gwctl
