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

namespace {}  // namespace

std::optional<int> BuildPlan(const PipelineOptions& options, Pipeline& p, std::ostream& err) {
  if (!p.source.tree) {  // the loop opens the source itself to see the commit first
    int source_failure = kExitCouldNotRun;
    auto source = OpenSource(options, source_failure, err);
    if (!source) return source_failure;
    p.source = std::move(*source);
  }
  std::string base;
  std::optional<Change> change;
  if (!options.since.empty()) {
    if (!p.source.git) {
      err << "gwctl: --since needs --repo\n";
      return kExitCouldNotRun;
    }
    auto resolved = p.source.git->Resolve(options.since);
    if (!resolved.ok()) {
      err << "gwctl: --since: " << resolved.status().message() << "\n";
      return kExitCouldNotRun;
    }
    base = *resolved;
    // Read only what the change can touch, unless the Repository or defaults changed.
    auto compared = CompareCommits(*p.source.git, base, p.source.commit);
    if (!compared.ok()) {
      err << "gwctl: --since: " << compared.status().message() << "\n";
      return kExitCouldNotRun;
    }
    change = std::move(*compared);
    auto files = FilesForChange(*change, *p.source.tree);
    if (!files.ok()) {
      err << "gwctl: --since: " << files.status().message() << "\n";
      return kExitCouldNotRun;
    }
    if (*files) p.source.tree = RestrictManifests(std::move(p.source.tree), std::move(**files));
  }
  auto report = ValidateRepository(*p.source.tree);
  if (!report.ok()) {
    err << "gwctl: " << report.status().message() << "\n";
    return kExitCouldNotRun;
  }
  p.validation = std::move(*report);
  const std::string& display_root = p.source.display_root;
  if (p.validation.diagnostics.has_errors() || p.validation.diagnostics.warning_count() > 0) {
    DiagnosticOutput diagnostics;
    diagnostics.display_root = display_root;
    diagnostics.color = &err == &std::cerr && UseColor(STDERR_FILENO);
    diagnostics.files = p.validation.files;
    WriteDiagnostics(err, p.validation.diagnostics, diagnostics);
    if (p.validation.diagnostics.has_errors()) return kExitInvalid;
  }
  Manifests& manifests = p.validation.manifests;

  std::set<std::string> only(options.customers.begin(), options.customers.end());
  for (const auto& name : only) {
    bool known = std::any_of(manifests.customers.begin(), manifests.customers.end(),
                             [&](const CustomerManifest& c) { return c.name == name; });
    if (!known) err << "gwctl: warning: --customer " << name << " is not in the manifests\n";
  }

  if (!only.empty()) p.plan_options.only = only;
  if (change) {
    auto affected = CustomersAffected(*change, manifests);
    if (!affected.ok()) {
      err << "gwctl: --since: " << affected.status().message() << "\n";
      return kExitCouldNotRun;
    }
    if (*affected) {
      std::set<std::string> selected = **affected;
      if (p.plan_options.only) {  // --customer and --since together: both must hold
        std::set<std::string> both;
        for (const auto& name : selected) {
          if (p.plan_options.only->count(name)) both.insert(name);
        }
        selected = std::move(both);
      }
      p.plan_options.only = std::move(selected);
    }
  }

  DesiredOptions desired_options;
  desired_options.repository_root = p.source.local_root;
  desired_options.revision = p.source.commit;
  if (!options.no_ldap) desired_options.ldap = LdapUserResolver(p.source.local_root);
  desired_options.only = p.plan_options.only;  // directories are read only for planned customers
  auto desired = BuildDesiredState(manifests, desired_options);
  if (!desired.ok()) {
    err << "gwctl: " << desired.status().message() << "\n";
    return kExitCouldNotRun;
  }
  p.desired = std::move(*desired);

  if (!p.gateway) {  // the loop keeps its client from one pass to the next
    auto gateway = ConnectConfiguredGateway(
        GatewaySettingsOf(manifests, p.source, options.gateway, options.directory));
    if (!gateway.ok()) {
      err << "gwctl: " << gateway.status().message() << "\n";
      return kExitCouldNotRun;
    }
    p.gateway = std::move(*gateway);
  }
  // Embedded (or with an operator token) the partner is made on first use; a partner's
  // token confirms its existing partner, and for a missing one (403) reading its state
  // says what is wrong.
  if (gw::Status s = p.gateway->EnsurePartner(p.desired.partner);
      !s.ok() && s.code() != gw::StatusCode::kPermissionDenied) {
    err << "gwctl: " << p.gateway->Describe() << ": " << s.message() << "\n";
    return kExitCouldNotRun;
  }

  p.plan_options.safety =
      SafetyFromRepository(manifests.repository ? &*manifests.repository : nullptr);
  p.plan_options.force = options.force;
  p.plan_options.adopt = options.adopt;
  auto plan = ComputePlan(p.desired, *p.gateway, p.plan_options);
  if (!plan.ok()) {
    err << "gwctl: " << p.gateway->Describe() << ": " << plan.status().message() << "\n";
    return kExitCouldNotRun;
  }
  p.plan = std::move(*plan);
  p.plan.repository_revision = p.source.commit;
  p.plan.base_revision = base;

  p.output.format = options.format == "json"       ? PlanFormat::kJson
                    : options.format == "markdown" ? PlanFormat::kMarkdown
                                                   : PlanFormat::kText;
  p.output.display_root = display_root;
  p.output.color = p.output.format == PlanFormat::kText && UseColor(STDOUT_FILENO);
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
  return ComputePlan(p.desired, *p.gateway, p.plan_options);
}

}  // namespace gwctl::cli
