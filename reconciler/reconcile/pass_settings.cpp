#include "pass_settings.h"

#include <cstdlib>

#include "gateway/json_cursor.h"
#include "gwctl/diagnostics.h"
#include "secrets.h"

namespace gwctl {

using gw::JsonCursor;

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
  deps.connect = [&settings, &source](const Manifests& manifests) {
    return ConnectConfiguredGateway(
        GatewaySettingsOf(manifests, source, settings.gateway, settings.directory));
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
  deps.force = settings.force;
  deps.adopt = settings.adopt;
  return deps;
}

}  // namespace gwctl
