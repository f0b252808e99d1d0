// HealthWatch: this host's mail plane checked on a thread of its own: the store, the
// Postfix instance's queue (size, age, per destination), gw-milter, rspamd, clamd and
// Dovecot's LMTP, each where configured. Its last round answers /readyz; every check
// is reported to the Notifier, which alerts once per incident and again on recovery.
//
// Each finished round also tells systemd's watchdog that gatewayd is not stuck.
//
// Contract: Start runs the first round at once; Readiness() is safe from any thread and
// answers "not checked yet" until that round ends. Stop (or destruction) lets a round in
// progress finish and joins the thread. A check that cannot run counts as failing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/endpoint.h"
#include "gateway/notifier.h"
#include "gateway/service.h"

namespace gatewayd {

struct HealthOptions {
  std::string postfix_config;          // the instance's etc/ (postqueue -c); empty: no queue check
  size_t queue_messages = 1000;        // in the queue at once
  std::chrono::minutes queue_age{60};  // the oldest message waiting
  size_t queue_per_destination = 100;  // waiting for one recipient domain
  std::optional<gw::Endpoint> milter, rspamd, clamd, lmtp;
  std::chrono::milliseconds interval{std::chrono::seconds(30)};
};

// One check's outcome in a round.
struct HealthCheck {
  std::string name;  // "store", "queue", "queue/example.com", "rspamd", ...
  bool ok = false;
  std::string detail;
  // Mail cannot flow while it fails (the store, a filter daemon): /readyz says not ready.
  // A queue over its threshold is alerted but leaves the gateway ready.
  bool critical = true;
};

// What postqueue -j printed, summed: the messages waiting, the oldest's age and the
// recipients waiting per domain. Lines it cannot read are skipped.
struct QueueSummary {
  size_t messages = 0;
  std::chrono::seconds oldest{0};
  std::vector<std::pair<std::string, size_t>> per_domain;  // most first
};
QueueSummary SummarizeQueue(const std::string& postqueue_json,
                            std::chrono::system_clock::time_point now);

class HealthWatch {
 public:
  static std::unique_ptr<HealthWatch> Start(gw::Service& service, HealthOptions options,
                                            gw::Notifier* notifier);
  ~HealthWatch();
  void Stop();

  // /readyz: whether every critical check of the last round passed, and the round as JSON.
  std::pair<bool, std::string> Readiness() const;

  HealthWatch(const HealthWatch&) = delete;
  HealthWatch& operator=(const HealthWatch&) = delete;

 private:
  HealthWatch(gw::Service& service, HealthOptions options, gw::Notifier* notifier);
  void Run();
  std::vector<HealthCheck> Round();

  gw::Service& service_;
  HealthOptions options_;
  gw::Notifier* notifier_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::optional<std::vector<HealthCheck>> last_;
  std::chrono::system_clock::time_point last_at_;
  std::thread thread_;
};

}  // namespace gatewayd
