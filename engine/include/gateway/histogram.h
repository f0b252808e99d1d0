// Histogram: a Prometheus histogram (cumulative buckets, sum and count) rendered in the
// text exposition format, for gatewayd's and `gwctl run`'s /metrics.
// Not thread-safe: its owner guards it with the lock that guards its other metrics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gw {

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, ascending; +Inf is added.
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);

  // "# HELP", "# TYPE" and every line of `name` (`name`_bucket, _sum, _count).
  std::string Render(const std::string& name, const std::string& help) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bound, cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace gw
