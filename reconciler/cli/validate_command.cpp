#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "exit_codes.h"
#include "gwctl/diagnostics.h"
#include "gwctl/validate.h"
#include "source_options.h"

namespace gwctl::cli {

bool UseColor(int fd) {
  const char* no_color = std::getenv("NO_COLOR");
  return isatty(fd) && !(no_color && *no_color);
}

void RegisterValidateCommand(CLI::App& app, int& exit_code) {
  struct Options : SourceOptions {
    std::string format = "text";
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "validate",
      "Check every manifest in a repository (schema and rules); no gateway is contacted");
  AddSourceOptions(command, *options);
  command
      ->add_option("--format", options->format,
                   "Output: text, json or github (workflow annotations)")
      ->check(CLI::IsMember({"text", "json", "github"}))
      ->capture_default_str();
  command->footer("Exit codes: 0 valid (warnings allowed), 1 invalid, 4 could not run.");
  command->callback([options, &exit_code] {
    auto validated = OpenAndValidate(*options, exit_code);
    if (!validated) return;
    const ValidationReport* report = &validated->report;
    DiagnosticOutput output;
    output.format = options->format == "json"     ? OutputFormat::kJson
                    : options->format == "github" ? OutputFormat::kGithub
                                                  : OutputFormat::kText;
    output.display_root = options->directory;
    while (output.display_root.size() > 1 && output.display_root.back() == '/')
      output.display_root.pop_back();
    output.color = output.format == OutputFormat::kText && UseColor(STDOUT_FILENO);
    output.files = report->files;
    WriteDiagnostics(std::cout, report->diagnostics, output);
    exit_code = report->diagnostics.has_errors() ? kExitInvalid : kExitOk;
  });
}

}  // namespace gwctl::cli
