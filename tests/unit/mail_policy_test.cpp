// The mail decision (gateway/mail_policy.h) on a directory built in memory: each rule,
// its order, and the setting each verdict names.
#include "gateway/mail_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/customer_rules.h"

namespace gw {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::shared_ptr<const MailCustomer> Customer(const std::string& name, json spec,
                                             std::vector<std::string> users) {
  RuleFindings findings;
  json base = {{"product", "ultimate-access"}, {"billableUsers", 3}};
  base.merge_patch(spec);
  auto compiled = CompileCustomer(json{{"spec", base}}, {}, findings);
  EXPECT_FALSE(HasErrors(findings)) << (findings.empty() ? "" : findings[0].message);
  std::unordered_map<std::string, std::string> recipients;
  for (const auto& user : users) {  // "address" or "alias=user"
    size_t equals = user.find('=');
    recipients.emplace(user.substr(0, equals),
                       equals == std::string::npos ? user : user.substr(equals + 1));
  }
  return MakeMailCustomer("northwind", name, compiled.config, std::move(recipients));
}

class MailPolicyTest : public ::testing::Test {
 protected:
  MailPolicyTest()
      : directory_(
            {Customer("acme",
                      {{"domains", {{"primary", "acme.example"}, {"aliases", {"acme.co.uk"}}}},
                       {"destinations",
                        "mx2.acme.example#20;mx1.acme.example#10;[2001:db8::25]:2525#30"},
                       {"outboundRelay", {{"sources", {"203.0.113.10"}}}},
                       {"filtering", {{"contentFilter", {{"maxMessageSize", "1KiB"}}}}},
                       {"lists",
                        {{"allow", {{{"sender", "friend@spam.example"}}, {{"ip", "192.0.2.0/24"}}}},
                         {"block", {{{"senderDomain", "spam.example"}}}},
                         {"outboundBlock", {{{"recipientDomain", "rival.example"}}}},
                         {"recipientAllow", {"postmaster"}},
                         {"recipientBlock", {"former"}}}}},
                      {"alice@acme.example", "a.smith@acme.example=alice@acme.example",
                       "postmaster@acme.example", "former@acme.example"}),
             Customer("hooli",
                      {{"domains", {{"primary", "hooli.example"}}},
                       {"destinations", "mx.hooli.example"},
                       {"outboundRelay",
                        {{"service", "office365"},
                         {"tenantId", "3f2b8c1e-7d4a-4e6b-9c2d-5a1e8f0b7c3d"}}},
                       {"users", {{"addressDiscovery", true}}}},
                      {"gavin@hooli.example"})}) {}

  Verdict Inbound(const std::string& from, const std::string& to, uint64_t size = 0,
                  const std::string& client = "198.51.100.7") {
    return DecideRecipient(directory_, {from, to, size, client});
  }

  MailDirectory directory_;
};

TEST_F(MailPolicyTest, UsersAreFoundByAddressAliasExtensionAndAliasDomain) {
  for (const char* to : {"alice@acme.example", "ALICE@Acme.Example", "a.smith@acme.example",
                         "alice+news@acme.example", "alice@acme.co.uk", "alice+x@acme.co.uk"}) {
    Verdict v = Inbound("bob@ext.example", to);
    EXPECT_EQ(v.action, Verdict::Action::kAccept) << to << ": " << v.reason;
    EXPECT_EQ(v.user, "alice@acme.example") << to;
  }
  Verdict unknown = Inbound("bob@ext.example", "zed@acme.example");
  EXPECT_EQ(unknown.action, Verdict::Action::kRefuse);
  EXPECT_EQ(unknown.rule, "unknown-recipient");
  EXPECT_THAT(unknown.reply, HasSubstr("550 5.1.1"));
  Verdict foreign = Inbound("bob@ext.example", "x@sub.acme.example");
  EXPECT_EQ(foreign.rule, "unknown-domain");
  EXPECT_EQ(foreign.customer, nullptr);
  EXPECT_EQ(Inbound("bob@ext.example", "not-an-address").rule, "unknown-domain");
}

TEST_F(MailPolicyTest, RulesApplyInTheirOrderAndNameTheSettingThatDecided) {
  Verdict blocked = Inbound("x@spam.example", "alice@acme.example");
  EXPECT_EQ(blocked.rule, "block-list");
  EXPECT_EQ(blocked.pointer, "/spec/lists/block/0");
  EXPECT_EQ(Inbound("x@mail.spam.example", "alice@acme.example").rule, "block-list");
  EXPECT_EQ(Inbound("friend@spam.example", "alice@acme.example").rule, "allow-list");
  Verdict by_ip = Inbound("x@spam.example", "alice@acme.example", 0, "192.0.2.9");
  EXPECT_EQ(by_ip.rule, "allow-list");
  EXPECT_EQ(by_ip.pointer, "/spec/lists/allow/1");
  EXPECT_EQ(Inbound("x@spam.example", "postmaster@acme.example").rule, "recipient-allow");
  // recipientBlock beats the allow list; the size limit beats recipientAllow.
  Verdict former = Inbound("friend@spam.example", "former@acme.example");
  EXPECT_EQ(former.rule, "recipient-block");
  EXPECT_EQ(former.pointer, "/spec/lists/recipientBlock/0");
  EXPECT_EQ(Inbound("bob@ext.example", "former+x@acme.example").rule, "recipient-block");
  Verdict big = Inbound("bob@ext.example", "postmaster@acme.example", 4096);
  EXPECT_EQ(big.rule, "max-size");
  EXPECT_THAT(big.reply, HasSubstr("552 5.3.4"));
  EXPECT_EQ(big.pointer, "/spec/filtering/contentFilter/maxMessageSize");
  EXPECT_TRUE(DecideSize(*directory_.CustomerFor("acme.example"), 1024).accepted());
  EXPECT_FALSE(DecideSize(*directory_.CustomerFor("acme.example"), 1025).accepted());
}

// user allow > user block > customer allow > customer block, each user's lists its own.
TEST(MailPolicyPersonalListsTest, AUsersOwnListsComeBeforeTheCustomersAndReachOnlyThatUser) {
  RuleFindings findings;
  json spec = {{"product", "ultimate-access"},
               {"billableUsers", 3},
               {"domains", {{"primary", "acme.example"}}},
               {"destinations", "mx.acme.example"},
               {"lists",
                {{"allow", {{{"senderDomain", "partner.example"}}}},
                 {"block", {{{"senderDomain", "spam.example"}}}},
                 {"recipientAllow", {"postmaster"}}}}};
  auto compiled = CompileCustomer(json{{"spec", spec}}, {}, findings);
  ASSERT_FALSE(HasErrors(findings));
  std::unordered_map<std::string, Lists> personal;
  personal["alice@acme.example"].allow = {{"sender", "deals@spam.example"}};
  personal["alice@acme.example"].block = {{"senderDomain", "spam.example"},
                                          {"sender", "noisy@partner.example"}};
  personal["postmaster@acme.example"].block = {{"senderDomain", "ext.example"}};
  MailDirectory directory(
      {MakeMailCustomer("northwind", "acme", compiled.config,
                        {{"alice@acme.example", "alice@acme.example"},
                         {"bob@acme.example", "bob@acme.example"},
                         {"postmaster@acme.example", "postmaster@acme.example"}},
                        {}, personal)});
  auto decide = [&](const std::string& from, const std::string& to) {
    return DecideRecipient(directory, {from, to, 0, "198.51.100.7"});
  };
  // Alice's allow beats her own block and the customer's block; it exempts from scoring.
  Verdict allowed = decide("deals@spam.example", "alice+x@acme.example");
  EXPECT_EQ(allowed.rule, "personal-allow") << allowed.reason;
  EXPECT_TRUE(SkipsSpamScoring(allowed));
  EXPECT_THAT(allowed.reason, HasSubstr("alice@acme.example's own allow list"));
  // Her block beats the customer's allow.
  Verdict blocked = decide("noisy@partner.example", "alice@acme.example");
  EXPECT_EQ(blocked.rule, "personal-block");
  EXPECT_EQ(blocked.action, Verdict::Action::kRefuse);
  EXPECT_THAT(blocked.reply, HasSubstr("550 5.7.1"));
  // Bob meets the customer's lists only.
  EXPECT_EQ(decide("deals@spam.example", "bob@acme.example").rule, "block-list");
  Verdict partner = decide("noisy@partner.example", "bob@acme.example");
  EXPECT_EQ(partner.rule, "allow-list");
  EXPECT_TRUE(SkipsSpamScoring(partner));
  // recipientAllow still comes first (postmaster takes every complaint).
  EXPECT_EQ(decide("a@ext.example", "postmaster@acme.example").rule, "recipient-allow");
  EXPECT_FALSE(SkipsSpamScoring(decide("x@other.example", "bob@acme.example")));
}

TEST_F(MailPolicyTest, AcceptedMailIsRoutedToTheDestinationsInPreferenceOrder) {
  Verdict v = Inbound("bob@ext.example", "alice@acme.example");
  EXPECT_EQ(v.route, "smtp:[mx1.acme.example]:25, [mx2.acme.example]:25, [ipv6:2001:db8::25]:2525");
  EXPECT_EQ(TransportOf(CustomerConfig{}), "retry:4.3.5 no destination is configured");
}

TEST_F(MailPolicyTest, UnknownAddressesOfADiscoveringCustomerAreProbed) {
  Verdict v = Inbound("bob@ext.example", "newguy@hooli.example");
  EXPECT_EQ(v.action, Verdict::Action::kProbe);
  EXPECT_EQ(v.pointer, "/spec/users/addressDiscovery");
  EXPECT_EQ(Inbound("bob@ext.example", "gavin@hooli.example").action, Verdict::Action::kAccept);
}

TEST_F(MailPolicyTest, OutboundRelayNeedsTheCustomersSourceAndDomain) {
  auto relay = [&](const std::string& from, const std::string& to, const std::string& client) {
    return DecideRelay(directory_, {from, to, 0, client});
  };
  EXPECT_TRUE(relay("bob@acme.example", "x@external.example", "203.0.113.10").accepted());
  EXPECT_TRUE(relay("bob@acme.co.uk", "x@external.example", "203.0.113.10").accepted());
  EXPECT_TRUE(relay("", "x@external.example", "203.0.113.10").accepted()) << "a bounce";
  Verdict elsewhere = relay("bob@acme.example", "x@external.example", "198.51.100.1");
  EXPECT_EQ(elsewhere.rule, "relay-source");
  EXPECT_THAT(elsewhere.reply,
              HasSubstr("554 5.7.1 relay not permitted for acme.example from 198.51.100.1"));
  EXPECT_EQ(relay("x@other.example", "x@external.example", "203.0.113.10").rule,
            "relay-unknown-sender");
  Verdict rival = relay("bob@acme.example", "ceo@rival.example", "203.0.113.10");
  EXPECT_EQ(rival.rule, "outbound-block");
  EXPECT_EQ(rival.pointer, "/spec/lists/outboundBlock/0");
  // A named service relays from its published ranges.
  EXPECT_TRUE(relay("gavin@hooli.example", "x@external.example", "40.92.1.2").accepted());
  EXPECT_TRUE(relay("gavin@hooli.example", "x@external.example", "2a01:111:f400::1").accepted());
  EXPECT_EQ(relay("gavin@hooli.example", "x@external.example", "203.0.113.10").pointer,
            "/spec/outboundRelay/service");
  // ... but only on the condition of the tenant's proof in the message, which without a
  // content filter to check it nothing can give.
  Verdict proven = relay("gavin@hooli.example", "x@external.example", "40.92.1.2");
  EXPECT_THAT(proven.reason, HasSubstr("tenant 3f2b8c1e-7d4a-4e6b-9c2d-5a1e8f0b7c3d"));
  Verdict unfiltered =
      DecideRelay(directory_, {"gavin@hooli.example", "x@external.example", 0, "40.92.1.2"}, false);
  EXPECT_EQ(unfiltered.action, Verdict::Action::kRefuse);
  EXPECT_EQ(unfiltered.rule, "relay-tenant-unproven");
  EXPECT_TRUE(
      DecideRelay(directory_, {"bob@acme.example", "x@external.example", 0, "203.0.113.10"}, false)
          .accepted())
      << "a customer's own sources prove themselves";
  // Mail between two customers of the gateway goes to the other's destinations, through
  // the other's inbound rules.
  Verdict between = relay("bob@acme.example", "gavin@hooli.example", "203.0.113.10");
  EXPECT_EQ(between.route, "smtp:[mx.hooli.example]:25");
  EXPECT_THAT(between.reason, HasSubstr("inbound rules"));
  Verdict blocked = relay("gavin@hooli.example", "former@acme.example", "40.92.1.2");
  EXPECT_EQ(blocked.action, Verdict::Action::kRefuse);
  EXPECT_EQ(blocked.rule, "recipient-block");
  EXPECT_THAT(blocked.reason, HasSubstr("relayed by"));
  EXPECT_EQ(relay("gavin@hooli.example", "nobody@acme.example", "40.92.1.2").rule,
            "unknown-recipient");
}

TEST_F(MailPolicyTest, TraceTakesTheDirectionFromTheAddresses) {
  EXPECT_TRUE(
      Trace(directory_, {"bob@acme.example", "x@external.example", 0, "203.0.113.10"}).outbound);
  Verdict inbound = Trace(directory_, {"bob@ext.example", "alice@acme.example", 4096, ""});
  EXPECT_FALSE(inbound.outbound);
  EXPECT_EQ(inbound.rule, "max-size");
  Verdict relayed_in =
      Trace(directory_, {"bob@acme.example", "gavin@hooli.example", 0, "203.0.113.10"});
  EXPECT_TRUE(relayed_in.outbound) << "from acme's relay source: relayed, then hooli's rules";
  EXPECT_EQ(relayed_in.rule, "outbound-relay");
  EXPECT_FALSE(
      Trace(directory_, {"bob@acme.example", "gavin@hooli.example", 0, "198.51.100.9"}).outbound)
      << "from elsewhere it is inbound mail that claims acme's domain";
  Verdict neither = Trace(directory_, {"bob@ext.example", "x@elsewhere.example", 0, ""});
  EXPECT_EQ(neither.rule, "unknown-domain");
}

// outboundRelay.requireTls: the policy server knows whether the client used STARTTLS;
// an offline trace does not, and says the condition. Trace shows each hop's encryption.
TEST(MailPolicyTlsTest, ARelayThatMustUseTlsIsRefusedInCleartextAndTraceShowsTheHopsTls) {
  MailDirectory directory(
      {Customer("acme",
                {{"domains", {{"primary", "acme.example"}}},
                 {"destinations", "mx1.acme.example#10;[192.0.2.25]:2525#20"},
                 {"outboundRelay", {{"sources", {"203.0.113.10"}}, {"requireTls", true}}},
                 {"tls", {{"delivery", "verify"}, {"serverNames", {"mx1.acme.example"}}}}},
                {"alice@acme.example"})});
  Envelope relayed{"bob@acme.example", "x@external.example", 0, "203.0.113.10"};
  relayed.client_encrypted = false;
  Verdict clear = DecideRelay(directory, relayed);
  EXPECT_EQ(clear.rule, "relay-tls-required");
  EXPECT_EQ(clear.reply, "530 5.7.0 Must issue a STARTTLS command first");
  EXPECT_EQ(clear.pointer, "/spec/outboundRelay/requireTls");
  relayed.client_encrypted = true;
  EXPECT_TRUE(DecideRelay(directory, relayed).accepted());
  relayed.client_encrypted.reset();
  Verdict traced = Trace(directory, relayed);
  EXPECT_TRUE(traced.accepted());
  EXPECT_THAT(traced.reason, HasSubstr("over STARTTLS (required)"));
  EXPECT_EQ(traced.tls,
            "STARTTLS wherever the recipient's MX offers it; DANE or MTA-STS where its domain "
            "publishes them");

  Verdict inbound = Trace(directory, {"bob@ext.example", "alice@acme.example", 0, "198.51.100.7"});
  EXPECT_EQ(inbound.tls,
            "[mx1.acme.example]:25 verify match=mx1.acme.example; "
            "[192.0.2.25]:2525 verify match=mx1.acme.example");
  EXPECT_EQ(Trace(directory, {"bob@ext.example", "zed@acme.example", 0, ""}).tls, "")
      << "refused mail goes nowhere";
}

TEST(MailDirectoryTest, ADomainNamesOneCustomer) {
  MailDirectory directory(
      {Customer("a", {{"domains", {{"primary", "a.example"}}}, {"destinations", "mx.a.example"}},
                {}),
       Customer("b", {{"domains", {{"primary", "b.example"}}}, {"destinations", "mx.b.example"}},
                {"x@b.example"})});
  EXPECT_EQ(directory.CustomerFor("A.EXAMPLE")->name, "a");
  EXPECT_EQ(directory.CustomerFor("c.example"), nullptr);
  EXPECT_EQ(directory.domain_count(), 2u);
  EXPECT_EQ(directory.recipient_count(), 1u);
}

// Each customer's mail takes the transport of its own TLS level, and the verifying
// transport's policy map answers what the verifying customers of a server require.
TEST(MailDirectoryTest, EachCustomersMailCarriesTheTlsItRequires) {
  const std::string pin_a(64, 'a'), pin_b(64, 'b');
  std::string pinned_a = "AA";  // as Postfix prints digests
  for (int i = 1; i < 32; ++i) pinned_a += ":AA";
  auto delivering = [](const std::string& name, const std::string& destinations, json tls) {
    return Customer(name,
                    {{"domains", {{"primary", name + ".example"}}},
                     {"destinations", destinations},
                     {"tls", tls}},
                    {});
  };
  MailDirectory directory({
      delivering("plain", "mx.plain.example", {{"delivery", "opportunistic"}}),
      delivering(
          "strict", "mx.strict.example;[192.0.2.25]:2525",
          {{"delivery", "verify"}, {"serverNames", {"MX.strict.example", ".strict.example"}}}),
      delivering("named", "mx.named.example", {{"delivery", "verify"}}),
      delivering("pinned", "mx.pinned.example",
                 {{"delivery", "verify"}, {"fingerprints", {pin_a}}}),
      // Customers on one hosted server, each with its own level; the verifying ones are
      // held to what they all accept.
      delivering("s0", "mx.shared.example", {{"delivery", "opportunistic"}}),
      delivering("s1", "mx.shared.example", {{"delivery", "required"}}),
      delivering("s2", "mx.shared.example",
                 {{"delivery", "verify"}, {"serverNames", {"mx.shared.example", "a.example"}}}),
      delivering("s3", "mx.shared.example",
                 {{"delivery", "verify"}, {"serverNames", {"mx.shared.example", "b.example"}}}),
      delivering("p1", "mx.pins.example", {{"delivery", "verify"}, {"fingerprints", {pin_a}}}),
      delivering("p2", "mx.pins.example", {{"delivery", "verify"}, {"fingerprints", {pin_b}}}),
  });
  auto transport = [&](const char* domain) { return directory.CustomerFor(domain)->transport; };
  EXPECT_EQ(transport("plain.example"), "smtp:[mx.plain.example]:25");
  EXPECT_EQ(transport("strict.example"), "smtp-verify:[mx.strict.example]:25, [192.0.2.25]:2525");
  EXPECT_EQ(transport("s0.example"), "smtp:[mx.shared.example]:25");
  EXPECT_EQ(transport("s1.example"), "smtp-encrypt:[mx.shared.example]:25");
  EXPECT_EQ(transport("s2.example"), "smtp-verify:[mx.shared.example]:25");

  // The smtp transport's map answers every customer's next hop, so that no map asked
  // later (MTA-STS) decides it, and with DANE whatever another customer requires there.
  EXPECT_EQ(directory.TlsPolicyFor("[mx.plain.example]:25"), "dane");
  EXPECT_EQ(directory.TlsPolicyFor("[mx.shared.example]:25"), "dane");
  EXPECT_EQ(directory.TlsPolicyFor("[mx.pins.example]:25"), "dane");
  EXPECT_EQ(directory.TlsPolicyFor("[mx.unknown.example]:25"), "");

  EXPECT_EQ(directory.VerifiedTlsPolicyFor("[MX.strict.example]:25"),
            "verify match=.strict.example:mx.strict.example");
  EXPECT_EQ(directory.VerifiedTlsPolicyFor("[192.0.2.25]:2525"),
            "verify match=.strict.example:mx.strict.example");
  EXPECT_EQ(directory.VerifiedTlsPolicyFor("[mx.named.example]:25"),
            "verify match=mx.named.example");
  EXPECT_EQ(directory.VerifiedTlsPolicyFor("[mx.pinned.example]:25"),
            "fingerprint match=" + pinned_a);
  EXPECT_EQ(directory.VerifiedTlsPolicyFor("[mx.shared.example]:25"),
            "verify match=mx.shared.example");
  // Pins of two customers that disagree: neither customer's mail goes to a server the
  // other vouched for.
  EXPECT_EQ(directory.VerifiedTlsPolicyFor("[mx.pins.example]:25"),
            "verify match=tls-requirements-disagree.invalid");
  EXPECT_EQ(directory.VerifiedTlsPolicyFor("[mx.plain.example]:25"), "");
  EXPECT_EQ(directory.VerifiedTlsPolicyFor("[mx.unknown.example]:25"), "");
}

}  // namespace
}  // namespace gw
