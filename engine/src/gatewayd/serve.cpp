#include "gatewayd/serve.h"

#include <signal.h>

#include <filesystem>
#include <optional>
#include <thread>
#include <tuple>

#include <fmt/format.h>

#include "api/portal_server.h"
#include "gateway/continuity_monitor.h"
#include "gateway/customer_config.h"
#include "gateway/domain_verifier.h"
#include "gateway/ip_range.h"
#include "gateway/mail_directory_feed.h"
#include "gateway/smtp_client.h"
#include "gateway/tokens.h"
#include "gatewayd/health_watch.h"
#include "gatewayd/process.h"
#include "lookups/postfix_lookups.h"
#include "service/housekeeper.h"

namespace gatewayd {
namespace {

// The data plane gatewayd runs beside its admin API: the lookup servers, and for
// continuity the routing state and the monitor that writes it.
struct MailPlane {
  std::unique_ptr<gw::MailDirectoryFeed> feed;
  std::unique_ptr<gw::ContinuityRouting> routing;
  std::unique_ptr<gw::PostfixLookupServers> lookups;
  std::unique_ptr<gw::ContinuityMonitor> monitor;
};

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
    auto added = service.BatchUsers({"gatewayd:discovery", gw::Role::kOperator, "", ""},
                                    owner.partner, owner.customer, {{user}, {}});
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

// Logs why gatewayd cannot start; the exit code is 2 for a usage error, 1 otherwise
// (or `code` when given).
int StartFailed(const gw::Status& status, std::optional<int> code = std::nullopt) {
  Log(status.message());
  if (code) return *code;
  return status.code() == gw::StatusCode::kInvalidArgument ? 2 : 1;
}

// The store, and claims a run with --verify-domains left pending verified when this run
// has no verifier: they would otherwise take no mail.
gw::Result<std::unique_ptr<gw::Service>> OpenService(const ServeFlags& flags,
                                                     const std::string& store_path) {
  auto service = gw::Service::Open(store_path, flags.store);
  if (!service.ok()) return service.status();
  Log(fmt::format("opened store {}", gw::RedactedStoreLocation(store_path)));
  if (flags.store.verify_domains) return service;
  auto verified = (*service)->VerifyPendingClaims(gw::Actor::Local());
  if (!verified.ok()) return verified.status();
  if (*verified > 0) {
    Log(fmt::format("verified {} domain claim(s) left pending: started without --verify-domains",
                    *verified));
  }
  return service;
}

// The mail plane's metrics and continuity on the admin API.
void ExposeMailPlane(MailPlane& plane, gw::AdminServerOptions& options) {
  options.more_metrics = [&plane] {
    std::string metrics = gw::MailMetrics(*plane.feed, *plane.lookups);
    if (plane.routing) metrics += gw::ContinuityMetrics(*plane.routing, plane.monitor->counters());
    return metrics;
  };
  if (!plane.routing) return;
  options.continuity = [&plane] { return plane.routing->Entries(); };
  options.expire_continuity = [&plane](std::chrono::system_clock::time_point as_of) {
    return plane.monitor->ExpireKept(as_of);
  };
}

// Waits for `signals` (blocked in every thread): SIGHUP reloads the tokens, SIGTERM and
// SIGINT run `stop` and end the wait.
void HandleSignals(const sigset_t& signals, gw::TokenStore& tokens,
                   const std::function<void()>& stop) {
  while (true) {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal == SIGHUP) {
      NotifySystemd("RELOADING=1");
      gw::Status reloaded = tokens.Reload();
      Log(reloaded.ok() ? fmt::format("SIGHUP: reloaded {} token(s)", tokens.size())
                        : fmt::format("SIGHUP: kept the previous tokens: {}", reloaded.message()));
      NotifySystemd("READY=1");
      continue;
    }
    NotifySystemd("STOPPING=1");
    Log(fmt::format("{}: finishing requests in flight, then stopping",
                    signal == SIGTERM ? "SIGTERM" : "SIGINT"));
    stop();
    return;
  }
}

// The health watch and the webhooks it tells.
struct Health {
  std::unique_ptr<gw::Notifier> notifier;
  std::unique_ptr<HealthWatch> watch;
};

gw::Result<Health> StartHealthWatch(const ServeFlags& flags, gw::Service& service) {
  const HealthFlags& h = flags.health;
  std::vector<gw::WebhookTarget> targets;
  if (!h.notify_file.empty()) {
    auto read = gw::ReadWebhooks(h.notify_file, h.notify_secret_file);
    if (!read.ok()) return gw::Status::Invalid("--notify-file " + read.status().message());
    targets = std::move(*read);
  } else if (!h.notify_secret_file.empty()) {
    return gw::Status::Invalid("--notify-secret-file signs the webhooks of --notify-file, not set");
  }
  HealthOptions options;
  options.postfix_config = h.postfix_config;
  options.queue_messages = h.queue_messages;
  options.queue_age = std::chrono::minutes(h.queue_age_minutes);
  options.queue_per_destination = h.queue_per_destination;
  options.interval = std::chrono::seconds(h.interval_s);
  for (auto [text, flag, out] : {std::tuple{&h.milter, "--watch-milter", &options.milter},
                                 std::tuple{&h.rspamd, "--watch-rspamd", &options.rspamd},
                                 std::tuple{&h.clamd, "--watch-clamd", &options.clamd},
                                 std::tuple{&h.lmtp, "--watch-lmtp", &options.lmtp}}) {
    if (text->empty()) continue;
    auto endpoint = gw::ParseEndpoint(*text, flag);
    if (!endpoint.ok()) return gw::Status::Invalid(endpoint.status().message());
    *out = *endpoint;
  }
  std::string host =
      flags.store.gateway_hosts.empty() ? DefaultReplicaName() : flags.store.gateway_hosts.front();
  Health health;
  // Two failing rounds in a row make an incident: a daemon restarting, or Postfix starting
  // after gatewayd at boot, is not one.
  health.notifier = std::make_unique<gw::Notifier>("gatewayd " + host, std::move(targets), Log, 2);
  if (health.notifier->enabled()) {
    Log(fmt::format("alerts go to the webhooks of {}", h.notify_file));
  }
  health.watch = HealthWatch::Start(service, std::move(options), health.notifier.get());
  return health;
}

}  // namespace

int Serve(ServeFlags flags) {
  gw::AdminServerOptions& options = flags.admin;
  const MailFlags& mail = flags.mail;
  if (gw::Status parsed = gw::ParseListenAddress(flags.listen, options.http); !parsed.ok())
    return StartFailed(gw::Status::Invalid(parsed.message()));

  // Signals go to one thread that waits for them; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  gw::RaiseOpenFileLimit();
  // Users' pages: bound first, so that spam report links can name the listener.
  std::unique_ptr<gw::PortalServer> portal;
  if (!flags.portal.empty()) {
    gw::HttpServerOptions http;
    http.tls_cert = options.http.tls_cert;
    http.tls_key = options.http.tls_key;
    if (gw::Status parsed = gw::ParseListenAddress(flags.portal, http); !parsed.ok())
      return StartFailed(gw::Status::Invalid("--portal: " + parsed.message()));
    auto bound = gw::PortalServer::Bind(std::move(http));
    if (!bound.ok()) return StartFailed(bound.status(), 1);
    portal = std::move(*bound);
    flags.store.portal_url = flags.portal_url.empty() ? portal->url() : flags.portal_url;
  }
  std::string store_path = flags.store_location.empty()
                               ? (std::filesystem::path(flags.data) / "gateway.db").string()
                               : flags.store_location;
  // A store or token file that cannot be read is 1, as a failure at run time is.
  auto service = OpenService(flags, store_path);
  if (!service.ok()) return StartFailed(service.status(), 1);
  auto tokens = gw::TokenStore::Load(flags.tokens);
  if (!tokens.ok()) return StartFailed(tokens.status(), 1);
  Log(fmt::format("loaded {} token(s) from {}", (*tokens)->size(), flags.tokens));
  MailPlane plane;
  if (!mail.socketmap.empty() || !mail.policy.empty() || !mail.verify.empty()) {
    auto started = StartMailPlane(mail, flags.continuity, store_path, flags.store, **service);
    if (!started.ok()) return StartFailed(started.status());
    plane = std::move(*started);
    ExposeMailPlane(plane, options);
  } else if (!flags.continuity.smtp.empty() || !flags.continuity.auth.empty()) {
    return StartFailed(gw::Status(gw::StatusCode::kInvalidArgument,
                                  "--continuity-smtp and --continuity-auth need the mail lookups "
                                  "(--socketmap ...)"));
  }
  std::unique_ptr<gw::DomainVerifier> verifier;
  if (flags.store.verify_domains) {
    auto started = StartDomainVerifier(flags.domains, **service, options);
    if (!started.ok()) return StartFailed(started.status());
    verifier = std::move(*started);
  }
  options.facts = {flags.store.gateway_hosts, flags.domains.spf_include,
                   flags.store.verify_domains};
  auto health = StartHealthWatch(flags, **service);
  if (!health.ok()) return StartFailed(health.status());
  options.readiness = [&watch = health->watch] { return watch->Readiness(); };
  auto server = gw::AdminServer::Bind(**service, **tokens, options);
  if (!server.ok()) return StartFailed(server.status(), 1);
  flags.housekeeping.log = Log;
  auto housekeeper = gw::Housekeeper::Start(**service, flags.housekeeping);
  std::thread portal_thread;
  if (portal) {
    Log(fmt::format("portal on {} (links name {})", portal->url(), flags.store.portal_url));
    portal_thread = std::thread([&] { portal->Serve(**service); });
  }
  std::thread waiter([&] {
    HandleSignals(signals, **tokens, [&] {
      if (portal) portal->Stop();
      (*server)->Stop();
      verifier.reset();
      plane.monitor.reset();
      if (plane.lookups) plane.lookups->Stop();
    });
  });
  Log(fmt::format("listening on {}", (*server)->url()));
  NotifySystemd("READY=1");  // every listener is bound: Postfix may start asking
  (*server)->Serve();
  waiter.join();
  if (portal_thread.joinable()) portal_thread.join();
  housekeeper->Stop();
  health->watch->Stop();
  Log("stopped");
  return 0;
}

}  // namespace gatewayd
