#include "pipeline.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "gwctl/diagnostic_format.h"
#include "gwctl/exit_codes.h"
#include "gwctl/secrets.h"
#include "json_cursor.h"

namespace gwctl::cli {

void AddPipelineOptions(CLI::App* command, PipelineOptions& options) {
  command->add_option("DIR", options.directory, "The repository directory (holding gwctl.yaml)")
      ->capture_default_str();
  command->add_option(
      "--gateway", options.gateway,
      "http(s)://HOST:PORT or embedded:PATH (default: $GWCTL_GATEWAY, then gwctl.yaml's "
      "spec.gateway.url, then embedded:DIR/.gwctl/gateway.db); token from $GWCTL_TOKEN");
  command->add_option("--customer", options.customers, "Only these customers (repeatable)");
  command->add_flag("--force", options.force,
                    "Go past safety limits and replacements of immutable fields");
}

namespace {

std::string GatewayUrl(const PipelineOptions& options, const Manifests& manifests) {
  if (!options.gateway.empty()) return options.gateway;
  if (const char* env = std::getenv("GWCTL_GATEWAY"); env && *env) return env;
  if (manifests.repository) {
    std::string url =
        JsonCursor::Root(*manifests.repository)["spec"]["gateway"]["url"].string_or("");
    if (!url.empty()) {
      // A relative embedded path is relative to the repository.
      if (url.rfind("embedded:", 0) == 0 && std::filesystem::path(url.substr(9)).is_relative()) {
        return "embedded:" + (std::filesystem::path(options.directory) / url.substr(9)).string();
      }
      return url;
    }
  }
  return "embedded:" +
         (std::filesystem::path(options.directory) / ".gwctl" / "gateway.db").string();
}

gw::Result<std::string> GatewayToken(const Manifests& manifests, const std::string& root) {
  if (const char* env = std::getenv("GWCTL_TOKEN"); env && *env) return std::string(env);
  if (!manifests.repository) return std::string();
  std::string ref =
      JsonCursor::Root(*manifests.repository)["spec"]["gateway"]["tokenRef"].string_or("");
  if (ref.empty()) return std::string();
  return ResolveSecret(ref, root);
}

}  // namespace

std::optional<int> BuildPlan(const PipelineOptions& options, Pipeline& p) {
  auto tree = OpenDirectoryTree(options.directory);
  if (!tree.ok()) {
    std::cerr << "gwctl: " << tree.status().message() << "\n";
    return kExitCouldNotRun;
  }
  auto report = ValidateRepository(**tree);
  if (!report.ok()) {
    std::cerr << "gwctl: " << report.status().message() << "\n";
    return kExitCouldNotRun;
  }
  p.validation = std::move(*report);
  std::string display_root = options.directory;
  while (display_root.size() > 1 && display_root.back() == '/') display_root.pop_back();
  if (p.validation.diagnostics.has_errors() || p.validation.diagnostics.warning_count() > 0) {
    DiagnosticOutput diagnostics;
    diagnostics.display_root = display_root;
    diagnostics.color = UseColor(STDERR_FILENO);
    diagnostics.files = p.validation.files;
    WriteDiagnostics(std::cerr, p.validation.diagnostics, diagnostics);
    if (p.validation.diagnostics.has_errors()) return kExitInvalid;
  }
  Manifests& manifests = p.validation.manifests;

  std::set<std::string> only(options.customers.begin(), options.customers.end());
  for (const auto& name : only) {
    bool known = std::any_of(manifests.customers.begin(), manifests.customers.end(),
                             [&](const CustomerManifest& c) { return c.name == name; });
    if (!known) std::cerr << "gwctl: warning: --customer " << name << " is not in the manifests\n";
  }

  DesiredOptions desired_options;
  desired_options.repository_root = options.directory;
  auto desired = BuildDesiredState(manifests, desired_options);
  if (!desired.ok()) {
    std::cerr << "gwctl: " << desired.status().message() << "\n";
    return kExitCouldNotRun;
  }
  p.desired = std::move(*desired);

  std::string url = GatewayUrl(options, manifests);
  gw::ClientOptions client_options;
  if (url.rfind("embedded:", 0) != 0) {  // the in-process engine needs no token
    auto token = GatewayToken(manifests, options.directory);
    if (!token.ok()) {
      std::cerr << "gwctl: gateway token: " << token.status().message() << "\n";
      return kExitCouldNotRun;
    }
    client_options.token = *token;
  }
  auto gateway = gw::ConnectGateway(url, client_options);
  if (!gateway.ok()) {
    std::cerr << "gwctl: " << gateway.status().message() << "\n";
    return kExitCouldNotRun;
  }
  p.gateway = std::move(*gateway);
  // Embedded (or with an operator token) the partner is made on first use; otherwise an
  // operator must have created it, and reading its state says so.
  if (gw::Status s = p.gateway->EnsurePartner(p.desired.partner);
      !s.ok() && s.code() != gw::StatusCode::kPermissionDenied) {
    std::cerr << "gwctl: " << p.gateway->Describe() << ": " << s.message() << "\n";
    return kExitCouldNotRun;
  }

  p.plan_options.safety =
      SafetyFromRepository(manifests.repository ? &*manifests.repository : nullptr);
  p.plan_options.force = options.force;
  p.plan_options.only = only;
  auto plan = ComputePlan(p.desired, *p.gateway, p.plan_options);
  if (!plan.ok()) {
    std::cerr << "gwctl: " << p.gateway->Describe() << ": " << plan.status().message() << "\n";
    return kExitCouldNotRun;
  }
  p.plan = std::move(*plan);

  p.output.format = options.format == "json"       ? PlanFormat::kJson
                    : options.format == "markdown" ? PlanFormat::kMarkdown
                                                   : PlanFormat::kText;
  p.output.display_root = display_root;
  p.output.color = p.output.format == PlanFormat::kText && UseColor(STDOUT_FILENO);
  if (manifests.defaults) p.output.defaults_file = manifests.defaults->file();
  return std::nullopt;
}

gw::Result<Plan> Replan(Pipeline& p) {
  return ComputePlan(p.desired, *p.gateway, p.plan_options);
}

}  // namespace gwctl::cli
