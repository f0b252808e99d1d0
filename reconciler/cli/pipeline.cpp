#include "pipeline.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "directory_users.h"
#include "exit_codes.h"
#include "gateway/json_cursor.h"
#include "gwctl/diagnostic_format.h"
#include "secrets.h"

namespace gwctl::cli {

void AddPipelineOptions(CLI::App* command, PipelineOptions& options) {
  AddSourceOptions(command, options);
  command->add_option(
      "--since", options.since,
      "With --repo: only customers whose files changed between this revision and --ref (a pull "
      "request's plan); all of them when gwctl.yaml or the defaults changed");
  command->add_option(
      "--gateway", options.gateway,
      "http(s)://HOST:PORT or embedded:PATH (default: $GWCTL_GATEWAY, then gwctl.yaml's "
      "spec.gateway.url, then embedded:DIR/.gwctl/gateway.db); token from $GWCTL_TOKEN");
  command->add_option("--customer", options.customers, "Only these customers (repeatable)");
  command->add_flag(
      "--no-ldap", options.no_ldap,
      "Do not query LDAP sources; the users they gave stay on the gateway as they are");
  command->add_flag("--adopt", options.adopt,
                    "Take ownership of customers made without gwctl (no owner) that match their "
                    "manifests exactly; nothing else about them changes");
  command->add_flag("--force", options.force,
                    "Go past safety limits and replacements of immutable fields");
}

int ExitCodeFor(const PassOutcome& outcome) {
  switch (outcome.result) {
    case PassResult::kInvalid:
      return kExitInvalid;
    case PassResult::kRefused:
      return kExitRefused;
    case PassResult::kNoChanges:
    case PassResult::kApplied:
      return kExitOk;
    case PassResult::kChanges:
      return kExitChanges;
    case PassResult::kPartial:
      return kExitCouldNotRun;
  }
  return kExitCouldNotRun;
}

std::optional<int> BuildPlan(const PipelineOptions& options, Pipeline& p, std::ostream& err) {
  if (!p.source.tree) {  // the loop opens the source itself to see the commit first
    int source_failure = kExitCouldNotRun;
    auto source = OpenSource(options, source_failure, err);
    if (!source) return source_failure;
    p.source = std::move(*source);
  }
  ReconcileTarget target;
  target.customers.insert(options.customers.begin(), options.customers.end());
  target.since = options.since;
  ReconcileDeps deps;
  deps.source = &p.source;
  deps.gateway = &p.gateway;
  deps.connect = [&](const Manifests& manifests) {
    return ConnectConfiguredGateway(
        GatewaySettingsOf(manifests, p.source, options.gateway, options.directory));
  };
  deps.validated = [&](const ValidationReport& validation) {
    if (!validation.diagnostics.has_errors() && validation.diagnostics.warning_count() == 0) return;
    DiagnosticOutput diagnostics;
    diagnostics.display_root = p.source.display_root;
    diagnostics.color = &err == &std::cerr && UseColor(STDERR_FILENO);
    diagnostics.files = validation.files;
    WriteDiagnostics(err, validation.diagnostics, diagnostics);
  };
  if (!options.no_ldap) deps.ldap = LdapUserResolver(p.source.local_root);
  deps.force = options.force;
  deps.adopt = options.adopt;
  deps.apply = p.apply;
  deps.conflicts_refuse = p.conflicts_refuse;
  auto pass = Reconcile(target, deps);
  if (!pass.ok()) {
    err << "gwctl: " << pass.status().message() << "\n";
    return kExitCouldNotRun;
  }
  p.pass = std::move(*pass);
  for (const auto& warning : p.pass.warnings) err << "gwctl: warning: " << warning << "\n";
  if (p.pass.result == PassResult::kInvalid) return kExitInvalid;

  p.output.format = options.format == "json"       ? PlanFormat::kJson
                    : options.format == "markdown" ? PlanFormat::kMarkdown
                                                   : PlanFormat::kText;
  p.output.display_root = p.source.display_root;
  p.output.color = p.output.format == PlanFormat::kText && UseColor(STDOUT_FILENO);
  const Manifests& manifests = p.pass.validation.manifests;
  if (manifests.defaults) p.output.defaults_file = manifests.defaults->file();
  return std::nullopt;
}

GatewaySettings GatewaySettingsOf(const Manifests& manifests, const OpenedSource& source,
                                  const std::string& flag,
                                  const std::filesystem::path& default_dir) {
  GatewaySettings settings;
  settings.flag = flag;
  if (manifests.repository) {
    auto gateway_spec = JsonCursor::Root(manifests.repository->value())["spec"]["gateway"];
    settings.repository_url = gateway_spec["url"].string_or("");
    settings.token_ref = gateway_spec["tokenRef"].string_or("");
  }
  settings.local_root = source.local_root;
  settings.default_dir = default_dir;
  return settings;
}

gw::Result<std::unique_ptr<gw::GatewayClient>> ConnectConfiguredGateway(
    const GatewaySettings& settings) {
  std::string url = settings.flag;
  if (url.empty()) {
    if (const char* env = std::getenv("GWCTL_GATEWAY"); env && *env) url = env;
  }
  if (url.empty() && !settings.repository_url.empty()) {
    url = settings.repository_url;
    // A relative embedded path is relative to the repository.
    if (url.rfind("embedded:", 0) == 0 && std::filesystem::path(url.substr(9)).is_relative())
      url = "embedded:" + (settings.local_root / url.substr(9)).string();
  }
  if (url.empty()) url = "embedded:" + (settings.default_dir / ".gwctl" / "gateway.db").string();

  gw::ClientOptions client_options;
  if (url.rfind("embedded:", 0) != 0) {  // the in-process engine needs no token
    if (const char* env = std::getenv("GWCTL_TOKEN"); env && *env) {
      client_options.token = env;
    } else if (!settings.token_ref.empty()) {
      auto token = ResolveSecret(settings.token_ref, settings.local_root);
      if (!token.ok())
        return gw::Status(token.status().code(), "gateway token: " + token.status().message());
      client_options.token = *token;
    }
  }
  return gw::ConnectGateway(url, client_options);
}

std::string DefaultLeaseHolder(const std::string& program) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return fmt::format("{}@{}/{}", program, host, getpid());
}

gw::Result<Plan> Replan(Pipeline& p) {
  return ComputePlan(p.pass.desired, *p.gateway, p.pass.plan_options);
}

}  // namespace gwctl::cli
