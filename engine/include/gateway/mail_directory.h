// MailDirectory: what the mail path knows at one moment: the domains the gateway takes
// mail for, every recipient address, and each customer's compiled settings. gatewayd's
// Postfix lookups answer from one; gwctl trace builds one from a repository.
//
// Contract:
// - Immutable once made, so threads share it without locks. A store change makes a new
//   directory (mail_directory_feed.h) that reuses the customers that did not change.
// - Lookups take addresses and domains in any case; callers need not lower-case them.
// - A customer's recipients are its active users' addresses and aliases.
// - A domain names at most one customer (the store's claims guarantee it; given two, the
//   first customer listed keeps it).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "gateway/customer_config.h"
#include "gateway/model.h"

namespace gw {

struct MailCustomer {
  std::string partner;
  std::string name;
  CustomerConfig config;
  // Each recipient address (a user's address or alias) -> that user's address.
  std::unordered_map<std::string, std::string> recipients;
  // Postfix's transport answer for the customer's mail, computed once (TransportOf).
  std::string transport;
  // Users activated for continuity (User::continuity), by address.
  std::unordered_set<std::string> continuity_activated;
  // Users' own allow and block lists (only `allow` and `block` of each are used), by the
  // user's address; empty unless the customer keeps them (selfService.personalLists).
  std::unordered_map<std::string, Lists> personal_lists;
};

// Users' own list entries as MailCustomer::personal_lists holds them.
std::unordered_map<std::string, Lists> PersonalListsOf(std::vector<PersonalListEntry> entries);

// A MailCustomer with its transport answer filled in.
std::shared_ptr<const MailCustomer> MakeMailCustomer(
    std::string partner, std::string name, CustomerConfig config,
    std::unordered_map<std::string, std::string> recipients,
    std::unordered_set<std::string> continuity_activated = {},
    std::unordered_map<std::string, Lists> personal_lists = {});

// A destination as Postfix's transport answers and TLS policy lookups name it:
// "[host]:port", "[ipv6:2001:db8::25]:25".
std::string NextHopOf(const Destination& destination);

// The Postfix transport answer that delivers to `config`'s destinations in preference
// order, one after the other, on the transport of its TLS level (delivery_transports.h):
// "smtp:[mail.example]:25, [203.0.113.10]:25", "smtp-verify:[mail.example]:25". Without
// destinations, a "retry:" answer that keeps the mail queued rather than bouncing it.
std::string TransportOf(const CustomerConfig& config);

class MailDirectory {
 public:
  MailDirectory() = default;
  explicit MailDirectory(std::vector<std::shared_ptr<const MailCustomer>> customers);

  // The customer whose primary or alias domain this is; null when the gateway does not
  // take mail for it.
  const MailCustomer* CustomerFor(std::string_view domain) const;

  // The TLS policy map of the instance's "smtp" transport (opportunistic customers, relayed
  // mail): "dane" for any customer's next hop ("[host]:port", as transport answers name
  // it), so that no map asked after gatewayd's (MTA-STS) decides it; "" for others.
  std::string TlsPolicyFor(std::string_view nexthop) const;

  // The TLS policy map of the verifying transport (tls.delivery: verify): "verify
  // match=NAME:NAME" or "fingerprint match=HEX|HEX"; "" for a next hop no customer verifies.
  // A server two verifying customers share is held to the stricter check (pins over names)
  // and at the same strength to what both accept; when that is nothing, to a name no
  // certificate can carry, so the mail waits rather than one customer weakening another's
  // check. Customers that only require TLS, or not even that, are never held by it: their
  // mail takes another transport (delivery_transports.h).
  std::string VerifiedTlsPolicyFor(std::string_view nexthop) const;

  const std::vector<std::shared_ptr<const MailCustomer>>& customers() const { return customers_; }
  size_t domain_count() const { return by_domain_.size(); }
  size_t recipient_count() const { return recipient_count_; }

 private:
  std::vector<std::shared_ptr<const MailCustomer>> customers_;
  std::unordered_map<std::string, const MailCustomer*> by_domain_;
  // Every customer's next hop, lower case: the verifying customers' policy, or "".
  std::unordered_map<std::string, std::string> hop_tls_;
  size_t recipient_count_ = 0;
};

}  // namespace gw
