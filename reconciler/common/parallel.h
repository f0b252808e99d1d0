// ParallelFor: runs fn(i) for i in [0, count) on up to `max_workers` threads
// (default: the number of cores). fn must be safe to run concurrently for different i.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace gwctl {

template <typename Fn>
void ParallelFor(size_t count, size_t max_workers, Fn fn) {
  size_t workers = std::min<size_t>(max_workers, count);
  if (workers <= 1) {
    for (size_t i = 0; i < count; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < count; i = next++) fn(i);
    });
  }
  for (auto& t : threads) t.join();
}

template <typename Fn>
void ParallelFor(size_t count, Fn fn) {
  ParallelFor(count, std::max(1u, std::thread::hardware_concurrency()), fn);
}

}  // namespace gwctl
