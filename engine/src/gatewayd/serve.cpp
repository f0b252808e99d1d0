#include "gatewayd/serve.h"

#include <signal.h>

#include <filesystem>
#include <mutex>
#include <thread>
#include <tuple>

#include <fmt/format.h>

#include "gateway/continuity_monitor.h"
#include "gateway/customer_config.h"
#include "gateway/domain_verifier.h"
#include "gateway/ip_range.h"
#include "gateway/mail_directory_feed.h"
#include "gateway/smtp_client.h"
#include "gateway/tokens.h"
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

}  // namespace

int Serve(ServeFlags flags) {
  const std::string& data = flags.data;
  const std::string& store_location = flags.store_location;
  const std::string& listen = flags.listen;
  const std::string& tokens_path = flags.tokens;
  const gw::ServiceOptions& store = flags.store;
  gw::AdminServerOptions& options = flags.admin;
  const MailFlags& mail = flags.mail;
  const ContinuityFlags& continuity = flags.continuity;
  gw::HousekeeperOptions& housekeeping = flags.housekeeping;
  const DomainFlags& domains = flags.domains;
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

}  // namespace gatewayd
