#include "gateway/mail_directory.h"

#include <fmt/format.h>

#include "gateway/domain_name.h"

namespace gw {

namespace {

// [brackets]: deliver to this host, no MX lookup; Postfix wants IPv6 as [ipv6:...].
std::string NextHop(const Destination& d) {
  bool v6 = d.host.find(':') != std::string::npos;
  return fmt::format("[{}{}]:{}", v6 ? "ipv6:" : "", d.host, d.port);
}

}  // namespace

std::string TransportOf(const CustomerConfig& config) {
  if (config.destinations.empty()) return "retry:4.3.5 no destination is configured";
  std::string answer = "smtp:";
  for (size_t i = 0; i < config.destinations.size(); ++i) {
    answer += (i ? ", " : "") + NextHop(config.destinations[i]);
  }
  return answer;
}

std::string MailDirectory::TlsPolicyFor(std::string_view nexthop) const {
  return tls_required_.count(AsciiLower(nexthop)) ? "encrypt" : "";
}

std::shared_ptr<const MailCustomer> MakeMailCustomer(
    std::string partner, std::string name, CustomerConfig config,
    std::unordered_map<std::string, std::string> recipients,
    std::unordered_set<std::string> continuity_activated) {
  auto customer = std::make_shared<MailCustomer>();
  customer->partner = std::move(partner);
  customer->name = std::move(name);
  customer->transport = TransportOf(config);
  customer->config = std::move(config);
  customer->recipients = std::move(recipients);
  customer->continuity_activated = std::move(continuity_activated);
  return customer;
}

MailDirectory::MailDirectory(std::vector<std::shared_ptr<const MailCustomer>> customers)
    : customers_(std::move(customers)) {
  for (const auto& customer : customers_) {
    recipient_count_ += customer->recipients.size();
    // A server two customers share is held to the stricter one's policy.
    if (customer->config.require_delivery_tls) {
      for (const Destination& d : customer->config.destinations) {
        tls_required_.insert(AsciiLower(NextHop(d)));
      }
    }
    for (const auto& domain : customer->config.domains) {
      by_domain_.emplace(domain, customer.get());
    }
  }
}

const MailCustomer* MailDirectory::CustomerFor(std::string_view domain) const {
  auto it = by_domain_.find(AsciiLower(domain));
  return it == by_domain_.end() ? nullptr : it->second;
}

}  // namespace gw
