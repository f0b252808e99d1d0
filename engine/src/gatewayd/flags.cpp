#include "gatewayd/flags.h"

#include <chrono>

#include <fmt/format.h>

#include "gateway/customer_config.h"
#include "gateway/domain_name.h"
#include "gateway/ip_range.h"
#include "gateway/smtp_client.h"
#include "gatewayd/process.h"

namespace gatewayd {
namespace {

// Where the store and the admin API are, and the limits that bound its clients.
void AddAdminFlags(CLI::App& app, ServeFlags& flags) {
  app.add_option("--data", flags.data, "Directory of the store (gateway.db, SQLite in WAL mode)")
      ->capture_default_str();
  app.add_option("--store", flags.store_location,
                 "The store on PostgreSQL instead: postgres://USER[:PASSWORD]@HOST[:PORT]/DB "
                 "(several gatewayds may share one)");
  app.add_option("--listen", flags.listen,
                 "HOST:PORT to serve the admin API on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--tokens", flags.tokens, "Tokens file (hashes only; see `gatewayd hash-token`)");
  app.add_option("--tls-cert", flags.admin.http.tls_cert, "PEM certificate: serve HTTPS");
  app.add_option("--tls-key", flags.admin.http.tls_key, "PEM private key for --tls-cert");
  gw::HttpServerLimits& limits = flags.admin.http.limits;
  app.add_option("--max-body-bytes", limits.max_body_bytes,
                 "Largest request body accepted; a larger Content-Length is answered 413 "
                 "before the body is read")
      ->capture_default_str();
  app.add_option("--max-buffered-body-bytes", limits.max_buffered_body_bytes,
                 "Request bodies being received at once, all clients together; past it a "
                 "request with a body is answered 503 with Retry-After")
      ->capture_default_str();
  app.add_option("--threads", limits.worker_threads, "Request threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--max-connections", limits.max_connections,
                 "Connections open at once; past it, the one waiting longest for its request "
                 "head is closed to make room")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--max-connections-per-address", limits.max_connections_per_address,
                 "Connections open at once from one client address")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  flags.head_timeout_ms = static_cast<int>(limits.head_timeout.count());
  app.add_option("--head-timeout-ms", flags.head_timeout_ms,
                 "Time a client has to send a request's head (line and headers), the TLS "
                 "handshake included")
      ->capture_default_str()
      ->check(CLI::Range(100, 600'000));
  app.add_option("--max-in-flight-per-partner", flags.admin.max_in_flight_per_partner,
                 "Requests one partner may have in flight; more are answered 429 with "
                 "Retry-After (keep it below --threads so other partners get one)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
}

// The service: its store, its replica and host names, mail it sends, housekeeping.
void AddServiceFlags(CLI::App& app, ServeFlags& flags) {
  flags.store.replica.clear();  // --replica, or HOST/PID below
  app.add_option("--store-busy-timeout-ms", flags.store.busy_timeout_ms,
                 "How long a write waits while another process holds the store; then the "
                 "request is answered 503 with Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(1, 600'000));
  app.add_option("--replica", flags.store.replica,
                 "This replica's name when several gatewayd share one store (default HOST/PID): "
                 "one of them probes customers' servers and sends spam reports at a time");
  app.add_option("--hostname", flags.store.gateway_hosts,
                 "The gateway's own host name, as customers' MX records name it (repeatable): a "
                 "destination naming it is refused (mail would loop)");
  app.add_option("--release-smtp", flags.release_smtp,
                 "HOST:PORT of the gateway Postfix's release listener (postfix-config "
                 "--release-smtp): released quarantined mail is delivered through it");
  app.add_option("--quarantine-retention-days", flags.housekeeping.quarantine_retention_days,
                 "Quarantined mail is forgotten after this many days (checked hourly)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3650));
  app.add_option("--report-from", flags.report_from,
                 "Sender of spam reports (default: quarantine@ the first --hostname, else "
                 "quarantine@localhost)");
  app.add_option("--portal", flags.portal,
                 "HOST:PORT to serve users' pages on (a spam report's links), apart from the "
                 "admin API; HTTPS with --tls-cert");
  app.add_option("--portal-url", flags.portal_url,
                 "The URL users reach --portal at, as spam report links name it (default: "
                 "--portal's own)");
  app.add_flag("--no-scheduled-reports", flags.no_scheduled_reports,
               "Send spam reports only when an operator runs them (POST /v1/spam-reports:run), "
               "not at their scheduled times");
  app.add_option("--smtp", flags.smtp_addresses,
                 "HOST:PORT of the gateway's own SMTP listener (repeatable): a destination at "
                 "one is refused (mail would loop). Without any, loopback port 25 is refused");
}

// The lookup servers Postfix asks.
void AddMailFlags(CLI::App& app, ServeFlags& flags) {
  app.add_option("--socketmap", flags.mail.socketmap,
                 "HOST:PORT to answer Postfix's socketmap lookups on (domains, recipients, "
                 "transport); loopback or a private network only");
  app.add_option("--policy", flags.mail.policy,
                 "HOST:PORT to answer Postfix's policy delegation on (the customers' rules)");
  app.add_option("--verify", flags.mail.verify,
                 "HOST:PORT to serve Postfix's address_verify_map on (memcache protocol): "
                 "address discovery");
  app.add_option("--lookup-client-network", flags.mail.client_networks,
                 "CIDR of Postfix hosts that may use the lookups besides loopback (needed to "
                 "listen beyond loopback); others are closed at connect; repeatable")
      ->take_all();
  app.add_option("--lookup-max-connections", flags.mail.max_connections,
                 "Lookup connections open at once, all clients together; at the limit the one "
                 "idle longest is closed to make room")
      ->capture_default_str()
      ->check(CLI::Range(8, 1'000'000));
  app.add_option("--lookup-max-connections-per-address", flags.mail.max_connections_per_address,
                 "Lookup connections from one address; at the limit its own idle longest is "
                 "closed")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--lookup-threads", flags.mail.threads, "Threads answering the mail lookups")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--lookup-request-timeout-ms", flags.mail.request_timeout_ms,
                 "Time a lookup client has to finish a request it started; then it is "
                 "disconnected")
      ->capture_default_str()
      ->check(CLI::Range(100, 600'000));
}

// Continuity: the listener, Dovecot's sockets, the probe.
void AddContinuityFlags(CLI::App& app, ServeFlags& flags) {
  app.add_option("--continuity-smtp", flags.continuity.smtp,
                 "Loopback HOST:PORT of the Postfix continuity listener (postfix-config "
                 "--continuity-smtp): while a customer's servers are down its mail goes there");
  app.add_option("--continuity-auth", flags.continuity.auth,
                 "UNIX socket path to answer Dovecot's passdb and userdb on (dovecot-config "
                 "--continuity-auth). It takes its directory's group, mode 0660: give the "
                 "directory to Dovecot's group (e.g. root:dovecot 0750)");
  app.add_option("--continuity-probe-interval-ms", flags.continuity.probe_interval_ms,
                 "How often customers' servers are probed")
      ->capture_default_str()
      ->check(CLI::Range(100, 3'600'000));
  app.add_option("--continuity-down-after", flags.continuity.down_after,
                 "Failed probe rounds in a row before a customer's mail is kept")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--doveadm", flags.continuity.doveadm,
                 "HOST:PORT of Dovecot's doveadm HTTP API (dovecot-config --doveadm): kept "
                 "mail is delivered on and expunged through it");
  app.add_option("--doveadm-key-file", flags.continuity.doveadm_key_file,
                 "File whose first line is the doveadm API key");
  app.add_option("--continuity-imap", flags.continuity.imap,
                 "HOST:PORT of Dovecot's IMAP on loopback: kept messages doveadm's API cannot "
                 "carry unchanged (8-bit) are read there with the master login (the doveadm key)");
}

// Domains: verification, DNS, and the networks and ranges destinations may use.
void AddDomainFlags(CLI::App& app, ServeFlags& flags) {
  app.add_flag("--verify-domains", flags.store.verify_domains,
               "A customer's new domain takes no mail until it publishes the TXT record "
               "gwctl-verify=TOKEN of its claim (checked every --domain-check-interval-s and "
               "on demand). Without it every claim is verified when made");
  app.add_option("--dns-server", flags.domains.dns_servers,
                 "HOST:PORT of a DNS resolver for domain checks (repeatable; default: the "
                 "system's, /etc/resolv.conf)");
  app.add_option("--dns-timeout-ms", flags.domains.dns_timeout_ms,
                 "How long a DNS question waits for its first answer (a second try waits twice "
                 "as long); then the check says DNS did not answer")
      ->capture_default_str()
      ->check(CLI::Range(10, 60'000));
  app.add_option("--domain-check-interval-s", flags.domains.check_interval_s,
                 "How often pending domain claims are checked")
      ->capture_default_str()
      ->check(CLI::Range(1, 86'400));
  app.add_option("--spf-include", flags.domains.spf_include,
                 "The name customers' SPF policies include for mail relayed through the "
                 "gateway (include:NAME), as gwctl dns and plan --check-dns show it");
  app.add_option("--allow-destination-network", flags.destination_networks,
                 "CIDR: an internal network (loopback, private, link-local, ...) customers' "
                 "destinations may be in; by default they may be in none, so no partner can aim "
                 "mail or the continuity probe at the operator's own hosts; repeatable")
      ->take_all();
  app.add_option("--relay-service-range", flags.relay_service_ranges,
                 "SERVICE=CIDR: treat CIDR as one of a relay service's (office365, google) "
                 "published ranges, for labs and tests that stand a local address in for the "
                 "provider; repeatable")
      ->take_all();
}

// This host's health (/readyz) and the webhooks told when it fails and recovers.
void AddHealthFlags(CLI::App& app, ServeFlags& flags) {
  HealthFlags& h = flags.health;
  app.add_option("--watch-postfix", h.postfix_config,
                 "The Postfix instance's etc/ directory (postfix-config --out DIR/etc): its "
                 "queue is watched (postqueue -j; gatewayd's user needs group postdrop)");
  app.add_option("--watch-milter", h.milter, "HOST:PORT of gw-milter, checked for /readyz");
  app.add_option("--watch-rspamd", h.rspamd, "HOST:PORT of rspamd's normal worker (GET /ping)");
  app.add_option("--watch-clamd", h.clamd, "HOST:PORT of clamd (PING)");
  app.add_option("--watch-lmtp", h.lmtp, "HOST:PORT of Dovecot's LMTP (continuity)");
  app.add_option("--alert-queue-messages", h.queue_messages,
                 "Messages in the Postfix queue at which an alert goes out")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000'000));
  app.add_option("--alert-queue-age-minutes", h.queue_age_minutes,
                 "Age of the oldest queued message at which an alert goes out")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000));
  app.add_option("--alert-queue-per-destination", h.queue_per_destination,
                 "Recipients of one domain waiting in the queue at which an alert goes out (a "
                 "customer's server that stopped taking mail)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000'000));
  app.add_option("--health-interval-s", h.interval_s, "How often the health checks run")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_option("--notify-file", h.notify_file,
                 "File of webhooks told when a check fails and when it recovers, one per line: "
                 "generic=URL (JSON, signed), slack=URL (incoming webhook) or teams=URL "
                 "(Workflows); keep it private: the URLs are credentials");
  app.add_option("--notify-secret-file", h.notify_secret_file,
                 "File whose first line signs generic webhooks' bodies (X-Gateway-Signature: "
                 "t=UNIX,v1=HMAC-SHA256 of \"UNIX.BODY\")");
}

}  // namespace

void AddServeFlags(CLI::App& app, ServeFlags& flags) {
  AddAdminFlags(app, flags);
  AddServiceFlags(app, flags);
  AddMailFlags(app, flags);
  AddContinuityFlags(app, flags);
  AddDomainFlags(app, flags);
  AddHealthFlags(app, flags);
}

gw::Status ResolveServeFlags(ServeFlags& flags) {
  flags.admin.http.limits.head_timeout = std::chrono::milliseconds(flags.head_timeout_ms);
  for (const std::string& text : flags.smtp_addresses) {
    auto endpoint = gw::ParseEndpoint(text, "--smtp");
    if (!endpoint.ok()) {
      return gw::Status::Invalid(endpoint.status().message());
    }
    flags.store.gateway_smtp.push_back(*endpoint);
  }
  if (!flags.release_smtp.empty()) {
    auto endpoint = gw::ParseEndpoint(flags.release_smtp, "--release-smtp");
    if (!endpoint.ok()) {
      return gw::Status::Invalid(endpoint.status().message());
    }
    flags.continuity.release = *endpoint;
    flags.store.send_mail = [server = *endpoint](const std::string& sender,
                                                 const std::vector<std::string>& recipients,
                                                 const std::string& message) {
      return gw::SendMail(server, sender, recipients, message);
    };
  }
  // A link acts no longer than the mail it names is kept, and a week at most.
  flags.store.link_lifetime = std::min<std::chrono::seconds>(
      std::chrono::hours(24 * 7),
      std::chrono::hours(24 * flags.housekeeping.quarantine_retention_days));
  if (!flags.portal_url.empty() && flags.portal.empty())
    return gw::Status::Invalid("--portal-url names the --portal listener, which is not set");
  if (flags.report_from.empty() && !flags.store.gateway_hosts.empty())
    flags.report_from = "quarantine@" + flags.store.gateway_hosts.front();
  if (!flags.report_from.empty()) {
    auto address = gw::ParseEmailAddress(flags.report_from);
    if (!address.ok()) {
      return gw::Status::Invalid("--report-from: " + address.status().message());
    }
    flags.store.report_sender = address->ToString();
  }
  flags.store.destination_networks.emplace();
  for (const auto& text : flags.destination_networks) {
    auto network = gw::IpRange::Parse(text);
    if (!network.ok()) {
      return gw::Status::Invalid(
          fmt::format("--allow-destination-network '{}': {}", text, network.status().message()));
    }
    flags.store.destination_networks->allowed.push_back(*network);
  }
  for (const auto& entry : flags.relay_service_ranges) {
    size_t equals = entry.find('=');
    std::string service = entry.substr(0, equals);
    auto range = gw::IpRange::Parse(equals == std::string::npos ? "" : entry.substr(equals + 1));
    if (!gw::RelayServiceRanges(service) || !range.ok()) {
      return gw::Status::Invalid(
          fmt::format("--relay-service-range '{}': must be SERVICE=CIDR with SERVICE office365 "
                      "or google{}",
                      entry, range.ok() ? "" : " (" + range.status().message() + ")"));
    }
    gw::ExtendRelayServiceRanges(service, *range);
  }
  flags.housekeeping.spam_reports = flags.store.send_mail && !flags.no_scheduled_reports;
  if (flags.store.replica.empty()) flags.store.replica = DefaultReplicaName();
  return gw::Status::Ok();
}

}  // namespace gatewayd
