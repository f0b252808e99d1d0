#include "gateway/config_flags.h"

#include <fmt/format.h>

namespace gw {
namespace {

// How this host reaches a listener bound to `endpoint`: a wildcard address through
// loopback.
std::string Reach(const std::string& endpoint) {
  size_t colon = endpoint.rfind(':');
  std::string host = endpoint.substr(0, colon);
  if (host == "0.0.0.0") return "127.0.0.1" + endpoint.substr(colon);
  if (host == "[::]") return "[::1]" + endpoint.substr(colon);
  return endpoint;
}

bool IsLoopback(const std::string& endpoint) {
  return endpoint.starts_with("127.") || endpoint.starts_with("[::1]:") ||
         endpoint.starts_with("localhost:");
}

class Args {
 public:
  explicit Args(const DaemonConfig& config) : config_(config) {}

  // The flag with the setting's value (or default), when there is one.
  void Take(const char* flag, const char* pointer) {
    std::string value = config_.String(pointer);
    if (!value.empty()) args_.push_back({flag, {value}, pointer});
  }
  void Add(const char* flag, std::vector<std::string> values, const char* pointer) {
    args_.push_back({flag, std::move(values), pointer});
  }
  std::vector<ConfigArg> Done() { return std::move(args_); }

 private:
  const DaemonConfig& config_;
  std::vector<ConfigArg> args_;
};

}  // namespace

std::vector<ConfigArg> GatewaydArgs(const DaemonConfig& c) {
  Args args(c);
  args.Take("--hostname", "/hostname");
  if (c.Has("/store")) {
    args.Take("--store", "/store");
  } else {
    args.Take("--data", "/dataDirectory");
  }
  args.Take("--listen", "/admin/listen");
  args.Take("--tokens", "/admin/tokens");
  args.Take("--tls-cert", "/admin/tlsCert");
  args.Take("--tls-key", "/admin/tlsKey");
  std::vector<std::string> smtp = {c.String("/mail/inbound")};
  if (c.Has("/mail/relay")) smtp.push_back(c.String("/mail/relay"));
  args.Add("--smtp", smtp, "/mail/inbound");
  args.Take("--socketmap", "/mail/internal/socketmap");
  args.Take("--policy", "/mail/internal/policy");
  args.Take("--verify", "/mail/internal/verify");
  args.Take("--release-smtp", "/mail/internal/release");
  args.Take("--report-from", "/reports/from");
  if (!c.Flag("/reports/scheduled")) args.Add("--no-scheduled-reports", {}, "/reports/scheduled");
  args.Take("--portal", "/portal/listen");
  args.Take("--portal-url", "/portal/url");
  args.Take("--quarantine-retention-days", "/quarantine/retentionDays");
  if (c.Flag("/domains/verify")) args.Add("--verify-domains", {}, "/domains/verify");
  if (auto servers = c.Value("/domains/dnsServers")) {
    args.Add("--dns-server", servers->get<std::vector<std::string>>(), "/domains/dnsServers");
  }
  args.Take("--spf-include", "/domains/spfInclude");
  // The health watch: this host's queue and daemons, and who is told.
  args.Add("--watch-postfix", {c.String("/instanceDirectory") + "/postfix/etc"},
           "/instanceDirectory");
  args.Take("--watch-milter", "/mail/internal/milter");
  args.Take("--watch-rspamd", "/filtering/rspamd");
  if (c.String("/filtering/clamd") != "off") args.Take("--watch-clamd", "/filtering/clamd");
  args.Take("--notify-file", "/alerts/webhooksFile");
  args.Take("--notify-secret-file", "/alerts/secretFile");
  args.Take("--health-interval-s", "/alerts/intervalSeconds");
  args.Take("--alert-queue-messages", "/alerts/queue/messages");
  args.Take("--alert-queue-age-minutes", "/alerts/queue/ageMinutes");
  args.Take("--alert-queue-per-destination", "/alerts/queue/perDestination");
  if (c.Flag("/continuity/enabled")) {
    args.Take("--watch-lmtp", "/continuity/internal/lmtp");
    args.Take("--continuity-smtp", "/continuity/internal/smtp");
    args.Add("--continuity-auth", {ContinuityAuthSocket(c)}, "/continuity/enabled");
    args.Take("--doveadm", "/continuity/internal/doveadm");
    args.Add("--doveadm-key-file", {DoveadmKeyFile(c)}, "/continuity/enabled");
    // Kept 8-bit mail is read back over IMAP, on loopback.
    std::string imap = Reach(c.String("/continuity/imap"));
    if (IsLoopback(imap)) args.Add("--continuity-imap", {imap}, "/continuity/imap");
  }
  return args.Done();
}

std::vector<ConfigArg> MilterArgs(const DaemonConfig& c) {
  Args args(c);
  args.Take("--listen", "/mail/internal/milter");
  args.Take("--socketmap", "/mail/internal/socketmap");
  args.Take("--rspamd", "/filtering/rspamd");
  if (c.String("/filtering/clamd") == "off") {
    args.Add("--no-antivirus", {}, "/filtering/clamd");
  } else {
    args.Take("--clamd", "/filtering/clamd");
  }
  // Over HTTPS, the certificate names the gateway, not loopback.
  std::string admin = c.String("/admin/listen");
  std::string url = c.Has("/admin/tlsCert") ? fmt::format("https://{}{}", c.String("/hostname"),
                                                          admin.substr(admin.rfind(':')))
                                            : "http://" + Reach(admin);
  args.Add("--gateway", {url}, "/admin/listen");
  args.Take("--token-file", "/filtering/tokenFile");
  // Above Postfix's limit: the headers Postfix adds on the way come on top.
  auto limit = c.Value("/mail/messageSizeLimit")->get<int64_t>();
  args.Add("--max-message-bytes", {std::to_string(limit + limit / 10 + 65536)},
           "/mail/messageSizeLimit");
  return args.Done();
}

std::string ContinuityAuthSocket(const DaemonConfig& c) {
  return c.String("/dataDirectory") + "/continuity/auth";
}

std::string DoveadmKeyFile(const DaemonConfig& c) {
  return c.String("/dataDirectory") + "/continuity/doveadm-key";
}

Status ApplyConfigArgs(CLI::App& app, const DaemonConfig& config,
                       const std::vector<ConfigArg>& args) {
  for (const ConfigArg& arg : args) {
    CLI::Option* option = app.get_option_no_throw(arg.flag);
    if (option == nullptr || option->count() > 0) continue;  // the command line's wins
    bool excluded = false;  // --no-antivirus given, say, against the file's clamd
    for (const CLI::Option* other : option->get_excludes())
      excluded = excluded || other->count() > 0;
    if (excluded) continue;
    try {
      if (arg.values.empty()) {
        option->add_result("true");
      } else {
        for (const std::string& value : arg.values) option->add_result(value);
      }
      option->run_callback();
    } catch (const CLI::Error& e) {
      return Status::Invalid(fmt::format("{}: {} (as {}): {}", config.Where(arg.pointer),
                                         arg.pointer.substr(1), arg.flag, e.what()));
    }
  }
  return Status::Ok();
}

Status RequireFlags(const CLI::App& app, std::initializer_list<const char*> flags) {
  for (const char* flag : flags) {
    const CLI::Option* option = app.get_option_no_throw(flag);
    if (option != nullptr && option->count() == 0) {
      return Status::Invalid(fmt::format("{} is required (or give --config FILE)", flag));
    }
  }
  return Status::Ok();
}

}  // namespace gw
