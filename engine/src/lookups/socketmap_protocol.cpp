// The socketmap Postfix and gw-milter ask (postfix_protocols.h).
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

// Longest socketmap request: a map name and an address (at most 254 bytes) fit easily.
constexpr size_t kMaxSocketmapRequest = 4096;

class Socketmap : public Protocol {
 public:
  Socketmap(DirectoryGetter directory, const ContinuityRouting* continuity, ProblemLog log)
      : directory_(std::move(directory)), continuity_(continuity), log_(std::move(log)) {}

  bool Consume(std::string& input, std::string& output) override {
    size_t pos = 0;
    bool open = true;
    while (pos < input.size()) {
      size_t digits = pos;
      while (digits < input.size() && digits - pos < 6 && input[digits] >= '0' &&
             input[digits] <= '9') {
        ++digits;
      }
      if (digits == input.size()) break;  // the length is still arriving
      auto length = ParseNumber(std::string_view(input).substr(pos, digits - pos));
      if (input[digits] != ':' || !length) {
        open = Fail(output, "malformed netstring", input.substr(pos, 40));
        break;
      }
      if (*length > kMaxSocketmapRequest) {
        open = Fail(output, fmt::format("request of {} bytes is too large", *length), "");
        break;
      }
      size_t end = digits + 1 + *length;
      if (end >= input.size()) break;  // the rest is still arriving
      if (input[end] != ',') {
        open = Fail(output, "malformed netstring", input.substr(pos, 40));
        break;
      }
      Reply(output, Answer(std::string_view(input).substr(digits + 1, *length)));
      pos = end + 1;
    }
    return Finish(input, pos, open);
  }

 private:
  static void Reply(std::string& output, const std::string& answer) {
    output += fmt::format("{}:{},", answer.size(), answer);
  }

  bool Fail(std::string& output, const std::string& problem, const std::string& sample) {
    log_(fmt::format("socketmap: {}{}; closing the connection", problem,
                     sample.empty() ? "" : " (" + Quote(sample) + ")"));
    Reply(output, "TEMP " + problem);
    return false;
  }

  std::string Answer(std::string_view request) {
    size_t space = request.find(' ');
    if (space == std::string_view::npos) {
      log_(fmt::format("socketmap: request without a key ({})", Quote(request)));
      return "PERM request without a key";
    }
    std::string_view map = request.substr(0, space);
    std::string_view key = request.substr(space + 1);
    auto directory = directory_();
    if (!directory) return "TEMP the gateway has not loaded its configuration yet";
    if (map == "domains") {
      const MailCustomer* customer = directory->CustomerFor(key);
      return customer ? "OK " + customer->partner + "/" + customer->name : "NOTFOUND ";
    }
    if (map == "recipients") {
      RecipientLookup found = FindRecipient(*directory, key);
      if (!found.customer) return "NOTFOUND ";
      if (!found.user.empty()) return "OK " + found.user;
      // Unknown addresses of a discovering customer go on to the policy, which probes them.
      return found.customer->config.address_discovery ? "OK discovery" : "NOTFOUND ";
    }
    if (map == "transport") {
      const MailCustomer* customer = directory->CustomerFor(DomainOf(key));
      if (!customer) return "NOTFOUND ";
      return "OK " + (continuity_ ? continuity_->TransportOf(*customer) : customer->transport);
    }
    // smtp_tls_policy_maps of the "smtp" and the verifying transports: the next hop's TLS
    // policy; NOTFOUND keeps the default.
    if (map == "tls-policy" || map == "tls-verify") {
      std::string policy =
          map == "tls-policy" ? directory->TlsPolicyFor(key) : directory->VerifiedTlsPolicyFor(key);
      return policy.empty() ? "NOTFOUND " : "OK " + policy;
    }
    if (map == "filter") return FilterAnswer(*directory, key);
    if (map == "relay-filter") return RelayFilterAnswer(*directory, key);
    // The continuity listener's recipients: users whose mail is kept, while their
    // customer is in continuity (others get a 450 there and wait in the queue for their
    // server). Postfix may route by a transport answer it cached from before an outage
    // ended (kept mail handed back to it included): that mail waits too, and its retry
    // finds the customer's servers.
    if (map == "continuity") {
      RecipientLookup found = FindRecipient(*directory, key);
      bool kept = found.customer && !found.user.empty() && continuity_ &&
                  continuity_->Active(found.customer->partner, found.customer->name) &&
                  InContinuityScope(*found.customer, found.user);
      return kept ? "OK " + found.user : "NOTFOUND ";
    }
    // smtpd_sender_login_maps of authenticated submission: the login that may send as
    // this address (its user's, when they may use continuity).
    if (map == "logins") {
      RecipientLookup found = FindRecipient(*directory, key);
      bool may =
          found.customer && !found.user.empty() && MayUseContinuity(*found.customer, found.user);
      return may ? "OK " + found.user : "NOTFOUND ";
    }
    log_(fmt::format("socketmap: unknown map '{}'", Quote(map)));
    return fmt::format(
        "PERM unknown map '{}' (maps: domains, recipients, transport, tls-policy, tls-verify, "
        "filter, "
        "relay-filter, continuity, logins)",
        Quote(map));
  }

  // gw-milter's questions are keyed by FilterLookupKey: recipient, sender and client
  // address, each a netstring, so no address can shift the others.
  static std::optional<Envelope> FilterKey(std::string_view key) {
    std::vector<std::string> words;
    while (words.size() < 3) {
      auto word = TakeNetstring(key);
      if (!word) break;
      words.emplace_back(*word);
    }
    if (words.size() != 3 || !key.empty()) return std::nullopt;
    Envelope envelope;
    envelope.recipient = std::move(words[0]);
    envelope.sender = std::move(words[1]);
    envelope.client_address = std::move(words[2]);
    return envelope;
  }

  // The recipient's customer's filter settings, and whether the allow list exempts this
  // sender from spam scoring, as the policy decided at RCPT.
  static std::optional<FilterProfile> InboundProfile(const MailDirectory& directory,
                                                     const Envelope& envelope) {
    const MailCustomer* customer = directory.CustomerFor(DomainOf(envelope.recipient));
    if (!customer) return std::nullopt;
    FilterProfile profile =
        FilterProfileOf(customer->partner + "/" + customer->name, customer->config);
    Verdict verdict = DecideRecipient(directory, envelope);
    profile.skip_spam = SkipsSpamScoring(verdict);
    return profile;
  }

  static std::string FilterAnswer(const MailDirectory& directory, std::string_view key) {
    auto envelope = FilterKey(key);
    if (!envelope) return "PERM the filter key must be three netstrings: recipient, sender, client";
    auto profile = InboundProfile(directory, *envelope);
    return profile ? "OK " + ToJson(*profile).dump() : "NOTFOUND ";
  }

  // The relay listener's: the sending customer's outbound settings with its tenant proof
  // (never exempt from spam scoring: a customer's own account may be sending spam), and
  // the recipient's customer's inbound ones when the mail stays in the gateway.
  static std::string RelayFilterAnswer(const MailDirectory& directory, std::string_view key) {
    auto envelope = FilterKey(key);
    if (!envelope) {
      return "PERM the relay-filter key must be three netstrings: recipient, sender, client";
    }
    Verdict relayed = DecideRelay(directory, *envelope);
    if (!relayed.outbound || !relayed.customer || relayed.action == Verdict::Action::kRefuse) {
      return "NOTFOUND ";
    }
    const MailCustomer& sending = *relayed.customer;
    RelayFilter filter{
        FilterProfileOf(sending.partner + "/" + sending.name, sending.config, /*outbound=*/true),
        {}};
    filter.sender.proof = TenantProofOf(sending.config);
    filter.recipient = InboundProfile(directory, *envelope);
    return "OK " + ToJson(filter).dump();
  }

  DirectoryGetter directory_;
  const ContinuityRouting* continuity_;
  ProblemLog log_;
};

}  // namespace

std::unique_ptr<Protocol> MakeSocketmap(DirectoryGetter directory,
                                        const ContinuityRouting* continuity, ProblemLog log) {
  return std::make_unique<Socketmap>(std::move(directory), continuity, std::move(log));
}

}  // namespace gw::postfix
