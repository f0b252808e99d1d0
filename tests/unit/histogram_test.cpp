// Histogram: cumulative buckets, +Inf, sum and count in the Prometheus text format.
#include "gateway/histogram.h"

#include <gtest/gtest.h>

namespace gw {
namespace {

TEST(HistogramTest, BucketsAreCumulativeAndInfCountsEverything) {
  Histogram h({0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(7);
  EXPECT_EQ(h.Render("x_seconds", "Time."),
            "# HELP x_seconds Time.\n# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"0.1\"} 1\nx_seconds_bucket{le=\"1\"} 2\n"
            "x_seconds_bucket{le=\"+Inf\"} 3\nx_seconds_sum 7.55\nx_seconds_count 3\n");
}

}  // namespace
}  // namespace gw
