#include "gatewayd/archive_commands.h"

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "gateway/service.h"
#include "gatewayd/process.h"

namespace gatewayd {

ArchiveCommands::ArchiveCommands(CLI::App& app) {
  release_ = app.add_subcommand(
      "archive-release",
      "Release one archived message before its retention ends (a legal release): its message, "
      "sender, recipients and subject are removed, its digests stay so the archive still "
      "verifies; audited with the reason");
  release_->add_option("--data", data_, "gatewayd's --data directory")->capture_default_str();
  release_->add_option("--store", store_, "gatewayd's --store (a postgres:// URL) instead");
  release_->add_option("--partner", partner_, "The partner")->required();
  release_->add_option("--customer", customer_, "The customer")->required();
  release_->add_option("--id", id_, "The archived message's id (gwctl archive search)")->required();
  release_
      ->add_option("--reason", reason_,
                   "Why: the court order, request or case it answers (kept in the audit log)")
      ->required();
  release_->footer(
      "Runs on the gateway's host with access to its store; the admin API has no way to do "
      "this.");
}

std::optional<int> ArchiveCommands::Run() const {
  if (!release_->parsed()) return std::nullopt;
  std::string location =
      store_.empty() ? (std::filesystem::path(data_) / "gateway.db").string() : store_;
  auto service = gw::Service::Open(location);
  if (!service.ok()) {
    Log("archive-release: " + service.status().message());
    return 1;
  }
  gw::Status released =
      (*service)->ReleaseArchived(gw::Actor::Local(), partner_, customer_, id_, reason_);
  if (!released.ok()) {
    Log("archive-release: " + released.message());
    return released.code() == gw::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::cout << fmt::format("archived message {} of {}/{} released: {}\n", id_, partner_, customer_,
                           reason_);
  return 0;
}

}  // namespace gatewayd
