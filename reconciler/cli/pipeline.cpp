#include "pipeline.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "exit_codes.h"

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
  ReconcileDeps deps =
      DepsOf(options, p.source, p.gateway, err, &err == &std::cerr && UseColor(STDERR_FILENO));
  auto pass = Reconcile(TargetOf(options), deps);
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

std::string DefaultLeaseHolder(const std::string& program) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return fmt::format("{}@{}/{}", program, host, getpid());
}

gw::Result<Plan> Replan(Pipeline& p) {
  return ComputePlan(p.pass.desired, *p.gateway, p.pass.plan_options);
}

}  // namespace gwctl::cli
