#include "gateway/network_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include <fmt/format.h>

namespace gw {

bool IsInternalAddress(const IpRange& address) {
  static const std::vector<IpRange> internal = [] {
    std::vector<IpRange> blocks;
    for (const char* block :
         {"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
          "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/3",
          "::/127", "::ffff:0:0/96", "64:ff9b::/96", "fc00::/7", "fe80::/10", "ff00::/8"}) {
      blocks.push_back(*IpRange::Parse(block));
    }
    return blocks;
  }();
  return std::any_of(internal.begin(), internal.end(),
                     [&](const IpRange& block) { return block.Overlaps(address); });
}

std::vector<IpRange> HostLoopbackAddresses() {
  return {*IpRange::Parse("127.0.0.1/32"), *IpRange::Parse("::1/128")};
}

Status DestinationNetworks::Check(const IpRange& address) const {
  if (!IsInternalAddress(address)) return Status::Ok();
  if (std::any_of(allowed.begin(), allowed.end(),
                  [&](const IpRange& network) { return network.Contains(address); })) {
    return Status::Ok();
  }
  return Status(StatusCode::kPermissionDenied,
                fmt::format("{} is an internal address, which this gateway does not connect to "
                            "for customers",
                            address.ToString()));
}

Status DestinationNetworks::Check(const sockaddr* address) const {
  char text[INET6_ADDRSTRLEN] = "";
  if (address->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text, sizeof text);
  } else if (address->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text,
              sizeof text);
  } else {
    return Status(StatusCode::kPermissionDenied, "not an internet address");
  }
  auto parsed = IpRange::Parse(text);
  if (!parsed.ok()) return Status(StatusCode::kPermissionDenied, parsed.status().message());
  return Check(*parsed);
}

}  // namespace gw
