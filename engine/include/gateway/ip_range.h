// IpRange: an IPv4 or IPv6 address or CIDR block, as outbound relay sources and list
// entries are written ("203.0.113.10", "198.51.100.0/28", "2001:db8::/48").
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>

#include "gateway/status.h"

namespace gw {

class IpRange {
 public:
  // Parses an address (a /32 or /128) or a CIDR block. A block with host bits set is
  // refused with the network address it probably meant.
  static Result<IpRange> Parse(std::string_view text);

  bool is_v6() const { return v6_; }
  int prefix_length() const { return prefix_; }
  // RFC 1918, CGNAT, loopback, link-local and IPv6 unique-local/link-local space.
  bool IsPrivate() const;
  bool Overlaps(const IpRange& other) const;
  bool Contains(const IpRange& other) const;
  std::string ToString() const;

  // Bit `index` (0 = the most significant) of the network address.
  bool bit(int index) const { return (bytes_[index / 8] >> (7 - index % 8)) & 1; }
  // The block of `prefix` bits (at most prefix_length()) that contains this one.
  IpRange Truncated(int prefix) const;
  // The first and last address as fixed-width hex: within a family, comparing them as
  // strings compares the addresses (an index key for stores).
  std::string FirstHex() const;
  std::string LastHex() const;  // canonical form, address without /32 or /128

  friend bool operator<(const IpRange& a, const IpRange& b) {
    return std::tie(a.v6_, a.bytes_, a.prefix_) < std::tie(b.v6_, b.bytes_, b.prefix_);
  }
  friend bool operator==(const IpRange& a, const IpRange& b) = default;

 private:
  bool v6_ = false;
  std::array<uint8_t, 16> bytes_{};
  int prefix_ = 0;
};

}  // namespace gw
