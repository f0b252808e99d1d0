// PostfixLookupServers: the TCP servers Postfix asks while it moves mail, all answering
// from a MailDirectoryFeed's current directory:
// - socketmap (relay_domains, relay_recipient_maps, transport_maps),
// - policy delegation (smtpd_recipient_restrictions, smtpd_end_of_data_restrictions and
//   the relay listener's restrictions),
// - memcache (address_verify_map): verify(8)'s probe results, where a destination's 250
//   for a discovering customer's unknown address becomes a `discovered` user,
// - and Dovecot's passdb/userdb for continuity mailboxes (dict protocol, UNIX socket).
// These protocols carry no authentication: they listen on loopback (or a private network)
// and serve only clients in `client_networks`.
//
// Contract:
// - Bad input (malformed framing, oversized requests, unknown maps, missing policy
//   attributes) gets a protocol error or a temporary answer, is logged once, and never
//   disturbs other connections. A client that starts a request and does not finish it
//   within request_timeout is disconnected.
// - Until the feed has a directory, every lookup answers "temporary failure" (Postfix
//   then defers mail: nothing is accepted unchecked, nothing bounced).
// Thread-safe; Stop() (or the destructor) closes every listener and connection.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gateway/continuity.h"
#include "gateway/endpoint.h"
#include "gateway/ip_range.h"
#include "gateway/mail_directory_feed.h"
#include "gateway/network_policy.h"
#include "gateway/status.h"

namespace gw {

struct PostfixLookupOptions {
  std::optional<Endpoint> socketmap, policy, verify;  // each served only when given
  int threads = 2;
  // Who may connect: these protocols carry no credentials. This host's loopback address
  // by default; gatewayd --lookup-client-network adds networks. A client outside them is
  // closed at once.
  std::vector<IpRange> client_networks = HostLoopbackAddresses();
  // All servers together, and from one address; at a limit, the connection idle longest
  // (then the one longest in an unfinished request) is closed to make room (the admin
  // API's admission), so idle sockets cannot keep Postfix out.
  size_t max_connections = 4096;
  size_t max_connections_per_address = 2048;
  std::chrono::milliseconds request_timeout{10'000};
  // A connection with no request in progress is closed after this long (Postfix's own
  // clients close theirs sooner: socketmap after 10 s, policy after 300 s).
  std::chrono::milliseconds idle_timeout{600'000};
  size_t verify_cache_entries = 200'000;
  std::function<void(const std::string&)> log;  // may be empty
  // Each address a destination accepted for a customer with address discovery that is
  // not one of its users yet. Called on a thread of its own, one address at a time; the
  // same address may come again.
  std::function<void(const ClaimOwner& customer, const std::string& address)> discovered;
  // Continuity: which customers' mail the transport answers send to the continuity
  // listener (may be null: none), and Dovecot's passdb/userdb (dict protocol) on a UNIX
  // socket at this path, answering with `passwords`.
  const ContinuityRouting* continuity = nullptr;
  std::optional<std::string> dovecot_dict;
  std::function<Result<std::optional<std::string>>(const MailCustomer&, const std::string& user)>
      passwords;
};

// Recipients the policy server accepted, per customer ("partner/name"): inbound or
// relayed, over an encrypted connection or in cleartext. /metrics' TLS report; a client
// whose handshake failed never reaches the policy server, and Postfix's own log has
// how each delivery went.
class TlsTally {
 public:
  void Count(const std::string& customer, bool relayed, bool encrypted);
  // Prometheus text: gatewayd_mail_recipients_total{customer,direction,tls}.
  std::string Prometheus() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::array<int64_t, 4>> counts_;  // [relayed * 2 + encrypted]
};

struct PostfixLookupCounters {
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> problems{0};  // bad input, each also logged
  std::atomic<int64_t> timeouts{0};
  std::atomic<int64_t> refused_connections{0};
  std::atomic<int64_t> displaced{0};        // closed to make room for another
  std::atomic<int64_t> foreign_clients{0};  // outside client_networks
  std::atomic<int64_t> discovered{0};
  TlsTally tls;
};

class PostfixLookupServers {
 public:
  // Binds every listener given (failing, with nothing left running, if one cannot be
  // bound) and starts serving.
  static Result<std::unique_ptr<PostfixLookupServers>> Start(const MailDirectoryFeed& feed,
                                                             PostfixLookupOptions options);
  ~PostfixLookupServers();
  void Stop();

  // Where each listener is bound (the kernel's port when 0 was asked for).
  std::optional<Endpoint> socketmap() const;
  std::optional<Endpoint> policy() const;
  std::optional<Endpoint> verify() const;
  const PostfixLookupCounters& counters() const;

  PostfixLookupServers(const PostfixLookupServers&) = delete;
  PostfixLookupServers& operator=(const PostfixLookupServers&) = delete;

 private:
  struct Impl;
  explicit PostfixLookupServers(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The mail data plane's state as Prometheus text: the directory's size and refreshes, and
// the lookup servers' counters.
std::string MailMetrics(const MailDirectoryFeed& feed, const PostfixLookupServers& servers);

}  // namespace gw
