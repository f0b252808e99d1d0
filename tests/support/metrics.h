// Test support: one series of a server's Prometheus /metrics, read over HTTP, so that a
// test can wait for what the server says it did instead of sleeping.
#pragma once

#include <httplib.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace gwtest {

// The value of `series` (a name, with its labels if it has any) at `url`/metrics, or -1
// when the server does not answer or does not have it.
inline double MetricValue(const std::string& url, const std::string& series) {
  auto metrics = httplib::Client(url).Get("/metrics");
  if (!metrics || metrics->status != 200) return -1;
  const std::string line = "\n" + series + " ";
  size_t at = metrics->body.find(line);
  return at == std::string::npos ? -1 : std::stod(metrics->body.substr(at + line.size()));
}

// Polls `series` every 50 ms until `done` says yes to its value, for at most `timeout`.
inline bool WaitForMetric(const std::string& url, const std::string& series,
                          const std::function<bool(double)>& done,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (double value = MetricValue(url, series); value >= 0 && done(value)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace gwtest
