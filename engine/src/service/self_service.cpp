// Service: spam report links that act without a login (digest_links.h signs them).
#include <algorithm>

#include "gateway/domain_name.h"
#include "service/service_impl.h"

namespace gw {

namespace {

using nlohmann::json;

const char* const kLinkKey = "link-key";

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// What a link does now for its recipient, under the customer's current settings; a
// refusal is kFailedPrecondition saying why.
struct Plan {
  std::string action;  // what is done: release | request | allow | block
  bool deliver = false;
  std::string entry_list;  // personal list to put the sender on: allow | block | ""
  std::string effect;      // what confirming will do
  std::string done;        // what was done
};

Result<Plan> PlanLink(const LinkClaim& claim, const SelfService& self,
                      const QuarantinedMessage& message) {
  auto refuse = [](std::string why) { return Status(StatusCode::kFailedPrecondition, why); };
  if (!self.digest_actions)
    return refuse("your organisation has turned off actions from the quarantine report");
  QuarantineRight right = self.RightFor(message.reason);
  const std::string sender = message.sender.empty() ? "<>" : message.sender;
  bool released = Contains(message.released_to, claim.recipient) || !message.released_at.empty();
  Plan plan;
  plan.action = claim.action;
  if (claim.action == "release" || claim.action == "request" || claim.action == "allow") {
    // "Release and allow" on mail released already still allows its sender.
    if (claim.action != "allow" || (right == QuarantineRight::kRelease && !released)) {
      if (released) return refuse("this message was released already");
      if (right == QuarantineRight::kRelease && claim.action != "request") {
        plan.deliver = true;
      } else if (right >= QuarantineRight::kRequest) {
        if (Contains(message.release_requests, claim.recipient))
          return refuse("you asked for this message already");
        plan.action = "request";
      } else {
        return refuse("only your email administrator releases this kind of message");
      }
    }
  } else if (claim.action != "block") {
    return Status::Invalid("this link is not valid");
  }
  if (claim.action == "allow" || claim.action == "block") {
    if (!self.personal_lists) return refuse("your organisation keeps no personal sender lists");
    if (message.sender.empty()) return refuse("this message has no sender to allow or block");
    plan.entry_list = claim.action;
  }
  // What confirming will do, and what was done, for a person.
  std::vector<std::pair<std::string, std::string>> effects;
  if (plan.deliver)
    effects.emplace_back("deliver this message to " + claim.recipient,
                         "The message was delivered to " + claim.recipient + ".");
  if (plan.action == "request")
    effects.emplace_back("ask your email administrator to release this message",
                         "Your email administrator was asked to release the message.");
  if (plan.entry_list == "allow")
    effects.emplace_back("always accept mail from " + sender,
                         "Mail from " + sender + " will always be accepted.");
  if (plan.entry_list == "block")
    effects.emplace_back("refuse mail from " + sender + " from now on",
                         "Mail from " + sender + " will be refused from now on.");
  for (const auto& [effect, done] : effects) {
    plan.effect += (plan.effect.empty() ? "" : ", and ") + effect;
    plan.done += (plan.done.empty() ? "" : " ") + done;
  }
  return plan;
}

// The mail that tells the customer's release desk of a request.
std::string RequestMail(const std::string& from, const std::vector<std::string>& to,
                        const LinkClaim& claim, const QuarantinedMessage& m) {
  auto shown = [](std::string text) {
    std::replace_if(
        text.begin(), text.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
    return text.substr(0, 200);
  };
  std::string list;
  for (const auto& address : to) list += (list.empty() ? "<" : ", <") + address + ">";
  return fmt::format(
      "From: Quarantine <{}>\r\nTo: {}\r\nSubject: Release requested: held message {} for {}\r\n"
      "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
      "{} asks for the release of a message the gateway held ({}):\r\n\r\n"
      "  from:    {}\r\n  subject: {}\r\n  held:    {}\r\n  ref:     {}\r\n\r\n"
      "Release it on the quarantine page, or with: gwctl quarantine release --customer {} {}\r\n",
      from, list, m.id, claim.recipient, claim.recipient, m.reason,
      m.sender.empty() ? "<>" : shown(m.sender), shown(m.subject), m.received_at, m.id,
      claim.customer, m.id);
}

}  // namespace

Result<std::string> Service::Impl::LinkKey() {
  std::lock_guard lock(link_key_mutex);
  if (!link_key.empty()) return link_key;
  auto fresh = RandomHex(32);
  if (!fresh.ok()) return fresh.status();
  auto kept = Write<std::string>([&] { return store->GatewaySecret(kLinkKey, *fresh); });
  if (!kept.ok()) return kept.status();
  link_key = *kept;
  return link_key;
}

Result<std::string> Service::Impl::MakeLink(const ClaimOwner& owner, const std::string& recipient,
                                            int64_t message, const std::string& action) {
  auto key = LinkKey();
  if (!key.ok()) return key.status();
  auto nonce = RandomHex(12);
  if (!nonce.ok()) return nonce.status();
  auto expires = std::chrono::system_clock::now() + options.link_lifetime;
  LinkClaim claim{
      owner.partner,
      owner.customer,
      recipient,
      message,
      action,
      std::chrono::duration_cast<std::chrono::seconds>(expires.time_since_epoch()).count(),
      *nonce};
  std::string base = options.portal_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/q/link?t=" + SignLink(*key, claim);
}

namespace {

// The link's claim, checked, with the message and the customer's settings as they are.
struct Checked {
  LinkClaim claim;
  QuarantinedMessage message;
  std::string raw;  // the message itself
  SelfService self;
  std::vector<std::string> release_requests_to;
};

}  // namespace

Result<LinkView> Service::InspectLink(std::string_view token) {
  auto key = impl_->LinkKey();
  if (!key.ok()) return key.status();
  auto claim = VerifyLink(*key, token, UnixNow());
  if (!claim.ok()) return claim.status();
  return impl_->Read<LinkView>([&]() -> Result<LinkView> {
    auto customer = impl_->store->LoadCustomer(claim->partner, claim->customer);
    if (!customer.ok()) return customer.status();
    auto loaded = impl_->store->LoadQuarantined(claim->partner, claim->customer, claim->message);
    if (!loaded.ok()) return loaded.status();
    if (!*customer || !*loaded || !Contains((*loaded)->first.recipients, claim->recipient))
      return NotFound("the message (held mail is deleted after a while)");
    auto plan = PlanLink(*claim, CompileStored(**customer).config.self_service, (*loaded)->first);
    if (!plan.ok()) return plan.status();
    return LinkView{*claim, std::move((*loaded)->first), plan->effect};
  });
}

Result<std::string> Service::UseLink(std::string_view token) {
  auto key = impl_->LinkKey();
  if (!key.ok()) return key.status();
  auto claim = VerifyLink(*key, token, UnixNow());
  if (!claim.ok()) return claim.status();
  // One release of a message at a time in this process (ReleaseQuarantined's guard).
  {
    std::lock_guard lock(impl_->releasing_mutex);
    if (!impl_->releasing.emplace(claim->partner, claim->message).second)
      return Status(StatusCode::kConflict, "this message is being released; try again shortly");
  }
  struct Done {
    Impl& impl;
    std::pair<std::string, int64_t> key;
    ~Done() {
      std::lock_guard lock(impl.releasing_mutex);
      impl.releasing.erase(key);
    }
  } done{*impl_, {claim->partner, claim->message}};

  const Actor user{claim->recipient, Role::kMailboxUser, claim->partner, claim->customer};
  const std::string expires = FormatRfc3339(
      std::chrono::system_clock::time_point(std::chrono::seconds(claim->expires_unix)));
  // Checked and the link spent in one transaction: a second use finds it spent.
  using Taken = std::pair<Checked, Plan>;
  auto taken = impl_->Write<Taken>([&]() -> Result<Taken> {
    auto customer = impl_->store->LoadCustomer(claim->partner, claim->customer);
    if (!customer.ok()) return customer.status();
    auto loaded = impl_->store->LoadQuarantined(claim->partner, claim->customer, claim->message);
    if (!loaded.ok()) return loaded.status();
    if (!*customer || !*loaded || !Contains((*loaded)->first.recipients, claim->recipient))
      return NotFound("the message (held mail is deleted after a while)");
    CustomerConfig config = CompileStored(**customer).config;
    auto plan = PlanLink(*claim, config.self_service, (*loaded)->first);
    if (!plan.ok()) return plan.status();
    auto fresh = impl_->store->UseLinkNonce(claim->nonce, Now(), expires);
    if (!fresh.ok()) return fresh.status();
    if (!*fresh) return Status(StatusCode::kFailedPrecondition, "this link was used already");
    Checked checked{*claim, std::move((*loaded)->first), std::move((*loaded)->second),
                    config.self_service, config.self_service.release_requests_to};
    return Taken{std::move(checked), std::move(*plan)};
  });
  if (!taken.ok()) return taken.status();
  auto& [checked, plan] = *taken;
  const QuarantinedMessage& m = checked.message;

  // Delivered outside the transaction (it waits on Postfix); on failure the link is
  // given back, so the user may try again.
  Status delivered = Status::Ok();
  if (plan.deliver || (plan.action == "request" && !checked.release_requests_to.empty())) {
    delivered = impl_->CanSendMail("releasing");
    if (delivered.ok() && plan.deliver) {
      delivered = impl_->options.send_mail(
          m.sender, {claim->recipient},
          fmt::format("X-GW-Released: from quarantine ({}, {}) by {}\r\n{}", m.reason,
                      m.received_at, claim->recipient, checked.raw));
    } else if (delivered.ok()) {
      delivered = impl_->options.send_mail(
          impl_->options.report_sender, checked.release_requests_to,
          RequestMail(impl_->options.report_sender, checked.release_requests_to, *claim, m));
    }
  }
  if (!delivered.ok()) {
    impl_->Write<bool>([&]() -> Result<bool> {
      if (Status s = impl_->store->ForgetLinkNonce(claim->nonce); !s.ok()) return s;
      return true;
    });
    return Status(StatusCode::kUnavailable,
                  "the gateway could not do this just now; try the link again later");
  }
  auto recorded = impl_->Write<bool>([&]() -> Result<bool> {
    const std::string at = Now();
    if (plan.deliver || plan.action == "request") {
      const char* action = plan.deliver ? "released" : "requested";
      if (Status s = impl_->store->RecordQuarantineAction(claim->partner, claim->customer, m.id,
                                                          claim->recipient, action, at, user.name);
          !s.ok())
        return s;
      if (Status s = impl_->Audit(user, claim->partner,
                                  plan.deliver ? "quarantine.release" : "quarantine.request",
                                  claim->customer,
                                  json{{"id", m.id},
                                       {"reason", m.reason},
                                       {"recipient", claim->recipient},
                                       {"by", "link"}});
          !s.ok())
        return s;
    }
    return true;
  });
  if (!recorded.ok()) return recorded.status();
  if (!plan.entry_list.empty()) {
    // The list is the user's, whichever of its addresses the mail was sent to.
    auto owner = impl_->Read<std::string>(
        [&] { return impl_->UserNamed(claim->partner, claim->customer, claim->recipient); });
    Status listed = owner.status();
    if (listed.ok()) {
      Actor as_user = user;
      as_user.name = *owner;
      listed = PutPersonalEntry(as_user, claim->partner, claim->customer, *owner, plan.entry_list,
                                m.sender);
    }
    // A sender too risky to allow is said so; what was released stays released.
    if (!listed.ok()) {
      std::string done_first = plan.deliver ? "The message was delivered, but " : "";
      return Status(listed.code(), done_first + listed.message());
    }
  }
  return plan.done;
}

}  // namespace gw
