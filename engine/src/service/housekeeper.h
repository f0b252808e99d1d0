// Housekeeper: the service's periodic work on a thread of its own. Every minute, the
// spam reports that are due (when the gateway can send mail; a pass another replica
// runs is left to it); every hour, quarantined mail past its retention forgotten.
//
// Contract: Start runs the first round at once. Stop (or destruction) wakes the thread,
// lets a round in progress finish, and joins it. Failures are logged, never fatal: the
// next round tries again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gateway/service.h"

namespace gw {

struct HousekeeperOptions {
  int quarantine_retention_days = 30;
  bool spam_reports = true;
  std::chrono::milliseconds interval{std::chrono::minutes(1)};
  std::chrono::milliseconds purge_interval{std::chrono::hours(1)};
  std::function<void(const std::string&)> log;  // may be empty
};

class Housekeeper {
 public:
  static std::unique_ptr<Housekeeper> Start(Service& service, HousekeeperOptions options);
  ~Housekeeper();
  void Stop();

  Housekeeper(const Housekeeper&) = delete;
  Housekeeper& operator=(const Housekeeper&) = delete;

 private:
  Housekeeper(Service& service, HousekeeperOptions options);
  void Run();
  void Round(std::chrono::steady_clock::time_point& next_purge);
  void Log(const std::string& message) const;

  Service& service_;
  HousekeeperOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace gw
