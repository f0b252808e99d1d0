// Continuity: while a customer's mail servers are down, its users' mail is kept in
// mailboxes they can read (Dovecot, over IMAP and POP) instead of waiting in Postfix's
// queue; once the servers are back, the kept mail is delivered to them.
//
// Who is in it:
// - A customer's mail is kept when its continuity is enabled (which the rules allow only
//   on a product that includes it) and the recipient's user is in its scope: every user
//   (scope: all) or the listed members.
// - A user may log in (read kept mail, send through authenticated submission) when, in
//   addition, they are activated (User::continuity) and have a password set.
//
// ContinuityRouting holds which customers are in continuity now. The monitor
// (continuity_monitor.h) writes it from its probes of the customers' servers; Postfix's
// transport lookups read it and send such a customer's mail to the continuity listener,
// which accepts only users in scope (others wait in the queue) and hands their mail to
// Dovecot over LMTP. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/endpoint.h"
#include "gateway/mail_directory.h"

namespace gw {

// The HELO name with which gatewayd hands kept mail back to Postfix's release listener:
// the policy there routes such mail straight to the customer's own servers (a FILTER
// action), never by a transport answer Postfix may have cached from the outage.
inline constexpr const char* kContinuityRedeliveryHelo = "continuity.gatewayd.invalid";

// Whether mail to `user` (a user's own address) of `customer` is kept in continuity.
bool InContinuityScope(const MailCustomer& customer, const std::string& user);
// Whether `user` may log in to their continuity mailbox (given a password is set).
bool MayUseContinuity(const MailCustomer& customer, const std::string& user);

struct ContinuityEntry {
  std::string partner, customer;
  std::string since;   // RFC 3339
  std::string reason;  // what the last probe of its servers saw
};

class ContinuityRouting {
 public:
  // `listener`: the continuity smtpd (postfix-config's --continuity-smtp).
  explicit ContinuityRouting(Endpoint listener) : listener_(std::move(listener)) {}

  // The transport answer for `customer`'s mail: the continuity listener while it is in
  // continuity, else its own servers.
  std::string TransportOf(const MailCustomer& customer) const;
  bool Active(const std::string& partner, const std::string& customer) const;

  // Returns whether this changed anything. `since` (RFC 3339) defaults to now.
  bool Enter(const std::string& partner, const std::string& customer, std::string reason,
             std::string since = "");
  bool Leave(const std::string& partner, const std::string& customer);
  std::vector<ContinuityEntry> Entries() const;  // sorted by partner, customer

 private:
  Endpoint listener_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, ContinuityEntry> active_;
};

}  // namespace gw
