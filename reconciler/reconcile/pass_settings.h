// PassSettings: what a person asks of a reconcile pass (the flags of plan, apply and
// run): where the manifests and the gateway are, which customers, how far to go. From
// them come the pass's target and dependencies (reconcile.h), the same for every caller.
#pragma once

#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "gateway/client.h"
#include "gwctl/reconcile.h"
#include "gwctl/secrets.h"
#include "gwctl/source.h"
#include "gwctl/trust.h"

namespace gwctl {

struct PassSettings : SourceSpec {
  std::string since;    // with a git source: plan only what changed since this revision
  std::string gateway;  // else $GWCTL_GATEWAY, the Repository's url, or the embedded default
  std::vector<std::string> customers;
  bool force = false;
  bool no_ldap = false;  // directory sources are not read (their users are kept)
  // Where cloud directories keep what they read, so that the next read asks only for
  // changes (DirectoryReading::cache_dir); empty: every read is a full one.
  std::filesystem::path directory_cache;
  bool adopt = false;  // take ownership of exactly matching customers without an owner
  // The revision read is a pull request's (gwctl/trust.h): trusted configuration comes
  // from the command line, the environment and the `since` revision only.
  bool untrusted = false;
  SecretPolicy secrets;  // which secrets manifests may name
};

// Where the gateway is and how to reach it, as gwctl.yaml and the command line say.
struct GatewaySettings {
  std::string flag;                   // --gateway
  RepositoryGateway repository;       // gwctl.yaml's spec.gateway (trusted: see trust.h)
  SecretPolicy secrets;               // for its tokenRef
  std::filesystem::path local_root;   // relative embedded: paths start here
  std::filesystem::path default_dir;  // the default store is DEFAULT_DIR/.gwctl/gateway.db
};

// The gateway is --gateway, else $GWCTL_GATEWAY, else spec.gateway.url, else the default
// embedded store; an HTTP gateway's token is $GWCTL_TOKEN, else spec.gateway.tokenRef.
gw::Result<std::unique_ptr<gw::GatewayClient>> ConnectConfiguredGateway(
    const GatewaySettings& settings);

ReconcileTarget TargetOf(const PassSettings& settings);

// A pass over `source` as `settings` ask: the gateway is `gateway` if set, else connected
// as configured once the manifests are valid (and kept there); the diagnostics of
// validation, if any, are written to `diagnostics` (in colour when `color`).
ReconcileDeps DepsOf(const PassSettings& settings, OpenedSource& source,
                     std::unique_ptr<gw::GatewayClient>& gateway, std::ostream& diagnostics,
                     bool color);

}  // namespace gwctl
