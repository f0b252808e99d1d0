#include "gateway/client.h"

#include <fmt/format.h>

#include "api/transports.h"

namespace gw {

Result<std::unique_ptr<GatewayClient>> ConnectGateway(const std::string& url,
                                                      const ClientOptions& options) {
  std::string forms;
  for (const Transport& transport : kTransports) {
    if (url.compare(0, transport.scheme.size(), transport.scheme) == 0) {
      return transport.open(url, options);
    }
    forms += fmt::format("{}{}", forms.empty() ? "" : ", ", transport.form);
  }
  return Status(StatusCode::kInvalidArgument,
                fmt::format("gateway '{}' is none of: {}", url, forms));
}

Result<std::vector<User>> ListAllUsers(GatewayClient& gateway, const std::string& partner,
                                       const std::string& customer) {
  std::vector<User> users;
  std::string after;
  do {
    auto page = gateway.ListUsers(partner, customer, after, 10000);
    if (!page.ok()) return page.status();
    for (auto& u : page->users) users.push_back(std::move(u));
    after = page->next_after;
  } while (!after.empty());
  return users;
}

}  // namespace gw
