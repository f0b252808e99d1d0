// Where the manifests come from: a directory (the positional DIR), or a git repository
// at a ref (--repo URL|PATH --ref REF), read without a checkout.
#pragma once

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "gwctl/source.h"
#include "gwctl/validate.h"
#include "pass_settings.h"

namespace gwctl::cli {

// DIR, --repo, --ref, --git-timeout, --require-signed and the allowed signers.
using SourceOptions = SourceSpec;

void AddSourceOptions(CLI::App* command, SourceOptions& options);

// --secrets-dir, and the policy it completes: GWCTL_SECRET_ENV_PREFIX and GWCTL_SECRETS_DIR
// (the flag wins over the latter). Fails on an empty prefix.
void AddSecretsDirOption(CLI::App* command, std::string& secrets_dir);
gw::Result<SecretPolicy> SecretPolicyOf(const std::string& secrets_dir_flag);

// Opens the source; on failure writes why to `err` and sets `exit_code` (4, or 3 when a
// required signature is missing or wrong).
std::optional<OpenedSource> OpenSource(const SourceOptions& options, int& exit_code,
                                       std::ostream& err = std::cerr);

struct ValidatedSource {
  OpenedSource source;
  ValidationReport report;
};

// Opens the source and validates it; when either cannot run, writes why to `err` and
// sets `exit_code`. Invalid manifests are a report, not a failure.
std::optional<ValidatedSource> OpenAndValidate(const SourceOptions& options, int& exit_code,
                                               std::ostream& err = std::cerr);

// The first document of a YAML file (gwctl.yaml, a defaults file), as JSON, for commands
// that read one file rather than a repository.
gw::Result<nlohmann::json> ReadYamlDocument(const std::string& file);

// The partner and gateway of the repository in `dir` for commands that talk to the
// gateway without planning (export, quarantine): --partner, else gwctl.yaml's
// metadata.name; the gateway as ConnectConfiguredGateway finds it (--gateway, ...).
struct DirectoryGateway {
  std::string partner;
  GatewaySettings settings;
};
gw::Result<DirectoryGateway> GatewayOfDirectory(const std::filesystem::path& dir,
                                                const std::string& gateway_flag,
                                                const std::string& partner_flag,
                                                const SecretPolicy& secrets);

// --dir, --gateway and --partner of the commands that act on one customer in the gateway
// (quarantine, continuity), and the connection they name.
struct GatewayTargetOptions {
  std::string dir = ".";
  std::string gateway;
  std::string partner;
  std::string secrets_dir;  // for gwctl.yaml's tokenRef
};
void AddGatewayTargetOptions(CLI::App* command, GatewayTargetOptions& options);
struct ConnectedGateway {
  std::string partner;
  std::unique_ptr<gw::GatewayClient> client;
};
gw::Result<ConnectedGateway> ConnectGatewayTarget(const GatewayTargetOptions& options);

}  // namespace gwctl::cli
