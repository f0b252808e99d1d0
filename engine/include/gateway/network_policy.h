// Which addresses gatewayd reaches on a partner's behalf: customers' destinations, and
// the continuity probe that connects to them. A partner writes those addresses, so
// without a rule a partner could aim the gateway at the operator's own network (mail
// delivered to, and probes of, internal hosts). Internal addresses are loopback,
// private (RFC 1918, fc00::/7), carrier-grade NAT, link-local, unspecified, multicast
// and reserved blocks; they are refused unless the operator allows a network that holds
// them (gatewayd --allow-destination-network).
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>
#include <vector>

#include "gateway/ip_range.h"
#include "gateway/status.h"

namespace gw {

bool IsInternalAddress(const IpRange& address);

// 127.0.0.1/32 and ::1/128: where this host's own processes connect from.
std::vector<IpRange> HostLoopbackAddresses();

struct DestinationNetworks {
  std::vector<IpRange> allowed;  // internal networks the operator allows

  // OK for a public address or one inside `allowed`; kPermissionDenied naming the
  // address otherwise.
  Status Check(const IpRange& address) const;
  // The same for a socket address (as getaddrinfo gives it).
  Status Check(const sockaddr* address) const;
};

}  // namespace gw
