// Applying a plan: the partner's lease is held throughout; customers are written in
// parallel, each in a safe order (user removals, then the settings document, then new
// and changed users in batches; replacements delete first); deletes come last. Calls
// that fail for a passing reason (unreachable, 5xx, overload) are retried with
// exponential backoff and jitter; a version conflict re-plans that customer from what
// the gateway holds now. Every step is idempotent, so a run cut short at any point is
// finished by the next one.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gateway/client.h"
#include "gwctl/desired_state.h"
#include "gwctl/plan.h"

namespace gwctl {

struct ApplyOptions {
  int parallelism = 8;
  size_t user_batch = 5000;
  std::string lease_holder;        // who we are, in the lease and in conflicts
  int lease_ttl_seconds = 30;      // renewed every third of it while applying
  int lease_wait_seconds = 60;     // how long to wait for another holder's lease
  int max_attempts = 6;            // per gateway call, for passing failures
  bool replan_on_conflict = true;  // false for a saved plan: a changed customer fails instead
  std::function<void(size_t done, size_t total)> progress;
  // Called once when another holder has the lease and we wait for it (the gateway's words).
  std::function<void(const std::string& why)> waiting_for_lease;
  // Once true, customers not yet started are left for the next run (SIGTERM in the loop:
  // the changes in flight finish).
  const std::atomic<bool>* stop = nullptr;
};

struct ApplyReport {
  size_t customers_written = 0;
  size_t customers_deleted = 0;
  size_t users_written = 0;
  size_t users_removed = 0;
  std::map<std::string, std::string> failed;  // customer -> why; the others were still applied
  size_t not_started = 0;  // left because `stop` was set or the gateway stopped answering
  std::chrono::milliseconds retry_after{};  // the longest wait a failure's reply asked for
  bool ok() const { return failed.empty() && not_started == 0; }
};

// Applies the changes of `plan` (conflicts are skipped; they are the caller's to refuse).
// Fails as a whole only when the lease cannot be had. Once a customer fails because the
// gateway is unreachable (retries spent), customers not yet started are not started.
gw::Result<ApplyReport> ApplyPlan(const Plan& plan, const DesiredState& desired,
                                  gw::GatewayClient& gateway, const ApplyOptions& options);

// Runs `call` until it succeeds, fails for a reason retrying cannot fix, or runs out of
// attempts; waits 100 ms * 2^attempt (up to 5 s), with jitter, between tries.
gw::Status WithRetries(int max_attempts, const std::function<gw::Status()>& call);

}  // namespace gwctl
