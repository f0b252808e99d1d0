// Quantities written with units in manifests: sizes ("150MiB") and durations in days
// ("90d"), and durations on the command line ("30s"). The schema checks their shape; these turn
// them into numbers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/status.h"

namespace gw {

// Bytes in "150MiB", "1.5GB", "200000B" (B, KB, KiB, MB, MiB, GB, GiB; decimal or binary).
Result<uint64_t> ParseSize(std::string_view text);

// Days in "90d".
Result<int64_t> ParseDays(std::string_view text);

// Milliseconds in "500ms", "30s", "5m", "1h" (a whole number and one unit).
Result<int64_t> ParseDurationMs(std::string_view text);

}  // namespace gw
