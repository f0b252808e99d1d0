// LoopMetrics: what `gwctl run` has done, in the Prometheus text exposition format
// (version 0.0.4). Thread-safe: passes record, the status server renders.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "directory_schedule.h"
#include "gateway/histogram.h"

namespace gwctl {

class LoopMetrics {
 public:
  // result: ok | failed | invalid | refused | unchanged
  void PassFinished(const std::string& result, double seconds);
  void ChangesApplied(const std::string& kind, size_t count);  // create | update | ... | users
  void CustomerFailed(size_t count);
  void DriftFound(size_t customers);
  void Webhook(const std::string& result);  // accepted | unsigned | bad-signature
  void SetCommit(const std::string& commit);
  void SetReady(bool ready);
  void SetPendingDomains(size_t domains);  // waiting for their TXT record, as last seen
  void SetDirectorySources(std::vector<DirectorySourceStatus> sources);  // as last read

  std::string Render() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t> passes_;
  std::map<std::string, uint64_t> changes_;
  std::map<std::string, uint64_t> webhooks_;
  uint64_t customer_failures_ = 0;
  uint64_t drift_found_ = 0;
  gw::Histogram durations_{{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}};
  std::string commit_;
  bool ready_ = false;
  size_t pending_domains_ = 0;
  std::vector<DirectorySourceStatus> directory_sources_;
};

}  // namespace gwctl
