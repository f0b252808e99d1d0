#include "gateway/endpoint.h"

#include <charconv>

#include <fmt/format.h>

#include "gateway/ip_range.h"

namespace gw {

std::string Endpoint::ToString() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

bool Endpoint::IsLoopback() const {
  if (host == "localhost") return true;
  auto address = IpRange::Parse(host);
  if (!address.ok() || address->prefix_length() != (host.find(':') == std::string::npos ? 32 : 128))
    return false;
  for (const char* loopback : {"127.0.0.0/8", "::1/128"}) {
    if (IpRange::Parse(loopback)->Contains(*address)) return true;
  }
  return false;
}

Result<Endpoint> ParseEndpoint(std::string_view text, std::string_view flag) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("{} {}: expected HOST:PORT", flag, text));
  }
  std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int number = -1;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (error != std::errc() || end != port.data() + port.size() || number < 0 || number > 65535) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("{} {}: the port must be a number from 0 to 65535", flag, text));
  }
  return Endpoint{std::string(host), number};
}

}  // namespace gw
