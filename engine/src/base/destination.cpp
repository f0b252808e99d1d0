#include "gateway/destination.h"

#include <charconv>

#include <fmt/format.h>

#include "gateway/domain_name.h"
#include "gateway/ip_range.h"

namespace gw {

Result<std::string> NormalizeHost(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.find('/') == std::string_view::npos) {
    if (auto ip = IpRange::Parse(host); ip.ok()) return ip->ToString();
  }
  if (host.find(':') != std::string_view::npos) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("'{}' is not a valid IPv6 address", host));
  }
  return NormalizeDomain(host);
}

namespace {

bool ParseNumber(std::string_view text, int low, int high, int& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() && out >= low &&
         out <= high;
}

}  // namespace

Result<std::vector<Destination>> ParseDestinationShorthand(std::string_view text) {
  std::vector<Destination> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view entry = text.substr(start, end - start);
    start = end + 1;
    if (entry.empty()) continue;
    auto bad = [&](std::string why) {
      return Status::Invalid(fmt::format("destination '{}': {}", entry, why));
    };
    Destination d;
    d.preference = DefaultPreference(out.size());
    std::string_view rest = entry;
    if (auto hash = rest.rfind('#'); hash != std::string_view::npos) {
      if (!ParseNumber(rest.substr(hash + 1), 0, 65535, d.preference))
        return bad("the preference after '#' must be 0-65535");
      rest = rest.substr(0, hash);
    }
    std::string_view host = rest;
    if (!rest.empty() && rest.front() == '[') {
      auto close = rest.find(']');
      if (close == std::string_view::npos)
        return bad("an IPv6 address opened with '[' is not closed");
      host = rest.substr(0, close + 1);
      std::string_view after = rest.substr(close + 1);
      if (!after.empty()) {
        if (after.front() != ':' || !ParseNumber(after.substr(1), 1, 65535, d.port))
          return bad("the port must be 1-65535");
      }
    } else if (auto colon = rest.find(':'); colon != std::string_view::npos) {
      if (rest.find(':', colon + 1) != std::string_view::npos)
        return bad("write IPv6 addresses in brackets: [2001:db8::1]:25");
      if (!ParseNumber(rest.substr(colon + 1), 1, 65535, d.port))
        return bad("the port must be 1-65535");
      host = rest.substr(0, colon);
    }
    auto normalized = NormalizeHost(host);
    if (!normalized.ok()) return bad(normalized.status().message());
    d.host = std::move(normalized).value();
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace gw
