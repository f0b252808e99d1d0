#include "loop_metrics.h"

#include <fmt/format.h>

namespace gwctl {

void LoopMetrics::PassFinished(const std::string& result, double seconds) {
  std::lock_guard lock(mutex_);
  ++passes_[result];
  durations_.Observe(seconds);
}

void LoopMetrics::ChangesApplied(const std::string& kind, size_t count) {
  std::lock_guard lock(mutex_);
  changes_[kind] += count;
}

void LoopMetrics::CustomerFailed(size_t count) {
  std::lock_guard lock(mutex_);
  customer_failures_ += count;
}

void LoopMetrics::DriftFound(size_t customers) {
  std::lock_guard lock(mutex_);
  drift_found_ += customers;
}

void LoopMetrics::Webhook(const std::string& result) {
  std::lock_guard lock(mutex_);
  ++webhooks_[result];
}

void LoopMetrics::SetCommit(const std::string& commit) {
  std::lock_guard lock(mutex_);
  commit_ = commit;
}

void LoopMetrics::SetReady(bool ready) {
  std::lock_guard lock(mutex_);
  ready_ = ready;
}

void LoopMetrics::SetPendingDomains(size_t domains) {
  std::lock_guard lock(mutex_);
  pending_domains_ = domains;
}

std::string LoopMetrics::Render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  auto labelled = [&](const char* name, const char* label,
                      const std::map<std::string, uint64_t>& values) {
    for (const auto& [key, value] : values)
      out += fmt::format("{}{{{}=\"{}\"}} {}\n", name, label, key, value);
  };
  family("gwctl_passes_total", "counter", "Reconcile passes by result.");
  labelled("gwctl_passes_total", "result", passes_);
  family("gwctl_changes_applied_total", "counter", "Changes applied to the gateway by kind.");
  labelled("gwctl_changes_applied_total", "kind", changes_);
  family("gwctl_customer_failures_total", "counter", "Customers whose apply failed.");
  out += fmt::format("gwctl_customer_failures_total {}\n", customer_failures_);
  family("gwctl_drift_found_total", "counter", "Customers found changed on the gateway by hand.");
  out += fmt::format("gwctl_drift_found_total {}\n", drift_found_);
  family("gwctl_webhooks_total", "counter", "Webhook requests by verdict.");
  labelled("gwctl_webhooks_total", "result", webhooks_);
  family("gwctl_applied_commit_info", "gauge", "The commit the gateway was last made to match.");
  if (!commit_.empty())
    out += fmt::format("gwctl_applied_commit_info{{commit=\"{}\"}} 1\n", commit_);
  family("gwctl_ready", "gauge", "1 once a pass has succeeded.");
  out += fmt::format("gwctl_ready {}\n", ready_ ? 1 : 0);
  family("gwctl_domains_pending", "gauge",
         "The manifests' domains the gateway takes no mail for until their TXT record is seen.");
  out += fmt::format("gwctl_domains_pending {}\n", pending_domains_);
  out += durations_.Render("gwctl_pass_duration_seconds", "How long reconcile passes took.");
  return out;
}

}  // namespace gwctl
