// The GatewayClient transports, each opened from a URL with its scheme. ConnectGateway
// (client.cpp) picks one from kTransports: a new transport is one more entry there.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "gateway/client.h"

namespace gw {

// `url` still carries its scheme.
Result<std::unique_ptr<GatewayClient>> OpenEmbeddedClient(const std::string& url,
                                                          const ClientOptions& options);
Result<std::unique_ptr<GatewayClient>> OpenHttpClient(const std::string& url,
                                                      const ClientOptions& options);

struct Transport {
  std::string_view scheme;  // the URL's start, e.g. "https://"
  std::string_view form;    // for messages, e.g. "https://HOST:PORT"
  Result<std::unique_ptr<GatewayClient>> (*open)(const std::string& url,
                                                 const ClientOptions& options);
};

inline constexpr Transport kTransports[] = {
    {"http://", "http://HOST:PORT", OpenHttpClient},
    {"https://", "https://HOST:PORT", OpenHttpClient},
    {"embedded:", "embedded:PATH", OpenEmbeddedClient},
};

}  // namespace gw
