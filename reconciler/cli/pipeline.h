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
#include "gwctl/validate.h"
#include "plan_format.h"
#include "source.h"

namespace gwctl::cli {

struct PipelineOptions : SourceOptions {
  std::string since;    // --since: with --repo, plan only what changed since this revision
  std::string gateway;  // --gateway; else $GWCTL_GATEWAY, the Repository's url, or embedded default
  std::vector<std::string> customers;
  std::string format = "text";
  bool force = false;
  bool no_ldap = false;  // --no-ldap: directory sources are not read (their users are kept)
  bool adopt = false;    // --adopt: take ownership of exactly matching customers without an owner
};

// Adds the options plan and apply share to `command`.
void AddPipelineOptions(CLI::App* command, PipelineOptions& options);

struct Pipeline {
  OpenedSource source;
  ValidationReport validation;
  std::unique_ptr<gw::GatewayClient> gateway;
  DesiredState desired;
  PlanOptions plan_options;
  Plan plan;
  PlanOutput output;
};

// Runs the steps up to a plan. On failure writes why to `err` and returns the exit code
// to use. A source or gateway client already in `pipeline` is used as it is.
std::optional<int> BuildPlan(const PipelineOptions& options, Pipeline& pipeline,
                             std::ostream& err = std::cerr);

// The exit code a computed plan stands for: refused (3) when over a safety limit or in
// conflict, else 2 with changes, 0 without.
int PlanExitCode(const Plan& plan);

// Where the gateway is and how to reach it, as gwctl.yaml and the command line say.
struct GatewaySettings {
  std::string flag;                   // --gateway
  std::string repository_url;         // gwctl.yaml's spec.gateway.url
  std::string token_ref;              // gwctl.yaml's spec.gateway.tokenRef
  std::filesystem::path local_root;   // relative embedded: paths and file: secrets start here
  std::filesystem::path default_dir;  // the default store is DEFAULT_DIR/.gwctl/gateway.db
};

// The settings gwctl.yaml and the command line give (`flag`: --gateway).
GatewaySettings GatewaySettingsOf(const Manifests& manifests, const OpenedSource& source,
                                  const std::string& flag,
                                  const std::filesystem::path& default_dir);

// The gateway is --gateway, else $GWCTL_GATEWAY, else spec.gateway.url, else the default
// embedded store; an HTTP gateway's token is $GWCTL_TOKEN, else spec.gateway.tokenRef.
gw::Result<std::unique_ptr<gw::GatewayClient>> ConnectConfiguredGateway(
    const GatewaySettings& settings);

// "PROGRAM@HOST/PID": who holds the partner's apply lease, unless --lease-holder says.
std::string DefaultLeaseHolder(const std::string& program);

// Recomputes the plan against the gateway as it is now (after an apply).
gw::Result<Plan> Replan(Pipeline& pipeline);

}  // namespace gwctl::cli
