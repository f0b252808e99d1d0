// CompileCustomer: the typed configuration the data plane reads, and the schema
// annotations (immutable and secret fields, key order) both sides read.
#include "gateway/customer_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/domain_name.h"
#include "gateway/field_annotations.h"

namespace gw {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;

CompiledCustomer Compile(json spec, RuleFindings& findings) {
  return CompileCustomer(json{{"spec", std::move(spec)}}, {}, findings);
}

TEST(CustomerConfigTest, ValuesAreTypedNormalisedAndOrdered) {
  RuleFindings findings;
  auto compiled =
      Compile({{"product", "ultimate-access"},
               {"billableUsers", 3},
               {"domains", {{"primary", "Bücher.Example"}, {"aliases", {"books.example"}}}},
               {"destinations", "backup.example:2525#30;MX1.Example#5;[2001:db8::25]"},
               {"outboundRelay", {{"sources", "203.0.113.10,198.51.100.0/28"}}},
               {"filtering",
                {{"contentFilter",
                  {{"maxMessageSize", "50MiB"}, {"forbiddenAttachments", {"executable", ".iso"}}}},
                 {"spamReport",
                  {{"enabled", true},
                   {"days", {"mon", "fri"}},
                   {"times", {"08:00"}},
                   {"timezone", "Europe/London"}}}}},
               {"lists",
                {{"allow", {{{"sender", "Boss@Partner.Example"}}, {{"ip", "192.0.2.1"}}}},
                 {"recipientAllow", {"postmaster"}}}},
               {"continuity", {{"enabled", true}, {"retention", "90d"}}},
               {"archiving", {{"enabled", true}, {"retention", "3650d"}}}},
              findings);
  ASSERT_FALSE(HasErrors(findings)) << findings.front().message;
  const CustomerConfig& c = compiled.config;
  EXPECT_THAT(c.domains, ElementsAre("xn--bcher-kva.example", "books.example"));
  ASSERT_EQ(c.destinations.size(), 3u);
  EXPECT_EQ(c.destinations[0].host, "mx1.example");  // preference 5 first
  EXPECT_EQ(c.destinations[0].preference, 5);
  // Equal preferences (30 written, 30 by default as the third) keep the written order.
  EXPECT_EQ(c.destinations[1].host, "backup.example");
  EXPECT_EQ(c.destinations[1].port, 2525);
  EXPECT_EQ(c.destinations[2].host, "2001:db8::25");
  EXPECT_EQ(c.destinations[2].port, 25);
  EXPECT_EQ(c.max_message_size_bytes, 50u << 20);
  EXPECT_THAT(c.forbidden_attachments, ElementsAre("executable", ".iso"));
  ASSERT_EQ(c.relay.sources.size(), 2u);
  EXPECT_EQ(c.relay.sources[1].ToString(), "198.51.100.0/28");
  EXPECT_TRUE(c.relay.enabled);
  EXPECT_EQ(c.spam_report.time_zone, "Europe/London");
  EXPECT_THAT(c.spam_report.days, ElementsAre("mon", "fri"));
  ASSERT_EQ(c.lists.allow.size(), 2u);
  EXPECT_EQ(c.lists.allow[0].kind, "sender");
  EXPECT_EQ(c.lists.allow[0].value, ParseEmailAddress("Boss@Partner.Example")->ToString());
  EXPECT_EQ(c.lists.allow[1].value, "192.0.2.1");
  EXPECT_TRUE(c.continuity.enabled);
  EXPECT_EQ(c.continuity.retention_days, 90);
  EXPECT_EQ(c.archive_retention_days, 3650);
  EXPECT_THAT(compiled.domain_pointers,
              ElementsAre("/spec/domains/primary", "/spec/domains/aliases/0"));
  EXPECT_EQ(ToJson(c)["maxMessageSizeBytes"], 50 << 20);
}

TEST(CustomerConfigTest, ANamedRelayServiceIsItsPublishedRanges) {
  RuleFindings findings;
  auto compiled =
      Compile({{"product", "ultimate-defense"},
               {"billableUsers", 1},
               {"domains", {{"primary", "a.example"}}},
               {"destinations", "mx.a.example"},
               {"outboundRelay",
                {{"service", "office365"}, {"tenantId", "3F2B8C1E-7D4A-4E6B-9C2D-5A1E8F0B7C3D"}}}},
              findings);
  ASSERT_FALSE(HasErrors(findings));
  EXPECT_EQ(compiled.config.relay.service, "office365");
  EXPECT_EQ(compiled.config.relay.tenant_id, "3f2b8c1e-7d4a-4e6b-9c2d-5a1e8f0b7c3d");
  EXPECT_EQ(compiled.config.relay.sources, *RelayServiceRanges("office365"));
  EXPECT_TRUE(compiled.relay_source_pointers.empty());  // shared ranges are no claim
  auto google = RelayServiceRanges("google");
  ASSERT_NE(google, nullptr);
  EXPECT_GT(google->size(), 10u);
  EXPECT_EQ(RelayServiceRanges("yahoo"), nullptr);
}

TEST(CustomerConfigTest, EveryProblemIsReportedWithPointerAndRule) {
  RuleFindings findings;
  Compile({{"product", "ultimate-defense"},
           {"billableUsers", 1},
           {"domains", {{"primary", "a.example"}, {"aliases", {"A.example"}}}},
           {"filtering", {{"contentFilter", {{"maxMessageSize", "3GiB"}}}}},
           {"continuity", {{"enabled", true}, {"retention", "999d"}}}},
          findings);
  std::vector<std::pair<std::string, std::string>> found;
  for (const auto& f : findings) found.emplace_back(f.pointer, f.rule);
  EXPECT_THAT(found, ElementsAre(std::make_pair("/spec/domains/aliases/0", "alias-equals-primary"),
                                 std::make_pair("/spec", "destination-missing"),
                                 std::make_pair("/spec/filtering/contentFilter/maxMessageSize",
                                                "content-filter-size"),
                                 std::make_pair("/spec/product", "continuity"),
                                 std::make_pair("/spec/continuity/retention", "continuity")));
  EXPECT_EQ(findings[3].Text([](const std::string& p) { return "<" + p + ">"; }),
            "continuity is enabled (</spec/continuity/enabled>) but needs product "
            "ultimate-access, not ultimate-defense");
}

TEST(CustomerConfigTest, DeliveryTlsIsTypedAndItsDetailsNeedVerify) {
  RuleFindings findings;
  auto pinned = Compile(
      {{"product", "ultimate-access"},
       {"billableUsers", 1},
       {"domains", {{"primary", "a.example"}}},
       {"destinations", "192.0.2.25"},
       {"tls",
        {{"delivery", "verify"}, {"fingerprints", {std::string(64, 'a'), std::string(64, 'B')}}}}},
      findings);
  EXPECT_TRUE(findings.empty()) << findings[0].message;
  EXPECT_EQ(pinned.config.delivery_tls.level, DeliveryTls::Level::kVerified);
  std::string colons = "AA";
  for (int i = 1; i < 32; ++i) colons += ":AA";
  EXPECT_EQ(pinned.config.delivery_tls.fingerprints[0], colons);

  auto problems = [](json tls, const char* destinations = "192.0.2.25") {
    RuleFindings found;
    Compile({{"product", "ultimate-access"},
             {"billableUsers", 1},
             {"domains", {{"primary", "a.example"}}},
             {"destinations", destinations},
             {"tls", tls}},
            found);
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& f : found) out.emplace_back(f.pointer, f.rule);
    return out;
  };
  // A certificate names hosts: an address alone cannot be verified.
  EXPECT_THAT(problems({{"delivery", "verify"}}),
              ElementsAre(std::make_pair("/spec/tls/delivery", "tls-verify-name")));
  EXPECT_THAT(problems({{"delivery", "verify"}}, "mx.a.example"), ElementsAre());
  EXPECT_THAT(problems({{"delivery", "verify"}, {"serverNames", {"mx.a.example"}}}), ElementsAre());
  EXPECT_THAT(problems({{"delivery", "required"}, {"serverNames", {"mx.a.example"}}}),
              ElementsAre(std::make_pair("/spec/tls/serverNames", "tls-setting")));
  EXPECT_THAT(problems({{"fingerprints", {std::string(64, 'a')}}}),
              ElementsAre(std::make_pair("/spec/tls/fingerprints", "tls-setting")));
}

TEST(CustomerFieldsTest, TheSchemaAnnotationsAreReadOnce) {
  const auto& fields = CustomerFields::Get();
  EXPECT_THAT(fields.immutable(), ::testing::UnorderedElementsAre("/domains/primary"));
  ASSERT_EQ(fields.secrets().size(), 1u);
  EXPECT_EQ(fields.secrets()[0].reference, "/panelLogin/passwordRef");
  EXPECT_EQ(fields.secrets()[0].gateway_field, "/panelLogin/password");
  EXPECT_THAT(fields.KeyOrder(""), ElementsAre("apiVersion", "kind", "metadata", "spec"));
  EXPECT_THAT(fields.KeyOrder("/spec/destinations/3"), ElementsAre("host", "port", "preference"));
  EXPECT_TRUE(fields.KeyOrder("/metadata/labels").empty());
}

}  // namespace
}  // namespace gw
