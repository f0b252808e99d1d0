// What live DNS says about the manifests' domains against what the gateway needs, as
// plan warnings (never refusals: DNS is the customer's to change, often after the
// apply): an MX that does not point at the gateway, a domain that does not resolve, an
// SPF policy without the gateway's include for a customer relaying outbound mail, and a
// check DNS did not answer (said as such, never as a missing record).
#pragma once

#include <string>
#include <vector>

#include "gateway/dns_resolver.h"
#include "gateway/model.h"
#include "gwctl/manifests.h"

namespace gwctl {

struct DomainOfCustomer {
  std::string customer;
  std::string domain;            // normalised
  bool relays_outbound = false;  // the customer sends through the gateway: SPF matters
};

// The domains of the manifests' customers, as validation compiled them (all customers
// when `only` is empty).
std::vector<DomainOfCustomer> DomainsOf(const Manifests& manifests,
                                        const std::vector<std::string>& only);

// One warning per problem found, "acme.example (customer acme): ...", domains in order.
std::vector<std::string> DnsWarnings(gw::DnsResolver& resolver, const gw::GatewayFacts& facts,
                                     const std::vector<DomainOfCustomer>& domains);

}  // namespace gwctl
