// `gatewayd postfix-config` and `gatewayd dovecot-config`: write the private Postfix and
// Dovecot instances wired to gatewayd's lookups, and say how to start them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "gateway/dovecot_config.h"
#include "gateway/postfix_config.h"
#include "gatewayd/flags.h"

namespace gatewayd {

// The HOST:PORT flags of postfix-config and dovecot-config, as given.
struct PlaneFlags {
  std::string continuity_smtp, continuity_lmtp, submission, sasl, mta_sts;
  std::string imap, pop3, imaps, pop3s, doveadm, doveadm_key_file;
};

// What the two commands are told, as given.
struct InstanceFlags {
  gw::PostfixInstanceOptions instance;
  std::string instance_smtp, relay_smtp, instance_release, smarthost;
  std::vector<std::string> instance_milters;
  MailFlags instance_lookups;
  PlaneFlags plane;
  gw::DovecotInstanceOptions mailboxes;
  std::string dovecot_lmtp;
};

class InstanceCommands {
 public:
  // Declares both subcommands on `app`; lives until Run().
  explicit InstanceCommands(CLI::App& app);
  InstanceCommands(const InstanceCommands&) = delete;
  InstanceCommands& operator=(const InstanceCommands&) = delete;

  // After parsing: the exit code of the command given, if it was one of these.
  std::optional<int> Run() const;

 private:
  CLI::App* postfix_ = nullptr;
  CLI::App* dovecot_ = nullptr;
  InstanceFlags f;
};

}  // namespace gatewayd
