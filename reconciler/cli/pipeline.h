// The steps plan and apply share: validate the repository, connect to the gateway,
// build the desired state and compute the plan, reporting failures with the right exit
// code. Each step's output is kept for the next.
#pragma once

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "gateway/client.h"
#include "gwctl/desired_state.h"
#include "gwctl/plan.h"
#include "gwctl/reconcile.h"
#include "gwctl/validate.h"
#include "pass_settings.h"
#include "plan_format.h"
#include "source_options.h"

namespace gwctl::cli {

struct PipelineOptions : PassSettings {
  std::string format = "text";
  std::string secrets_dir;  // --secrets-dir: completes PassSettings::secrets
  // Read the manifests' domains in live DNS and warn where they do not reach the gateway
  // (--check-dns, or GWCTL_CHECK_DNS=1); --no-dns never asks DNS, whatever else says.
  bool check_dns = false;
  bool no_dns = false;
  std::vector<std::string> dns_servers;  // HOST:PORT; none: the system's resolvers
  int dns_timeout_ms = 2000;
};

// Adds the options plan and apply share to `command`.
void AddPipelineOptions(CLI::App* command, PipelineOptions& options);
// Adds --check-dns, --no-dns and the resolver's options (plan and apply).
void AddDnsOptions(CLI::App* command, PipelineOptions& options);

// Sets `options.secrets` from the environment and --secrets-dir. Returns the exit code to
// stop with when the environment's policy is wrong (written to `err`).
std::optional<int> SetSecretPolicy(PipelineOptions& options, std::ostream& err = std::cerr);

struct Pipeline {
  OpenedSource source;
  std::unique_ptr<gw::GatewayClient> gateway;
  PassOutcome pass;
  PlanOutput output;
};

// Runs a reconcile pass (reconcile.h) as the command line asks for it, writing its
// diagnostics and warnings to `err`. Returns the exit code to stop with when the pass
// could not run or the manifests are invalid; otherwise nothing, and `pipeline.pass`
// holds the plan. A source or gateway client already in `pipeline` is used as it is.
std::optional<int> BuildPlan(const PipelineOptions& options, Pipeline& pipeline,
                             std::ostream& err = std::cerr);

// The exit code a pass's outcome stands for (the one place they are mapped): 0 no changes
// or applied, 2 changes, 3 refused, 1 invalid, 4 partly applied.
int ExitCodeFor(const PassOutcome& outcome);

// "PROGRAM@HOST/PID": who holds the partner's apply lease, unless --lease-holder says.
std::string DefaultLeaseHolder(const std::string& program);

// Recomputes the plan against the gateway as it is now (after an apply).
gw::Result<Plan> Replan(Pipeline& pipeline);

}  // namespace gwctl::cli
