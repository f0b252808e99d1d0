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

void LoopMetrics::SetDirectorySources(std::vector<DirectorySourceStatus> sources) {
  std::lock_guard lock(mutex_);
  directory_sources_ = std::move(sources);
}

namespace {

// A label value as the text format wants it: backslash, quote and newline escaped.
std::string LabelValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return out;
}

}  // namespace

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
  if (!directory_sources_.empty()) {
    family("gwctl_directory_source_up", "gauge",
           "Whether the last read of a directory source succeeded (1) or failed (0).");
    for (const auto& s : directory_sources_) {
      out += fmt::format(
          "gwctl_directory_source_up{{customer=\"{}\",kind=\"{}\",source=\"{}\"}} {}\n",
          LabelValue(s.customer), s.kind, LabelValue(s.name), s.last_error.empty() ? 1 : 0);
    }
    family("gwctl_directory_source_last_success_timestamp_seconds", "gauge",
           "When a directory source was last read without a failure (Unix time).");
    for (const auto& s : directory_sources_) {
      if (!s.last_success) continue;
      out += fmt::format(
          "gwctl_directory_source_last_success_timestamp_seconds{{customer=\"{}\",kind=\"{}\","
          "source=\"{}\"}} {}\n",
          LabelValue(s.customer), s.kind, LabelValue(s.name),
          std::chrono::duration_cast<std::chrono::seconds>(s.last_success->time_since_epoch())
              .count());
    }
  }
  out += durations_.Render("gwctl_pass_duration_seconds", "How long reconcile passes took.");
  return out;
}

}  // namespace gwctl
