// gatewayd: the gateway engine as a server. main only wires the store, the tokens, the
// admin API and the mail lookups together, and turns signals into stop (SIGTERM/SIGINT)
// and reload (SIGHUP). `gatewayd postfix-config` writes the Postfix instance that asks it.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "api/admin_server.h"
#include "gateway/continuity_monitor.h"
#include "gateway/customer_config.h"
#include "gateway/domain_name.h"
#include "gateway/domain_verifier.h"
#include "gateway/dovecot_config.h"
#include "gateway/endpoint.h"
#include "gateway/ip_range.h"
#include "gateway/mail_directory_feed.h"
#include "gateway/postfix_config.h"
#include "gateway/service.h"
#include "gateway/smtp_client.h"
#include "gateway/tokens.h"
#include "lookups/postfix_lookups.h"
#include "service/housekeeper.h"

namespace {

void Log(const std::string& message) {
  std::fprintf(stderr, "gatewayd: %s\n", message.c_str());
}

struct MailFlags {
  std::string socketmap, policy, verify;
  std::vector<std::string> client_networks;  // besides loopback
  size_t max_connections = 4096, max_connections_per_address = 2048;
  int threads = 2;
  int request_timeout_ms = 10'000;
};

struct ContinuityFlags {
  std::string smtp;  // the continuity listener the transport answers name
  std::string auth;  // UNIX socket for Dovecot's passdb/userdb
  std::string doveadm, doveadm_key_file;
  std::string imap;  // Dovecot's IMAP on loopback, for kept mail the API cannot carry
  // Postfix's release listener (--release-smtp), which kept mail goes back to.
  std::optional<gw::Endpoint> release;
  int probe_interval_ms = 30'000;
  int down_after = 2;
};

// The data plane gatewayd runs beside its admin API: the lookup servers, and for
// continuity the routing state and the monitor that writes it.
struct MailPlane {
  std::unique_ptr<gw::MailDirectoryFeed> feed;
  std::unique_ptr<gw::ContinuityRouting> routing;
  std::unique_ptr<gw::PostfixLookupServers> lookups;
  std::unique_ptr<gw::ContinuityMonitor> monitor;
};

gw::Result<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path);
  std::string key;
  if (!in || !std::getline(in, key) || key.empty()) {
    return gw::Status(gw::StatusCode::kInvalidArgument,
                      fmt::format("--doveadm-key-file {}: no key on its first line", path));
  }
  return key;
}

// The default replica name: this host and process.
std::string DefaultReplicaName() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return fmt::format("{}/{}", host, getpid());
}

// Whether `replica` is a default name of this host whose process no longer exists: a
// gatewayd that crashed here, whose job leases need not be waited out.
bool ReplicaGone(const std::string& replica) {
  std::string prefix = DefaultReplicaName();
  prefix.erase(prefix.rfind('/') + 1);
  if (replica.rfind(prefix, 0) != 0) return false;
  std::string pid = replica.substr(prefix.size());
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9)
    return false;
  return kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH;
}

// The lookup servers Postfix asks, over a store connection of their own; discovered
// addresses are written through the service like any other users.
gw::Result<MailPlane> StartMailPlane(const MailFlags& flags, const ContinuityFlags& continuity,
                                     const std::string& store_path, const gw::ServiceOptions& store,
                                     gw::Service& service) {
  MailPlane plane;
  gw::PostfixLookupOptions options;
  options.threads = flags.threads;
  options.max_connections = flags.max_connections;
  options.max_connections_per_address = flags.max_connections_per_address;
  options.request_timeout = std::chrono::milliseconds(flags.request_timeout_ms);
  for (auto [flag, text, target] : {std::tuple{"--socketmap", &flags.socketmap, &options.socketmap},
                                    std::tuple{"--policy", &flags.policy, &options.policy},
                                    std::tuple{"--verify", &flags.verify, &options.verify}}) {
    if (text->empty()) continue;
    auto endpoint = gw::ParseEndpoint(*text, flag);
    if (!endpoint.ok()) return endpoint.status();
    // The lookups carry no credentials: every address of the host is too many, and one
    // beyond loopback is for the networks the operator names.
    if (endpoint->host == "0.0.0.0" || endpoint->host == "::") {
      return gw::Status(gw::StatusCode::kInvalidArgument,
                        fmt::format("{} {}: listen on one address (loopback, or a private one "
                                    "with --lookup-client-network), never on all",
                                    flag, *text));
    }
    if (!endpoint->IsLoopback() && flags.client_networks.empty()) {
      return gw::Status(gw::StatusCode::kInvalidArgument,
                        fmt::format("{} {}: not a loopback address; name the networks of the "
                                    "Postfix hosts that may ask with --lookup-client-network",
                                    flag, *text));
    }
    *target = *endpoint;
  }
  for (const auto& text : flags.client_networks) {
    auto network = gw::IpRange::Parse(text);
    if (!network.ok()) {
      return gw::Status(
          gw::StatusCode::kInvalidArgument,
          fmt::format("--lookup-client-network '{}': {}", text, network.status().message()));
    }
    options.client_networks.push_back(*network);
  }
  auto reader = gw::OpenStore(store_path, {store.busy_timeout_ms});
  if (!reader.ok()) return reader.status();
  auto feed =
      gw::MailDirectoryFeed::Start(std::move(*reader), {std::chrono::milliseconds(250), Log});
  if (!feed.ok()) return feed.status();
  options.log = Log;
  options.discovered = [&service](const gw::ClaimOwner& owner, const std::string& address) {
    gw::User user;
    user.address = address;
    user.source = "discovered";
    auto added = service.BatchUsers({"gatewayd:discovery", true, ""}, owner.partner, owner.customer,
                                    {{user}, {}});
    Log(added.ok()
            ? fmt::format("discovered {} (customer {}/{})", address, owner.partner, owner.customer)
            : fmt::format("discovered {} but could not add it: {}", address,
                          added.status().message()));
  };
  if (!continuity.smtp.empty()) {
    auto listener = gw::ParseEndpoint(continuity.smtp, "--continuity-smtp");
    if (!listener.ok()) return listener.status();
    plane.routing = std::make_unique<gw::ContinuityRouting>(*listener);
    options.continuity = plane.routing.get();
  }
  if (!continuity.auth.empty()) {
    // Logins are rare next to lookups: one store connection, one at a time.
    auto passwords = gw::OpenStore(store_path, {store.busy_timeout_ms});
    if (!passwords.ok()) return passwords.status();
    options.dovecot_dict = continuity.auth;
    options.passwords = [store = std::shared_ptr<gw::Store>(std::move(*passwords)),
                         mutex = std::make_shared<std::mutex>()](const gw::MailCustomer& customer,
                                                                 const std::string& user) {
      std::lock_guard lock(*mutex);
      return store->ContinuityPassword(customer.partner, customer.name, user);
    };
  }
  auto servers = gw::PostfixLookupServers::Start(**feed, std::move(options));
  if (!servers.ok()) return servers.status();
  if (plane.routing) {
    gw::ContinuityMonitorOptions watch;
    watch.probe_interval = std::chrono::milliseconds(continuity.probe_interval_ms);
    watch.probe_timeout = std::min(watch.probe_interval, std::chrono::milliseconds(10'000));
    watch.down_after = continuity.down_after;
    watch.destination_networks = store.destination_networks;
    watch.log = Log;
    watch.replica = store.replica;
    watch.holder_gone = ReplicaGone;
    auto outages = gw::OpenStore(store_path, {store.busy_timeout_ms});
    if (!outages.ok()) return outages.status();
    watch.store = std::move(*outages);
    if (!continuity.doveadm.empty()) {
      if (!continuity.release) {
        return gw::Status(gw::StatusCode::kInvalidArgument,
                          "--doveadm needs --release-smtp: kept mail goes on to customers' "
                          "servers through the gateway's Postfix, under its TLS policy");
      }
      watch.send_mail = [server = *continuity.release](const std::string& sender,
                                                       const std::vector<std::string>& recipients,
                                                       const std::string& message) {
        return gw::SendMail(server, sender, recipients, message, std::chrono::seconds(60),
                            gw::kContinuityRedeliveryHelo);
      };
      auto doveadm = gw::ParseEndpoint(continuity.doveadm, "--doveadm");
      if (!doveadm.ok()) return doveadm.status();
      auto key = ReadKeyFile(continuity.doveadm_key_file);
      if (!key.ok()) return key.status();
      watch.doveadm = *doveadm;
      watch.doveadm_key = *key;
      if (!continuity.imap.empty()) {
        auto imap = gw::ParseEndpoint(continuity.imap, "--continuity-imap");
        if (!imap.ok()) return imap.status();
        if (!imap->IsLoopback()) {
          return gw::Status(gw::StatusCode::kInvalidArgument,
                            fmt::format("--continuity-imap {} must be a loopback address: the "
                                        "master login's key would cross the network",
                                        imap->ToString()));
        }
        watch.imap = *imap;
      }
    }
    plane.monitor = gw::ContinuityMonitor::Start(**feed, *plane.routing, std::move(watch));
    Log(
        fmt::format("continuity: probing customers' servers every {} ms; their mail goes to {} "
                    "while they are down",
                    continuity.probe_interval_ms, continuity.smtp));
  }
  if (!continuity.auth.empty()) Log("continuity logins (Dovecot dict) on " + continuity.auth);
  const auto& directory = *(*feed)->current();
  Log(fmt::format("mail directory: {} customers, {} domains, {} addresses",
                  directory.customers().size(), directory.domain_count(),
                  directory.recipient_count()));
  for (auto [name, bound] :
       {std::pair{"socketmap", (*servers)->socketmap()}, std::pair{"policy", (*servers)->policy()},
        std::pair{"verify", (*servers)->verify()}}) {
    if (bound) Log(fmt::format("{} on {}", name, bound->ToString()));
  }
  plane.feed = std::move(*feed);
  plane.lookups = std::move(*servers);
  return plane;
}

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

// The HOST:PORT flags of postfix-config and dovecot-config, as given.
struct PlaneFlags {
  std::string continuity_smtp, continuity_lmtp, submission, sasl, mta_sts;
  std::string imap, pop3, imaps, pop3s, doveadm, doveadm_key_file;
};

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

struct DomainFlags {
  std::vector<std::string> dns_servers;  // HOST:PORT; none: the system's resolvers
  int dns_timeout_ms = 2000;
  int check_interval_s = 300;
  std::string spf_include;
};

// The domain verifier, when the store verifies domains, wired into the admin API.
gw::Result<std::unique_ptr<gw::DomainVerifier>> StartDomainVerifier(
    const DomainFlags& flags, gw::Service& service, gw::AdminServerOptions& options) {
  auto dns =
      gw::DnsResolverOptionsFor(flags.dns_servers, std::chrono::milliseconds(flags.dns_timeout_ms));
  if (!dns.ok()) return dns.status();
  gw::DomainVerifierOptions verifier;
  verifier.dns = *dns;
  verifier.interval = std::chrono::seconds(flags.check_interval_s);
  verifier.log = Log;
  auto started = gw::DomainVerifier::Start(service, verifier);
  if (!started.ok()) return started.status();
  gw::DomainVerifier* running = started->get();
  options.check_domains = [running](const std::string& partner, const std::string& customer) {
    return running->CheckNow(partner, customer);
  };
  options.more_metrics = [running, more = options.more_metrics] {
    return (more ? more() : std::string()) + running->Metrics();
  };
  return started;
}

int Serve(const std::string& data, const std::string& store_location, const std::string& listen,
          const std::string& tokens_path, const gw::ServiceOptions& store,
          gw::AdminServerOptions options, const MailFlags& mail, const ContinuityFlags& continuity,
          gw::HousekeeperOptions housekeeping, const DomainFlags& domains) {
  if (gw::Status parsed = gw::ParseListenAddress(listen, options.http); !parsed.ok()) {
    Log(parsed.message());
    return 2;
  }

  // Signals go to one thread that waits for them; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  gw::RaiseOpenFileLimit();
  std::string store_path = store_location.empty()
                               ? (std::filesystem::path(data) / "gateway.db").string()
                               : store_location;
  auto service = gw::Service::Open(store_path, store);
  if (!service.ok()) {
    Log(service.status().message());
    return 1;
  }
  Log(fmt::format("opened store {}", gw::RedactedStoreLocation(store_path)));
  if (!store.verify_domains) {
    // Claims left pending by a run with --verify-domains would otherwise take no mail.
    auto verified = (*service)->VerifyPendingClaims(gw::Actor::Local());
    if (!verified.ok()) {
      Log(verified.status().message());
      return 1;
    }
    if (*verified > 0)
      Log(
          fmt::format("verified {} domain claim(s) left pending: started without "
                      "--verify-domains",
                      *verified));
  }
  auto tokens = gw::TokenStore::Load(tokens_path);
  if (!tokens.ok()) {
    Log(tokens.status().message());
    return 1;
  }
  Log(fmt::format("loaded {} token(s) from {}", (*tokens)->size(), tokens_path));
  MailPlane plane;
  if (!mail.socketmap.empty() || !mail.policy.empty() || !mail.verify.empty()) {
    auto started = StartMailPlane(mail, continuity, store_path, store, **service);
    if (!started.ok()) {
      Log(started.status().message());
      return started.status().code() == gw::StatusCode::kInvalidArgument ? 2 : 1;
    }
    plane = std::move(*started);
    options.more_metrics = [&plane] {
      std::string metrics = gw::MailMetrics(*plane.feed, *plane.lookups);
      if (plane.routing)
        metrics += gw::ContinuityMetrics(*plane.routing, plane.monitor->counters());
      return metrics;
    };
    if (plane.routing) {
      options.continuity = [&plane] { return plane.routing->Entries(); };
      options.expire_continuity = [&plane](std::chrono::system_clock::time_point as_of) {
        return plane.monitor->ExpireKept(as_of);
      };
    }
  } else if (!continuity.smtp.empty() || !continuity.auth.empty()) {
    Log("--continuity-smtp and --continuity-auth need the mail lookups (--socketmap ...)");
    return 2;
  }
  std::unique_ptr<gw::DomainVerifier> verifier;
  if (store.verify_domains) {
    auto started = StartDomainVerifier(domains, **service, options);
    if (!started.ok()) {
      Log(started.status().message());
      return started.status().code() == gw::StatusCode::kInvalidArgument ? 2 : 1;
    }
    verifier = std::move(*started);
  }
  options.facts = {store.gateway_hosts, domains.spf_include, store.verify_domains};
  auto server = gw::AdminServer::Bind(**service, **tokens, options);
  if (!server.ok()) {
    Log(server.status().message());
    return 1;
  }
  housekeeping.log = Log;
  auto housekeeper = gw::Housekeeper::Start(**service, housekeeping);
  std::thread waiter([&] {
    while (true) {
      int signal = 0;
      sigwait(&signals, &signal);
      if (signal == SIGHUP) {
        gw::Status reloaded = (*tokens)->Reload();
        Log(reloaded.ok()
                ? fmt::format("SIGHUP: reloaded {} token(s)", (*tokens)->size())
                : fmt::format("SIGHUP: kept the previous tokens: {}", reloaded.message()));
        continue;
      }
      Log(fmt::format("{}: finishing requests in flight, then stopping",
                      signal == SIGTERM ? "SIGTERM" : "SIGINT"));
      (*server)->Stop();
      verifier.reset();
      plane.monitor.reset();
      if (plane.lookups) plane.lookups->Stop();
      return;
    }
  });
  Log(fmt::format("listening on {}", (*server)->url()));
  (*server)->Serve();
  waiter.join();
  housekeeper->Stop();
  Log("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("gatewayd: the email security gateway engine and its admin API", "gatewayd");
  std::string data = ".", listen = "127.0.0.1:8025", tokens;
  gw::AdminServerOptions options;
  app.add_option("--data", data, "Directory of the store (gateway.db, SQLite in WAL mode)")
      ->capture_default_str();
  std::string store_location;
  app.add_option("--store", store_location,
                 "The store on PostgreSQL instead: postgres://USER[:PASSWORD]@HOST[:PORT]/DB "
                 "(several gatewayds may share one)");
  app.add_option("--listen", listen, "HOST:PORT to serve the admin API on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--tokens", tokens, "Tokens file (hashes only; see `gatewayd hash-token`)");
  app.add_option("--tls-cert", options.http.tls_cert, "PEM certificate: serve HTTPS");
  app.add_option("--tls-key", options.http.tls_key, "PEM private key for --tls-cert");
  gw::HttpServerLimits& limits = options.http.limits;
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
  int head_timeout_ms = static_cast<int>(limits.head_timeout.count());
  app.add_option("--head-timeout-ms", head_timeout_ms,
                 "Time a client has to send a request's head (line and headers), the TLS "
                 "handshake included")
      ->capture_default_str()
      ->check(CLI::Range(100, 600'000));
  app.add_option("--max-in-flight-per-partner", options.max_in_flight_per_partner,
                 "Requests one partner may have in flight; more are answered 429 with "
                 "Retry-After (keep it below --threads so other partners get one)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  gw::ServiceOptions store;
  store.replica.clear();  // --replica, or HOST/PID below
  app.add_option("--store-busy-timeout-ms", store.busy_timeout_ms,
                 "How long a write waits while another process holds the store; then the "
                 "request is answered 503 with Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(1, 600'000));
  app.add_option("--replica", store.replica,
                 "This replica's name when several gatewayd share one store (default HOST/PID): "
                 "one of them probes customers' servers and sends spam reports at a time");
  app.add_option("--hostname", store.gateway_hosts,
                 "The gateway's own host name, as customers' MX records name it (repeatable): a "
                 "destination naming it is refused (mail would loop)");
  std::string release_smtp;
  app.add_option("--release-smtp", release_smtp,
                 "HOST:PORT of the gateway Postfix's release listener (postfix-config "
                 "--release-smtp): released quarantined mail is delivered through it");
  gw::HousekeeperOptions housekeeping;
  app.add_option("--quarantine-retention-days", housekeeping.quarantine_retention_days,
                 "Quarantined mail is forgotten after this many days (checked hourly)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3650));
  std::string report_from;
  app.add_option("--report-from", report_from,
                 "Sender of spam reports (default: quarantine@ the first --hostname, else "
                 "quarantine@localhost)");
  bool no_scheduled_reports = false;
  app.add_flag("--no-scheduled-reports", no_scheduled_reports,
               "Send spam reports only when an operator runs them (POST /v1/spam-reports:run), "
               "not at their scheduled times");
  std::vector<std::string> smtp_addresses;
  app.add_option("--smtp", smtp_addresses,
                 "HOST:PORT of the gateway's own SMTP listener (repeatable): a destination at "
                 "one is refused (mail would loop). Without any, loopback port 25 is refused");
  MailFlags mail;
  app.add_option("--socketmap", mail.socketmap,
                 "HOST:PORT to answer Postfix's socketmap lookups on (domains, recipients, "
                 "transport); loopback or a private network only");
  app.add_option("--policy", mail.policy,
                 "HOST:PORT to answer Postfix's policy delegation on (the customers' rules)");
  app.add_option("--verify", mail.verify,
                 "HOST:PORT to serve Postfix's address_verify_map on (memcache protocol): "
                 "address discovery");
  app.add_option("--lookup-client-network", mail.client_networks,
                 "CIDR of Postfix hosts that may use the lookups besides loopback (needed to "
                 "listen beyond loopback); others are closed at connect; repeatable")
      ->take_all();
  app.add_option("--lookup-max-connections", mail.max_connections,
                 "Lookup connections open at once, all clients together; at the limit the one "
                 "idle longest is closed to make room")
      ->capture_default_str()
      ->check(CLI::Range(8, 1'000'000));
  app.add_option("--lookup-max-connections-per-address", mail.max_connections_per_address,
                 "Lookup connections from one address; at the limit its own idle longest is "
                 "closed")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--lookup-threads", mail.threads, "Threads answering the mail lookups")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--lookup-request-timeout-ms", mail.request_timeout_ms,
                 "Time a lookup client has to finish a request it started; then it is "
                 "disconnected")
      ->capture_default_str()
      ->check(CLI::Range(100, 600'000));
  ContinuityFlags continuity;
  app.add_option("--continuity-smtp", continuity.smtp,
                 "Loopback HOST:PORT of the Postfix continuity listener (postfix-config "
                 "--continuity-smtp): while a customer's servers are down its mail goes there");
  app.add_option("--continuity-auth", continuity.auth,
                 "UNIX socket path to answer Dovecot's passdb and userdb on (dovecot-config "
                 "--continuity-auth). It takes its directory's group, mode 0660: give the "
                 "directory to Dovecot's group (e.g. root:dovecot 0750)");
  app.add_option("--continuity-probe-interval-ms", continuity.probe_interval_ms,
                 "How often customers' servers are probed")
      ->capture_default_str()
      ->check(CLI::Range(100, 3'600'000));
  app.add_option("--continuity-down-after", continuity.down_after,
                 "Failed probe rounds in a row before a customer's mail is kept")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--doveadm", continuity.doveadm,
                 "HOST:PORT of Dovecot's doveadm HTTP API (dovecot-config --doveadm): kept "
                 "mail is delivered on and expunged through it");
  app.add_option("--doveadm-key-file", continuity.doveadm_key_file,
                 "File whose first line is the doveadm API key");
  app.add_option("--continuity-imap", continuity.imap,
                 "HOST:PORT of Dovecot's IMAP on loopback: kept messages doveadm's API cannot "
                 "carry unchanged (8-bit) are read there with the master login (the doveadm key)");
  DomainFlags domains;
  app.add_flag("--verify-domains", store.verify_domains,
               "A customer's new domain takes no mail until it publishes the TXT record "
               "gwctl-verify=TOKEN of its claim (checked every --domain-check-interval-s and "
               "on demand). Without it every claim is verified when made");
  app.add_option("--dns-server", domains.dns_servers,
                 "HOST:PORT of a DNS resolver for domain checks (repeatable; default: the "
                 "system's, /etc/resolv.conf)");
  app.add_option("--dns-timeout-ms", domains.dns_timeout_ms,
                 "How long a DNS question waits for its first answer (a second try waits twice "
                 "as long); then the check says DNS did not answer")
      ->capture_default_str()
      ->check(CLI::Range(10, 60'000));
  app.add_option("--domain-check-interval-s", domains.check_interval_s,
                 "How often pending domain claims are checked")
      ->capture_default_str()
      ->check(CLI::Range(1, 86'400));
  app.add_option("--spf-include", domains.spf_include,
                 "The name customers' SPF policies include for mail relayed through the "
                 "gateway (include:NAME), as gwctl dns and plan --check-dns show it");
  std::vector<std::string> destination_networks;
  app.add_option("--allow-destination-network", destination_networks,
                 "CIDR: an internal network (loopback, private, link-local, ...) customers' "
                 "destinations may be in; by default they may be in none, so no partner can aim "
                 "mail or the continuity probe at the operator's own hosts; repeatable")
      ->take_all();
  std::vector<std::string> relay_service_ranges;
  app.add_option("--relay-service-range", relay_service_ranges,
                 "SERVICE=CIDR: treat CIDR as one of a relay service's (office365, google) "
                 "published ranges, for labs and tests that stand a local address in for the "
                 "provider; repeatable")
      ->take_all();
  app.footer(
      "Signals: SIGTERM/SIGINT finish requests in flight and exit 0; SIGHUP re-reads the tokens "
      "file.\n"
      "Example: gatewayd --data /var/lib/gatewayd --tokens /etc/gatewayd/tokens.yaml");
  CLI::App* hash =
      app.add_subcommand("hash-token", "Read a token on stdin and print its tokens-file entry");
  std::string name = "NAME", partner, role = "operator";
  hash->add_option("--name", name, "Name for the entry")->capture_default_str();
  hash->add_option("--partner", partner, "Scope the token to this partner");
  hash->add_option("--role", role,
                   "Without --partner: operator (everything), or filter (gw-milter: keeps "
                   "quarantined mail and nothing else)")
      ->capture_default_str()
      ->check(CLI::IsMember({"operator", "filter"}));
  CLI::App* postfix = app.add_subcommand(
      "postfix-config", "Write a private Postfix instance wired to gatewayd's lookup servers");
  gw::PostfixInstanceOptions instance;
  std::string instance_smtp, relay_smtp, instance_release, smarthost;
  std::vector<std::string> instance_milters;
  MailFlags instance_lookups;
  postfix->add_option("--out", instance.dir, "Directory of the instance (etc/, spool/)")
      ->required();
  postfix
      ->add_option("--smtp", instance_smtp,
                   "HOST:PORT receiving customers' inbound mail (25 in production)")
      ->required();
  postfix->add_option("--relay-smtp", relay_smtp,
                      "HOST:PORT on which customers' servers relay outbound mail (587 in "
                      "production); none: no outbound relay");
  postfix->add_option("--socketmap", instance_lookups.socketmap, "gatewayd's --socketmap")
      ->required();
  postfix->add_option("--policy", instance_lookups.policy, "gatewayd's --policy")->required();
  postfix->add_option("--verify", instance_lookups.verify, "gatewayd's --verify")->required();
  postfix->add_option("--hostname", instance.hostname, "The gateway's host name (banner, HELO)")
      ->capture_default_str();
  postfix->add_option("--smarthost", smarthost,
                      "HOST:PORT to send outbound mail through, instead of the recipient "
                      "domain's MX");
  postfix->add_option("--release-smtp", instance_release,
                      "Loopback HOST:PORT where gatewayd delivers released quarantined mail "
                      "(gatewayd's --release-smtp)");
  postfix->add_option("--milter", instance_milters,
                      "HOST:PORT of a milter inbound mail passes (repeatable, in order): "
                      "gw-milter's --listen, then rspamd's proxy");
  postfix->add_option("--tls-cert", instance.tls_cert, "PEM certificate: offer STARTTLS");
  postfix->add_option("--tls-key", instance.tls_key, "PEM private key for --tls-cert");
  postfix
      ->add_option("--tls-ca-file", instance.tls_ca_file,
                   "PEM CAs that customers' servers are checked against (tls.delivery: verify)")
      ->capture_default_str();
  postfix
      ->add_option("--message-size-limit", instance.message_size_limit,
                   "Largest message in bytes (customers' own limits are checked per message)")
      ->capture_default_str();
  postfix->add_flag("--fast-retry", instance.fast_retry,
                    "Retry deferred mail every 10 s; give up on a destination that does not "
                    "connect or greet in 5 s (tests and demos)");
  PlaneFlags plane;
  postfix->add_option("--mta-sts", plane.mta_sts,
                      "Loopback HOST:PORT of an MTA-STS policy socketmap (Debian's "
                      "postfix-mta-sts-resolver, mta-sts-daemon): enforced where domains publish "
                      "a policy");
  postfix->add_option("--continuity-smtp", plane.continuity_smtp,
                      "Loopback HOST:PORT of the continuity listener (gatewayd's "
                      "--continuity-smtp)");
  postfix->add_option("--continuity-lmtp", plane.continuity_lmtp,
                      "HOST:PORT of Dovecot's LMTP, where kept mail is stored");
  postfix->add_option("--submission", plane.submission,
                      "HOST:PORT of authenticated submission for continuity users (587 in "
                      "production)");
  postfix->add_option("--sasl", plane.sasl,
                      "HOST:PORT of Dovecot's auth service submission logins are checked by");
  CLI::App* dovecot = app.add_subcommand(
      "dovecot-config", "Write a private Dovecot instance for continuity mailboxes");
  gw::DovecotInstanceOptions mailboxes;
  std::string dovecot_lmtp;
  dovecot->add_option("--out", mailboxes.dir, "Directory of the instance")->required();
  dovecot->add_option("--mail-root", mailboxes.mail_root,
                      "Where mailboxes are kept (default: OUT/mail)");
  dovecot->add_option("--continuity-auth", mailboxes.auth_socket, "gatewayd's --continuity-auth")
      ->required();
  dovecot->add_option("--lmtp", dovecot_lmtp, "HOST:PORT to take kept mail on")->required();
  dovecot->add_option("--imap", plane.imap, "HOST:PORT for IMAP (143 in production)");
  dovecot->add_option("--pop3", plane.pop3, "HOST:PORT for POP3 (110 in production)");
  dovecot->add_option("--imaps", plane.imaps,
                      "HOST:PORT for IMAP over TLS (993; needs --tls-cert)");
  dovecot->add_option("--pop3s", plane.pop3s,
                      "HOST:PORT for POP3 over TLS (995; needs --tls-cert)");
  dovecot->add_option("--sasl", plane.sasl, "HOST:PORT of the auth service for Postfix's --sasl");
  dovecot->add_option("--doveadm", plane.doveadm, "HOST:PORT of the doveadm HTTP API for gatewayd");
  dovecot->add_option("--doveadm-key-file", plane.doveadm_key_file,
                      "File whose first line is the doveadm API key");
  dovecot->add_option("--hostname", mailboxes.hostname, "The gateway's host name")
      ->capture_default_str();
  dovecot->add_option("--tls-cert", mailboxes.tls_cert, "PEM certificate: require TLS");
  dovecot->add_option("--tls-key", mailboxes.tls_key, "PEM private key for --tls-cert");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  limits.head_timeout = std::chrono::milliseconds(head_timeout_ms);
  if (postfix->parsed()) {
    return WritePostfixConfig(instance, instance_smtp, relay_smtp, instance_release, smarthost,
                              instance_milters, instance_lookups, plane);
  }
  if (dovecot->parsed()) return WriteDovecotConfig(mailboxes, dovecot_lmtp, plane);
  for (const std::string& text : smtp_addresses) {
    auto endpoint = gw::ParseEndpoint(text, "--smtp");
    if (!endpoint.ok()) {
      Log(endpoint.status().message());
      return 2;
    }
    store.gateway_smtp.push_back(*endpoint);
  }
  if (!release_smtp.empty()) {
    auto endpoint = gw::ParseEndpoint(release_smtp, "--release-smtp");
    if (!endpoint.ok()) {
      Log(endpoint.status().message());
      return 2;
    }
    continuity.release = *endpoint;
    store.send_mail = [server = *endpoint](const std::string& sender,
                                           const std::vector<std::string>& recipients,
                                           const std::string& message) {
      return gw::SendMail(server, sender, recipients, message);
    };
  }
  if (report_from.empty() && !store.gateway_hosts.empty())
    report_from = "quarantine@" + store.gateway_hosts.front();
  if (!report_from.empty()) {
    auto address = gw::ParseEmailAddress(report_from);
    if (!address.ok()) {
      Log("--report-from: " + address.status().message());
      return 2;
    }
    store.report_sender = address->ToString();
  }
  store.destination_networks.emplace();
  for (const auto& text : destination_networks) {
    auto network = gw::IpRange::Parse(text);
    if (!network.ok()) {
      Log(fmt::format("--allow-destination-network '{}': {}", text, network.status().message()));
      return 2;
    }
    store.destination_networks->allowed.push_back(*network);
  }
  for (const auto& entry : relay_service_ranges) {
    size_t equals = entry.find('=');
    std::string service = entry.substr(0, equals);
    auto range = gw::IpRange::Parse(equals == std::string::npos ? "" : entry.substr(equals + 1));
    if (!gw::RelayServiceRanges(service) || !range.ok()) {
      Log(
          fmt::format("--relay-service-range '{}': must be SERVICE=CIDR with SERVICE office365 "
                      "or google{}",
                      entry, range.ok() ? "" : " (" + range.status().message() + ")"));
      return 2;
    }
    gw::ExtendRelayServiceRanges(service, *range);
  }
  housekeeping.spam_reports = store.send_mail && !no_scheduled_reports;
  if (store.replica.empty()) store.replica = DefaultReplicaName();
  if (hash->parsed()) {
    std::string token;
    std::getline(std::cin, token);
    if (token.empty()) {
      Log("hash-token: no token on stdin");
      return 2;
    }
    std::string scope = partner.empty() ? "role: " + role : "partner: " + partner;
    std::cout << fmt::format("  - {{name: {}, {}, sha256: \"{}\"}}\n", name, scope,
                             gw::HashToken(token));
    return 0;
  }
  if (tokens.empty()) {
    Log("--tokens FILE is required (see --help)");
    return 2;
  }
  return Serve(data, store_location, listen, tokens, store, options, mail, continuity, housekeeping,
               domains);
}
