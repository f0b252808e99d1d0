#include <filesystem>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "exit_codes.h"
#include "gateway/schema.h"

namespace gwctl::cli {

void RegisterSchemaCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string name;
    std::string out;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "schema", "Print or write the JSON Schemas of the manifest kinds, for editors");
  command->add_option("NAME", options->name,
                      "A schema to print: repository, partner-defaults, customer, common");
  command->add_option("--out", options->out, "Write every schema file into this directory");
  command->footer(
      "Editors using yaml-language-server validate while typing with a modeline such as\n"
      "  # yaml-language-server: $schema=schemas/customer.schema.json\n"
      "after `gwctl schema --out schemas`. Without arguments, lists the schemas.");
  command->callback([options, &exit_code] {
    const auto& files = gw::SchemaSet::Files();
    if (!options->out.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(options->out, ec);
      for (const auto& [name, text] : files) {
        auto path = std::filesystem::path(options->out) / std::string(name);
        std::ofstream file(path, std::ios::binary | std::ios::trunc);
        file << text;
        if (!file.flush()) {
          std::cerr << "gwctl: cannot write " << path.string() << "\n";
          exit_code = kExitCouldNotRun;
          return;
        }
        std::cout << "wrote " << path.string() << "\n";
      }
      exit_code = kExitOk;
      return;
    }
    if (options->name.empty()) {
      for (const auto& [name, text] : files) std::cout << name << "\n";
      exit_code = kExitOk;
      return;
    }
    for (const auto& [name, text] : files) {
      if (name == options->name || std::string(name) == options->name + ".schema.json") {
        std::cout << text;
        exit_code = kExitOk;
        return;
      }
    }
    std::cerr << "gwctl: no schema named '" << options->name << "' (try: gwctl schema)\n";
    exit_code = kExitCouldNotRun;
  });
}

}  // namespace gwctl::cli
