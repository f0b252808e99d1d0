// A Postfix instance whose routing and rules are gatewayd's: main.cf, master.cf and the
// memcache client file, written into one directory that `postfix -c DIR start` runs as a
// private instance (its own queue, log and lock; nothing under /etc/postfix is read).
//
// Contract: WritePostfixInstance creates `dir` (mode 755, as Postfix's unprivileged
// daemons need) with etc/ holding the configuration and spool/ the queue, and leaves
// data/ for Postfix to create. Writing into a directory that already holds an instance
// replaces its configuration and keeps its queue. Values with spaces or commas, which
// Postfix's files cannot carry, are refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/endpoint.h"
#include "gateway/status.h"

namespace gw {

struct PostfixInstanceOptions {
  std::string dir;
  std::string hostname = "gateway.invalid";  // myhostname: the banner, HELO, Received:
  Endpoint smtp;                             // inbound mail for customers' domains
  std::optional<Endpoint> relay_smtp;        // customers' servers relaying outbound mail
  // Where gatewayd hands over mail it delivers itself (released from the quarantine):
  // loopback only, trusted, no filtering again.
  std::optional<Endpoint> release_smtp;
  Endpoint socketmap, policy, verify;  // gatewayd's lookup servers
  // Milters inbound mail passes through, in order (gw-milter, then rspamd). While one is
  // unreachable mail is refused with a temporary error, never passed unfiltered.
  std::vector<Endpoint> milters;
  // Continuity (continuity.h): the listener gatewayd's transport answers name while a
  // customer's servers are down (loopback; it takes only users whose mail is kept, the
  // others get a 450 and wait in the queue), and Dovecot's LMTP it delivers to.
  std::optional<Endpoint> continuity_smtp, continuity_lmtp;
  // Authenticated submission for continuity users while their own server is down,
  // checked by Dovecot's auth service (`sasl`); a user sends only as their own addresses.
  std::optional<Endpoint> submission_smtp, sasl;
  // Where outbound mail goes: the recipient domain's MX when empty, else this host
  // (a smarthost; a sink in tests).
  std::optional<Endpoint> smarthost;
  uint64_t message_size_limit = 100ull << 20;  // the ceiling; customers' limits are lower
  std::string tls_cert, tls_key;               // PEM files: offer STARTTLS when both given
  // An MTA-STS policy socketmap (RFC 8461; postfix-mta-sts-resolver's mta-sts-daemon),
  // asked after gatewayd's tls-policy map, so internet domains publishing a policy get
  // their mail only over verified TLS to the MX hosts it names (loopback).
  std::optional<Endpoint> mta_sts;
  // The CAs a customer's server certificate is checked against (tls.delivery: verify),
  // and MTA-STS hosts' certificates are.
  std::string tls_ca_file = "/etc/ssl/certs/ca-certificates.crt";
  // Retry deferred mail every 10 s, give up on a server that does not connect or greet
  // within 5 s (tests and demos; production keeps Postfix's defaults).
  bool fast_retry = false;
  // A host's own settings for main.cf and master.cf, kept across regeneration: each
  // parameter or service they define replaces the generated one, and they come last.
  std::string main_cf_local, master_cf_local;
};

Status WritePostfixInstance(const PostfixInstanceOptions& options);

}  // namespace gw
