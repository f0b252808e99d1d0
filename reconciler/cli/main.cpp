// gwctl: email security gateway configuration as code. main only wires the commands.
#include <iostream>

#include "commands.h"
#include "exit_codes.h"

int main(int argc, char** argv) {
  CLI::App app(
      "gwctl: validate, plan and apply email security gateway manifests, once or as a loop",
      "gwctl");
  app.require_subcommand(1);
  app.set_version_flag("--version", GWCTL_VERSION);
  int exit_code = gwctl::kExitOk;
  gwctl::cli::RegisterValidateCommand(app, exit_code);
  gwctl::cli::RegisterPlanCommand(app, exit_code);
  gwctl::cli::RegisterApplyCommand(app, exit_code);
  gwctl::cli::RegisterRunCommand(app, exit_code);
  gwctl::cli::RegisterExportCommand(app, exit_code);
  gwctl::cli::RegisterTraceCommand(app, exit_code);
  gwctl::cli::RegisterQuarantineCommand(app, exit_code);
  gwctl::cli::RegisterListsCommand(app, exit_code);
  gwctl::cli::RegisterArchiveCommand(app, exit_code);
  gwctl::cli::RegisterContinuityCommand(app, exit_code);
  gwctl::cli::RegisterDnsCommand(app, exit_code);
  gwctl::cli::RegisterSchemaCommand(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? gwctl::kExitOk : gwctl::kExitCouldNotRun;
  }
  return exit_code;
}
