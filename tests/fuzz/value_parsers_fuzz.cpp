// The parsers of values written in manifests: sizes, durations, destinations, IP ranges
// and time zones. The first input byte picks the parser; what parses must print back to
// something that parses to the same value.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gwctl/destination.h"
#include "gwctl/ip_range.h"
#include "gwctl/quantity.h"
#include "gwctl/time_zone.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0:
      gwctl::ParseSize(text);
      break;
    case 1:
      gwctl::ParseDays(text);
      gwctl::ParseDurationMs(text);
      break;
    case 2:
      if (auto host = gwctl::NormalizeHost(text); host.ok()) {
        auto again = gwctl::NormalizeHost(*host);
        if (!again.ok() || *again != *host) __builtin_trap();
      }
      break;
    case 3:
      gwctl::ParseDestinationShorthand(text);
      break;
    case 4:
      if (auto range = gwctl::IpRange::Parse(text); range.ok()) {
        auto again = gwctl::IpRange::Parse(range->ToString());
        if (!again.ok() || !(*again == *range) || !range->Contains(*range)) __builtin_trap();
      }
      break;
    case 5:
      gwctl::IsKnownTimeZone(text);
      break;
  }
  return 0;
}
