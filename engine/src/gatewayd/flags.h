// gatewayd's serving flags, one struct per area, declared on the command line by area
// and resolved (checked and combined) after parsing.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "api/admin_server.h"
#include "gateway/endpoint.h"
#include "gateway/service.h"
#include "gateway/status.h"
#include "service/housekeeper.h"

namespace gatewayd {

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

struct DomainFlags {
  std::vector<std::string> dns_servers;  // HOST:PORT; none: the system's resolvers
  int dns_timeout_ms = 2000;
  int check_interval_s = 300;
  std::string spf_include;
};

// The health watch (health_watch.h) and where its alerts go, as given.
struct HealthFlags {
  std::string postfix_config;  // --watch-postfix
  std::string milter, rspamd, clamd, lmtp;
  size_t queue_messages = 1000, queue_per_destination = 100;
  int queue_age_minutes = 60;
  int interval_s = 30;
  std::string notify_file, notify_secret_file;
};

// Everything `gatewayd` is told when it serves.
struct ServeFlags {
  std::string data = ".";      // the SQLite store's directory
  std::string store_location;  // a postgres:// URL instead
  std::string listen = "127.0.0.1:8025";
  std::string tokens;
  gw::AdminServerOptions admin;
  int head_timeout_ms = 0;
  gw::ServiceOptions store;
  gw::HousekeeperOptions housekeeping;
  MailFlags mail;
  ContinuityFlags continuity;
  DomainFlags domains;
  HealthFlags health;
  // As given; ResolveServeFlags turns them into the options above.
  std::string release_smtp, report_from;
  std::string portal, portal_url;  // users' pages: HOST:PORT, and the URL links name
  bool no_scheduled_reports = false;
  std::vector<std::string> smtp_addresses, destination_networks, relay_service_ranges;
};

// Declares the serving flags on `app`, writing into `flags` (which must outlive parsing).
void AddServeFlags(CLI::App& app, ServeFlags& flags);

// After parsing: the values that need checking or combining. kInvalidArgument names the
// flag at fault.
gw::Status ResolveServeFlags(ServeFlags& flags);

}  // namespace gatewayd
