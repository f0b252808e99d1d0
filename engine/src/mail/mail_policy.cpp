#include "gateway/mail_policy.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gateway/domain_name.h"
#include "gateway/ip_range.h"

namespace gw {
namespace {

struct Address {
  std::string local;  // lower-cased
  std::string base;   // local without its +extension
  std::string domain;
  std::string full() const { return local + "@" + domain; }
};

// Splits at the last '@'; nothing for text that is not local@domain.
std::optional<Address> SplitAddress(std::string_view text) {
  size_t at = text.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == text.size()) return std::nullopt;
  Address address{AsciiLower(text.substr(0, at)), "", AsciiLower(text.substr(at + 1))};
  address.base = address.local.substr(0, address.local.find('+'));
  if (address.base.empty()) address.base = address.local;
  return address;
}

std::string ListPointer(const char* list, size_t index) {
  return fmt::format("/spec/lists/{}/{}", list, index);
}

bool ClientIn(const IpRange& range, const std::optional<IpRange>& client) {
  return client && range.Contains(*client);
}

std::optional<IpRange> ParseClient(const std::string& text) {
  if (text.empty()) return std::nullopt;
  auto range = IpRange::Parse(text);
  if (!range.ok()) return std::nullopt;
  return *range;
}

// The first entry of `list` the sender or client matches.
std::optional<size_t> SenderMatch(const std::vector<ListEntry>& list,
                                  const std::optional<Address>& sender,
                                  const std::optional<IpRange>& client) {
  for (size_t i = 0; i < list.size(); ++i) {
    const ListEntry& entry = list[i];
    bool match = false;
    if (entry.kind == "sender") {
      match = sender && sender->full() == entry.value;
    } else if (entry.kind == "senderDomain") {
      match = sender && IsSameOrSubdomain(sender->domain, entry.value);
    } else if (entry.kind == "ip") {
      auto range = IpRange::Parse(entry.value);
      match = range.ok() && ClientIn(*range, client);
    }
    if (match) return i;
  }
  return std::nullopt;
}

std::optional<size_t> RecipientMatch(const std::vector<ListEntry>& list, const Address& recipient) {
  for (size_t i = 0; i < list.size(); ++i) {
    const ListEntry& entry = list[i];
    if ((entry.kind == "recipient" && recipient.full() == entry.value) ||
        (entry.kind == "recipientDomain" && IsSameOrSubdomain(recipient.domain, entry.value))) {
      return i;
    }
  }
  return std::nullopt;
}

std::optional<size_t> LocalPartIn(const std::vector<std::string>& list, const Address& address) {
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i] == address.local || list[i] == address.base) return i;
  }
  return std::nullopt;
}

Verdict Refuse(std::string reply, std::string rule, std::string reason, std::string pointer = "") {
  Verdict v;
  v.action = reply[0] == '4' ? Verdict::Action::kDefer : Verdict::Action::kRefuse;
  v.reply = std::move(reply);
  v.rule = std::move(rule);
  v.reason = std::move(reason);
  v.pointer = std::move(pointer);
  return v;
}

Verdict Accept(std::string rule, std::string reason, std::string pointer = "") {
  Verdict v;
  v.action = Verdict::Action::kAccept;
  v.rule = std::move(rule);
  v.reason = std::move(reason);
  v.pointer = std::move(pointer);
  return v;
}

// The user an address names: by address or alias, then without its +extension; in an
// alias domain, then as the same local part in the primary domain.
std::string UserOf(const MailCustomer& customer, const Address& address) {
  const auto& recipients = customer.recipients;
  const std::string& primary = customer.config.domains.front();
  for (const std::string& domain : {address.domain, primary}) {
    for (const std::string& local : {address.local, address.base}) {
      if (auto it = recipients.find(local + "@" + domain); it != recipients.end()) {
        return it->second;
      }
    }
    if (domain == primary) break;
  }
  return "";
}

const char* kMaxSizePointer = "/spec/filtering/contentFilter/maxMessageSize";

Verdict SizeVerdict(const MailCustomer& customer, uint64_t size) {
  uint64_t limit = customer.config.max_message_size_bytes;
  if (limit == 0 || size <= limit) return Accept("max-size", "within the size limit");
  const std::string& domain = customer.config.domains.front();
  return Refuse(fmt::format("552 5.3.4 message size {} exceeds the limit of {} ({} bytes)", size,
                            domain, limit),
                "max-size",
                fmt::format("{} bytes is over the customer's limit of {} bytes", size, limit),
                kMaxSizePointer);
}

}  // namespace

bool SkipsSpamScoring(const Verdict& verdict) {
  return verdict.action == Verdict::Action::kAccept &&
         (verdict.rule == "allow-list" || verdict.rule == "recipient-allow" ||
          verdict.rule == "personal-allow");
}

Verdict DecideRecipient(const MailDirectory& directory, const Envelope& envelope) {
  auto recipient = SplitAddress(envelope.recipient);
  const MailCustomer* customer = recipient ? directory.CustomerFor(recipient->domain) : nullptr;
  if (!customer) {
    return Refuse("554 5.7.1 Relay access denied", "unknown-domain",
                  recipient ? fmt::format("{} is not a domain of any customer", recipient->domain)
                            : "the recipient is not an address");
  }
  const Lists& lists = customer->config.lists;
  auto decided = [&](Verdict v) {
    v.customer = customer;
    return v;
  };
  std::string user = UserOf(*customer, *recipient);
  if (user.empty() && !customer->config.address_discovery) {
    return decided(
        Refuse(fmt::format("550 5.1.1 <{}>: user unknown", recipient->full()), "unknown-recipient",
               fmt::format("{} is not an address of any user", recipient->full()), "/spec/users"));
  }
  if (auto i = LocalPartIn(lists.recipient_block, *recipient)) {
    return decided(Refuse(fmt::format("550 5.7.1 <{}>: recipient blocked", recipient->full()),
                          "recipient-block",
                          fmt::format("'{}' is on recipientBlock", lists.recipient_block[*i]),
                          ListPointer("recipientBlock", *i)));
  }
  auto finish = [&](Verdict v) {
    v.customer = customer;
    v.user = user;
    if (v.accepted()) {
      if (user.empty()) {
        v.action = Verdict::Action::kProbe;
        v.rule = "address-discovery";
        v.reason = fmt::format("{} is not a user yet: the destination is asked whether it exists",
                               recipient->full());
        v.pointer = "/spec/users/addressDiscovery";
      }
      v.route = customer->transport;
    }
    return v;
  };
  if (Verdict size = SizeVerdict(*customer, envelope.size); !size.accepted()) return finish(size);
  if (auto i = LocalPartIn(lists.recipient_allow, *recipient)) {
    return finish(Accept("recipient-allow",
                         fmt::format("'{}' is on recipientAllow", lists.recipient_allow[*i]),
                         ListPointer("recipientAllow", *i)));
  }
  auto sender = SplitAddress(envelope.sender);
  auto client = ParseClient(envelope.client_address);
  // The user's own lists come before the customer's: allow, then block.
  if (auto own = customer->personal_lists.find(user); own != customer->personal_lists.end()) {
    if (auto i = SenderMatch(own->second.allow, sender, client)) {
      return finish(Accept("personal-allow", fmt::format("{} is on {}'s own allow list",
                                                         own->second.allow[*i].value, user)));
    }
    if (auto i = SenderMatch(own->second.block, sender, client)) {
      return finish(
          Refuse(fmt::format("550 5.7.1 <{}>: sender blocked by the recipient", recipient->full()),
                 "personal-block",
                 fmt::format("{} is on {}'s own block list", own->second.block[*i].value, user)));
    }
  }
  if (auto i = SenderMatch(lists.allow, sender, client)) {
    return finish(Accept("allow-list",
                         fmt::format("{} is on the allow list", lists.allow[*i].value),
                         ListPointer("allow", *i)));
  }
  if (auto i = SenderMatch(lists.block, sender, client)) {
    const ListEntry& entry = lists.block[*i];
    return finish(
        Refuse(fmt::format("550 5.7.1 {} is blocked by {}",
                           entry.kind == "ip" ? "client " + envelope.client_address : "sender",
                           customer->config.domains.front()),
               "block-list", fmt::format("{} is on the block list", entry.value),
               ListPointer("block", *i)));
  }
  if (customer->config.destinations.empty()) {
    return finish(Refuse("451 4.3.5 no destination is configured for this domain",
                         "destination-missing", "the customer has no destinations",
                         "/spec/destinations"));
  }
  return finish(
      Accept("delivered", "accepted for the customer's destinations", "/spec/destinations"));
}

namespace {

// The customer whose server relays from `client` without a sender address (a bounce).
const MailCustomer* RelayCustomerOfClient(const MailDirectory& directory,
                                          const std::optional<IpRange>& client) {
  for (const auto& customer : directory.customers()) {
    const RelayPolicy& relay = customer->config.relay;
    if (!relay.enabled || !relay.service.empty()) continue;  // shared ranges name no one
    for (const auto& range : relay.sources) {
      if (ClientIn(range, client)) return customer.get();
    }
  }
  return nullptr;
}

}  // namespace

const char* ActionName(Verdict::Action action) {
  switch (action) {
    case Verdict::Action::kAccept:
      return "accept";
    case Verdict::Action::kRefuse:
      return "refuse";
    case Verdict::Action::kDefer:
      return "defer";
    case Verdict::Action::kProbe:
      return "probe";
  }
  return "?";
}

RecipientLookup FindRecipient(const MailDirectory& directory, std::string_view address) {
  auto split = SplitAddress(address);
  if (!split) return {};
  const MailCustomer* customer = directory.CustomerFor(split->domain);
  if (!customer) return {};
  return {customer, UserOf(*customer, *split)};
}

Verdict DecideSize(const MailCustomer& customer, uint64_t size) {
  Verdict v = SizeVerdict(customer, size);
  v.customer = &customer;
  return v;
}

namespace {

bool FromRelaySource(const RelayPolicy& relay, const std::optional<IpRange>& client) {
  return std::any_of(relay.sources.begin(), relay.sources.end(),
                     [&](const IpRange& range) { return ClientIn(range, client); });
}

// What a service relay's mail must show, for a person.
std::string TenantProof(const MailCustomer& customer) {
  const RelayPolicy& relay = customer.config.relay;
  if (relay.service == "office365") {
    return fmt::format("every X-MS-Exchange-CrossTenant-Id header names tenant {}",
                       relay.tenant_id);
  }
  return fmt::format("a valid DKIM signature of {} signs it",
                     fmt::join(customer.config.domains, " or "));
}

}  // namespace

Verdict DecideRelay(const MailDirectory& directory, const Envelope& envelope,
                    bool tenant_proof_checked) {
  auto sender = SplitAddress(envelope.sender);
  auto client = ParseClient(envelope.client_address);
  const MailCustomer* customer =
      sender ? directory.CustomerFor(sender->domain) : RelayCustomerOfClient(directory, client);
  auto outbound = [&](Verdict v) {
    v.outbound = true;
    v.customer = customer;
    return v;
  };
  std::string who = sender ? sender->domain : "the null sender";
  auto denied = [&](std::string rule, std::string reason, std::string pointer) {
    return outbound(Refuse(
        fmt::format("554 5.7.1 relay not permitted for {} from {}", who,
                    envelope.client_address.empty() ? "this client" : envelope.client_address),
        std::move(rule), std::move(reason), std::move(pointer)));
  };
  if (!customer) {
    return denied("relay-unknown-sender",
                  sender ? fmt::format("{} is not a domain of any customer", sender->domain)
                         : "no customer relays from this client",
                  "");
  }
  const RelayPolicy& relay = customer->config.relay;
  if (!relay.enabled) {
    return denied("relay-disabled", "the customer's outbound relay is not enabled",
                  "/spec/outboundRelay");
  }
  std::string sources_pointer =
      relay.service.empty() ? "/spec/outboundRelay/sources" : "/spec/outboundRelay/service";
  if (!FromRelaySource(relay, client)) {
    return denied(
        "relay-source",
        fmt::format("{} is not one of the customer's relay sources",
                    envelope.client_address.empty() ? "the client" : envelope.client_address),
        sources_pointer);
  }
  if (relay.require_tls && envelope.client_encrypted == false) {
    return outbound(Refuse(
        "530 5.7.0 Must issue a STARTTLS command first", "relay-tls-required",
        fmt::format("{} relays in cleartext, and the customer requires STARTTLS",
                    envelope.client_address.empty() ? "the client" : envelope.client_address),
        "/spec/outboundRelay/requireTls"));
  }
  auto recipient = SplitAddress(envelope.recipient);
  if (!recipient) {
    return outbound(Refuse("550 5.1.3 the recipient is not an address", "recipient-invalid",
                           "the recipient is not an address"));
  }
  if (auto i = RecipientMatch(customer->config.lists.outbound_block, *recipient)) {
    return outbound(Refuse(
        fmt::format("550 5.7.1 <{}>: recipient blocked for outbound mail", recipient->full()),
        "outbound-block",
        fmt::format("{} is on outboundBlock", customer->config.lists.outbound_block[*i].value),
        ListPointer("outboundBlock", *i)));
  }
  std::string why = "relayed from one of the customer's sources";
  if (!relay.service.empty()) {
    // The range is every tenant's; only the message itself can show it is this customer's.
    if (!tenant_proof_checked) {
      return denied("relay-tenant-unproven",
                    fmt::format("{} sends for all its tenants, and without the content filter "
                                "nothing checks that the message is this customer's",
                                relay.service),
                    sources_pointer);
    }
    why = fmt::format("relayed from {}'s ranges if {} (the content filter checks)", relay.service,
                      TenantProof(*customer));
  }
  if (relay.require_tls && !envelope.client_encrypted) why += ", over STARTTLS (required)";
  Verdict v = outbound(Accept("outbound-relay", why, sources_pointer));
  const MailCustomer* local = directory.CustomerFor(recipient->domain);
  v.route = local ? local->transport : "smtp: (the recipient domain's MX)";
  if (!local) return v;
  // Mail for another customer of the gateway meets that customer's inbound rules too,
  // exactly as if it came from the internet.
  Verdict inbound = DecideRecipient(directory, envelope);
  if (inbound.action == Verdict::Action::kRefuse || inbound.action == Verdict::Action::kDefer) {
    inbound.reason = fmt::format("relayed by {}/{}, then for {}/{}: {}", customer->partner,
                                 customer->name, local->partner, local->name, inbound.reason);
    return inbound;
  }
  v.reason +=
      fmt::format("; then {}/{}'s inbound rules: {}", local->partner, local->name, inbound.reason);
  return v;
}

namespace {

// How an accepted message's next hops are encrypted, as the instance and the TLS policy
// map decide.
std::string RouteTls(const MailDirectory& directory, const Envelope& envelope) {
  auto recipient = SplitAddress(envelope.recipient);
  const MailCustomer* local = recipient ? directory.CustomerFor(recipient->domain) : nullptr;
  if (!local) {
    return "STARTTLS wherever the recipient's MX offers it; DANE or MTA-STS where its domain "
           "publishes them";
  }
  std::vector<std::string> hops;
  for (const Destination& d : local->config.destinations) {
    std::string hop = NextHopOf(d);
    switch (local->config.delivery_tls.level) {
      case DeliveryTls::Level::kOpportunistic:
        hops.push_back(hop + " STARTTLS where offered (DANE where TLSA is published)");
        break;
      case DeliveryTls::Level::kRequired:
        hops.push_back(hop + " encrypt");
        break;
      case DeliveryTls::Level::kVerified:
        hops.push_back(hop + " " + directory.VerifiedTlsPolicyFor(hop));
        break;
    }
  }
  return fmt::format("{}", fmt::join(hops, "; "));
}

Verdict Decide(const MailDirectory& directory, const Envelope& envelope) {
  // Relayed: to a domain of no customer, or from one of the sending customer's relay
  // sources (then to another customer, whose inbound rules DecideRelay applies too).
  auto recipient = SplitAddress(envelope.recipient);
  auto sender = SplitAddress(envelope.sender);
  const MailCustomer* sending = sender ? directory.CustomerFor(sender->domain) : nullptr;
  if (sending && (!recipient || !directory.CustomerFor(recipient->domain) ||
                  FromRelaySource(sending->config.relay, ParseClient(envelope.client_address)))) {
    return DecideRelay(directory, envelope);
  }
  Verdict v = DecideRecipient(directory, envelope);
  if (v.action == Verdict::Action::kAccept || v.action == Verdict::Action::kProbe) {
    if (Verdict size = DecideSize(*v.customer, envelope.size); !size.accepted()) return size;
  }
  return v;
}

}  // namespace

Verdict Trace(const MailDirectory& directory, const Envelope& envelope) {
  Verdict v = Decide(directory, envelope);
  if (v.accepted()) v.tls = RouteTls(directory, envelope);
  return v;
}

}  // namespace gw
