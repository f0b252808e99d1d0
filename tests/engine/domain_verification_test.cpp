// Domain verification: claims pending until their TXT record is seen, on both stores; the
// checks against a real nsd; and gatewayd verifying a domain whose TXT record is published
// after the customer was written, whose mail lookups then take the domain.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "gateway/domain_verifier.h"
#include "gateway/mail_directory_feed.h"
#include "gateway/rfc3339.h"
#include "gateway/service.h"
#include "gateway/socketmap_client.h"
#include "gatewayd_fixture.h"
#include "loopback.h"
#include "nsd_fixture.h"
#include "postgres_fixture.h"

namespace {

using gw::DomainCheck;
using gw::DomainClaim;
using gw::StatusCode;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

gw::CustomerWrite Write(const std::string& domain) {
  gw::CustomerWrite w;
  w.spec = {{"product", "ultimate-defense"},
            {"billableUsers", 1},
            {"domains", {{"primary", domain}}},
            {"destinations", "mx." + domain}};
  return w;
}

// The Service's claim rules with verification on, over SQLite and PostgreSQL.
class DomainClaimsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = gwtest::MakeTempDir("domain-claims");
    location_ = (dir_ / "gateway.db").string();
    if (GetParam() == "postgres") {
      if (std::string missing = gwtest::PostgresMissing(); !missing.empty())
        GTEST_SKIP() << missing;
      postgres_ = std::make_unique<gwtest::Postgres>();
      ASSERT_EQ(postgres_->problem(), "");
      location_ = postgres_->url();
    }
    gw::ServiceOptions options;
    options.verify_domains = true;
    auto service = gw::Service::Open(location_, options);
    ASSERT_TRUE(service.ok()) << service.status().message();
    service_ = std::move(*service);
    for (const char* partner : {"northwind", "contoso"})
      ASSERT_TRUE(service_->PutPartner(local_, partner).ok());
  }
  void TearDown() override {
    service_.reset();
    postgres_.reset();
    std::filesystem::remove_all(dir_);
  }

  DomainClaim Claim(const std::string& partner, const std::string& customer) {
    auto claims = service_->ListDomainClaims(local_, partner, customer, false);
    EXPECT_TRUE(claims.ok() && claims->size() == 1);
    return claims.ok() && claims->size() == 1 ? claims->front() : DomainClaim();
  }

  gw::Actor local_ = gw::Actor::Local();
  std::filesystem::path dir_;
  std::string location_;
  std::unique_ptr<gwtest::Postgres> postgres_;
  std::unique_ptr<gw::Service> service_;
};

TEST_P(DomainClaimsTest, APendingClaimTakesNoMailAndLosesToTheVerifiedOne) {
  // contoso claims northwind's customer's domain first: pending, it does not hold the name.
  auto squatter = service_->PutCustomer(local_, "contoso", "squatter", Write("acme.example"),
                                        gw::WriteCondition::CreateOnly());
  ASSERT_TRUE(squatter.ok()) << squatter.status().message();
  auto acme = service_->PutCustomer(local_, "northwind", "acme", Write("acme.example"),
                                    gw::WriteCondition::CreateOnly());
  ASSERT_TRUE(acme.ok()) << acme.status().message();
  ASSERT_EQ(acme->domain_claims.size(), 1u);
  const DomainClaim& pending = acme->domain_claims[0];
  EXPECT_FALSE(pending.verified());
  EXPECT_THAT(pending.record(), MatchesRegex("gwctl-verify=[0-9a-f]{32}"));
  EXPECT_NE(pending.token, Claim("contoso", "squatter").token);

  auto store = gw::OpenStore(location_);
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto feed = gw::MailDirectoryFeed::Start(std::move(*store));
  ASSERT_TRUE(feed.ok()) << feed.status().message();
  EXPECT_EQ((*feed)->current()->CustomerFor("acme.example"), nullptr);

  // Checks: one not found, then northwind's record is published; contoso's record too.
  auto not_yet = service_->RecordDomainChecks(
      local_, {{"northwind", "acme", "acme.example", false, true, "no TXT records"}});
  ASSERT_TRUE(not_yet.ok());
  EXPECT_FALSE(Claim("northwind", "acme").verified());
  EXPECT_EQ(Claim("northwind", "acme").check_detail, "no TXT records");
  auto checked = service_->RecordDomainChecks(
      local_, {{"northwind", "acme", "acme.example", true, true, "TXT found"},
               {"contoso", "squatter", "acme.example", true, true, "TXT found"}});
  ASSERT_TRUE(checked.ok()) << checked.status().message();
  EXPECT_TRUE(Claim("northwind", "acme").verified());
  DomainClaim lost = Claim("contoso", "squatter");
  EXPECT_FALSE(lost.verified());
  EXPECT_THAT(lost.check_detail, HasSubstr("another customer's verified claim holds the name"));
  EXPECT_THAT(lost.check_detail, ::testing::Not(HasSubstr("northwind")));

  ASSERT_TRUE((*feed)->Refresh().ok());
  const gw::MailCustomer* routed = (*feed)->current()->CustomerFor("acme.example");
  ASSERT_NE(routed, nullptr);
  EXPECT_EQ(routed->partner, "northwind");

  // Once verified, the name is held: a new claim on it is refused as before.
  auto refused = service_->PutCustomer(local_, "contoso", "late", Write("acme.example"),
                                       gw::WriteCondition::CreateOnly());
  ASSERT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().details()[0].rule, "domain-duplicate");
  // A partner cannot vouch for its own claims.
  gw::Actor contoso{"contoso-ci", gw::Role::kPartnerAdmin, "contoso", ""};
  EXPECT_EQ(service_
                ->RecordDomainChecks(
                    contoso, {{"contoso", "squatter", "acme.example", true, true, "trust me"}})
                .status()
                .code(),
            StatusCode::kPermissionDenied);
  auto audit = service_->ListAudit(local_, "northwind", 0, 100);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(std::count_if(audit->begin(), audit->end(),
                          [](const gw::AuditEntry& e) { return e.action == "domain.verify"; }),
            1);
}

// A partner's proof of a domain outlives its claims for a while: a customer deleted and
// made again (a replacement) takes mail at once, even past another partner's pending
// claim made in between; once the proof has lapsed, the domain is proven again.
TEST_P(DomainClaimsTest, AReplacedCustomerKeepsItsDomainWhileTheProofLasts) {
  auto put = [&](const std::string& partner, const std::string& name) {
    auto written = service_->PutCustomer(local_, partner, name, Write("acme.example"),
                                         gw::WriteCondition::CreateOnly());
    EXPECT_TRUE(written.ok()) << written.status().message();
    return written.ok() ? written->domain_claims.at(0) : DomainClaim();
  };
  auto remove = [&](const std::string& partner, const std::string& name) {
    auto existing = service_->GetCustomer(local_, partner, name);
    ASSERT_TRUE(existing.ok());
    ASSERT_TRUE(service_->DeleteCustomer(local_, partner, name, existing->version).ok());
  };
  DomainClaim first = put("northwind", "acme");
  ASSERT_TRUE(service_
                  ->RecordDomainChecks(
                      local_, {{"northwind", "acme", "acme.example", true, true, "TXT found"}})
                  .ok());
  remove("northwind", "acme");
  EXPECT_FALSE(put("contoso", "squatter").verified());
  DomainClaim again = put("northwind", "acme");
  EXPECT_TRUE(again.verified());
  EXPECT_EQ(again.token, first.token);
  EXPECT_THAT(again.check_detail, HasSubstr("proven by this partner before"));
  EXPECT_FALSE(Claim("contoso", "squatter").verified());

  // Eight days after the last claim went, the proof no longer counts.
  remove("northwind", "acme");
  auto store = gw::OpenStore(location_);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)
                  ->Transaction(true,
                                [&]() -> gw::Status {
                                  auto proof =
                                      (*store)->LoadDomainProof("northwind", "acme.example");
                                  if (!proof.ok() || !*proof)
                                    return gw::Status(StatusCode::kInternal, "no proof");
                                  (*proof)->released_at =
                                      gw::FormatRfc3339(std::chrono::system_clock::now() -
                                                        std::chrono::hours(24 * 8));
                                  return (*store)->SaveDomainProof(**proof);
                                })
                  .ok());
  DomainClaim lapsed = put("northwind", "acme");
  EXPECT_FALSE(lapsed.verified());
  EXPECT_NE(lapsed.token, first.token);
}

// Claims left pending by a gateway that verified stay so when another process opens the
// store (gwctl embedded must not verify them behind gatewayd's back) until an operator,
// or gatewayd started without --verify-domains, verifies them.
TEST_P(DomainClaimsTest, ClaimsLeftPendingAreVerifiedOnlyWhenAskedTo) {
  ASSERT_TRUE(service_
                  ->PutCustomer(local_, "northwind", "acme", Write("acme.example"),
                                gw::WriteCondition::CreateOnly())
                  .ok());
  EXPECT_FALSE(Claim("northwind", "acme").verified());
  service_.reset();
  auto reopened = gw::Service::Open(location_);
  ASSERT_TRUE(reopened.ok()) << reopened.status().message();
  service_ = std::move(*reopened);
  EXPECT_FALSE(Claim("northwind", "acme").verified());
  gw::Actor contoso{"contoso-ci", gw::Role::kPartnerAdmin, "contoso", ""};
  EXPECT_EQ(service_->VerifyPendingClaims(contoso).status().code(), StatusCode::kPermissionDenied);
  auto verified = service_->VerifyPendingClaims(local_);
  ASSERT_TRUE(verified.ok()) << verified.status().message();
  EXPECT_EQ(*verified, 1);
  EXPECT_TRUE(Claim("northwind", "acme").verified());
  auto globex = service_->PutCustomer(local_, "northwind", "globex", Write("globex.example"),
                                      gw::WriteCondition::CreateOnly());
  ASSERT_TRUE(globex.ok());
  EXPECT_TRUE(globex->domain_claims.at(0).verified());
}

INSTANTIATE_TEST_SUITE_P(Stores, DomainClaimsTest,
                         ::testing::Values(std::string("sqlite"), std::string("postgres")),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

DomainClaim PendingClaim(const std::string& domain, const std::string& token) {
  DomainClaim claim;
  claim.domain = domain;
  claim.partner = "northwind";
  claim.customer = "acme";
  claim.token = token;
  return claim;
}

// What the checks say against a real nsd, and against a server that never answers.
TEST(DomainChecksTest, RecordsFoundAbsentAndUnansweredAreToldApart) {
  if (std::string missing = gwtest::NsdMissing(); !missing.empty()) GTEST_SKIP() << missing;
  gwtest::Nsd nsd({{"acme.example", "@ IN TXT \"v=spf1 -all\"\n@ IN TXT \"gwctl-verify=t1\"\n"},
                   {"globex.example", "@ IN A 192.0.2.1\n"}});
  ASSERT_TRUE(nsd.started()) << nsd.log();
  auto checks = gw::CheckClaims(
      *nsd.Resolver(),
      {PendingClaim("acme.example", "t1"), PendingClaim("acme.example", "other"),
       PendingClaim("globex.example", "t2"), PendingClaim("nowhere.acme.example", "t3")});
  ASSERT_EQ(checks.size(), 4u);
  EXPECT_TRUE(checks[0].found);
  EXPECT_FALSE(checks[1].found);
  EXPECT_TRUE(checks[1].answered);
  EXPECT_EQ(checks[1].detail,
            "acme.example publishes 2 TXT record(s), none of them "
            "gwctl-verify=other");
  EXPECT_EQ(checks[2].detail, "globex.example publishes no TXT records");
  EXPECT_THAT(checks[3].detail, HasSubstr("does not exist in DNS (NXDOMAIN)"));

  gwtest::SilentListener silent(SOCK_DGRAM);
  gw::DnsResolverOptions options;
  options.servers = {silent.endpoint()};
  options.timeout = std::chrono::milliseconds(100);
  auto resolver = gw::DnsResolver::Create(options);
  ASSERT_TRUE(resolver.ok());
  auto unanswered = gw::CheckClaims(**resolver, {PendingClaim("acme.example", "t1")});
  EXPECT_FALSE(unanswered[0].found);
  EXPECT_FALSE(unanswered[0].answered);
  EXPECT_THAT(unanswered[0].detail, HasSubstr("could not check: "));
  EXPECT_THAT(unanswered[0].detail, HasSubstr(fmt::format("127.0.0.1:{}", silent.port())));
}

bool TakesMailFor(gwtest::Gatewayd& gatewayd, const std::string& domain) {
  auto found = gw::SocketmapLookup({"127.0.0.1", gatewayd.LoggedPort("socketmap on ")}, "domains",
                                   domain, std::chrono::seconds(2));
  return found.ok() && found->has_value();
}

// gatewayd --verify-domains against nsd: a customer's domain waits, taking no mail, until
// its TXT record is published; then the scheduled check verifies it and the mail lookups
// take the domain. The on-demand check, the operator's hand, the API and the metrics.
TEST(GatewaydDomainVerificationTest, ADomainTakesMailOnceItsRecordIsPublished) {
  if (std::string missing = gwtest::NsdMissing(); !missing.empty()) GTEST_SKIP() << missing;
  gwtest::Nsd nsd({{"acme.example", "@ IN MX 10 mx.acme.example.\n"},
                   {"globex.example", "@ IN MX 10 mx.globex.example.\n"}});
  ASSERT_TRUE(nsd.started()) << nsd.log();
  gwtest::Gatewayd gatewayd(
      {"northwind"},
      {"--socketmap", "127.0.0.1:0", "--verify-domains", "--dns-server",
       fmt::format("127.0.0.1:{}", nsd.endpoint().port), "--domain-check-interval-s", "1",
       "--hostname", "mx1.gw.test", "--hostname", "mx2.gw.test", "--spf-include", "spf.gw.test"});
  ASSERT_TRUE(gatewayd.started()) << gatewayd.process().output();
  auto client = gatewayd.Client(gwtest::Gatewayd::PartnerToken("northwind"));
  auto ops = gatewayd.Client(gwtest::Gatewayd::kOperatorToken);
  ASSERT_TRUE(ops->EnsurePartner("northwind").ok());

  auto facts = client->GetFacts();
  ASSERT_TRUE(facts.ok()) << facts.status().message();
  EXPECT_EQ(facts->mx_hosts, (std::vector<std::string>{"mx1.gw.test", "mx2.gw.test"}));
  EXPECT_EQ(facts->spf_include, "spf.gw.test");
  EXPECT_TRUE(facts->verifies_domains);

  auto acme = client->PutCustomer("northwind", "acme", Write("acme.example"),
                                  gw::WriteCondition::CreateOnly());
  ASSERT_TRUE(acme.ok()) << acme.status().message();
  ASSERT_EQ(acme->domain_claims.size(), 1u);
  std::string record = acme->domain_claims[0].record();
  EXPECT_FALSE(acme->domain_claims[0].verified());
  // Checked now, on demand: not there yet, and the claim says what DNS has instead.
  auto checked = client->CheckDomains("northwind", "acme");
  ASSERT_TRUE(checked.ok()) << checked.status().message();
  ASSERT_EQ(checked->size(), 1u);
  EXPECT_FALSE((*checked)[0].verified());
  EXPECT_EQ((*checked)[0].check_detail, "acme.example publishes no TXT records");
  EXPECT_FALSE(TakesMailFor(gatewayd, "acme.example"));

  ASSERT_TRUE(nsd.Publish("acme.example",
                          fmt::format("@ IN MX 10 mx1.gw.test.\n@ IN TXT \"{}\"\n", record)));
  auto published = std::chrono::steady_clock::now();
  bool taken = false;
  while (!taken && std::chrono::steady_clock::now() - published < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    taken = TakesMailFor(gatewayd, "acme.example");
  }
  ASSERT_TRUE(taken) << gatewayd.process().output();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - published).count();
  std::printf("acme.example taking mail %.2f s after its TXT record was published\n", seconds);
  auto state = client->GetState("northwind");
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->customers.at(0).domain_claims.at(0).verified());
  EXPECT_THAT(gatewayd.process().output(),
              HasSubstr("domain acme.example of northwind/acme verified"));

  // An operator vouches for globex without DNS; a partner may not.
  ASSERT_TRUE(client
                  ->PutCustomer("northwind", "globex", Write("globex.example"),
                                gw::WriteCondition::CreateOnly())
                  .ok());
  httplib::Client http(gatewayd.url());
  const char* path = "/v1/partners/northwind/customers/globex/domains/globex.example/verify";
  auto by_partner =
      http.Post(path, {{"Authorization", "Bearer " + gwtest::Gatewayd::PartnerToken("northwind")}},
                "{}", "application/json");
  ASSERT_TRUE(by_partner);
  EXPECT_EQ(by_partner->status, 403);
  auto by_operator = http.Post(
      path, {{"Authorization", std::string("Bearer ") + gwtest::Gatewayd::kOperatorToken}}, "{}",
      "application/json");
  ASSERT_TRUE(by_operator);
  EXPECT_EQ(by_operator->status, 200) << by_operator->body;
  auto claim = nlohmann::json::parse(by_operator->body);
  EXPECT_EQ(claim["state"], "verified");
  EXPECT_EQ(claim["checkDetail"], "verified by hand by ops");

  auto metrics = http.Get(
      "/metrics", {{"Authorization", std::string("Bearer ") + gwtest::Gatewayd::kOperatorToken}});
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("gatewayd_domain_checks_total{outcome=\"found\"} 1"));
  EXPECT_THAT(metrics->body, HasSubstr("gatewayd_domain_claims_pending "));

  // Started again without --verify-domains, gatewayd verifies what was left pending.
  ASSERT_TRUE(client
                  ->PutCustomer("northwind", "initech", Write("initech.example"),
                                gw::WriteCondition::CreateOnly())
                  .ok());
  gatewayd.Kill();
  gatewayd.Start({"--socketmap", "127.0.0.1:0"});
  ASSERT_TRUE(gatewayd.started()) << gatewayd.process().output();
  EXPECT_THAT(gatewayd.process().output(),
              HasSubstr("verified 1 domain claim(s) left pending: started without "
                        "--verify-domains"));
  EXPECT_TRUE(TakesMailFor(gatewayd, "initech.example"));
}

}  // namespace
