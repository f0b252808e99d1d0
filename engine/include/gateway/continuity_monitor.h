// ContinuityMonitor: decides when a customer's mail servers are down, and puts it into
// and out of continuity (continuity.h); delivers the mail kept meanwhile once they are
// back; expunges kept mail past the customer's retention.
//
// Why probing: a probe sees exactly what Postfix would (the greeting, EHLO, MAIL, and
// RCPT to the customer's postmaster, without DATA), whether or not mail is flowing, and
// needs nothing from Postfix's logs. A server is down when every destination fails with
// a temporary error or does not answer; a 5xx is an answer (the server is up).
//
// Contract:
// - A customer with continuity enabled enters it after `down_after` failed probe rounds
//   in a row, and leaves it at the first round one of its destinations answers.
// - Level-triggered delivery of kept mail: while a customer is not in continuity and may
//   have kept mail (after every outage, also one during which its continuity was
//   switched off), each round sends its users' undelivered kept messages straight to its
//   servers in preference order and marks each one delivered after the server's 250 (a
//   crash in between may deliver that one twice, never not at all); one its server
//   refuses for good (5xx) is marked refused and left to people. Kept mail stays
//   readable until its retention.
// - With a store, outages are recorded (Store::StartOutage ...): a restarted monitor
//   routes the customers it left in continuity there again at once, and sweeps only
//   customers with recorded outages for kept mail to deliver or expunge. Without one,
//   it assumes any continuity customer may have kept mail. Either way, mail waits in
//   Postfix's queue while gatewayd is away, so nothing is lost.
// - Several replicas on one store: the replica holding the store's "continuity" job
//   lease (three probe intervals, renewed every round) probes, records, delivers and
//   expunges; the others route as its recorded outages say, read every round, so every
//   replica follows its decisions within one probe interval. A replica stopping gives
//   the lease up; one dying leaves it to expire, and another takes over (at once when
//   `holder_gone` says the holder is certainly gone: a crashed gatewayd restarting).
// Thread-safe; the destructor stops the rounds.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gateway/continuity.h"
#include "gateway/endpoint.h"
#include "gateway/mail_directory_feed.h"
#include "gateway/network_policy.h"
#include "gateway/status.h"
#include "gateway/store.h"

namespace gw {

struct ContinuityMonitorOptions {
  std::chrono::milliseconds probe_interval{30'000};
  std::chrono::milliseconds probe_timeout{10'000};
  int down_after = 2;  // failed rounds in a row
  // Where probes may connect (network_policy.h); nullopt: anywhere.
  std::optional<DestinationNetworks> destination_networks;
  size_t probe_concurrency = 32;  // customers probed at once
  // Dovecot's doveadm HTTP API and its key: how kept mail is read, marked and expunged.
  // Without it, nothing is delivered afterwards or expunged.
  std::optional<Endpoint> doveadm;
  std::string doveadm_key;
  // Dovecot's IMAP on loopback: kept messages the API cannot carry unchanged (bytes that
  // are not UTF-8) are read there with the master login; without it they stay kept.
  std::optional<Endpoint> imap;
  // How kept mail goes on to the customer's servers: handed to the gateway's own Postfix
  // (its release listener), so that the TLS policy of every other delivery applies to
  // it too. Needed with `doveadm`.
  std::function<Status(const std::string& sender, const std::vector<std::string>& recipients,
                       const std::string& message)>
      send_mail;
  std::function<void(const std::string&)> log;  // may be empty
  std::unique_ptr<Store> store;                 // may be null: nothing is recorded
  std::string replica = "gatewayd";             // this replica's name in the job lease
  // Whether the replica named `holder` is certainly gone (gatewayd: a process of this
  // host that no longer exists), so its lease need not be waited out; may be empty.
  std::function<bool(const std::string& holder)> holder_gone;
};

struct ContinuityCounters {
  std::atomic<int64_t> probes{0};
  std::atomic<int64_t> outages{0};               // entries into continuity
  std::atomic<int64_t> delivered_afterwards{0};  // kept messages sent on to servers
  std::atomic<int64_t> expunged_users{0};        // mailboxes whose old mail was expunged
};

class ContinuityMonitor {
 public:
  static std::unique_ptr<ContinuityMonitor> Start(const MailDirectoryFeed& feed,
                                                  ContinuityRouting& routing,
                                                  ContinuityMonitorOptions options);
  ~ContinuityMonitor();

  // Expunges, in every continuity mailbox, mail saved more than its customer's retention
  // before `as_of` (hourly with now; an operator may give another moment). Returns how
  // many mailboxes were expunged in.
  Result<int64_t> ExpireKept(std::chrono::system_clock::time_point as_of);

  const ContinuityCounters& counters() const;

  ContinuityMonitor(const ContinuityMonitor&) = delete;
  ContinuityMonitor& operator=(const ContinuityMonitor&) = delete;

 private:
  struct Impl;
  explicit ContinuityMonitor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Customers in continuity now, and the monitor's counters, as Prometheus text.
std::string ContinuityMetrics(const ContinuityRouting& routing, const ContinuityCounters& counters);

}  // namespace gw
