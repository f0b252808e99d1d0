#include "gateway/postfix_config.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "base/atomic_file.h"
#include "gateway/delivery_transports.h"

namespace gw {
namespace {

namespace fs = std::filesystem;

// An smtpd for gatewayd's and Postfix's own hand-offs of mail already filtered: no
// milters and no policy; only loopback clients, and only to customers' addresses (the
// relay domains). More -o lines may follow.
// `recipient_restrictions`: a main.cf parameter reference (master.cf values hold no
// spaces), or empty.
std::string TrustedLoopbackListener(const Endpoint& at, const char* name,
                                    const char* recipient_restrictions = "") {
  return fmt::format(R"({} inet n - n - - smtpd
  -o syslog_name=postfix/{}
  -o smtpd_milters=
  -o mynetworks=127.0.0.0/8,[::1]/128
  -o smtpd_client_restrictions=permit_mynetworks,reject
  -o smtpd_relay_restrictions=reject_unauth_destination
  -o smtpd_recipient_restrictions={}
  -o smtpd_end_of_data_restrictions=
)",
                     at.ToString(), name, recipient_restrictions);
}

std::string Inet(const Endpoint& endpoint) {
  return "inet:" + endpoint.ToString();
}

// The options Postfix's files can hold and the instance needs, checked before anything
// is written.
Status CheckOptions(const PostfixInstanceOptions& o) {
  std::vector<std::pair<std::string, std::string>> values = {{"--out", o.dir},
                                                             {"--hostname", o.hostname},
                                                             {"--tls-cert", o.tls_cert},
                                                             {"--tls-key", o.tls_key},
                                                             {"--tls-ca-file", o.tls_ca_file}};
  for (const auto& [flag, value] : values) {
    if (value.find_first_of(" ,\t\n{}") != std::string::npos) {
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("{} '{}': Postfix's files cannot hold spaces, commas or braces",
                                flag, value));
    }
  }
  if (o.continuity_smtp.has_value() != o.continuity_lmtp.has_value()) {
    return Status(StatusCode::kInvalidArgument,
                  "--continuity-smtp and --continuity-lmtp go together");
  }
  if (o.submission_smtp.has_value() != o.sasl.has_value()) {
    return Status::Invalid("--submission and --sasl go together");
  }
  if (o.continuity_smtp && !o.continuity_smtp->IsLoopback()) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("--continuity-smtp {} must be a loopback address: it takes mail "
                              "for customers' users without filtering it again",
                              o.continuity_smtp->ToString()));
  }
  if (o.release_smtp && !o.release_smtp->IsLoopback()) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("--release-smtp {} must be a loopback address: it relays anything "
                              "its client sends",
                              o.release_smtp->ToString()));
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return Status::Invalid("--tls-cert and --tls-key go together");
  }
  if (o.mta_sts && !o.mta_sts->IsLoopback()) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("--mta-sts {} must be a loopback address: Postfix takes its "
                              "answers as TLS policy",
                              o.mta_sts->ToString()));
  }
  return Status::Ok();
}

// The instance's directories, reachable by Postfix's unprivileged daemons.
Status PrepareDirectory(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir / "etc", ec);
  if (!ec) fs::create_directories(dir / "spool", ec);
  if (ec)
    return Status(StatusCode::kUnavailable,
                  fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  // Postfix's daemons run unprivileged and must reach the queue and data directories.
  ::chmod(dir.c_str(), 0755);
  for (fs::path up = dir.parent_path(); !up.empty() && up != up.root_path();
       up = up.parent_path()) {
    struct stat info {};
    if (::stat(up.c_str(), &info) == 0 && !(info.st_mode & S_IXOTH)) {
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("{} is closed to other users (mode {:o}): Postfix's daemons, which "
                                "run unprivileged, could not reach {}; chmod o+x it or choose "
                                "another --out",
                                up.string(), info.st_mode & 07777, dir.string()));
    }
  }
  return Status::Ok();
}

// The milters as a main.cf list ("inet:host:port,..."), empty for none.
std::string MilterList(const PostfixInstanceOptions& o) {
  std::string milters;
  for (const auto& milter : o.milters) {
    if (!milters.empty()) milters += ',';
    milters += Inet(milter);
  }
  return milters;
}

std::string MainCf(const PostfixInstanceOptions& o, const fs::path& dir,
                   const std::string& socketmap, const std::string& milters) {
  std::vector<Endpoint> listeners = {o.smtp};
  if (o.relay_smtp) listeners.push_back(*o.relay_smtp);
  if (o.release_smtp) listeners.push_back(*o.release_smtp);
  if (o.continuity_smtp) listeners.push_back(*o.continuity_smtp);
  if (o.submission_smtp) listeners.push_back(*o.submission_smtp);
  bool loopback_only = true, v6 = false;
  std::string interfaces;
  for (const auto& l : listeners) {
    loopback_only = loopback_only && l.IsLoopback();
    v6 = v6 || l.host.find(':') != std::string::npos;
    if (interfaces.find(l.host) == std::string::npos) {
      interfaces += (interfaces.empty() ? "" : ", ") + l.host;
    }
  }
  std::string policy = Inet(o.policy);

  std::string main = fmt::format(
      R"(# Written by `gatewayd postfix-config`: a private Postfix instance whose routing and
# rules are answered live by gatewayd. Run it with: postfix -c {etc} start
compatibility_level = 3.6
queue_directory = {dir}/spool
data_directory = {dir}/data
maillog_file_prefixes = {dir}, /dev/stdout
maillog_file = {dir}/maillog
myhostname = {hostname}
mydomain = {hostname}
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 local delivery is disabled
alias_maps =
alias_database =
inet_interfaces = {interfaces}
inet_protocols = {protocols}
mynetworks = 127.0.0.0/8
biff = no
append_dot_mydomain = no
smtpd_banner = $myhostname ESMTP
message_size_limit = {size_limit}

# Which domains and addresses are customers', and where their mail goes: asked live.
relay_domains = {socketmap}:domains
relay_recipient_maps = {socketmap}:recipients
transport_maps = {socketmap}:transport
default_transport = {default_transport}

# The rules: per customer, per recipient, by gatewayd's policy server.
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = reject_unlisted_recipient, check_policy_service {policy}
smtpd_end_of_data_restrictions = check_policy_service {policy}
outbound_relay_restrictions = check_policy_service {{ {policy}, policy_context={outbound_context} }}, reject
# gatewayd's own deliveries: kept continuity mail is routed to its customer's servers.
release_restrictions = check_policy_service {{ {policy}, policy_context=release }}

# Address discovery: the policy names this class for an unknown address of a customer
# that discovers its users; verify(8) probes the destination and reports to gatewayd.
smtpd_restriction_classes = gw_discover
gw_discover = reject_unverified_recipient
unverified_recipient_reject_code = 550
address_verify_map = memcache:{etc}/verify-memcache.cf
address_verify_cache_cleanup_interval = 0
address_verify_poll_count = 5
address_verify_poll_delay = 1s
)",
      fmt::arg("etc", (dir / "etc").string()), fmt::arg("dir", dir.string()),
      fmt::arg("hostname", o.hostname), fmt::arg("interfaces", loopback_only ? interfaces : "all"),
      fmt::arg("protocols", v6 ? "all" : "ipv4"), fmt::arg("size_limit", o.message_size_limit),
      fmt::arg("socketmap", socketmap), fmt::arg("policy", policy),
      // Without a content filter nothing checks a shared service's tenant proof, and the
      // policy refuses those relays.
      fmt::arg("outbound_context", o.milters.empty() ? "outbound-unfiltered" : "outbound"),
      fmt::arg("default_transport",
               o.smarthost ? fmt::format("smtp:[{}]:{}", o.smarthost->host, o.smarthost->port)
                           : "smtp"));
  // Outbound, TLS needs no certificate of the gateway's: mail to every destination and
  // every relayed message is encrypted wherever the other side offers STARTTLS.
  main += R"(
# STARTTLS towards every destination that offers it, authenticated by DANE where the
# destination publishes TLSA records (DNSSEC-validated: the host's resolver must validate
# and /etc/resolv.conf say `options trust-ad`); towards customers' servers, as their
# manifests say (the transport gatewayd names for each customer, below in master.cf; here,
# gatewayd's tls-policy map answers for every customer's next hop); towards internet
# domains with an MTA-STS policy, as it says (--mta-sts, asked second).
smtp_dns_support_level = dnssec
smtp_tls_security_level = dane
smtp_tls_loglevel = 1
smtp_tls_policy_maps = )" +
          socketmap + ":tls-policy" +
          (o.mta_sts ? ", socketmap:" + Inet(*o.mta_sts) + ":postfix" : std::string()) + R"(
smtp_tls_CAfile = )" +
          o.tls_ca_file +
          R"(
smtp_tls_fingerprint_digest = sha256
gw_verified_tls_policy_maps = )" +
          socketmap + R"(:tls-verify
)";
  if (!o.tls_cert.empty()) {
    main += fmt::format(R"(# STARTTLS offered to senders.
smtpd_tls_cert_file = {}
smtpd_tls_key_file = {}
smtpd_tls_security_level = may
smtpd_tls_received_header = yes
)",
                        o.tls_cert, o.tls_key);
  }
  if (o.fast_retry) {
    main += R"(
# --fast-retry: deferred mail is retried every 10 s, a silent server given up after 5 s
# (tests and demos).
smtp_connect_timeout = 5s
smtp_helo_timeout = 5s
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 20s
)";
  }

  if (!milters.empty()) {
    main += R"(
# Content and spam filtering: inbound mail passes the milters (master.cf); while one is
# unreachable, mail is deferred (4xx), never passed unfiltered.
milter_protocol = 6
milter_default_action = tempfail
milter_connect_timeout = 10s
milter_content_timeout = 120s
)";
  }
  return main;
}

std::string MasterCf(const PostfixInstanceOptions& o, const fs::path& dir,
                     const std::string& socketmap, const std::string& milters) {
  // smtpd keeps every address it resolved (domain class, lookup failures included) for
  // its whole life: short lives (max_use, max_idle) bound how long an answer from before a
  // change, or a failure while gatewayd was away, is reused.
  std::string master = fmt::format(
      R"(# Written by `gatewayd postfix-config`. Every service runs unchrooted (chroot = n).
# service type  private unpriv  chroot  wakeup  maxproc command + args
{smtp} inet n - n - - smtpd
  -o max_use=10
  -o max_idle=30s
  -o cleanup_service_name=cleanup-untrusted
)",
      fmt::arg("smtp", o.smtp.ToString()));
  if (!milters.empty()) master += "  -o smtpd_milters=" + milters + "\n";
  if (o.relay_smtp) {
    // Relayed mail is filtered too: the milters tell it from inbound mail by the daemon
    // name, a macro the client cannot set.
    master += fmt::format(R"({} inet n - n - - smtpd
  -o syslog_name=postfix/relay
  -o smtpd_relay_restrictions=$outbound_relay_restrictions
  -o max_use=10
  -o max_idle=30s
  -o cleanup_service_name=cleanup-untrusted
)",
                          o.relay_smtp->ToString());
    if (!milters.empty()) {
      master += "  -o smtpd_milters=" + milters + "\n  -o milter_macro_daemon_name=relay\n";
    }
  }
  if (o.release_smtp) {
    // gatewayd's own deliveries (released quarantine, spam reports, kept continuity mail,
    // which the policy routes to the customer's servers).
    master += TrustedLoopbackListener(*o.release_smtp, "release", "$release_restrictions");
  }
  if (o.continuity_smtp) {
    // Mail the main listener accepted and filtered, sent here while its customer is in
    // continuity: users whose mail is kept go on to Dovecot; others get a 450 and wait in
    // the queue for their server (never a bounce: Dovecot's LMTP would 550 them).
    master += TrustedLoopbackListener(*o.continuity_smtp, "continuity") +
              fmt::format(R"(  -o relay_recipient_maps={}:continuity
  -o unknown_relay_recipient_reject_code=450
  -o content_filter=lmtp:{}
)",
                          socketmap, Inet(*o.continuity_lmtp));
  }
  if (o.submission_smtp) {
    // Users in continuity send from their mail programs: authenticated by Dovecot, only
    // as their own addresses (gatewayd's `logins` map); STARTTLS required when offered.
    master += fmt::format(R"({} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_milters=
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path={}
  -o smtpd_tls_auth_only={}
  -o smtpd_client_restrictions=
  -o smtpd_sender_login_maps={}:logins
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=
  -o smtpd_end_of_data_restrictions=
)",
                          o.submission_smtp->ToString(), Inet(*o.sasl),
                          o.tls_cert.empty() ? "no" : "yes", socketmap);
  }
  master += R"(pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
)";
  // Mail from outside (the inbound and relay listeners) loses any X-GW-* header it brings:
  // those are the gateway's own markers (released, kept in continuity, attachments
  // removed). Headers the milter adds are not subject to header_checks, so its own stay.
  master += fmt::format(R"(cleanup-untrusted unix n - n - 0 cleanup
  -o header_checks=regexp:{}/inbound-header-checks
)",
                        (dir / "etc").string());
  master += R"(qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
)";
  // Customers' servers whose manifests require TLS or verify it: gatewayd's transport map
  // names these for the recipient's customer, so another customer's stricter requirement
  // on a shared server never holds this customer's mail. A next hop the verify map does not
  // answer (a change on its way) still gets encryption.
  master += fmt::format(R"({} unix - - n - - smtp
  -o smtp_tls_security_level=encrypt
  -o smtp_tls_policy_maps=
{} unix - - n - - smtp
  -o smtp_tls_security_level=encrypt
  -o smtp_tls_policy_maps=$gw_verified_tls_policy_maps
)",
                        kRequiredTlsTransport, kVerifiedTlsTransport);
  master += R"(showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
)";
  return master;
}

}  // namespace

namespace {

// The entry a line starts: a main.cf parameter's name ("smtpd_banner"), a master.cf
// service's "NAME TYPE"; "" for comments, blank and continuation lines.
std::string MainCfKey(const std::string& line) {
  static const std::regex kParameter(R"(^([A-Za-z0-9_]+)\s*=.*)");
  std::smatch match;
  return std::regex_match(line, match, kParameter) ? match[1].str() : "";
}
std::string MasterCfKey(const std::string& line) {
  static const std::regex kService(R"(^([^\s#]+)\s+(inet|unix|unix-dgram|fifo|pass)\s.*)");
  std::smatch match;
  return std::regex_match(line, match, kService) ? match[1].str() + " " + match[2].str() : "";
}

// `generated` with `local`'s entries in place of its own of the same key, appended after
// `heading`: Postfix would take the last definition anyway, but warns of each duplicate
// on every command.
std::string WithLocalEntries(const std::string& generated, const std::string& local,
                             std::string (*key_of)(const std::string&), const char* heading) {
  if (local.empty()) return generated;
  std::set<std::string> replaced;
  std::istringstream local_lines(local);
  for (std::string line; std::getline(local_lines, line);) {
    if (std::string key = key_of(line); !key.empty()) replaced.insert(key);
  }
  std::string kept;
  bool dropping = false;  // inside an entry being replaced (its continuation lines too)
  std::istringstream lines(generated);
  for (std::string line; std::getline(lines, line);) {
    bool continuation = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    if (!continuation) dropping = replaced.count(key_of(line)) > 0;
    if (!dropping) kept += line + "\n";
  }
  return kept + heading + local;
}

}  // namespace

Status WritePostfixInstance(const PostfixInstanceOptions& o) {
  if (Status checked = CheckOptions(o); !checked.ok()) return checked;
  fs::path dir = fs::absolute(o.dir);
  if (Status prepared = PrepareDirectory(dir); !prepared.ok()) return prepared;
  std::string socketmap = "socketmap:" + Inet(o.socketmap);
  std::string milters = MilterList(o);
  std::string main = MainCf(o, dir, socketmap, milters);
  std::string master = MasterCf(o, dir, socketmap, milters);
  main = WithLocalEntries(main, o.main_cf_local, MainCfKey,
                          "\n# The host's own settings (kept across regeneration):\n");
  master = WithLocalEntries(master, o.master_cf_local, MasterCfKey,
                            "# The host's own services (kept across regeneration):\n");
  std::string memcache = fmt::format(
      "# verify(8)'s cache is gatewayd: probe results, and discovered addresses.\n"
      "memcache = {}\nkey_format = verify:%s\nttl = 2678400\n",
      Inet(o.verify));
  for (const auto& [name, text] : std::vector<std::pair<std::string, std::string>>{
           {"main.cf", main},
           {"master.cf", master},
           {"verify-memcache.cf", memcache},
           {"inbound-header-checks",
            "# Written by `gatewayd postfix-config`: the gateway's own markers, never a "
            "sender's.\n/^X-GW-/ IGNORE\n"}}) {
    if (Status s = WriteFileAtomically(dir / "etc" / name, text); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace gw
