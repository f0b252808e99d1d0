// gwctl archive: a customer's archived mail on the gateway — search it, export it (mbox
// or a zip of .eml files), read one message, and verify the archive's chain.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "exit_codes.h"
#include "source_options.h"

namespace gwctl::cli {

namespace {

struct ArchiveOptions {
  GatewayTargetOptions target;
  std::string customer;
  gw::ArchiveQuery query;
  std::string format;
  std::string output;
  int64_t id = 0;
};

void AddQueryOptions(CLI::App* command, ArchiveOptions& o) {
  command->add_option("--sender", o.query.sender, "The envelope sender, exactly");
  command->add_option("--recipient", o.query.recipient, "An envelope recipient, exactly");
  command->add_option("--since", o.query.since, "Received at or after (RFC 3339)");
  command->add_option("--until", o.query.until, "Received before (RFC 3339)");
  command->add_option("--subject", o.query.subject, "Words in the subject (case-insensitive)");
  command->add_option("--text", o.query.text, "Words that must all appear in the message's text");
}

// Where the gateway is, or why it cannot be reached (printed, with the exit code).
template <typename Body>
int WithGateway(const ArchiveOptions& options, Body body) {
  auto connected = ConnectGatewayTarget(options.target);
  if (!connected.ok()) {
    std::cerr << "gwctl: " << connected.status().message() << "\n";
    return kExitCouldNotRun;
  }
  auto& [partner, gateway] = *connected;
  gw::Status status = body(partner, *gateway);
  if (!status.ok()) {
    std::cerr << "gwctl: " << gateway->Describe() << ": " << status.message() << "\n";
    return kExitCouldNotRun;
  }
  return kExitOk;
}

// Writes `bytes` to `path` readable by its owner only (archived mail is other people's),
// or to stdout for "-".
gw::Status WriteOut(const std::string& path, const std::string& bytes) {
  if (path == "-") {
    std::cout.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return gw::Status::Ok();
  }
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return gw::Status(gw::StatusCode::kUnavailable, "cannot write " + path);
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + written, bytes.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  bool ok = written == bytes.size() && close(fd) == 0;
  if (!ok) return gw::Status(gw::StatusCode::kUnavailable, "cannot write " + path);
  return gw::Status::Ok();
}

int Search(const ArchiveOptions& o) {
  return WithGateway(o, [&](const std::string& partner, gw::GatewayClient& gateway) {
    auto found = gateway.SearchArchive(partner, o.customer, o.query);
    if (!found.ok()) return found.status();
    if (o.format == "json") {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& m : *found) list.push_back(gw::ToJson(m));
      std::cout << nlohmann::json{{"customer", o.customer}, {"messages", list}}.dump(2) << "\n";
    } else if (found->empty()) {
      std::cout << fmt::format("No archived message of {} matches.\n", o.customer);
    } else {
      for (const auto& m : *found) {
        std::cout << fmt::format("{:>8}  {}  {:8}  {} -> {}  {}\n", m.id, m.received_at,
                                 m.direction, m.sender.empty() ? "<>" : m.sender,
                                 m.recipients.size() == 1
                                     ? m.recipients.front()
                                     : fmt::format("{} recipients", m.recipients.size()),
                                 m.subject);
      }
      if (found->size() == o.query.limit) {
        std::cout << fmt::format("(more may match: --before {})\n", found->back().id);
      }
    }
    return gw::Status::Ok();
  });
}

int Export(const ArchiveOptions& o) {
  return WithGateway(o, [&](const std::string& partner, gw::GatewayClient& gateway) {
    auto exported = gateway.ExportArchive(partner, o.customer, o.query, o.format);
    if (!exported.ok()) return exported.status();
    if (gw::Status s = WriteOut(o.output, *exported); !s.ok()) return s;
    if (o.output != "-") {
      std::cerr << fmt::format("gwctl: wrote {} ({} bytes, {})\n", o.output, exported->size(),
                               o.format);
    }
    return gw::Status::Ok();
  });
}

int Show(const ArchiveOptions& o) {
  return WithGateway(o, [&](const std::string& partner, gw::GatewayClient& gateway) {
    auto message = gateway.LoadArchived(partner, o.customer, o.id);
    if (!message.ok()) return message.status();
    return WriteOut(o.output, *message);
  });
}

int Verify(const ArchiveOptions& o) {
  bool intact = true;
  int code = WithGateway(o, [&](const std::string& partner, gw::GatewayClient& gateway) {
    auto check = gateway.VerifyArchive(partner, o.customer);
    if (!check.ok()) return check.status();
    intact = check->problems.empty();
    if (o.format == "json") {
      std::cout << gw::ToJson(*check).dump(2) << "\n";
      return gw::Status::Ok();
    }
    for (const auto& problem : check->problems) std::cout << "problem: " << problem << "\n";
    std::cout << fmt::format("{} entries ({}..{}) {}; head {}\n", check->entries, check->first_id,
                             check->last_id, intact ? "intact" : "NOT intact",
                             check->head.empty() ? "(empty)" : check->head);
    return gw::Status::Ok();
  });
  return code == kExitOk && !intact ? kExitInvalid : code;
}

}  // namespace

void RegisterArchiveCommand(CLI::App& app, int& exit_code) {
  CLI::App* archive = app.add_subcommand(
      "archive", "Search, export, show and verify a customer's archived mail on the gateway");
  archive->require_subcommand(1);
  auto add = [&](const char* name, const char* about) {
    auto options = std::make_shared<ArchiveOptions>();
    CLI::App* command = archive->add_subcommand(name, about);
    command->add_option("--customer", options->customer, "The customer")->required();
    AddGatewayTargetOptions(command, options->target);
    return std::make_pair(command, options);
  };

  auto [search, search_options] = add("search", "List archived messages, newest first");
  AddQueryOptions(search, *search_options);
  search->add_option("--before", search_options->query.before,
                     "Only messages with a lower id (the next page)");
  search->add_option("--limit", search_options->query.limit, "At most this many (1-1000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  search_options->format = "text";
  search->add_option("--format", search_options->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  search->callback([o = search_options, &exit_code] { exit_code = Search(*o); });

  auto [exporter, export_options] =
      add("export", "Write the messages a search finds (up to 10,000) as one file");
  AddQueryOptions(exporter, *export_options);
  export_options->query.limit = 10'000;
  export_options->format = "mbox";
  exporter->add_option("--format", export_options->format, "mbox or zip (of .eml files)")
      ->check(CLI::IsMember({"mbox", "zip"}))
      ->capture_default_str();
  exporter->add_option("--output,-o", export_options->output, "The file to write (mode 0600), or -")
      ->required();
  exporter->callback([o = export_options, &exit_code] { exit_code = Export(*o); });

  auto [show, show_options] = add("show", "Write one archived message as it was delivered");
  show->add_option("--id", show_options->id, "The message's id (from search)")->required();
  show_options->output = "-";
  show->add_option("--output,-o", show_options->output, "The file to write, or - (stdout)")
      ->capture_default_str();
  show->callback([o = show_options, &exit_code] { exit_code = Show(*o); });

  auto [verify, verify_options] =
      add("verify", "Check every entry and the chain that links them; exit 1 when not intact");
  verify_options->format = "text";
  verify->add_option("--format", verify_options->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  verify->callback([o = verify_options, &exit_code] { exit_code = Verify(*o); });

  archive->footer(
      "Reading the archive needs an admin or customer-admin token; exports are audited. "
      "Exit codes: 0 done, 1 verify found the archive changed, 4 could not run.");
}

}  // namespace gwctl::cli
