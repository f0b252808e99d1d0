// ReconcileLoop: the engine of `gwctl run`. Each pass is level-triggered: read the branch,
// and unless nothing can have changed, validate, plan against the gateway as it is, and
// apply within the safety limits.
//
// - A commit that is invalid, or whose plan is refused, is reported and not applied; the
//   last good commit stays enforced (drift passes keep using it).
// - A customer that fails is retried with exponential backoff (2 s doubling, at most
//   5 min) in passes of its own while the others converge; a pass that cannot run at all
//   (git or the gateway unreachable) is retried the same way (1 s doubling, at most 30 s).
// - Drift passes (`drift_interval`) re-plan the last good commit: what they find was
//   changed on the gateway by hand, and is put back or only reported.
// - Requests (poll, webhook, drift, retry) are queued on an Asio work queue served by
//   one thread; requests arriving while one is queued merge into it.
// - Applies hold the partner's lease, so two loops, or a loop and a CI apply, never write
//   at once.
// - Stop() lets the customers being written finish, starts no others, and ends Run().
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "directory_schedule.h"
#include "gwctl/apply.h"
#include "gwctl/reconcile.h"
#include "loop_log.h"
#include "loop_metrics.h"
#include "pass_settings.h"

namespace gwctl {

enum class DriftMode { kCorrect, kReport };

struct LoopStatus;

struct LoopOptions {
  PassSettings pass;  // where the manifests and the gateway are
  DriftMode drift = DriftMode::kCorrect;
  int parallelism = 8;
  std::string lease_holder;
  int lease_wait_seconds = 10;
  // The time every backoff is measured by (tests give one they move by hand).
  std::function<std::chrono::system_clock::time_point()> now = std::chrono::system_clock::now;
  // Called with the status after every pass, on the loop's thread (alerts, loop_alerts.h).
  std::function<void(const LoopStatus&)> after_pass;
};

struct CustomerStatus {
  std::string state = "pending";  // in-sync | failed | drifted | conflict | pending
  std::string applied_commit;     // the commit it last matched
  std::string last_error;
  int failures = 0;  // in a row
  std::optional<std::chrono::system_clock::time_point> next_retry;
  // Its domains waiting for their TXT record (no mail taken for them), as the last pass saw.
  std::vector<std::string> pending_domains;
};

struct LoopStatus {
  std::string branch_commit;    // the newest commit seen on the branch
  std::string applied_commit;   // the last good commit, enforced
  std::string rejected_commit;  // the newest commit not applied (invalid or refused), if any
  std::string rejected_reason;
  std::string last_result;  // of the last pass
  std::string last_error;
  std::optional<std::chrono::system_clock::time_point> last_pass_at;
  double last_pass_seconds = 0;
  uint64_t passes = 0;
  bool ready = false;  // a pass has succeeded
  std::map<std::string, CustomerStatus> customers;
  std::vector<DirectorySourceStatus> directory_sources;
};

// Which customers /status lists; empty members select everything.
struct StatusFilter {
  std::set<std::string> states;  // e.g. {"failed", "conflict"}
  std::string customer;          // one customer by name
  bool Selects(const std::string& name, const CustomerStatus& customer_status) const;
};
inline const std::set<std::string> kCustomerStates = {"in-sync", "failed", "drifted", "conflict",
                                                      "pending"};

// The loop's status as /status serves it: `customerStates` counts every customer by
// state; `customers` lists those `filter` selects, by name.
nlohmann::json StatusToJson(const LoopStatus& status, const StatusFilter& filter = {});

class ReconcileLoop {
 public:
  enum Reason : unsigned { kSync = 1, kDrift = 2, kRetry = 4 };

  ReconcileLoop(LoopOptions options, LoopLog& log, LoopMetrics& metrics);
  ~ReconcileLoop();

  // Thread-safe. Merges with a request already queued.
  void Request(Reason reason);
  // Thread-safe: the gateway client is made again (token and URL re-read) before the next pass.
  void Reconnect();
  LoopStatus Status() const;  // a copy, per customer: for /status and the page
  bool Ready() const;

  // Serves requests on the calling thread until Stop().
  void Run();
  void Stop();

  // Runs the requests queued so far on the calling thread, as Run() would (tests drive
  // the loop this way, with their own clock, instead of Run()).
  void RunPending();
  // When the loop means to try again by itself: a pass that could not run, or the first
  // failed customer's retry. Empty when nothing waits.
  std::optional<std::chrono::system_clock::time_point> NextRetry() const;

 private:
  void RunQueued();
  void RunPass(unsigned reasons);
  std::string Enforce(const std::string& commit, OpenedSource* opened, unsigned reasons,
                      const std::set<std::string>& only, bool is_new);
  // Takes the customers' standing from a pass over `commit`; failed customers wait at
  // least `requeue_after`.
  // The directory sources a pass read: their schedule, /status, /metrics, and a log line
  // for each that failed.
  void RecordDirectories(const DesiredState& desired);
  void RecordCustomers(const std::vector<CustomerResult>& customers, const std::string& commit,
                       std::chrono::milliseconds requeue_after);
  void ScheduleRetries();
  // Schedules the whole pass again with backoff; the reason is in status_.last_error.
  void PassFailed(const std::string& result);

  LoopOptions options_;
  LoopLog& log_;
  LoopMetrics& metrics_;
  boost::asio::io_context work_;
  boost::asio::steady_timer retry_timer_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reconnect_{false};
  std::unique_ptr<gw::GatewayClient> gateway_;  // kept from pass to pass
  int pass_failures_ = 0;                       // passes in a row that could not run
  std::optional<std::chrono::system_clock::time_point> pass_retry_at_;

  mutable std::mutex mutex_;  // guards what follows
  unsigned queued_ = 0;
  bool posted_ = false;
  LoopStatus status_;
  DirectorySchedule directories_;
};

}  // namespace gwctl
