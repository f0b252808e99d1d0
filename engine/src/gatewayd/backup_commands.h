// `gatewayd backup` and `gatewayd restore`: a gateway host's state in one file, and back.
//
// A backup holds the SQLite store and its archive (copied with VACUUM INTO, consistent
// while gatewayd runs), the keys beside them (the continuity doveadm key), and every file
// of the configuration's directory (gatewayd.yaml, tokens, the filter's and operator's
// tokens, local overrides), with a manifest of where each came from. It is a tar.gz made
// 0600: it holds secrets. Not in it: mail in Postfix's queue and continuity mailboxes
// (mail in flight), and a PostgreSQL store, which its own tools (pg_dump) back up.
//
// Restore needs nothing but the backup and where the configuration lives (--config, as
// the backup recorded it): the backup's own gatewayd.yaml says where the store goes. Only
// paths under that directory and the data directory are written. It puts each file back where the
// manifest says, with its mode, and the store's files under the data directory's owner. It refuses
// to overwrite an existing store unless --force, and refuses a backup from a newer format.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace gatewayd {

class BackupCommands {
 public:
  explicit BackupCommands(CLI::App& app);
  BackupCommands(const BackupCommands&) = delete;
  BackupCommands& operator=(const BackupCommands&) = delete;

  // After parsing: the exit code of the command given, if it was one of these.
  std::optional<int> Run() const;

 private:
  CLI::App* backup_ = nullptr;
  CLI::App* restore_ = nullptr;
  std::string config_ = "/etc/gatewayd/gatewayd.yaml", file_;
  bool force_ = false;
};

}  // namespace gatewayd
