#include "source_options.h"

#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "exit_codes.h"
#include "yaml_documents.h"

namespace gwctl::cli {

void AddSourceOptions(CLI::App* command, SourceOptions& options) {
  command->add_option("DIR", options.directory, "The repository directory (holding gwctl.yaml)")
      ->capture_default_str();
  command->add_option(
      "--repo", options.repo,
      "Read the manifests from git instead of DIR: a local repository, or a URL (https://, ssh://, "
      "file://; token from $GWCTL_GIT_TOKEN), without a checkout");
  command->add_option("--ref", options.ref,
                      "With --repo: the branch, tag or commit to read (default HEAD)");
  command
      ->add_option("--git-timeout", options.git_timeout,
                   "With a --repo URL: seconds a clone or fetch may take")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  command->add_flag("--require-signed", options.require_signed,
                    "With --repo: refuse a commit that is not signed by an allowed key");
  command->add_option("--allowed-signers", options.signatures.allowed_signers,
                      "SSH keys allowed to sign (git's allowed_signers format)");
  command->add_option("--allowed-gpg-keyring", options.signatures.gpg_keyring,
                      "A keyring file of the GPG keys allowed to sign");
}

void AddSecretsDirOption(CLI::App* command, std::string& secrets_dir) {
  command->add_option("--secrets-dir", secrets_dir,
                      "Where file: secret references are read (default: $GWCTL_SECRETS_DIR); "
                      "env: references read only variables named $GWCTL_SECRET_ENV_PREFIX* "
                      "(default GWCTL_SECRET_*)");
}

gw::Result<SecretPolicy> SecretPolicyOf(const std::string& secrets_dir_flag) {
  auto policy = SecretPolicy::FromEnvironment();
  if (policy.ok() && !secrets_dir_flag.empty()) policy->secrets_dir = secrets_dir_flag;
  return policy;
}

std::optional<OpenedSource> OpenSource(const SourceOptions& options, int& exit_code,
                                       std::ostream& err) {
  auto opened = OpenManifestSource(
      options, [&](const std::string& note) { err << "gwctl: " << note << "\n"; });
  if (opened.ok()) return std::move(*opened);
  bool refused = opened.status().code() == gw::StatusCode::kPermissionDenied;
  err << "gwctl: " << (refused ? "refused: " : "") << opened.status().message() << "\n";
  exit_code = refused ? kExitRefused : kExitCouldNotRun;
  return std::nullopt;
}

std::optional<ValidatedSource> OpenAndValidate(const SourceOptions& options, int& exit_code,
                                               std::ostream& err) {
  auto secrets = SecretPolicy::FromEnvironment();
  if (!secrets.ok()) {
    err << "gwctl: " << secrets.status().message() << "\n";
    exit_code = kExitCouldNotRun;
    return std::nullopt;
  }
  auto source = OpenSource(options, exit_code, err);
  if (!source) return std::nullopt;
  auto report = ValidateRepository(*source->tree, {}, *secrets);
  if (!report.ok()) {
    err << "gwctl: " << report.status().message() << "\n";
    exit_code = kExitCouldNotRun;
    return std::nullopt;
  }
  return ValidatedSource{std::move(*source), std::move(*report)};
}

gw::Result<nlohmann::json> ReadYamlDocument(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  if (!in && !in.eof()) {
    return gw::Status(gw::StatusCode::kNotFound, fmt::format("cannot read {}", file));
  }
  Diagnostics diagnostics;
  auto documents = ParseYamlDocuments(file, text, diagnostics);
  if (diagnostics.has_errors() || documents.empty()) {
    return gw::Status(gw::StatusCode::kInvalidArgument,
                      fmt::format("{} is not a YAML document (gwctl validate says why)", file));
  }
  return documents.front().value();
}

gw::Result<DirectoryGateway> GatewayOfDirectory(const std::filesystem::path& dir,
                                                const std::string& gateway_flag,
                                                const std::string& partner_flag,
                                                const SecretPolicy& secrets) {
  DirectoryGateway out;
  out.partner = partner_flag;
  out.settings.flag = gateway_flag;
  out.settings.secrets = secrets;
  out.settings.local_root = dir;
  out.settings.default_dir = dir;
  if (std::filesystem::exists(dir / "gwctl.yaml")) {
    auto repository = ReadYamlDocument((dir / "gwctl.yaml").string());
    if (!repository.ok()) return repository.status();
    if (out.partner.empty()) out.partner = repository->value("/metadata/name"_json_pointer, "");
    out.settings.repository = RepositoryGatewayOf(*repository);
  }
  if (out.partner.empty()) {
    return gw::Status(
        gw::StatusCode::kInvalidArgument,
        fmt::format("which partner? --partner NAME, or a gwctl.yaml in {}", dir.string()));
  }
  return out;
}

void AddGatewayTargetOptions(CLI::App* command, GatewayTargetOptions& options) {
  command->add_option("--dir", options.dir, "The repository (for gwctl.yaml's partner and gateway)")
      ->capture_default_str();
  command->add_option("--gateway", options.gateway,
                      "http(s)://HOST:PORT or embedded:PATH (default: $GWCTL_GATEWAY, then "
                      "gwctl.yaml's spec.gateway.url)");
  command->add_option("--partner", options.partner, "The partner (default: gwctl.yaml's)");
  AddSecretsDirOption(command, options.secrets_dir);
}

gw::Result<ConnectedGateway> ConnectGatewayTarget(const GatewayTargetOptions& options) {
  auto secrets = SecretPolicyOf(options.secrets_dir);
  if (!secrets.ok()) return secrets.status();
  auto target = GatewayOfDirectory(options.dir, options.gateway, options.partner, *secrets);
  if (!target.ok()) return target.status();
  auto client = ConnectConfiguredGateway(target->settings);
  if (!client.ok()) return client.status();
  return ConnectedGateway{target->partner, std::move(*client)};
}

}  // namespace gwctl::cli
