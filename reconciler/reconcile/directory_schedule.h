// When `gwctl run` reads each directory source. A source is known by its customer, kind
// and settings, so one whose settings change is read at once. After a good read it waits
// its `syncInterval` (default 1h, as the panels sync LDAP hourly); after a failed one,
// five minutes (or its interval, if shorter), so that a broken source is retried without
// hammering a throttled tenant. Between reads its users stay on the gateway as they are.
// Thread-safe: the loop's pass writes, /status and /metrics read.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gwctl/desired_state.h"

namespace gwctl {

struct DirectorySourceStatus {
  std::string customer, kind, name;
  std::optional<std::chrono::system_clock::time_point> last_read, last_success, next_read;
  std::string last_error;             // of the last read; "" when it succeeded
  std::vector<std::string> warnings;  // of the last good read (a credential about to expire)
  size_t users = 0;                   // the last good read's
};

class DirectorySchedule {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  static constexpr std::chrono::minutes kDefaultInterval{60};
  static constexpr std::chrono::minutes kRetryAfterFailure{5};

  // Why `settings` (a source of `customer`) is not read at `now`; nullopt: read it.
  std::optional<std::string> NotDue(const std::string& customer, const std::string& kind,
                                    const nlohmann::json& settings, TimePoint now) const;
  // The sources a pass asked, as its desired state reports them. Sources no longer in the
  // manifests are forgotten.
  void Record(const DesiredState& desired, TimePoint now);
  std::vector<DirectorySourceStatus> Sources() const;

 private:
  struct Entry {
    DirectorySourceStatus status;
    std::chrono::milliseconds interval{kDefaultInterval};
  };
  static std::string Key(const std::string& customer, const std::string& kind,
                         const std::string& settings);

  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

// The sources as /status shows them.
nlohmann::json DirectorySourcesToJson(const std::vector<DirectorySourceStatus>& sources);

}  // namespace gwctl
