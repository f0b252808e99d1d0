// Postfix policy delegation: the customers' rules at RCPT (postfix_protocols.h).
#include "lookups/postfix_protocols.h"

#include <map>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gateway/continuity.h"
#include "gateway/domain_name.h"
#include "gateway/filter_profile.h"
#include "gateway/mail_policy.h"
#include "lookups/framing.h"

namespace gw::postfix {
namespace {

class Policy : public Protocol {
 public:
  Policy(DirectoryGetter directory, ProblemLog log, TlsTally* tally)
      : directory_(std::move(directory)), log_(std::move(log)), tally_(tally) {}

  bool Consume(std::string& input, std::string& output) override {
    size_t pos = 0;
    while (true) {
      size_t end = input.find("\n\n", pos);
      if (end == std::string::npos) {
        if (input.size() - pos > kMaxRequestBytes) {
          log_(fmt::format("policy: request over {} bytes; closing the connection",
                           kMaxRequestBytes));
          output += "action=451 4.3.5 policy request too large\n\n";
          return Finish(input, pos, false);
        }
        break;
      }
      std::map<std::string, std::string, std::less<>> attributes;
      std::string_view block = std::string_view(input).substr(pos, end - pos);
      while (!block.empty()) {
        size_t eol = block.find('\n');
        std::string_view line = block.substr(0, eol);
        block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 1);
        size_t equals = line.find('=');
        if (equals != std::string_view::npos) {
          attributes.insert_or_assign(std::string(line.substr(0, equals)),
                                      std::string(line.substr(equals + 1)));
        }
      }
      output += "action=" + Decide(attributes) + "\n\n";
      pos = end + 2;
    }
    return Finish(input, pos, true);
  }

 private:
  using Attributes = std::map<std::string, std::string, std::less<>>;

  static std::string Get(const Attributes& attributes, std::string_view name) {
    auto it = attributes.find(name);
    return it == attributes.end() ? "" : it->second;
  }

  std::string Incomplete(const std::string& problem) {
    log_("policy: " + problem);
    return "451 4.3.5 incomplete policy request";
  }

  std::string Decide(const Attributes& attributes) {
    if (Get(attributes, "request") != "smtpd_access_policy") {
      return Incomplete("a request without request=smtpd_access_policy");
    }
    std::string state = Get(attributes, "protocol_state");
    if (state.empty()) return Incomplete("a request without protocol_state");
    auto directory = directory_();
    if (!directory) return "451 4.3.0 the gateway has not loaded its configuration yet";
    // Postfix sends encryption_protocol empty for a cleartext connection; a request
    // without it counts as cleartext.
    Envelope envelope{Get(attributes, "sender"), Get(attributes, "recipient"), 0,
                      Get(attributes, "client_address"),
                      !Get(attributes, "encryption_protocol").empty()};
    auto size = ParseNumber(Get(attributes, "size"));
    if (state == "RCPT" || state == "END-OF-MESSAGE") {
      if (!size) return Incomplete(fmt::format("{} without a numeric size", state));
      envelope.size = *size;
    }
    std::string instance = Get(attributes, "instance");
    // postfix-config names the relay listener's context by whether a content filter
    // runs there to check a shared service's tenant proof.
    std::string context = Get(attributes, "policy_context");
    if (context == "release") return ReleaseRoute(*directory, envelope, state, attributes);
    if (context == "outbound" || context == "outbound-unfiltered") {
      if (state != "RCPT") return "DUNNO";
      if (envelope.recipient.empty()) return Incomplete("RCPT without a recipient");
      Verdict verdict = DecideRelay(*directory, envelope, context == "outbound");
      if (!verdict.accepted()) return verdict.reply;
      Tally(verdict, true, envelope);
      return "OK";
    }
    if (state == "RCPT") {
      if (envelope.recipient.empty()) return Incomplete("RCPT without a recipient");
      // Mail to other domains got here only through the relay restrictions, which
      // decided it; "" stands for it in the transaction's record.
      Verdict verdict = DecideRecipient(*directory, envelope);
      std::string owner;
      if (verdict.customer) {
        if (verdict.action != Verdict::Action::kAccept &&
            verdict.action != Verdict::Action::kProbe) {
          return verdict.reply;
        }
        owner = verdict.customer->partner + "/" + verdict.customer->name;
        // The content filter scores a message once: recipients an allow list exempts
        // from scoring travel apart from those it does not.
        if (SkipsSpamScoring(verdict)) owner += " unscored";
      }
      // One customer per transaction, so the end-of-data rules (and the milters') are
      // that customer's; clients send the other recipients again in a new transaction.
      if (instance != instance_) {
        instance_ = instance;
        instance_customer_ = owner;
        instance_domain_ = verdict.customer ? verdict.customer->config.domains.front() : "";
      } else if (owner != instance_customer_) {
        return fmt::format("452 4.5.3 <{}>: send mail for this domain in a separate transaction",
                           envelope.recipient);
      }
      if (!verdict.customer) return "DUNNO";
      Tally(verdict, false, envelope);
      return verdict.action == Verdict::Action::kProbe ? kDiscoveryClass : "DUNNO";
    }
    if (state == "END-OF-MESSAGE") {
      const MailCustomer* customer = nullptr;
      if (!envelope.recipient.empty()) {
        customer = FindRecipient(*directory, envelope.recipient).customer;
        if (!customer) return "DUNNO";  // relayed out
      } else if (!instance.empty() && instance == instance_) {
        if (instance_customer_.empty()) return "DUNNO";  // relayed out
        customer = directory->CustomerFor(instance_domain_);
      }
      if (!customer) return "451 4.3.0 the recipients of this message are not known; try again";
      Verdict verdict = DecideSize(*customer, envelope.size);
      return verdict.accepted() ? "DUNNO" : verdict.reply;
    }
    return "DUNNO";
  }

  // gatewayd's own deliveries: kept continuity mail goes straight to its customer's
  // servers (FILTER overrides the transport, which Postfix may hold from the outage);
  // released and report mail is routed as any other.
  static std::string ReleaseRoute(const MailDirectory& directory, const Envelope& envelope,
                                  const std::string& state, const Attributes& attributes) {
    if (state != "RCPT" || Get(attributes, "helo_name") != kContinuityRedeliveryHelo)
      return "DUNNO";
    const MailCustomer* customer = FindRecipient(directory, envelope.recipient).customer;
    return customer ? "FILTER " + customer->transport : "DUNNO";
  }

  void Tally(const Verdict& verdict, bool relayed, const Envelope& envelope) {
    if (!tally_ || !verdict.customer) return;
    tally_->Count(verdict.customer->partner + "/" + verdict.customer->name, relayed,
                  envelope.client_encrypted.value_or(false));
  }

  DirectoryGetter directory_;
  ProblemLog log_;
  TlsTally* tally_;
  // The transaction in progress on this connection (one smtpd process, one at a time).
  std::string instance_, instance_customer_, instance_domain_;
};

}  // namespace

std::unique_ptr<Protocol> MakePolicy(DirectoryGetter directory, ProblemLog log, TlsTally* tally) {
  return std::make_unique<Policy>(std::move(directory), std::move(log), tally);
}

}  // namespace gw::postfix
