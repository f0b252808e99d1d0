#include "gatewayd/instance_commands.h"

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "gatewayd/process.h"

namespace gatewayd {
namespace {

// The exit code of postfix-config and dovecot-config: where the instance was written and
// how to start it (`start` holds {} for the directory), or why not (2: a bad flag).
int Written(const gw::Status& written, const char* what, const std::string& dir,
            const char* start) {
  if (!written.ok()) {
    Log(written.message());
    return written.code() == gw::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::string absolute = std::filesystem::absolute(dir).string();
  std::cout << fmt::format("wrote a {} instance in {}\nstart it with: {}\n", what, absolute,
                           fmt::format(fmt::runtime(start), absolute));
  return 0;
}

// Parses a HOST:PORT flag into `out`, saying why not.
bool ParseEndpointFlag(const std::string& text, const char* flag, gw::Endpoint& out) {
  auto endpoint = gw::ParseEndpoint(text, flag);
  if (!endpoint.ok()) {
    Log(endpoint.status().message());
    return false;
  }
  out = *endpoint;
  return true;
}

// The same for an optional flag: `out` stays empty when the flag was not given.
bool ParseOptional(const std::string& text, const char* flag, std::optional<gw::Endpoint>& out) {
  return text.empty() || ParseEndpointFlag(text, flag, out.emplace());
}

int WritePostfixConfig(gw::PostfixInstanceOptions options, const std::string& smtp,
                       const std::string& relay_smtp, const std::string& release_smtp,
                       const std::string& smarthost, const std::vector<std::string>& milters,
                       const MailFlags& lookups, const PlaneFlags& plane) {
  if (!ParseOptional(plane.continuity_smtp, "--continuity-smtp", options.continuity_smtp) ||
      !ParseOptional(plane.continuity_lmtp, "--continuity-lmtp", options.continuity_lmtp) ||
      !ParseOptional(plane.submission, "--submission", options.submission_smtp) ||
      !ParseOptional(plane.sasl, "--sasl", options.sasl) ||
      !ParseOptional(plane.mta_sts, "--mta-sts", options.mta_sts)) {
    return 2;
  }
  if (!ParseEndpointFlag(smtp, "--smtp", options.smtp) ||
      !ParseEndpointFlag(lookups.socketmap, "--socketmap", options.socketmap) ||
      !ParseEndpointFlag(lookups.policy, "--policy", options.policy) ||
      !ParseEndpointFlag(lookups.verify, "--verify", options.verify)) {
    return 2;
  }
  if (!ParseOptional(relay_smtp, "--relay-smtp", options.relay_smtp) ||
      !ParseOptional(smarthost, "--smarthost", options.smarthost) ||
      !ParseOptional(release_smtp, "--release-smtp", options.release_smtp)) {
    return 2;
  }
  for (const auto& milter : milters) {
    if (!ParseEndpointFlag(milter, "--milter", options.milters.emplace_back())) return 2;
  }
  if (options.tls_cert.empty()) {
    Log("warning: no --tls-cert: senders cannot use STARTTLS with the gateway, so mail "
        "reaching it crosses the internet in cleartext (mail it sends out still uses "
        "STARTTLS wherever offered)");
  }
  return Written(gw::WritePostfixInstance(options), "Postfix", options.dir,
                 "postfix -c {}/etc start");
}

int WriteDovecotConfig(gw::DovecotInstanceOptions options, const std::string& lmtp,
                       const PlaneFlags& plane) {
  std::optional<gw::Endpoint> lmtp_at;
  if (!ParseOptional(lmtp, "--lmtp", lmtp_at) ||
      !ParseOptional(plane.imap, "--imap", options.imap) ||
      !ParseOptional(plane.pop3, "--pop3", options.pop3) ||
      !ParseOptional(plane.imaps, "--imaps", options.imaps) ||
      !ParseOptional(plane.pop3s, "--pop3s", options.pop3s) ||
      !ParseOptional(plane.sasl, "--sasl", options.sasl) ||
      !ParseOptional(plane.doveadm, "--doveadm", options.doveadm)) {
    return 2;
  }
  options.lmtp = *lmtp_at;
  if (!plane.doveadm_key_file.empty()) {
    auto key = ReadKeyFile(plane.doveadm_key_file);
    if (!key.ok()) {
      Log(key.status().message());
      return 2;
    }
    options.doveadm_key = *key;
  }
  return Written(gw::WriteDovecotInstance(options), "Dovecot", options.dir,
                 "dovecot -c {}/dovecot.conf");
}

}  // namespace

InstanceCommands::InstanceCommands(CLI::App& app) {
  postfix_ = app.add_subcommand(
      "postfix-config", "Write a private Postfix instance wired to gatewayd's lookup servers");
  postfix_->add_option("--out", f.instance.dir, "Directory of the instance (etc/, spool/)")
      ->required();
  postfix_
      ->add_option("--smtp", f.instance_smtp,
                   "HOST:PORT receiving customers' inbound mail (25 in production)")
      ->required();
  postfix_->add_option("--relay-smtp", f.relay_smtp,
                       "HOST:PORT on which customers' servers relay outbound mail (587 in "
                       "production); none: no outbound relay");
  postfix_->add_option("--socketmap", f.instance_lookups.socketmap, "gatewayd's --socketmap")
      ->required();
  postfix_->add_option("--policy", f.instance_lookups.policy, "gatewayd's --policy")->required();
  postfix_->add_option("--verify", f.instance_lookups.verify, "gatewayd's --verify")->required();
  postfix_->add_option("--hostname", f.instance.hostname, "The gateway's host name (banner, HELO)")
      ->capture_default_str();
  postfix_->add_option("--smarthost", f.smarthost,
                       "HOST:PORT to send outbound mail through, instead of the recipient "
                       "domain's MX");
  postfix_->add_option("--release-smtp", f.instance_release,
                       "Loopback HOST:PORT where gatewayd delivers released quarantined mail "
                       "(gatewayd's --release-smtp)");
  postfix_->add_option("--milter", f.instance_milters,
                       "HOST:PORT of a milter inbound mail passes (repeatable, in order): "
                       "gw-milter's --listen, then rspamd's proxy");
  postfix_->add_option("--tls-cert", f.instance.tls_cert, "PEM certificate: offer STARTTLS");
  postfix_->add_option("--tls-key", f.instance.tls_key, "PEM private key for --tls-cert");
  postfix_
      ->add_option("--tls-ca-file", f.instance.tls_ca_file,
                   "PEM CAs that customers' servers are checked against (tls.delivery: verify)")
      ->capture_default_str();
  postfix_
      ->add_option("--message-size-limit", f.instance.message_size_limit,
                   "Largest message in bytes (customers' own limits are checked per message)")
      ->capture_default_str();
  postfix_->add_flag("--fast-retry", f.instance.fast_retry,
                     "Retry deferred mail every 10 s; give up on a destination that does not "
                     "connect or greet in 5 s (tests and demos)");
  postfix_->add_option("--mta-sts", f.plane.mta_sts,
                       "Loopback HOST:PORT of an MTA-STS policy socketmap (Debian's "
                       "postfix-mta-sts-resolver, mta-sts-daemon): enforced where domains publish "
                       "a policy");
  postfix_->add_option("--continuity-smtp", f.plane.continuity_smtp,
                       "Loopback HOST:PORT of the continuity listener (gatewayd's "
                       "--continuity-smtp)");
  postfix_->add_option("--continuity-lmtp", f.plane.continuity_lmtp,
                       "HOST:PORT of Dovecot's LMTP, where kept mail is stored");
  postfix_->add_option("--submission", f.plane.submission,
                       "HOST:PORT of authenticated submission for continuity users (587 in "
                       "production)");
  postfix_->add_option("--sasl", f.plane.sasl,
                       "HOST:PORT of Dovecot's auth service submission logins are checked by");
  dovecot_ = app.add_subcommand("dovecot-config",
                                "Write a private Dovecot instance for continuity mailboxes");
  dovecot_->add_option("--out", f.mailboxes.dir, "Directory of the instance")->required();
  dovecot_->add_option("--mail-root", f.mailboxes.mail_root,
                       "Where mailboxes are kept (default: OUT/mail)");
  dovecot_->add_option("--continuity-auth", f.mailboxes.auth_socket, "gatewayd's --continuity-auth")
      ->required();
  dovecot_->add_option("--lmtp", f.dovecot_lmtp, "HOST:PORT to take kept mail on")->required();
  dovecot_->add_option("--imap", f.plane.imap, "HOST:PORT for IMAP (143 in production)");
  dovecot_->add_option("--pop3", f.plane.pop3, "HOST:PORT for POP3 (110 in production)");
  dovecot_->add_option("--imaps", f.plane.imaps,
                       "HOST:PORT for IMAP over TLS (993; needs --tls-cert)");
  dovecot_->add_option("--pop3s", f.plane.pop3s,
                       "HOST:PORT for POP3 over TLS (995; needs --tls-cert)");
  dovecot_->add_option("--sasl", f.plane.sasl,
                       "HOST:PORT of the auth service for Postfix's --sasl");
  dovecot_->add_option("--doveadm", f.plane.doveadm,
                       "HOST:PORT of the doveadm HTTP API for gatewayd");
  dovecot_->add_option("--doveadm-key-file", f.plane.doveadm_key_file,
                       "File whose first line is the doveadm API key");
  dovecot_->add_option("--hostname", f.mailboxes.hostname, "The gateway's host name")
      ->capture_default_str();
  dovecot_->add_option("--tls-cert", f.mailboxes.tls_cert, "PEM certificate: require TLS");
  dovecot_->add_option("--tls-key", f.mailboxes.tls_key, "PEM private key for --tls-cert");
}

std::optional<int> InstanceCommands::Run() const {
  if (postfix_->parsed()) {
    return WritePostfixConfig(f.instance, f.instance_smtp, f.relay_smtp, f.instance_release,
                              f.smarthost, f.instance_milters, f.instance_lookups, f.plane);
  }
  if (dovecot_->parsed()) return WriteDovecotConfig(f.mailboxes, f.dovecot_lmtp, f.plane);
  return std::nullopt;
}

}  // namespace gatewayd
