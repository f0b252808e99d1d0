// gwctl continuity status|set-password: which customers' servers are down with their
// mail kept now, and a user's password for their continuity mailbox. The password is
// never in git and never on the command line (where ps and shell history would see it):
// typed at a prompt without echo, or read from standard input.
#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "exit_codes.h"
#include "source_options.h"

namespace gwctl::cli {

namespace {

struct SetPasswordOptions {
  GatewayTargetOptions target;
  std::string customer;
  std::string user;
};

// One line from the terminal with echo off; nullopt when it cannot be read.
std::optional<std::string> PromptHidden(const std::string& prompt) {
  std::cerr << prompt << std::flush;
  termios saved{};
  bool terminal = tcgetattr(STDIN_FILENO, &saved) == 0;
  if (terminal) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string line;
  bool read = static_cast<bool>(std::getline(std::cin, line));
  if (terminal) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::cerr << "\n";
  }
  if (!read) return std::nullopt;
  return line;
}

// The password: asked twice at a terminal, else the first line of standard input.
gw::Result<std::string> ReadPassword(const std::string& user) {
  if (isatty(STDIN_FILENO)) {
    auto first = PromptHidden(fmt::format("Continuity password for {}: ", user));
    auto second = first ? PromptHidden("Again: ") : std::nullopt;
    if (!first || !second) return gw::Status::Invalid("no password read");
    if (*first != *second) return gw::Status::Invalid("the two passwords differ");
    return *first;
  }
  std::string line;
  if (!std::getline(std::cin, line))
    return gw::Status(gw::StatusCode::kInvalidArgument,
                      "no password on standard input (one line is read)");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

int SetPassword(const SetPasswordOptions& options) {
  auto password = ReadPassword(options.user);
  if (!password.ok()) {
    std::cerr << "gwctl: " << password.status().message() << "\n";
    return kExitCouldNotRun;
  }
  auto connected = ConnectGatewayTarget(options.target);
  if (!connected.ok()) {
    std::cerr << "gwctl: " << connected.status().message() << "\n";
    return kExitCouldNotRun;
  }
  auto& [partner, gateway] = *connected;
  gw::Status set =
      gateway->SetContinuityPassword(partner, options.customer, options.user, *password);
  if (!set.ok()) {
    std::cerr << fmt::format("gwctl: {}: {}\n", gateway->Describe(), set.message());
    return kExitCouldNotRun;
  }
  std::cout << fmt::format(
      "continuity password set for {} ({}); they log in once activated (continuity: true) and "
      "in the customer's continuity scope\n",
      options.user, options.customer);
  return kExitOk;
}

struct StatusOptions {
  GatewayTargetOptions target;
  std::string format = "text";
};

int ShowStatus(const StatusOptions& options) {
  auto connected = ConnectGatewayTarget(options.target);
  if (!connected.ok()) {
    std::cerr << "gwctl: " << connected.status().message() << "\n";
    return kExitCouldNotRun;
  }
  auto& [partner, gateway] = *connected;
  auto listed = gateway->ListContinuity(partner);
  if (!listed.ok()) {
    std::cerr << fmt::format("gwctl: {}: {}\n", gateway->Describe(), listed.status().message());
    return kExitCouldNotRun;
  }
  if (options.format == "json") {
    nlohmann::json customers = nlohmann::json::array();
    for (const auto& e : listed->value_or(std::vector<gw::ContinuityEntry>{})) {
      customers.push_back({{"customer", e.customer}, {"since", e.since}, {"reason", e.reason}});
    }
    std::cout << nlohmann::json{{"partner", partner},
                                {"monitored", listed->has_value()},
                                {"customers", customers}}
                     .dump(2)
              << "\n";
    return kExitOk;
  }
  if (!*listed) {
    std::cout << fmt::format("{} carries no mail: no customer's servers are watched.\n",
                             gateway->Describe());
    return kExitOk;
  }
  if ((*listed)->empty()) {
    std::cout << fmt::format("No customer of {} is in continuity.\n", partner);
    return kExitOk;
  }
  for (const auto& e : **listed) {
    std::cout << fmt::format("{}  in continuity since {}: {}\n", e.customer, e.since, e.reason);
  }
  return kExitOk;
}

}  // namespace

void RegisterContinuityCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<SetPasswordOptions>();
  CLI::App* command =
      app.add_subcommand("continuity", "Mail kept while a customer's server is down");
  command->require_subcommand(1);
  auto status_options = std::make_shared<StatusOptions>();
  CLI::App* status = command->add_subcommand(
      "status", "The partner's customers whose servers are down, with their mail kept now");
  AddGatewayTargetOptions(status, status_options->target);
  status->add_option("--format", status_options->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  status->footer("Exit codes: 0 listed, 4 could not run.");
  status->callback([status_options, &exit_code] { exit_code = ShowStatus(*status_options); });
  CLI::App* set = command->add_subcommand(
      "set-password",
      "Set a user's continuity password: typed at a prompt, or the first line of standard input");
  set->add_option("--customer", options->customer, "The customer")->required();
  set->add_option("--user", options->user, "The user's address (not an alias)")->required();
  AddGatewayTargetOptions(set, options->target);
  set->footer(
      "The password is never taken as an argument. It is kept only as an Argon2id hash.\n"
      "Exit codes: 0 set, 4 could not (a password the rules refuse, an unknown user, ...).");
  set->callback([options, &exit_code] { exit_code = SetPassword(*options); });
}

}  // namespace gwctl::cli
