#include "loop_alerts.h"

#include <map>

#include <fmt/format.h>

namespace gwctl {

void LoopAlerts::Report(const LoopStatus& status) {
  struct Condition {
    bool failing;
    std::string summary, detail;
  };
  std::map<std::string, Condition> now;
  now["sync"] = {!status.last_error.empty(), "gwctl run cannot bring the gateway up to date",
                 status.last_error};
  now["commit"] = {!status.rejected_commit.empty(),
                   fmt::format("commit {} is not applied", status.rejected_commit.substr(0, 12)),
                   status.rejected_reason};
  for (const auto& [name, customer] : status.customers) {
    now["customer/" + name] = {customer.state == "failed" || customer.state == "conflict",
                               fmt::format("customer {} is {}", name, customer.state),
                               customer.last_error};
    now["drift/" + name] = {
        customer.state == "drifted",
        fmt::format("customer {} differs from the repository on the gateway", name),
        "gwctl run --drift report leaves it; apply, or correct the repository"};
  }
  for (const DirectorySourceStatus& source : status.directory_sources) {
    std::string what = fmt::format("{}/{}/{}", source.customer, source.kind, source.name);
    now["source/" + what] = {
        !source.last_error.empty(),
        fmt::format("the {} user source {} of {} fails", source.kind, source.name, source.customer),
        source.last_error + " (its last good users are kept)"};
    std::string warnings;
    for (const auto& warning : source.warnings)
      warnings += (warnings.empty() ? "" : "; ") + warning;
    now["credential/" + what] = {
        !source.warnings.empty(),
        fmt::format("the {} user source {} of {} warns", source.kind, source.name, source.customer),
        warnings};
  }
  // What was failing and is no longer listed (a customer or source removed) has ended.
  for (const std::string& key : seen_) {
    if (!now.count(key)) now[key] = {false, key + " is gone from the repository", ""};
  }
  for (const auto& [key, condition] : now) {
    notifier_.Report(key, condition.failing,
                     condition.failing ? condition.summary : key + " is fine again",
                     condition.detail);
    if (condition.failing) {
      seen_.insert(key);
    } else {
      seen_.erase(key);
    }
  }
}

}  // namespace gwctl
