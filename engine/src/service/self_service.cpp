// Service: spam report links that act without a login (digest_links.h signs them).
#include <algorithm>

#include "gateway/domain_name.h"
#include "service/service_impl.h"

namespace gw {

namespace {

using nlohmann::json;

const char* const kLinkKey = "link-key";
// Claims that open a session rather than act on a message (message 0).
const char* const kSignIn = "sign-in";              // mailed: opens a user's session, once
const char* const kSession = "session";             // a mailbox user's session cookie
const char* const kAdminSession = "admin-session";  // a customer admin's (panelLogin)

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Until when a link's nonce must be remembered.
std::string ExpiresAt(const LinkClaim& claim) {
  return FormatRfc3339(
      std::chrono::system_clock::time_point(std::chrono::seconds(claim.expires_unix)));
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
  } else if (claim.action == "delete") {
    plan.effect = "remove this message from your list";
    plan.done = "The message was removed from your list.";
    return plan;
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

Result<std::string> Service::Impl::Sign(LinkClaim claim, std::chrono::seconds life) {
  auto key = LinkKey();
  if (!key.ok()) return key.status();
  auto nonce = RandomHex(12);
  if (!nonce.ok()) return nonce.status();
  claim.expires_unix = std::chrono::duration_cast<std::chrono::seconds>(
                           (std::chrono::system_clock::now() + life).time_since_epoch())
                           .count();
  claim.nonce = *nonce;
  return SignLink(*key, claim);
}

std::string Service::Impl::PortalUrl(const std::string& path, const std::string& token) const {
  std::string base = options.portal_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + path + "?t=" + token;
}

Result<std::string> Service::Impl::MakeLink(const ClaimOwner& owner, const std::string& recipient,
                                            int64_t message, const std::string& action) {
  auto token = Sign({owner.partner, owner.customer, recipient, message, action, 0, ""},
                    options.link_lifetime);
  if (!token.ok()) return token.status();
  return PortalUrl("/q/link", *token);
}

Result<LinkClaim> Service::Impl::ActionLink(std::string_view token) {
  auto key = LinkKey();
  if (!key.ok()) return key.status();
  auto claim = VerifyLink(*key, token, UnixNow());
  if (!claim.ok()) return claim.status();
  // The same key signs sessions (message 0): never an action on a message.
  if (claim->action == kSignIn || claim->action == kSession || claim->action == kAdminSession)
    return Status::Invalid("this link is not valid");
  return claim;
}

namespace {

// What a link names, as it is now: the held message (addressed to the link's recipient)
// and its customer's self-service settings.
struct Checked {
  QuarantinedMessage message;
  std::string raw;  // the message itself
  SelfService self;
};

Result<Checked> LinkTarget(Store& store, const LinkClaim& claim) {
  auto customer = store.LoadCustomer(claim.partner, claim.customer);
  if (!customer.ok()) return customer.status();
  auto loaded = store.LoadQuarantined(claim.partner, claim.customer, claim.message);
  if (!loaded.ok()) return loaded.status();
  if (!*customer || !*loaded || !Contains((*loaded)->first.recipients, claim.recipient))
    return NotFound("the message (held mail is deleted after a while)");
  return Checked{std::move((*loaded)->first), std::move((*loaded)->second),
                 CompileStored(**customer).config.self_service};
}

}  // namespace

Result<LinkView> Service::InspectLink(std::string_view token) {
  auto claim = impl_->ActionLink(token);
  if (!claim.ok()) return claim.status();
  return impl_->Read<LinkView>([&]() -> Result<LinkView> {
    auto target = LinkTarget(*impl_->store, *claim);
    if (!target.ok()) return target.status();
    auto plan = PlanLink(*claim, target->self, target->message);
    if (!plan.ok()) return plan.status();
    return LinkView{*claim, std::move(target->message), plan->effect};
  });
}

Result<std::string> Service::UseLink(std::string_view token) {
  auto claim = impl_->ActionLink(token);
  if (!claim.ok()) return claim.status();
  return ActAsRecipient(*claim, /*spend=*/true);
}

Result<std::string> Service::ActAsRecipient(const LinkClaim& claim, bool spend) {
  Impl::ReleaseTurn turn(*impl_, claim.partner, claim.message);
  if (!turn.ok())
    return Status(StatusCode::kConflict, "this message is being released; try again shortly");

  const Actor user{claim.recipient, Role::kMailboxUser, claim.partner, claim.customer};
  // Checked and the link spent in one transaction: a second use finds it spent.
  using Taken = std::pair<Checked, Plan>;
  auto taken = impl_->Write<Taken>([&]() -> Result<Taken> {
    auto target = LinkTarget(*impl_->store, claim);
    if (!target.ok()) return target.status();
    auto plan = PlanLink(claim, target->self, target->message);
    if (!plan.ok()) return plan.status();
    if (spend) {
      auto fresh = impl_->store->UseLinkNonce(claim.nonce, Now(), ExpiresAt(claim));
      if (!fresh.ok()) return fresh.status();
      if (!*fresh) return Status(StatusCode::kFailedPrecondition, "this link was used already");
    }
    return Taken{std::move(*target), std::move(*plan)};
  });
  if (!taken.ok()) return taken.status();
  Checked& checked = taken->first;
  const Plan& plan = taken->second;
  const QuarantinedMessage& m = checked.message;

  // Delivered outside the transaction (it waits on Postfix); on failure the link is
  // given back, so the user may try again.
  Status delivered = Status::Ok();
  if (plan.deliver || (plan.action == "request" && !checked.self.release_requests_to.empty())) {
    delivered = impl_->CanSendMail("releasing");
    if (delivered.ok() && plan.deliver) {
      std::string marked = fmt::format("X-GW-Released: from quarantine ({}, {}) by {}\r\n{}",
                                       m.reason, m.received_at, claim.recipient, checked.raw);
      delivered = ArchiveReleased(claim.partner, m, {claim.recipient}, marked);
      if (delivered.ok()) delivered = impl_->options.send_mail(m.sender, {claim.recipient}, marked);
    } else if (delivered.ok()) {
      delivered = impl_->options.send_mail(
          impl_->options.report_sender, checked.self.release_requests_to,
          RequestMail(impl_->options.report_sender, checked.self.release_requests_to, claim, m));
    }
  }
  if (!delivered.ok()) {
    if (spend) {
      impl_->Write<bool>([&]() -> Result<bool> {
        if (Status s = impl_->store->ForgetLinkNonce(claim.nonce); !s.ok()) return s;
        return true;
      });
    }
    return Status(StatusCode::kUnavailable,
                  "the gateway could not do this just now; try again later");
  }
  auto recorded = impl_->Write<bool>([&]() -> Result<bool> {
    const std::string at = Now();
    if (plan.action == "delete") {
      if (Status s = impl_->store->RecordQuarantineAction(
              claim.partner, claim.customer, m.id, claim.recipient, "deleted", at, user.name);
          !s.ok())
        return s;
    }
    if (plan.deliver || plan.action == "request") {
      const char* action = plan.deliver ? "released" : "requested";
      if (Status s = impl_->store->RecordQuarantineAction(claim.partner, claim.customer, m.id,
                                                          claim.recipient, action, at, user.name);
          !s.ok())
        return s;
      if (Status s = impl_->Audit(user, claim.partner,
                                  plan.deliver ? "quarantine.release" : "quarantine.request",
                                  claim.customer,
                                  json{{"id", m.id},
                                       {"reason", m.reason},
                                       {"recipient", claim.recipient},
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
        [&] { return impl_->UserNamed(claim.partner, claim.customer, claim.recipient); });
    Status listed = owner.status();
    if (listed.ok()) {
      Actor as_user = user;
      as_user.name = *owner;
      listed = PutPersonalEntry(as_user, claim.partner, claim.customer, *owner, plan.entry_list,
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

namespace {

constexpr auto kSignInLife = std::chrono::hours(1);
constexpr auto kSessionLife = std::chrono::hours(8);
constexpr auto kSignInEvery = std::chrono::minutes(10);
constexpr auto kLockout = std::chrono::minutes(15);
constexpr std::ptrdiff_t kMaxFailures = 5;

Status NotSignedIn() {
  return Status(StatusCode::kUnauthenticated, "please sign in again");
}

}  // namespace

Status Service::SendSignInLink(const std::string& address) {
  auto parsed = ParseEmailAddress(address);
  if (!parsed.ok() || impl_->options.portal_url.empty() || !impl_->options.send_mail)
    return Status::Ok();
  std::string named = parsed->ToString();
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(impl_->sign_in_mutex);
    auto last = impl_->sign_in_sent.find(named);
    if (last != impl_->sign_in_sent.end() && now - last->second < kSignInEvery) return Status::Ok();
  }
  struct Found {
    ClaimOwner owner;
    std::string user;
  };
  auto found = impl_->Read<std::optional<Found>>([&]() -> Result<std::optional<Found>> {
    auto owner = impl_->store->DomainOwner(parsed->domain);
    if (!owner.ok()) return owner.status();
    if (!*owner) return std::optional<Found>();
    auto customer = impl_->store->LoadCustomer((*owner)->partner, (*owner)->customer);
    if (!customer.ok()) return customer.status();
    if (!*customer || !CompileStored(**customer).config.self_service.digest_actions)
      return std::optional<Found>();
    auto user = impl_->UserNamed((*owner)->partner, (*owner)->customer, named);
    if (!user.ok()) return std::optional<Found>();
    return std::optional<Found>(Found{**owner, *user});
  });
  if (!found.ok() || !*found) return Status::Ok();  // the same answer, whatever happened
  {
    // Only users are remembered, and only for the interval: the map stays small.
    std::lock_guard lock(impl_->sign_in_mutex);
    std::erase_if(impl_->sign_in_sent,
                  [&](const auto& sent) { return now - sent.second >= kSignInEvery; });
    if (!impl_->sign_in_sent.emplace(named, now).second) return Status::Ok();  // raced
  }
  const Found& f = **found;
  auto token =
      impl_->Sign({f.owner.partner, f.owner.customer, f.user, 0, kSignIn, 0, ""}, kSignInLife);
  if (!token.ok()) return Status::Ok();
  std::string link = impl_->PortalUrl("/q/session", *token);
  const std::string& from = impl_->options.report_sender;
  impl_->options.send_mail(
      from, {f.user},
      fmt::format("From: Quarantine <{}>\r\nTo: <{}>\r\nSubject: Your quarantine sign-in link\r\n"
                  "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
                  "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                  "Someone (we hope you) asked to see the mail the gateway holds for {}.\r\n\r\n"
                  "Sign in within the hour, once: {}\r\n\r\n"
                  "If it was not you, ignore this message: nothing happens without the link.\r\n",
                  from, f.user, f.user, link));
  return Status::Ok();
}

Result<std::string> Service::OpenSession(std::string_view sign_in_token) {
  auto key = impl_->LinkKey();
  if (!key.ok()) return key.status();
  auto claim = VerifyLink(*key, sign_in_token, UnixNow());
  if (!claim.ok()) return claim.status();
  if (claim->action != kSignIn) return Status::Invalid("this link is not valid");
  auto spent = impl_->Write<bool>(
      [&]() { return impl_->store->UseLinkNonce(claim->nonce, Now(), ExpiresAt(*claim)); });
  if (!spent.ok()) return spent.status();
  if (!*spent) return Status(StatusCode::kFailedPrecondition, "this link was used already");
  LinkClaim session = *claim;
  session.action = kSession;
  return impl_->Sign(session, kSessionLife);
}

Result<std::string> Service::OpenAdminSession(const std::string& email,
                                              const std::string& password) {
  auto parsed = ParseEmailAddress(email);
  if (!parsed.ok()) return NotSignedIn();
  std::string named = parsed->ToString();
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(impl_->sign_in_mutex);
    auto failures = impl_->admin_failures.find(named);
    if (failures != impl_->admin_failures.end() &&
        std::count_if(failures->second.begin(), failures->second.end(),
                      [&](auto at) { return now - at <= kLockout; }) >= kMaxFailures)
      return NotSignedIn();
  }
  auto owner = impl_->Read<std::optional<ClaimOwner>>([&]() -> Result<std::optional<ClaimOwner>> {
    auto found = impl_->store->DomainOwner(parsed->domain);
    if (!found.ok() || !*found) return found;
    auto customer = impl_->store->LoadCustomer((*found)->partner, (*found)->customer);
    if (!customer.ok()) return customer.status();
    if (!*customer) return std::optional<ClaimOwner>();
    const json& login = (*customer)->spec.value("panelLogin", json::object());
    auto fingerprint = (*customer)->secret_fingerprints.find("/panelLogin/password");
    if (!login.is_object() || login.value("status", "") != "activated" ||
        AsciiLower(login.value("email", "")) != named ||
        fingerprint == (*customer)->secret_fingerprints.end() ||
        !SecretMatches(fingerprint->second, password))
      return std::optional<ClaimOwner>();
    return found;
  });
  if (!owner.ok()) return owner.status();
  if (!*owner) {
    std::lock_guard lock(impl_->sign_in_mutex);
    // Emails whose failures have all expired are forgotten: guesses cannot grow the map
    // past what one lockout interval holds.
    for (auto it = impl_->admin_failures.begin(); it != impl_->admin_failures.end();) {
      std::erase_if(it->second, [&](auto at) { return now - at > kLockout; });
      it = it->second.empty() ? impl_->admin_failures.erase(it) : std::next(it);
    }
    impl_->admin_failures[named].push_back(now);
    return NotSignedIn();
  }
  return impl_->Sign({(*owner)->partner, (*owner)->customer, named, 0, kAdminSession, 0, ""},
                     kSessionLife);
}

Result<Actor> Service::SessionActor(std::string_view session) {
  auto key = impl_->LinkKey();
  if (!key.ok()) return key.status();
  auto claim = VerifyLink(*key, session, UnixNow());
  if (!claim.ok() || (claim->action != kSession && claim->action != kAdminSession))
    return NotSignedIn();
  if (claim->action == kAdminSession)
    return Actor{"panel:" + claim->recipient, Role::kCustomerAdmin, claim->partner,
                 claim->customer};
  return Actor{claim->recipient, Role::kMailboxUser, claim->partner, claim->customer};
}

namespace {

// What `actor` may do with `m` now (the recipient's address for a user): for a user,
// exactly the actions a link would carry out (PlanLink), each offered by its own name.
std::vector<std::string> ActionsOn(const Actor& actor, const SelfService& self,
                                   const QuarantinedMessage& m, const std::string& recipient) {
  if (actor.role == Role::kCustomerAdmin) {
    if (m.released_at.empty() && self.RightFor(m.reason) >= QuarantineRight::kRequest)
      return {"release"};
    return {};
  }
  std::vector<std::string> actions;
  for (const char* action : {"release", "request", "allow", "block", "delete"}) {
    LinkClaim claim;
    claim.recipient = recipient;
    claim.action = action;
    auto plan = PlanLink(claim, self, m);
    // A request is offered only where a release is not.
    if (plan.ok() && plan->action == action && !(plan->action == "request" && !actions.empty()))
      actions.push_back(action);
  }
  return actions;
}

}  // namespace

std::optional<HeldView> Service::Impl::HeldViewOf(const Actor& actor, const SelfService& self,
                                                  const QuarantinedMessage& m) {
  if (actor.role == Role::kCustomerAdmin) return HeldView{m, "", ActionsOn(actor, self, m, "")};
  if (self.RightFor(m.reason) == QuarantineRight::kNone) return std::nullopt;
  for (const auto& recipient : m.recipients) {
    auto user = UserNamed(actor.partner, actor.customer, recipient);
    if (!user.ok() || *user != actor.name) continue;
    if (Contains(m.removed_by, recipient)) return std::nullopt;
    return HeldView{m, recipient, ActionsOn(actor, self, m, recipient)};
  }
  return std::nullopt;
}

Result<SelfService> Service::Impl::HeldMailOf(const Actor& actor) {
  // A mailbox user reaches this only through its session (SessionActor), its own mail.
  if (actor.role != Role::kMailboxUser) {
    if (Status s = Authorize(actor, Action::kReadQuarantine, actor.partner, actor.customer);
        !s.ok())
      return s;
  }
  auto customer = ExistingCustomer(actor.partner, actor.customer);
  if (!customer.ok()) return customer.status();
  return CompileStored(*customer).config.self_service;
}

Result<std::vector<HeldView>> Service::ListHeld(const Actor& actor) {
  return impl_->Read<std::vector<HeldView>>([&]() -> Result<std::vector<HeldView>> {
    auto self = impl_->HeldMailOf(actor);
    if (!self.ok()) return self.status();
    std::vector<HeldView> held;
    for (int64_t after = 0;;) {
      auto page = impl_->store->ListQuarantined(actor.partner, actor.customer, after, 1000);
      if (!page.ok()) return page.status();
      if (page->empty()) break;
      after = page->back().id;
      for (const auto& m : *page) {
        if (auto view = impl_->HeldViewOf(actor, *self, m)) held.push_back(std::move(*view));
      }
    }
    std::reverse(held.begin(), held.end());
    return held;
  });
}

// One held message as the actor sees it, with the message itself; kNotFound when the
// actor does not see it.
Result<std::pair<HeldView, std::string>> Service::Impl::HeldOne(const Actor& actor, int64_t id) {
  return Read<std::pair<HeldView, std::string>>([&]() -> Result<std::pair<HeldView, std::string>> {
    auto self = HeldMailOf(actor);
    if (!self.ok()) return self.status();
    auto loaded = store->LoadQuarantined(actor.partner, actor.customer, id);
    if (!loaded.ok()) return loaded.status();
    std::optional<HeldView> view;
    if (*loaded) view = HeldViewOf(actor, *self, (*loaded)->first);
    if (!view) return NotFound(fmt::format("held message {}", id));
    return std::make_pair(std::move(*view), std::move((*loaded)->second));
  });
}

Result<std::string> Service::ActOnHeld(const Actor& actor, int64_t id, const std::string& action) {
  auto held = impl_->HeldOne(actor, id);
  if (!held.ok()) return held.status();
  const HeldView& view = held->first;
  if (!Contains(view.actions, action))
    return Status(StatusCode::kPermissionDenied, "you may not do that with this message");
  if (actor.role == Role::kCustomerAdmin) {
    auto released = ReleaseQuarantined(actor, actor.partner, actor.customer, id);
    if (!released.ok()) return released.status();
    return "The message was delivered to " +
           fmt::format("{}", fmt::join(released->recipients, ", ")) + ".";
  }
  LinkClaim claim{actor.partner, actor.customer, view.recipient, id, action, 0, ""};
  return ActAsRecipient(claim, /*spend=*/false);
}

Result<std::string> Service::PreviewHeld(const Actor& actor, int64_t id, size_t limit) {
  auto held = impl_->HeldOne(actor, id);
  if (!held.ok()) return held.status();
  return held->second.substr(0, limit);
}

}  // namespace gw
