// gwctl export: writes customers the gateway holds as manifests (see gwctl/export.h).
#include <algorithm>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "exit_codes.h"
#include "gateway/client.h"
#include "gwctl/export.h"
#include "pipeline.h"
#include "source_options.h"

namespace gwctl::cli {

namespace {

struct ExportCommandOptions {
  std::string out;
  std::vector<std::string> customers;
  bool all = false;
  std::string gateway;
  std::string partner;
  std::string secrets_dir;
  std::string defaults;
  size_t inline_users = 50;
  bool force = false;
};

int Export(const ExportCommandOptions& options) {
  namespace fs = std::filesystem;
  fs::path out = options.out;
  auto secrets = SecretPolicyOf(options.secrets_dir);
  auto target = secrets.ok() ? GatewayOfDirectory(out, options.gateway, options.partner, *secrets)
                             : secrets.status();
  if (!target.ok()) {
    std::cerr << "gwctl: " << target.status().message() << "\n";
    return kExitCouldNotRun;
  }
  const std::string& partner = target->partner;
  const GatewaySettings& settings = target->settings;
  if (options.customers.empty() && !options.all) {
    std::cerr << "gwctl: name customers with --customer NAME, or export them all with --all\n";
    return kExitCouldNotRun;
  }
  nlohmann::json defaults;
  if (!options.defaults.empty()) {
    auto read = ReadYamlDocument(options.defaults);
    if (!read.ok()) {
      std::cerr << "gwctl: " << read.status().message() << "\n";
      return kExitCouldNotRun;
    }
    defaults = read->value("spec", nlohmann::json::object());
  }

  auto gateway = ConnectConfiguredGateway(settings);
  if (!gateway.ok()) {
    std::cerr << "gwctl: " << gateway.status().message() << "\n";
    return kExitCouldNotRun;
  }
  std::string url = (*gateway)->Describe();
  auto state = (*gateway)->GetState(partner);
  if (!state.ok()) {
    std::cerr << "gwctl: " << url << ": " << state.status().message() << "\n";
    return kExitCouldNotRun;
  }
  std::vector<const gw::Customer*> chosen;
  for (const auto& c : state->customers) {
    if (options.all || std::find(options.customers.begin(), options.customers.end(), c.name) !=
                           options.customers.end()) {
      chosen.push_back(&c);
    }
  }
  for (const auto& name : options.customers) {
    if (std::none_of(chosen.begin(), chosen.end(),
                     [&](const gw::Customer* c) { return c->name == name; })) {
      std::cerr << "gwctl: partner " << partner << " has no customer " << name << " on " << url
                << "\n";
      return kExitCouldNotRun;
    }
  }

  ExportOptions export_options;
  export_options.inline_users_max = options.inline_users;
  export_options.defaults_spec = options.defaults.empty() ? nullptr : &defaults;
  export_options.origin = (*gateway)->Describe();
  export_options.secret_env_prefix = secrets->env_prefix;
  std::vector<ExportedFile> files;
  for (const gw::Customer* c : chosen) {
    auto users = gw::ListAllUsers(**gateway, partner, c->name);
    if (!users.ok()) {
      std::cerr << "gwctl: " << url << ": users of " << c->name << ": " << users.status().message()
                << "\n";
      return kExitCouldNotRun;
    }
    auto exported = ExportCustomer(*c, *users, export_options);
    files.insert(files.end(), exported.begin(), exported.end());
  }
  // Customers sharing a branded template name it once; two different ones of one name
  // cannot both be written.
  std::map<std::string, const ExportedFile*> by_path;
  std::vector<ExportedFile> unique;
  for (const auto& f : files) {
    auto [it, fresh] = by_path.emplace(f.path, &f);
    if (fresh) {
      unique.push_back(f);
    } else if (it->second->content != f.content) {
      std::cerr << "gwctl: two customers' " << f.path
                << " differ on the gateway; nothing was written (export them one at a time)\n";
      return kExitCouldNotRun;
    }
  }
  files = std::move(unique);
  // Nothing is overwritten unless asked: check every file before writing any.
  if (!options.force) {
    for (const auto& f : files) {
      if (fs::exists(out / f.path)) {
        std::cerr << "gwctl: " << (out / f.path).string()
                  << " exists; nothing was written (--force overwrites)\n";
        return kExitCouldNotRun;
      }
    }
  }
  if (!fs::exists(out / "gwctl.yaml")) {
    files.push_back(
        {"gwctl.yaml", fmt::format("apiVersion: gwctl/v1\nkind: Repository\nmetadata:\n  "
                                   "name: {}\nspec: {{}}\n",
                                   partner)});
  }
  for (const auto& f : files) {
    fs::create_directories((out / f.path).parent_path());
    std::ofstream file(out / f.path, std::ios::trunc);
    file << f.content;
    if (!file.flush()) {
      std::cerr << "gwctl: cannot write " << (out / f.path).string() << "\n";
      return kExitCouldNotRun;
    }
    std::cout << "wrote " << (out / f.path).string() << "\n";
  }
  std::cout << fmt::format("Exported {} customer{} of {} from {}.\n", chosen.size(),
                           chosen.size() == 1 ? "" : "s", partner, (*gateway)->Describe());
  return kExitOk;
}

}  // namespace

void RegisterExportCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<ExportCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "export", "Write customers the gateway holds as manifests (to adopt them: apply --adopt)");
  command->add_option("--out", options->out, "The repository directory to write into")->required();
  command->add_option("--customer", options->customers, "Export this customer (repeatable)");
  command->add_flag("--all", options->all, "Export every customer of the partner");
  command->add_option("--gateway", options->gateway,
                      "http(s)://HOST:PORT or embedded:PATH (default: $GWCTL_GATEWAY, then "
                      "OUT/gwctl.yaml's spec.gateway.url, then embedded:OUT/.gwctl/gateway.db); "
                      "token from $GWCTL_TOKEN or spec.gateway.tokenRef");
  command->add_option("--partner", options->partner,
                      "The partner (default: OUT/gwctl.yaml's metadata.name)");
  AddSecretsDirOption(command, options->secrets_dir);
  command->add_option("--defaults", options->defaults,
                      "A PartnerDefaults file: values equal to it are left out of the manifests");
  command
      ->add_option("--inline-users", options->inline_users,
                   "Up to this many users inline; more go to NAME.users.csv")
      ->capture_default_str();
  command->add_flag("--force", options->force, "Overwrite files that exist");
  command->footer("Exit codes: 0 written, 4 could not run (nothing written).");
  command->callback([options, &exit_code] { exit_code = Export(*options); });
}

}  // namespace gwctl::cli
