// gatewayd: the gateway engine as a server (serve.h), and the commands that write the
// Postfix and Dovecot instances that ask it (instance_commands.h) or hash a token. main
// only declares the flags, parses, and hands over.
#include <iostream>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "gateway/config_flags.h"
#include "gateway/daemon_config.h"
#include "gateway/tokens.h"
#include "gatewayd/archive_commands.h"
#include "gatewayd/backup_commands.h"
#include "gatewayd/flags.h"
#include "gatewayd/instance_commands.h"
#include "gatewayd/process.h"
#include "gatewayd/serve.h"
#include "gatewayd/setup_command.h"

using gatewayd::Log;

int main(int argc, char** argv) {
  CLI::App app("gatewayd: the email security gateway engine and its admin API", "gatewayd");
  gatewayd::ServeFlags flags;
  gatewayd::AddServeFlags(app, flags);
  std::string config_file;
  app.add_option("--config", config_file,
                 "gatewayd.yaml: the host's configuration (schemas/gatewayd.schema.json); a flag "
                 "given here wins over the file");
  app.footer(
      "Signals: SIGTERM/SIGINT finish requests in flight and exit 0; SIGHUP re-reads the tokens "
      "file.\n"
      "Example: gatewayd --config /etc/gatewayd/gatewayd.yaml\n"
      "         gatewayd --data /var/lib/gatewayd --tokens /etc/gatewayd/tokens.yaml");
  CLI::App* hash =
      app.add_subcommand("hash-token", "Read a token on stdin and print its tokens-file entry");
  std::string name = "NAME", partner, customer, role;
  hash->add_option("--name", name, "Name for the entry (the audit log shows it)")
      ->capture_default_str();
  hash->add_option("--partner", partner, "Scope the token to this partner");
  hash->add_option("--customer", customer, "With --role customer-admin: its one customer");
  hash->add_option("--role", role,
                   "Without --partner: operator (the default) or filter (gw-milter). With "
                   "--partner: admin (the default), technician, read-only or customer-admin")
      ->check(CLI::IsMember(
          {"operator", "filter", "admin", "technician", "read-only", "customer-admin"}));
  gatewayd::InstanceCommands instances(app);
  gatewayd::ArchiveCommands archive(app);
  gatewayd::SetupCommand setup(app);
  gatewayd::BackupCommands backups(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (auto written = instances.Run()) return *written;
  if (auto released = archive.Run()) return *released;
  if (auto set_up = setup.Run()) return *set_up;
  if (auto backed_up = backups.Run()) return *backed_up;
  if (hash->parsed()) {
    std::string token;
    std::getline(std::cin, token);
    if (token.empty()) {
      Log("hash-token: no token on stdin");
      return 2;
    }
    // The entry is checked as gatewayd will read it, so a wrong scope fails here.
    std::string scope = partner.empty()
                            ? "role: " + (role.empty() ? "operator" : role)
                            : (role.empty() ? "" : "role: " + role + ", ") + "partner: " + partner +
                                  (customer.empty() ? "" : ", customer: " + customer);
    std::string entry =
        fmt::format("  - {{name: {}, {}, sha256: \"{}\"}}\n", name, scope, gw::HashToken(token));
    if (gw::Status valid = gw::TokenStore::Check("tokens:\n" + entry); !valid.ok()) {
      Log("hash-token: " + valid.message());
      return 2;
    }
    std::cout << entry;
    return 0;
  }
  if (!config_file.empty()) {
    auto config = gw::DaemonConfig::Read(config_file);
    gw::Status applied = config.ok() ? gw::ApplyConfigArgs(app, *config, gw::GatewaydArgs(*config))
                                     : config.status();
    if (!applied.ok()) {
      std::cerr << applied.message() << "\n";  // FILE:LINE:COLUMN: ..., one per line
      return 2;
    }
  }
  if (gw::Status resolved = gatewayd::ResolveServeFlags(flags); !resolved.ok()) {
    Log(resolved.message());
    return 2;
  }
  if (flags.tokens.empty()) {
    Log("--tokens FILE is required (see --help)");
    return 2;
  }
  return gatewayd::Serve(std::move(flags));
}
