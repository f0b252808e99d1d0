// Endpoint: a HOST:PORT a server listens on or a client connects to, as flags write it
// ("127.0.0.1:10025", "[::1]:25", "gw.example:25").
#pragma once

#include <string>
#include <string_view>

#include "gateway/status.h"

namespace gw {

struct Endpoint {
  std::string host;  // without brackets
  int port = 0;      // 0: one the kernel picks (servers only)

  std::string ToString() const;  // brackets an IPv6 host
  // An address of this machine only: 127.0.0.0/8, ::1 or "localhost" (never a name that
  // merely starts like one, such as 127.0.0.1.example).
  bool IsLoopback() const;
  bool operator==(const Endpoint&) const = default;
};

// Parses "HOST:PORT" or "[V6]:PORT"; the error names `flag` and the value.
Result<Endpoint> ParseEndpoint(std::string_view text, std::string_view flag);

}  // namespace gw
