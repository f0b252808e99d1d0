// gatewayd archive-release: the legal release of an archived message before its
// retention ends (archive.h). It runs on the gateway's host, against the store directly,
// never through the admin API: whoever may run it may already read the store's files, so
// no token holder, the operator's included, can remove archived mail early.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace gatewayd {

class ArchiveCommands {
 public:
  explicit ArchiveCommands(CLI::App& app);
  ArchiveCommands(const ArchiveCommands&) = delete;
  ArchiveCommands& operator=(const ArchiveCommands&) = delete;

  // After parsing: the exit code of the command given, if it was this one.
  std::optional<int> Run() const;

 private:
  CLI::App* release_ = nullptr;
  std::string data_ = "/var/lib/gatewayd", store_, partner_, customer_, reason_;
  int64_t id_ = 0;
};

}  // namespace gatewayd
