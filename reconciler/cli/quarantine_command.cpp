// gwctl quarantine list|release: the mail the gateway's filter kept from a customer's
// users (spam, or attachments its rules quarantine), and letting it through.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "exit_codes.h"
#include "source_options.h"

namespace gwctl::cli {

namespace {

struct QuarantineOptions {
  GatewayTargetOptions target;
  std::string customer;
  std::string format = "text";
  int64_t after = 0;
  size_t limit = 100;
  std::vector<int64_t> ids;
};

int List(const QuarantineOptions& options) {
  auto connected = ConnectGatewayTarget(options.target);
  if (!connected.ok()) {
    std::cerr << "gwctl: " << connected.status().message() << "\n";
    return kExitCouldNotRun;
  }
  auto& [partner, gateway] = *connected;
  auto messages = gateway->ListQuarantine(partner, options.customer, options.after, options.limit);
  if (!messages.ok()) {
    std::cerr << "gwctl: " << gateway->Describe() << ": " << messages.status().message() << "\n";
    return kExitCouldNotRun;
  }
  if (options.format == "json") {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& m : *messages) list.push_back(gw::ToJson(m));
    std::cout << nlohmann::json{{"customer", options.customer}, {"messages", list}}.dump(2) << "\n";
    return kExitOk;
  }
  if (messages->empty()) {
    std::cout << fmt::format("No quarantined mail for {} (after #{}).\n", options.customer,
                             options.after);
    return kExitOk;
  }
  for (const auto& m : *messages) {
    std::cout << fmt::format("#{}  {}  {}{}\n    from {} to {}\n    \"{}\" ({} bytes): {}\n", m.id,
                             m.received_at, m.reason,
                             m.released_at.empty() ? "" : ", released " + m.released_at,
                             m.sender.empty() ? "<>" : m.sender, fmt::join(m.recipients, ", "),
                             m.subject, m.size, m.detail);
  }
  return kExitOk;
}

int Release(const QuarantineOptions& options) {
  auto connected = ConnectGatewayTarget(options.target);
  if (!connected.ok()) {
    std::cerr << "gwctl: " << connected.status().message() << "\n";
    return kExitCouldNotRun;
  }
  auto& [partner, gateway] = *connected;
  int exit_code = kExitOk;
  // Each on its own: one that fails does not stop the others.
  for (int64_t id : options.ids) {
    auto released = gateway->ReleaseQuarantined(partner, options.customer, id);
    if (!released.ok()) {
      std::cerr << fmt::format("gwctl: #{}: {}\n", id, released.status().message());
      exit_code = kExitCouldNotRun;
      continue;
    }
    std::cout << fmt::format("released #{} to {}\n", id, fmt::join(released->recipients, ", "));
  }
  return exit_code;
}

void AddTargetOptions(CLI::App* command, QuarantineOptions& options) {
  command->add_option("--customer", options.customer, "The customer")->required();
  AddGatewayTargetOptions(command, options.target);
}

}  // namespace

void RegisterQuarantineCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<QuarantineOptions>();
  CLI::App* command =
      app.add_subcommand("quarantine", "List and release mail the gateway's filter kept");
  command->require_subcommand(1);
  CLI::App* list = command->add_subcommand("list", "The customer's quarantined mail, oldest first");
  AddTargetOptions(list, *options);
  list->add_option("--after", options->after, "Only messages numbered above this");
  list->add_option("--limit", options->limit, "At most this many")->capture_default_str();
  list->add_option("--format", options->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  list->footer("Exit codes: 0 listed, 4 could not run.");
  list->callback([options, &exit_code] { exit_code = List(*options); });
  CLI::App* release = command->add_subcommand(
      "release", "Deliver quarantined messages to their recipients (each once)");
  AddTargetOptions(release, *options);
  release->add_option("ID", options->ids, "The messages' numbers (gwctl quarantine list)")
      ->required();
  release->footer("Exit codes: 0 all released, 4 any could not be (each is tried).");
  release->callback([options, &exit_code] { exit_code = Release(*options); });
}

}  // namespace gwctl::cli
