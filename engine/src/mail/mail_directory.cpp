#include "gateway/mail_directory.h"

#include <set>

#include <fmt/format.h>

#include "gateway/delivery_transports.h"
#include "gateway/domain_name.h"

namespace gw {

namespace {

// One customer's requirement on one next hop, in increasing strength; `accepted` holds
// the names (kName) or pins (kPinned) of which the certificate must match one.
struct HopTls {
  enum Strength { kNone, kEncrypted, kName, kPinned } strength = kNone;
  std::set<std::string> accepted;
};

HopTls HopTlsOf(const DeliveryTls& tls, const Destination& d) {
  switch (tls.level) {
    case DeliveryTls::Level::kOpportunistic:
      return {};
    case DeliveryTls::Level::kRequired:
      return {HopTls::kEncrypted, {}};
    case DeliveryTls::Level::kVerified:
      if (!tls.fingerprints.empty())
        return {HopTls::kPinned, {tls.fingerprints.begin(), tls.fingerprints.end()}};
      if (!tls.names.empty()) return {HopTls::kName, {tls.names.begin(), tls.names.end()}};
      return {HopTls::kName, {AsciiLower(d.host)}};
  }
  return {};
}

void Tighten(HopTls& held, const HopTls& other) {
  if (other.strength > held.strength) {
    held = other;
  } else if (other.strength == held.strength) {
    std::erase_if(held.accepted, [&](const std::string& a) { return !other.accepted.count(a); });
  }
}

std::string VerifyPolicy(const HopTls& hop) {
  if (hop.accepted.empty()) return "verify match=tls-requirements-disagree.invalid";
  bool pinned = hop.strength == HopTls::kPinned;
  std::string policy = pinned ? "fingerprint match=" : "verify match=";
  bool first = true;
  for (const std::string& accepted : hop.accepted) {
    policy += (first ? "" : pinned ? "|" : ":") + accepted;
    first = false;
  }
  return policy;
}

std::string_view TransportNameOf(DeliveryTls::Level level) {
  switch (level) {
    case DeliveryTls::Level::kOpportunistic:
      return "smtp";
    case DeliveryTls::Level::kRequired:
      return kRequiredTlsTransport;
    case DeliveryTls::Level::kVerified:
      return kVerifiedTlsTransport;
  }
  return "smtp";
}

}  // namespace

// [brackets]: deliver to this host, no MX lookup; Postfix wants IPv6 as [ipv6:...].
std::string NextHopOf(const Destination& d) {
  bool v6 = d.host.find(':') != std::string::npos;
  return fmt::format("[{}{}]:{}", v6 ? "ipv6:" : "", d.host, d.port);
}

std::string TransportOf(const CustomerConfig& config) {
  if (config.destinations.empty()) return "retry:4.3.5 no destination is configured";
  std::string answer = std::string(TransportNameOf(config.delivery_tls.level)) + ":";
  for (size_t i = 0; i < config.destinations.size(); ++i) {
    answer += (i ? ", " : "") + NextHopOf(config.destinations[i]);
  }
  return answer;
}

std::string MailDirectory::TlsPolicyFor(std::string_view nexthop) const {
  // Answered rather than left to the instance's default, so that no policy asked after
  // gatewayd's (MTA-STS) decides a customer's next hop.
  return hop_tls_.count(AsciiLower(nexthop)) ? "dane" : "";
}

std::string MailDirectory::VerifiedTlsPolicyFor(std::string_view nexthop) const {
  auto it = hop_tls_.find(AsciiLower(nexthop));
  return it == hop_tls_.end() ? "" : it->second;
}

std::unordered_map<std::string, Lists> PersonalListsOf(std::vector<PersonalListEntry> entries) {
  std::unordered_map<std::string, Lists> personal;
  for (auto& entry : entries) {
    Lists& lists = personal[entry.address];
    (entry.list == "allow" ? lists.allow : lists.block)
        .push_back({std::move(entry.kind), std::move(entry.value)});
  }
  return personal;
}

std::shared_ptr<const MailCustomer> MakeMailCustomer(
    std::string partner, std::string name, CustomerConfig config,
    std::unordered_map<std::string, std::string> recipients,
    std::unordered_set<std::string> continuity_activated,
    std::unordered_map<std::string, Lists> personal_lists) {
  auto customer = std::make_shared<MailCustomer>();
  customer->partner = std::move(partner);
  customer->name = std::move(name);
  customer->transport = TransportOf(config);
  customer->config = std::move(config);
  customer->recipients = std::move(recipients);
  customer->continuity_activated = std::move(continuity_activated);
  customer->personal_lists = std::move(personal_lists);
  return customer;
}

MailDirectory::MailDirectory(std::vector<std::shared_ptr<const MailCustomer>> customers)
    : customers_(std::move(customers)) {
  std::unordered_map<std::string, HopTls> hops;
  for (const auto& customer : customers_) {
    recipient_count_ += customer->recipients.size();
    for (const Destination& d : customer->config.destinations) {
      HopTls wanted = HopTlsOf(customer->config.delivery_tls, d);
      auto [at, added] = hops.try_emplace(AsciiLower(NextHopOf(d)), wanted);
      if (!added && wanted.strength >= HopTls::kName) Tighten(at->second, wanted);
    }
    for (const auto& domain : customer->config.domains) {
      by_domain_.emplace(domain, customer.get());
    }
  }
  for (const auto& [nexthop, hop] : hops) {
    hop_tls_.emplace(nexthop, hop.strength >= HopTls::kName ? VerifyPolicy(hop) : "");
  }
}

const MailCustomer* MailDirectory::CustomerFor(std::string_view domain) const {
  auto it = by_domain_.find(AsciiLower(domain));
  return it == by_domain_.end() ? nullptr : it->second;
}

}  // namespace gw
