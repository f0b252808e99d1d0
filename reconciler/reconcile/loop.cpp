#include "loop.h"

#include <malloc.h>

#include <algorithm>
#include <sstream>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <boost/asio/post.hpp>

#include "gwctl/apply.h"
#include "retry.h"

namespace gwctl {

namespace {

using SystemClock = std::chrono::system_clock;

std::string Short(const std::string& commit) {
  return commit.substr(0, 12);
}

// The last lines a failed step wrote, without the trailing newline.
std::string Trimmed(const std::string& text) {
  std::string out = text;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string ReasonNames(unsigned reasons) {
  std::vector<std::string> names;
  if (reasons & ReconcileLoop::kSync) names.push_back("sync");
  if (reasons & ReconcileLoop::kDrift) names.push_back("drift");
  if (reasons & ReconcileLoop::kRetry) names.push_back("retry");
  return fmt::format("{}", fmt::join(names, "+"));
}

}  // namespace

bool StatusFilter::Selects(const std::string& name, const CustomerStatus& customer_status) const {
  return (customer.empty() || customer == name) &&
         (states.empty() || states.count(customer_status.state));
}

nlohmann::json StatusToJson(const LoopStatus& status, const StatusFilter& filter) {
  nlohmann::json customers = nlohmann::json::array();
  nlohmann::json counts = nlohmann::json::object();
  size_t pending_domains = 0;  // of the customers listed
  for (const auto& [name, c] : status.customers) {
    counts[c.state] = counts.value(c.state, 0) + 1;
    if (!filter.Selects(name, c)) continue;
    nlohmann::json entry = {{"name", name},
                            {"state", c.state},
                            {"appliedCommit", c.applied_commit},
                            {"lastError", c.last_error},
                            {"failures", c.failures}};
    entry["nextRetry"] =
        c.next_retry ? nlohmann::json(gw::FormatRfc3339(*c.next_retry)) : nlohmann::json();
    entry["pendingDomains"] = c.pending_domains;
    customers.push_back(std::move(entry));
    pending_domains += c.pending_domains.size();
  }
  return {{"branchCommit", status.branch_commit},
          {"appliedCommit", status.applied_commit},
          {"rejectedCommit", status.rejected_commit},
          {"rejectedReason", status.rejected_reason},
          {"ready", status.ready},
          {"passes", status.passes},
          {"lastPass",
           {{"result", status.last_result},
            {"error", status.last_error},
            {"at", status.last_pass_at ? nlohmann::json(gw::FormatRfc3339(*status.last_pass_at))
                                       : nlohmann::json()},
            {"seconds", status.last_pass_seconds}}},
          {"customerStates", std::move(counts)},
          {"pendingDomains", pending_domains},
          {"customers", std::move(customers)},
          {"directorySources", DirectorySourcesToJson(status.directory_sources)}};
}

ReconcileLoop::ReconcileLoop(LoopOptions options, LoopLog& log, LoopMetrics& metrics)
    : options_(std::move(options)), log_(log), metrics_(metrics), retry_timer_(work_) {}

ReconcileLoop::~ReconcileLoop() = default;

void ReconcileLoop::Request(Reason reason) {
  std::lock_guard lock(mutex_);
  queued_ |= reason;
  if (posted_) return;  // the queued pass will take this reason too
  posted_ = true;
  boost::asio::post(work_, [this] { RunQueued(); });
}

void ReconcileLoop::Reconnect() {
  reconnect_ = true;
}

LoopStatus ReconcileLoop::Status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void ReconcileLoop::Run() {
  auto guard = boost::asio::make_work_guard(work_);
  work_.run();
}

void ReconcileLoop::Stop() {
  stop_ = true;
  boost::asio::post(work_, [this] {
    retry_timer_.cancel();
    work_.stop();
  });
}

void ReconcileLoop::RunPending() {
  RunQueued();
}

void ReconcileLoop::RunQueued() {
  unsigned reasons;
  {
    std::lock_guard lock(mutex_);
    reasons = queued_;
    queued_ = 0;
    posted_ = false;
  }
  if (stop_ || reasons == 0) return;
  // While passes cannot run (gateway or git unreachable), polls, drift ticks and webhooks
  // wait for the backoff; the retry starts over with a full pass anyway. A reload
  // (SIGHUP, perhaps with the fix) tries at once.
  if (pass_retry_at_ && options_.now() < *pass_retry_at_ && !reconnect_) {
    ScheduleRetries();
    return;
  }
  RunPass(reasons);
  // A pass over thousands of customers leaves hundreds of MiB freed but kept by malloc;
  // an idle daemon should give them back.
  malloc_trim(0);
  if (!stop_) ScheduleRetries();
}

bool ReconcileLoop::Ready() const {
  std::lock_guard lock(mutex_);
  return status_.ready;
}

void ReconcileLoop::PassFailed(const std::string& result) {
  ++pass_failures_;
  auto wait = kPassRetry.Delay(pass_failures_);
  pass_retry_at_ = options_.now() + wait;
  std::string error;
  {
    std::lock_guard lock(mutex_);
    error = status_.last_error;
  }
  log_.Error(
      "pass failed",
      {{"result", result}, {"error", error}, {"retry_in_ms", static_cast<int64_t>(wait.count())}});
}

void ReconcileLoop::RunPass(unsigned reasons) {
  auto started = std::chrono::steady_clock::now();
  std::string result;
  auto finish = [&](const std::string& outcome) {
    result = outcome;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    metrics_.PassFinished(result, seconds);
    if (result != "unchanged") {
      log_.Info("pass finished", {{"result", result}, {"seconds", seconds}});
    }
    if (!pass_retry_at_) pass_failures_ = 0;  // the pass ran: the backoff starts over
    {
      std::lock_guard lock(mutex_);
      ++status_.passes;
      status_.last_result = result;
      status_.last_pass_at = options_.now();
      status_.last_pass_seconds = seconds;
      if (result == "ok" || result == "partial" || result == "drift-reported") {
        status_.ready = true;
        status_.last_error.clear();
        metrics_.SetReady(true);
      }
    }
    if (options_.after_pass) options_.after_pass(Status());
  };

  // A pass after one that could not run starts over completely.
  bool recovering = pass_retry_at_.has_value();
  if (recovering) reasons |= kSync;
  pass_retry_at_.reset();

  auto opened = OpenManifestSource(options_.pass);
  if (!opened.ok()) {
    bool refused = opened.status().code() == gw::StatusCode::kPermissionDenied;  // a signature
    {
      std::lock_guard lock(mutex_);
      status_.last_error = (refused ? "refused: " : "") + opened.status().message();
    }
    PassFailed(refused ? "refused" : "failed");
    finish(refused ? "refused" : "failed");
    return;
  }
  std::string branch = opened->commit;  // "" for a plain directory: always re-read
  std::string applied, rejected;
  std::set<std::string> due;
  bool enforced;  // something good is enforced: retries and drift passes go on with it
  {
    std::lock_guard lock(mutex_);
    status_.branch_commit = branch;
    applied = status_.applied_commit;
    // A directory has no commits: once a pass over it worked, it is what is enforced.
    enforced = branch.empty() ? status_.ready : !applied.empty();
    rejected = status_.rejected_commit;
    auto now = options_.now();
    for (const auto& [name, c] : status_.customers) {
      if (c.state == "failed" && c.next_retry && *c.next_retry <= now) due.insert(name);
    }
  }
  bool is_new = branch.empty() || branch != applied;
  bool known_bad = !branch.empty() && branch == rejected;
  // Only retry timers fired: just the customers that are due. Anything else is a full pass.
  bool customer_retry = reasons == kRetry && !recovering;

  if (is_new && !known_bad && !customer_retry) {
    log_.Info("pass started", {{"reason", ReasonNames(reasons)}, {"commit", Short(branch)}});
    auto outcome = Enforce(branch, &*opened, reasons, {}, /*is_new=*/true);
    if (outcome != "invalid" && outcome != "refused") {
      if (outcome == "failed") PassFailed(outcome);
      finish(outcome);
      return;
    }
    // Not applied: the last good commit stays enforced (drift and retries go on with it).
    if (applied.empty() || !(reasons & (kDrift | kRetry))) {
      finish(outcome);
      return;
    }
  }
  if (!enforced || (!(reasons & (kDrift | kRetry)) && !recovering)) {
    finish("unchanged");
    return;
  }
  if (customer_retry && due.empty()) {
    finish("unchanged");
    return;
  }
  log_.Info("pass started", {{"reason", ReasonNames(reasons)},
                             {"commit", Short(applied)},
                             {"customers", customer_retry ? nlohmann::json(due) : "all"}});
  auto outcome = Enforce(applied, nullptr, reasons, customer_retry ? due : std::set<std::string>{},
                         /*is_new=*/false);
  if (outcome == "failed") PassFailed(outcome);
  finish(outcome);
}

// Plans `commit` (read from `opened`, or opened again at that commit) and applies it.
// Returns the pass result: ok | partial | failed | invalid | refused | drift-reported.
std::string ReconcileLoop::Enforce(const std::string& commit, OpenedSource* opened,
                                   unsigned reasons, const std::set<std::string>& only,
                                   bool is_new) {
  PassSettings settings = options_.pass;
  std::string previous;  // the last good commit
  {
    std::lock_guard lock(mutex_);
    previous = status_.applied_commit;
  }
  if (opened) {
    // A new commit: read and plan only what changed since the last good one, as a pull
    // request's plan does (drift passes still cover everything).
    if (opened->git && !previous.empty()) settings.since = previous;
  } else if (!commit.empty()) {
    settings.ref = commit;
  }
  settings.customers.assign(only.begin(), only.end());
  if (reconnect_.exchange(false)) gateway_.reset();
  auto reject = [&](const std::string& result, const std::string& why) {
    log_.Error(
        fmt::format("commit {} is not applied: {}", Short(commit),
                    result == "invalid" ? "the manifests are invalid" : "the plan is refused"),
        {{"commit", Short(commit)}, {"detail", why}});
    std::lock_guard lock(mutex_);
    status_.rejected_commit = commit;
    status_.rejected_reason = why;
    status_.last_error = fmt::format("commit {}: {}", Short(commit), why);
    return result;
  };
  auto failed = [&](const std::string& why) {
    std::lock_guard lock(mutex_);
    status_.last_error = why;
    return std::string("failed");
  };
  OpenedSource source;
  if (opened) {
    source = std::move(*opened);
  } else {
    auto reopened = OpenManifestSource(settings);
    if (!reopened.ok()) return failed(reopened.status().message());
    source = std::move(*reopened);
  }
  std::ostringstream diagnostics;
  ReconcileDeps deps = DepsOf(settings, source, gateway_, diagnostics, /*color=*/false);
  // Drift found on the enforced commit is put back, or in report mode only reported.
  bool report_drift = !is_new && (reasons & kDrift) && options_.drift == DriftMode::kReport;
  if (!report_drift) {
    ApplyOptions apply;
    apply.parallelism = options_.parallelism;
    apply.lease_holder = options_.lease_holder;
    apply.lease_wait_seconds = options_.lease_wait_seconds;
    apply.stop = &stop_;
    deps.apply = apply;
  }
  deps.conflicts_refuse = false;  // a customer in conflict is marked, the others applied
  deps.directory_not_due = [this](const std::string& customer, const std::string& kind,
                                  const nlohmann::json& source_settings) {
    return directories_.NotDue(customer, kind, source_settings, options_.now());
  };
  auto pass = Reconcile(TargetOf(settings), deps);
  if (!pass.ok()) return failed(pass.status().message());
  RecordDirectories(pass->desired);
  if (pass->result == PassResult::kInvalid) {
    std::string why = Trimmed(diagnostics.str());
    return is_new ? reject("invalid", why) : failed(why);
  }
  const PassOutcome& outcome = *pass;
  const Plan& plan = outcome.plan;
  for (const auto& warning : plan.warnings) log_.Warn(warning, {{"commit", Short(commit)}});
  if (outcome.result == PassResult::kRefused) {
    std::string why = fmt::format("{}", fmt::join(plan.refusals, "; "));
    if (is_new) return reject("refused", why);
    std::lock_guard lock(mutex_);
    status_.last_error = why;
    return "refused";
  }
  std::vector<std::string> changed;
  for (const auto& c : plan.changes) {
    if (c.kind != ChangeKind::kConflict) changed.push_back(c.customer);
  }
  if (!is_new && !changed.empty() && (reasons & kDrift)) {
    metrics_.DriftFound(changed.size());
    log_.Warn("drift found",
              {{"customers", changed}, {"action", report_drift ? "report" : "correct"}});
    if (report_drift) {
      std::lock_guard lock(mutex_);
      for (const auto& name : changed) status_.customers[name].state = "drifted";
      return "drift-reported";
    }
  }
  ApplyReport report = outcome.applied.value_or(ApplyReport{});
  if (outcome.applied) {
    for (const char* kind : {"create", "update", "replace", "delete"}) {
      size_t n = 0;
      for (const auto& c : plan.changes) {
        if (ChangeKindName(c.kind) == std::string(kind) && !report.failed.count(c.customer)) ++n;
      }
      if (n) metrics_.ChangesApplied(kind, n);
    }
    metrics_.ChangesApplied("users-written", report.users_written);
    metrics_.ChangesApplied("users-removed", report.users_removed);
    log_.Info("applied", {{"commit", Short(commit)},
                          {"customers_written", report.customers_written},
                          {"customers_deleted", report.customers_deleted},
                          {"users_written", report.users_written},
                          {"users_removed", report.users_removed},
                          {"failed", report.failed.size()}});
  }
  RecordCustomers(outcome.customers, commit, outcome.requeue_after.value_or(kCustomerRetry.first));
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, c] : status_.customers) c.pending_domains.clear();
    for (const auto& claim : plan.pending_domains) {
      auto it = status_.customers.find(claim.customer);
      if (it != status_.customers.end()) it->second.pending_domains.push_back(claim.domain);
    }
    metrics_.SetPendingDomains(plan.pending_domains.size());
    if (is_new) {
      status_.applied_commit = commit;
      status_.rejected_commit.clear();  // the branch has moved past it
      status_.rejected_reason.clear();
      metrics_.SetCommit(commit);
    }
  }
  for (const auto& [customer, why] : report.failed) {
    log_.Error("customer failed", {{"customer", customer}, {"error", why}});
  }
  metrics_.CustomerFailed(report.failed.size());
  return outcome.result == PassResult::kPartial ? "partial" : "ok";
}

void ReconcileLoop::RecordDirectories(const DesiredState& desired) {
  directories_.Record(desired, options_.now());
  for (const DesiredCustomer& customer : desired.customers) {
    for (const UserSourceReport& source : customer.sources) {
      if (source.attempted && source.failed) {
        log_.Warn("directory source failed", {{"customer", customer.name},
                                              {"kind", source.kind},
                                              {"source", source.name},
                                              {"error", source.detail}});
      }
    }
  }
  std::vector<DirectorySourceStatus> sources = directories_.Sources();
  metrics_.SetDirectorySources(sources);
  std::lock_guard lock(mutex_);
  status_.directory_sources = std::move(sources);
}

void ReconcileLoop::RecordCustomers(const std::vector<CustomerResult>& customers,
                                    const std::string& commit,
                                    std::chrono::milliseconds requeue_after) {
  using State = CustomerResult::State;
  auto now = options_.now();
  std::lock_guard lock(mutex_);
  for (const auto& result : customers) {
    if (result.state == State::kDeleted) {
      status_.customers.erase(result.name);
      continue;
    }
    if (result.state == State::kNotStarted || result.state == State::kPending) continue;
    auto& c = status_.customers[result.name];
    c.last_error = result.error;
    if (result.state == State::kConflict) {
      c.state = "conflict";
    } else if (result.state == State::kFailed) {
      c.state = "failed";
      ++c.failures;
      // Backs off from the pass's own wait, which the gateway may have lengthened.
      c.next_retry = now + kCustomerRetry.Delay(c.failures, requeue_after);
    } else {
      c.state = "in-sync";
      c.applied_commit = commit;
      c.failures = 0;
      c.next_retry.reset();
    }
  }
}

std::optional<SystemClock::time_point> ReconcileLoop::NextRetry() const {
  std::optional<SystemClock::time_point> earliest = pass_retry_at_;
  if (earliest) return earliest;  // a failed pass retries every customer with it
  std::lock_guard lock(mutex_);
  for (const auto& [name, c] : status_.customers) {
    if (c.state != "failed" || !c.next_retry) continue;
    if (!earliest || *c.next_retry < *earliest) earliest = c.next_retry;
  }
  return earliest;
}

void ReconcileLoop::ScheduleRetries() {
  auto earliest = NextRetry();
  if (!earliest) return;
  retry_timer_.expires_after(std::max<SystemClock::duration>(*earliest - options_.now(), {}));
  retry_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) Request(kRetry);
  });
}

}  // namespace gwctl
