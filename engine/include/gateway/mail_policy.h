// The mail decision: what the gateway does with one recipient of one message, as a pure
// function of a MailDirectory and the envelope. gatewayd's policy server answers Postfix
// from it live; gwctl trace runs it on a repository's desired state, so a change's effect
// on mail can be seen, and tested, before it is applied.
//
// Inbound, in this order (the first that applies decides; Postfix asks in the same
// order: the address first, then the policy):
//   domain not a customer's              -> refused 554 (relay access denied)
//   address not a user                   -> refused 550; probed at the destination instead
//                                           when the customer uses address discovery
//   local part on recipientBlock         -> refused 550, whatever the sender
//   announced size over maxMessageSize   -> refused 552 (DecideSize repeats it at end of data)
//   local part on recipientAllow         -> accepted
//   sender/domain on the user's own allow list -> accepted (personal lists, kept on the
//                                           gateway, come before the customer's)
//   sender/domain on the user's own block list -> refused 550
//   sender/domain/client on the allow list -> accepted (the allow list beats the block list)
//   sender/domain/client on the block list -> refused 550
//   no destination to deliver to         -> deferred 451
//   otherwise                            -> accepted, routed to the destinations
// An address names a user by its address or an alias, also with a +extension, and in an
// alias domain also by the same local part in the primary domain (alias domains mirror
// the primary's users).
// Outbound (a customer's server relaying out): the sender's domain names the customer,
// whose relay must be enabled and list the client's address; outboundBlock refuses
// recipients; a recipient of another customer then meets that customer's inbound rules.
// Domains match themselves and their subdomains; addresses match whole.
//
// Contract: never throws; any text is accepted (malformed addresses are refused, never
// matched loosely). A verdict's `pointer` names the customer setting that decided it, as
// a JSON pointer into the customer's manifest document.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/mail_directory.h"

namespace gw {

struct Envelope {
  std::string sender;  // "" for the null sender (bounces)
  std::string recipient;
  uint64_t size = 0;           // bytes; 0 when not announced
  std::string client_address;  // the sending client's IP address; "" when not known
  // Whether the client's connection is encrypted (STARTTLS); unknown offline (trace).
  std::optional<bool> client_encrypted = std::nullopt;
};

struct Verdict {
  enum class Action {
    kAccept,
    kRefuse,  // permanent: reply is 5xx
    kDefer,   // temporary: reply is 4xx, the sender retries
    kProbe,   // ask the destination whether the address exists (address discovery)
  };
  Action action = Action::kRefuse;
  bool outbound = false;
  std::string reply;    // the SMTP reply for kRefuse and kDefer, e.g. "550 5.7.1 ..."
  std::string rule;     // stable id of what decided, e.g. "block-list"
  std::string reason;   // for a person
  std::string pointer;  // the deciding setting, e.g. "/spec/lists/block/0"; may be empty
  const MailCustomer* customer = nullptr;  // whose settings applied
  std::string user;                        // the recipient's user, when one was found
  std::string route;                       // for kAccept: Postfix's transport answer
  std::string tls;  // Trace: how the route's hops are encrypted, for a person

  bool accepted() const { return action == Action::kAccept; }
};

const char* ActionName(Verdict::Action action);

struct RecipientLookup {
  const MailCustomer* customer = nullptr;  // whose domain the address is in; null: none
  std::string user;                        // the user it names (see above); empty: none
};
RecipientLookup FindRecipient(const MailDirectory& directory, std::string_view address);

// Inbound mail to `envelope.recipient`, as at RCPT TO.
Verdict DecideRecipient(const MailDirectory& directory, const Envelope& envelope);

// Whether an inbound recipient's verdict exempts the message from spam scoring (an allow
// list or recipientAllow decided it); attachment rules still apply. A transaction's
// recipients all share it (the policy service splits them), since the content filter
// scores a message once for all of them.
bool SkipsSpamScoring(const Verdict& verdict);

// Inbound mail of `size` bytes to `customer`, as at the end of DATA.
Verdict DecideSize(const MailCustomer& customer, uint64_t size);

// Outbound mail relayed by a customer's server, as at RCPT TO on the relay listener.
// A customer that requires TLS of its relays (outboundRelay.requireTls) is refused a
// cleartext connection's mail (530), and accepted on the condition of STARTTLS when
// the envelope does not say. A relay from a shared service's ranges (office365, google) is accepted
// only on the condition that the content filter finds the customer's tenant proof in the message;
// without a filter to check it (`tenant_proof_checked` false) it is refused. Mail to
// another customer then meets that customer's inbound rules (DecideRecipient) as well.
Verdict DecideRelay(const MailDirectory& directory, const Envelope& envelope,
                    bool tenant_proof_checked = true);

// The whole decision for a message offline (gwctl trace): outbound when the recipient's
// domain is no customer's or the client is one of the sending customer's relay sources,
// otherwise inbound; the size is checked as at end of data.
Verdict Trace(const MailDirectory& directory, const Envelope& envelope);

}  // namespace gw
