// RetryPolicy: how long to wait before trying again, for every retry in gwctl: a gateway
// call that failed for a reason that may pass, the partner's lease held by another, a
// customer whose apply failed, a loop pass that could not run.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace gwctl {

struct RetryPolicy {
  std::chrono::milliseconds first;  // the wait after the first failure
  std::chrono::milliseconds max;    // waits double up to this
  bool jitter = false;              // spread each wait over [half, whole] (see Delay)
  // The longest a server's own "retry after" is honoured.
  std::chrono::milliseconds max_asked = std::chrono::minutes(1);

  // The wait after `failures` failures in a row (1 or more): first, doubling, at most
  // max; with jitter, `draw` in [0, 1] picks within [half, whole] of it. Never shorter
  // than what the server asked (`asked`, up to max_asked).
  std::chrono::milliseconds Delay(int failures, std::chrono::milliseconds asked = {},
                                  double draw = 1.0) const {
    int doublings = std::clamp(failures - 1, 0, 30);
    auto wait = std::min<std::chrono::milliseconds>(first * (int64_t{1} << doublings), max);
    if (jitter) {
      draw = std::clamp(draw, 0.0, 1.0);
      wait = std::chrono::milliseconds(static_cast<int64_t>(wait.count() * (0.5 + draw / 2)));
    }
    return std::max(wait, std::min(asked, max_asked));
  }
};

// The policies gwctl uses (literals in a scope of their own, not leaked to includers).
namespace retry_policies {
using namespace std::chrono_literals;
// A gateway call that failed with kUnavailable or kInternal (apply.h WithRetries).
inline constexpr RetryPolicy kGatewayCallRetry{200ms, 5s, true};
// The partner's apply lease, held by someone else.
inline constexpr RetryPolicy kLeaseRetry{1s, 1s};
// `gwctl run`: a customer whose apply failed, retried in passes of its own.
inline constexpr RetryPolicy kCustomerRetry{2s, 5min};
// `gwctl run`: a pass that could not run at all (git or the gateway unreachable).
inline constexpr RetryPolicy kPassRetry{1s, 30s};
}  // namespace retry_policies
using retry_policies::kCustomerRetry;
using retry_policies::kGatewayCallRetry;
using retry_policies::kLeaseRetry;
using retry_policies::kPassRetry;

}  // namespace gwctl
