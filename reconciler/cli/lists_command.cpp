// gwctl lists: the allow and block lists mailbox users keep for themselves on the
// gateway. They are not in git (users change them), so plans keep them and this shows
// them, for a partner or an auditor to inspect.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "exit_codes.h"
#include "source_options.h"

namespace gwctl::cli {

namespace {

struct ListsOptions {
  GatewayTargetOptions target;
  std::string customer;
  std::string format = "text";
};

// A CSV field, quoted when it must be.
std::string Csv(const std::string& field) {
  if (field.find_first_of(",\"\n") == std::string::npos) return field;
  std::string quoted = "\"";
  for (char c : field) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

int Show(const ListsOptions& options) {
  auto connected = ConnectGatewayTarget(options.target);
  if (!connected.ok()) {
    std::cerr << "gwctl: " << connected.status().message() << "\n";
    return kExitCouldNotRun;
  }
  auto& [partner, gateway] = *connected;
  auto entries = gateway->ListPersonalEntries(partner, options.customer);
  if (!entries.ok()) {
    std::cerr << "gwctl: " << gateway->Describe() << ": " << entries.status().message() << "\n";
    return kExitCouldNotRun;
  }
  if (options.format == "json") {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& e : *entries) list.push_back(gw::ToJson(e));
    std::cout << nlohmann::json{{"customer", options.customer}, {"entries", list}}.dump(2) << "\n";
  } else if (options.format == "csv") {
    std::cout << "address,list,kind,value,addedAt,addedBy\n";
    for (const auto& e : *entries) {
      std::cout << fmt::format("{},{},{},{},{},{}\n", Csv(e.address), e.list, e.kind, Csv(e.value),
                               e.added_at, Csv(e.added_by));
    }
  } else if (entries->empty()) {
    std::cout << fmt::format("No user of {} keeps a list of their own.\n", options.customer);
  } else {
    for (const auto& e : *entries) {
      std::cout << fmt::format("{}  {:5}  {}  (added {} by {})\n", e.address, e.list, e.value,
                               e.added_at, e.added_by);
    }
  }
  return kExitOk;
}

}  // namespace

void RegisterListsCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<ListsOptions>();
  CLI::App* command = app.add_subcommand(
      "lists", "Show the allow and block lists a customer's users keep on the gateway");
  command->add_option("--customer", options->customer, "The customer")->required();
  command->add_option("--format", options->format, "text, csv or json")
      ->check(CLI::IsMember({"text", "csv", "json"}))
      ->capture_default_str();
  AddGatewayTargetOptions(command, options->target);
  command->footer(
      "Users change these lists themselves (quarantine page, spam report links); plans keep "
      "them. Exit codes: 0 shown, 4 could not run.");
  command->callback([options, &exit_code] { exit_code = Show(*options); });
}

}  // namespace gwctl::cli
