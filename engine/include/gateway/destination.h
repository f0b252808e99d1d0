// Destinations: the customer's own mail servers that filtered mail is delivered to,
// tried in order of preference (lowest first).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/status.h"

namespace gw {

struct Destination {
  std::string host;  // normalised: an IP address, or a lowercase A-label hostname
  int port = 25;
  int preference = 0;
};

// Normalises a destination host: IPv4, IPv6 (without brackets), or a hostname
// (international names become A-labels).
Result<std::string> NormalizeHost(std::string_view host);

// The default preference of the entry at `index` when none is written: 10, 20, 30...
// so the written order is the delivery order, as in the vendor panels.
inline int DefaultPreference(size_t index) {
  return static_cast<int>(10 * (index + 1));
}

// Parses the panel shorthand "mail.example.com:25#10;203.0.113.10#20;[2001:db8::25]:2525".
// Port defaults to 25, preference to DefaultPreference(position). The error names the
// offending entry.
Result<std::vector<Destination>> ParseDestinationShorthand(std::string_view text);

}  // namespace gw
