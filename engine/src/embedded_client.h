#pragma once

#include <memory>
#include <string>

#include "gateway/client.h"
#include "gateway/service.h"

namespace gw {

Result<std::unique_ptr<GatewayClient>> OpenEmbeddedClient(const std::string& path);
Result<std::unique_ptr<GatewayClient>> OpenHttpClient(const std::string& url,
                                                      const ClientOptions& options);

}  // namespace gw
