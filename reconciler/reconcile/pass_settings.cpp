#include "pass_settings.h"

#include <cstdlib>

#include "gwctl/diagnostics.h"

namespace gwctl {

gw::Result<std::unique_ptr<gw::GatewayClient>> ConnectConfiguredGateway(
    const GatewaySettings& settings) {
  std::string url = settings.flag;
  if (url.empty()) {
    if (const char* env = std::getenv("GWCTL_GATEWAY"); env && *env) url = env;
  }
  if (url.empty() && !settings.repository.url.empty()) {
    url = settings.repository.url;
    // A relative embedded path is relative to the repository.
    if (url.rfind("embedded:", 0) == 0 && std::filesystem::path(url.substr(9)).is_relative())
      url = "embedded:" + (settings.local_root / url.substr(9)).string();
  }
  if (url.empty()) url = "embedded:" + (settings.default_dir / ".gwctl" / "gateway.db").string();

  gw::ClientOptions client_options;
  if (url.rfind("embedded:", 0) != 0) {  // the in-process engine needs no token
    if (const char* env = std::getenv("GWCTL_TOKEN"); env && *env) {
      client_options.token = env;
    } else if (!settings.repository.token_ref.empty()) {
      auto token = ResolveSecret(settings.repository.token_ref, settings.secrets);
      if (!token.ok())
        return gw::Status(token.status().code(), "gateway token: " + token.status().message());
      client_options.token = *token;
    }
  }
  return gw::ConnectGateway(url, client_options);
}

ReconcileTarget TargetOf(const PassSettings& settings) {
  ReconcileTarget target;
  target.customers.insert(settings.customers.begin(), settings.customers.end());
  target.since = settings.since;
  return target;
}

ReconcileDeps DepsOf(const PassSettings& settings, OpenedSource& source,
                     std::unique_ptr<gw::GatewayClient>& gateway, std::ostream& diagnostics,
                     bool color) {
  ReconcileDeps deps;
  deps.source = &source;
  deps.gateway = &gateway;
  deps.connect = [&settings, &source](const RepositoryGateway& repository) {
    return ConnectConfiguredGateway(
        {settings.gateway, repository, settings.secrets, source.local_root, settings.directory});
  };
  deps.validated = [&source, &diagnostics, color](const ValidationReport& validation) {
    if (!validation.diagnostics.has_errors() && validation.diagnostics.warning_count() == 0) return;
    DiagnosticOutput output;
    output.display_root = source.display_root;
    output.color = color;
    output.files = validation.files;
    WriteDiagnostics(diagnostics, validation.diagnostics, output);
  };
  deps.read_directories = !settings.no_ldap;
  deps.directory_cache = settings.directory_cache;
  deps.untrusted = settings.untrusted;
  deps.secrets = settings.secrets;
  deps.force = settings.force;
  deps.adopt = settings.adopt;
  return deps;
}

}  // namespace gwctl
