// gatewayd.yaml (daemon_config.h) as command-line flags: each daemon declares its flags
// once, on CLI11, and takes from the file only those the command line did not give, so
// a flag always overrides the file and the file's values pass the flags' own checks.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "gateway/daemon_config.h"
#include "gateway/status.h"

namespace gw {

// One flag a daemon takes from the file, with its values (several for a repeatable
// flag; none for a switch) and the pointer of the setting it comes from.
struct ConfigArg {
  std::string flag;
  std::vector<std::string> values;
  std::string pointer;
};

// gatewayd's serving flags, and gw-milter's, as `config` gives them.
std::vector<ConfigArg> GatewaydArgs(const DaemonConfig& config);
std::vector<ConfigArg> MilterArgs(const DaemonConfig& config);

// Where gatewayd and Dovecot meet, under the data directory (`gatewayd setup` makes
// them): the passdb/userdb socket and the doveadm API key.
std::string ContinuityAuthSocket(const DaemonConfig& config);
std::string DoveadmKeyFile(const DaemonConfig& config);

// Sets each flag of `args` that the command line left unset on `app`, through its checks.
// kInvalidArgument, located at the setting: "FILE:LINE:COLUMN: --flag: why".
Status ApplyConfigArgs(CLI::App& app, const DaemonConfig& config,
                       const std::vector<ConfigArg>& args);

// kInvalidArgument naming the first of `flags` that neither the command line nor the file
// gave ("--listen is required (or give --config)").
Status RequireFlags(const CLI::App& app, std::initializer_list<const char*> flags);

}  // namespace gw
