// The gwctl subcommands. Each registers itself on the CLI11 app; when it runs, it
// stores its process exit code in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace gwctl::cli {

void RegisterValidateCommand(CLI::App& app, int& exit_code);
void RegisterSchemaCommand(CLI::App& app, int& exit_code);
void RegisterPlanCommand(CLI::App& app, int& exit_code);
void RegisterApplyCommand(CLI::App& app, int& exit_code);
void RegisterRunCommand(CLI::App& app, int& exit_code);
void RegisterExportCommand(CLI::App& app, int& exit_code);
void RegisterTraceCommand(CLI::App& app, int& exit_code);
void RegisterQuarantineCommand(CLI::App& app, int& exit_code);
void RegisterListsCommand(CLI::App& app, int& exit_code);
void RegisterArchiveCommand(CLI::App& app, int& exit_code);
void RegisterContinuityCommand(CLI::App& app, int& exit_code);
void RegisterDnsCommand(CLI::App& app, int& exit_code);

// True when colour is wanted on the stream: a terminal, and NO_COLOR unset.
bool UseColor(int fd);

}  // namespace gwctl::cli
