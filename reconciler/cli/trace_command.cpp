// gwctl trace: what the gateway does with one message, decided by the engine's own
// function on the repository's desired state (or, with --gateway, on the live one).
#include <unistd.h>

#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "exit_codes.h"
#include "gateway/customer_rules.h"
#include "gateway/filter_profile.h"
#include "gateway/mail_policy.h"
#include "gwctl/diagnostics.h"
#include "gwctl/mail_trace.h"
#include "gwctl/validate.h"
#include "pipeline.h"
#include "source_options.h"

namespace gwctl::cli {
namespace {

constexpr int kExitNotAccepted = 2;  // refused or deferred

// The live gateway's mail directory: every customer of the partner with its users and
// their own lists.
gw::Result<gw::MailDirectory> LiveDirectory(gw::GatewayClient& gateway,
                                            const std::string& partner) {
  auto state = gateway.GetState(partner);
  if (!state.ok()) return state.status();
  std::vector<std::shared_ptr<const gw::MailCustomer>> customers;
  for (const auto& customer : state->customers) {
    auto users = gw::ListAllUsers(gateway, partner, customer.name);
    if (!users.ok()) return users.status();
    std::unordered_map<std::string, std::string> recipients;
    for (const auto& user : *users) {
      if (!user.active) continue;
      recipients.emplace(user.address, user.address);
      for (const auto& alias : user.aliases) recipients.emplace(alias, user.address);
    }
    gw::CustomerConfig config = gw::CompileStored(customer).config;
    // As the mail path: a domain whose claim is not verified takes no mail (554).
    for (const auto& claim : customer.domain_claims) {
      if (!claim.verified()) std::erase(config.domains, claim.domain);
    }
    std::unordered_map<std::string, gw::Lists> personal;
    if (config.self_service.personal_lists) {
      auto entries = gateway.ListPersonalEntries(partner, customer.name);
      if (!entries.ok()) return entries.status();
      personal = gw::PersonalListsOf(std::move(*entries));
    }
    customers.push_back(gw::MakeMailCustomer(partner, customer.name, std::move(config),
                                             std::move(recipients), {}, std::move(personal)));
  }
  return gw::MailDirectory(std::move(customers));
}

}  // namespace

namespace {

// What gw-milter then does with the message's content, from the same profile the
// gateway hands it (filter_profile.h): malware, attachments, spam, and the archive.
std::string ContentSummary(const gw::Verdict& v) {
  gw::FilterProfile p = gw::FilterProfileOf(v.customer->name, v.customer->config, v.outbound);
  if (!p.filtering)
    return fmt::format("not filtered (filtering is off){}", p.archive ? "; archived" : "");
  std::string out =
      fmt::format("malware {} (ClamAV)", p.reject_viruses ? "refused" : "quarantined");
  if (p.content.any()) {
    out += fmt::format("; attachments {}: {}", gw::AttachmentActionName(p.content.action),
                       fmt::join(p.content.forbidden, ", "));
    if (p.content.forbid_encrypted)
      out += p.content.forbidden.empty() ? "encrypted" : ", encrypted";
  }
  out += !v.outbound && gw::SkipsSpamScoring(v) ? "; not spam-scored (allow-listed)"
                                                : fmt::format("; spam scored at {} (held above {})",
                                                              p.level, gw::SpamThreshold(p.level));
  if (p.infomail) out += "; newsletters held";
  if (p.archive) out += fmt::format("; archived ({})", v.outbound ? "outbound" : "inbound");
  return out;
}

}  // namespace

void RegisterTraceCommand(CLI::App& app, int& exit_code) {
  struct Options : SourceOptions {
    gw::Envelope envelope;
    std::optional<std::string> gateway;
    std::string format = "text";
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "trace", "Show what the gateway would do with a message: accept or refuse, why, and where");
  AddSourceOptions(command, *options);
  command->add_option("--from", options->envelope.sender, "Envelope sender (\"\" for a bounce)")
      ->required();
  command->add_option("--to", options->envelope.recipient, "Envelope recipient")->required();
  command->add_option("--size", options->envelope.size, "Message size in bytes");
  command->add_option("--client", options->envelope.client_address,
                      "The sending server's IP address (allow lists, outbound relay sources)");
  command->add_option("--client-tls", options->envelope.client_encrypted,
                      "Whether the sending server uses STARTTLS (true/false; relays that must)");
  command
      ->add_option("--gateway", options->gateway,
                   "Trace on the live gateway instead of the repository (URL optional: "
                   "$GWCTL_GATEWAY, then gwctl.yaml's)")
      ->expected(0, 1);
  command->add_option("--format", options->format, "Output: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  command->footer(
      "Offline, users come from the repository's mailboxes and CSV files (not LDAP).\n"
      "Exit codes: 0 accepted (or probed: address discovery), 2 refused or deferred, 1 invalid "
      "repository, 4 could not run.");
  command->callback([options, &exit_code] {
    auto validated = OpenAndValidate(*options, exit_code);
    if (!validated) return;
    const OpenedSource* source = &validated->source;
    const ValidationReport* report = &validated->report;
    if (report->diagnostics.has_errors()) {
      DiagnosticOutput output;
      output.display_root = source->display_root;
      WriteDiagnostics(std::cerr, report->diagnostics, output);
      exit_code = kExitInvalid;
      return;
    }
    const Manifests& manifests = report->manifests;
    gw::MailDirectory directory;
    bool live = options->gateway.has_value();
    if (live) {
      auto secrets = SecretPolicyOf("");
      auto gateway =
          secrets.ok()
              ? ConnectConfiguredGateway(
                    {*options->gateway,
                     RepositoryGatewayOf(manifests.repository ? manifests.repository->value()
                                                              : nlohmann::json()),
                     *secrets, source->local_root, options->directory})
              : secrets.status();
      gw::Result<gw::MailDirectory> read =
          gateway.ok() ? LiveDirectory(**gateway, manifests.partner()) : gateway.status();
      if (!read.ok()) {
        std::cerr << "gwctl: " << read.status().message() << "\n";
        exit_code = kExitCouldNotRun;
        return;
      }
      directory = std::move(*read);
    } else {
      directory = MailDirectoryOf(manifests);
    }
    TracedMail traced = TraceMail(manifests, directory, options->envelope);
    const gw::Verdict& v = traced.verdict;
    bool through =
        v.action == gw::Verdict::Action::kAccept || v.action == gw::Verdict::Action::kProbe;
    std::string content = through && v.customer ? ContentSummary(v) : "";
    std::string where = live || traced.decided_at.file.empty()
                            ? ""
                            : FormatLocation(traced.decided_at, source->display_root);
    if (options->format == "json") {
      nlohmann::json out = {{"format_version", 1},
                            {"action", gw::ActionName(v.action)},
                            {"direction", v.outbound ? "outbound" : "inbound"},
                            {"rule", v.rule},
                            {"reason", v.reason},
                            {"reply", v.reply},
                            {"setting", v.pointer},
                            {"decidedAt", where},
                            {"customer", v.customer ? v.customer->name : ""},
                            {"user", v.user},
                            {"route", v.route},
                            {"tls", v.tls},
                            {"content", content},
                            {"usersIncomplete", traced.users_incomplete}};
      std::cout << out.dump(2) << "\n";
    } else {
      std::cout << fmt::format("{}: <{}> -> <{}> ({}{})\n", gw::ActionName(v.action),
                               options->envelope.sender, options->envelope.recipient,
                               v.outbound ? "outbound" : "inbound",
                               v.customer ? ", customer " + v.customer->name : "");
      if (!v.reply.empty()) std::cout << "  reply:  " << v.reply << "\n";
      std::cout << "  why:    " << v.reason << " [" << v.rule << "]\n";
      if (!where.empty() || !v.pointer.empty()) {
        std::cout << "  set at: " << (where.empty() ? v.pointer : where + " (" + v.pointer + ")")
                  << (live ? " on the gateway" : "") << "\n";
      }
      if (!v.user.empty()) std::cout << "  user:   " << v.user << "\n";
      if (!v.route.empty()) std::cout << "  route:  " << v.route << "\n";
      if (!v.tls.empty()) std::cout << "  tls:    " << v.tls << "\n";
      if (!content.empty()) std::cout << "  then:   " << content << "\n";
      if (traced.users_incomplete) {
        std::cout << "  note:   " << v.customer->name
                  << " reads users from LDAP, which an offline trace does not; try --gateway\n";
      }
    }
    exit_code = through ? kExitOk : kExitNotAccepted;
  });
}

}  // namespace gwctl::cli
