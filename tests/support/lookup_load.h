// Benchmark support: load on one of gatewayd's lookup servers (socketmap, policy) from
// several persistent client connections asking as fast as answers come, and its report
// (requests per second and latency percentiles).
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "hostile_clients.h"

namespace gwbench {

struct LoadResult {
  long requests = 0;
  double seconds = 0;
  std::vector<double> latencies_us;
};

// `connections` clients, each on one persistent connection, asking as fast as answers
// come, for `seconds`.
inline LoadResult Load(int port, int connections, double seconds,
                       const std::function<std::string(std::mt19937&)>& request,
                       const std::function<bool(const std::string&)>& complete) {
  std::vector<std::thread> threads;
  std::vector<std::vector<double>> latencies(connections);
  std::atomic<long> total{0};
  auto started = std::chrono::steady_clock::now();
  auto deadline = started + std::chrono::duration<double>(seconds);
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back([&, i] {
      std::mt19937 random(i + 1);
      int fd = gwtest::ConnectLoopback(port);
      if (fd < 0) return;
      std::string reply;
      char buffer[4096];
      while (std::chrono::steady_clock::now() < deadline) {
        std::string ask = request(random);
        auto sent = std::chrono::steady_clock::now();
        if (!gwtest::SendAll(fd, ask)) break;
        reply.clear();
        while (!complete(reply)) {
          ssize_t n = recv(fd, buffer, sizeof buffer, 0);
          if (n <= 0) break;
          reply.append(buffer, static_cast<size_t>(n));
        }
        latencies[i].push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - sent)
                .count());
        ++total;
      }
      close(fd);
    });
  }
  for (auto& t : threads) t.join();
  LoadResult result;
  result.requests = total;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (auto& l : latencies)
    result.latencies_us.insert(result.latencies_us.end(), l.begin(), l.end());
  std::sort(result.latencies_us.begin(), result.latencies_us.end());
  return result;
}

inline void Report(const std::string& label, const LoadResult& r) {
  auto at = [&](double q) {
    return r.latencies_us.empty()
               ? 0.0
               : r.latencies_us[static_cast<size_t>(q * (r.latencies_us.size() - 1))];
  };
  std::printf("%-28s %9.0f lookups/s   p50 %6.0f us   p99 %6.0f us   p99.9 %6.0f us\n",
              label.c_str(), r.requests / r.seconds, at(0.5), at(0.99), at(0.999));
}

}  // namespace gwbench
