// `gatewayd setup --config gatewayd.yaml`: the host's whole mail plane from its one
// configuration file. Writes the Postfix instance (DATA/postfix) and, with continuity,
// the Dovecot instance (DATA/dovecot), each with the host's own overrides appended
// (main.cf.local, master.cf.local, dovecot.local.conf beside the configuration file, kept
// across every run); makes the keys and tokens the daemons share when they are missing;
// and says which files changed and what to start. gatewayd and gw-milter read the same
// file themselves (--config), so nothing else is generated for them.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace gatewayd {

class SetupCommand {
 public:
  explicit SetupCommand(CLI::App& app);
  SetupCommand(const SetupCommand&) = delete;
  SetupCommand& operator=(const SetupCommand&) = delete;

  // After parsing: setup's exit code if it was the command given (2: a bad configuration).
  std::optional<int> Run() const;

 private:
  CLI::App* setup_ = nullptr;
  std::string config_;
};

}  // namespace gatewayd
