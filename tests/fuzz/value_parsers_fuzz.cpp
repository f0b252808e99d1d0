// The parsers of values written in manifests (sizes, durations, destinations, IP ranges,
// time zones) and of stored secret fingerprints. The first input byte picks the parser; what parses
// must print back to something that parses to the same value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/destination.h"
#include "gateway/ip_range.h"
#include "gateway/model.h"
#include "gateway/network_policy.h"
#include "gateway/quantity.h"
#include "gateway/time_zone.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
      gw::ParseSize(text);
      break;
    case 1:
      gw::ParseDays(text);
      gw::ParseDurationMs(text);
      break;
    case 2:
      if (auto host = gw::NormalizeHost(text); host.ok()) {
        auto again = gw::NormalizeHost(*host);
        if (!again.ok() || *again != *host) __builtin_trap();
      }
      break;
    case 3:
      gw::ParseDestinationShorthand(text);
      break;
    case 4:
      if (auto range = gw::IpRange::Parse(text); range.ok()) {
        auto again = gw::IpRange::Parse(range->ToString());
        if (!again.ok() || !(*again == *range) || !range->Contains(*range)) __builtin_trap();
      }
      break;
    case 5:
      gw::IsKnownTimeZone(text);
      break;
    case 6:
      // A stored fingerprint, however mangled, matches nothing it was not made from.
      if (gw::SecretMatches(std::string(text), "not the secret") &&
          text.find("pbkdf2-sha256$") != 0) {
        __builtin_trap();
      }
      break;
    case 7:
      if (auto range = gw::IpRange::Parse(text); range.ok()) {
        gw::DestinationNetworks none;
        if (gw::IsInternalAddress(*range) == none.Check(*range).ok()) __builtin_trap();
      }
      break;
  }
  return 0;
}
