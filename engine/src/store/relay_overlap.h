// The relay-source overlap search both stores run, apart from their SQL.
//
// CIDR blocks nest or are apart, so a stored block overlapping `range` either contains it
// (one of its supernets) or starts inside it. Supernets that share a network address are
// one lookup: `exact(first_hex, shortest, longest)` asks for a stored block starting at
// that address with a prefix in [shortest, longest]; then `inside(first_hex, last_hex)`
// asks for one starting within the range. Each returns the claim found, if any.
#pragma once

#include <optional>
#include <string>

#include "gateway/ip_range.h"
#include "gateway/status.h"
#include "gateway/store.h"

namespace gw {

template <typename Exact, typename Inside>
Result<std::optional<RelayClaim>> FindRelayOverlap(const IpRange& range, Exact exact,
                                                   Inside inside) {
  for (int longest = range.prefix_length(); longest >= 0;) {
    std::string first = range.Truncated(longest).FirstHex();
    int shortest = longest;
    while (shortest > 0 && !range.bit(shortest - 1)) --shortest;
    Result<std::optional<RelayClaim>> found = exact(first, shortest, longest);
    if (!found.ok() || *found) return found;
    longest = shortest - 1;
  }
  return inside(range.FirstHex(), range.LastHex());
}

}  // namespace gw
