#include "pipeline.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "dns_warnings.h"
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
  command->add_flag("--no-directories,--no-ldap", options.no_ldap,
                    "Do not read directory sources (LDAP, Microsoft 365, Google Workspace); the "
                    "users they gave stay on the gateway as they are");
  command->add_option("--directory-cache", options.directory_cache,
                      "A directory where cloud directory sources keep what they read, so that "
                      "the next run asks Microsoft Graph only for changes (default: "
                      "$GWCTL_DIRECTORY_CACHE; none: every run reads in full)");
  command->add_flag("--adopt", options.adopt,
                    "Take ownership of customers made without gwctl (no owner) that match their "
                    "manifests exactly; nothing else about them changes");
  command->add_flag("--force", options.force,
                    "Go past safety limits and replacements of immutable fields");
  AddSecretsDirOption(command, options.secrets_dir);
}

std::optional<int> SetSecretPolicy(PipelineOptions& options, std::ostream& err) {
  auto policy = SecretPolicyOf(options.secrets_dir);
  if (!policy.ok()) {
    err << "gwctl: " << policy.status().message() << "\n";
    return kExitCouldNotRun;
  }
  options.secrets = std::move(*policy);
  if (const char* cache = std::getenv("GWCTL_DIRECTORY_CACHE");
      options.directory_cache.empty() && cache && *cache) {
    options.directory_cache = cache;
  }
  return std::nullopt;
}

void AddDnsOptions(CLI::App* command, PipelineOptions& options) {
  command->add_flag("--check-dns", options.check_dns,
                    "Warn where the manifests' domains' live DNS does not reach the gateway: MX "
                    "elsewhere, SPF without the gateway's include, a domain that does not "
                    "resolve (also GWCTL_CHECK_DNS=1). Warnings only; the exit code is the plan's");
  command->add_flag("--no-dns", options.no_dns,
                    "Never ask DNS (CI without network), even with --check-dns or "
                    "GWCTL_CHECK_DNS=1");
  command
      ->add_option("--dns-server", options.dns_servers,
                   "HOST:PORT of a DNS resolver for --check-dns (repeatable; default: the "
                   "system's)")
      ->check([](const std::string& value) {
        auto server = gw::ParseEndpoint(value, "--dns-server");
        return server.ok() ? std::string() : server.status().message();
      });
  command
      ->add_option("--dns-timeout-ms", options.dns_timeout_ms,
                   "How long a DNS question waits for its first answer (the second try waits "
                   "twice as long)")
      ->capture_default_str()
      ->check(CLI::Range(10, 60'000));
}

namespace {

// The manifests' domains checked in live DNS, as warnings on the plan.
void AddDnsWarnings(const PipelineOptions& options, Pipeline& p) {
  const char* env = std::getenv("GWCTL_CHECK_DNS");
  bool wanted = options.check_dns || (env && std::string(env) == "1");
  if (!wanted || options.no_dns) return;
  std::vector<std::string>& warnings = p.pass.plan.warnings;
  auto facts = p.gateway->GetFacts();
  if (!facts.ok()) {
    warnings.push_back("DNS not checked: the gateway's MX hosts could not be read: " +
                       facts.status().message());
    return;
  }
  auto dns = gw::DnsResolverOptionsFor(options.dns_servers,
                                       std::chrono::milliseconds(options.dns_timeout_ms));
  if (!dns.ok()) {
    warnings.push_back("DNS not checked: " + dns.status().message());
    return;
  }
  auto resolver = gw::DnsResolver::Create(*dns);
  if (!resolver.ok()) {
    warnings.push_back("DNS not checked: " + resolver.status().message());
    return;
  }
  for (auto& warning :
       DnsWarnings(**resolver, *facts, DomainsOf(p.pass.validation.manifests, options.customers)))
    warnings.push_back(std::move(warning));
}

}  // namespace

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
  AddDnsWarnings(options, p);

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
