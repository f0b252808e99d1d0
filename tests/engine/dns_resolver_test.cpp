// The DNS resolver and the checks built on it against a real nsd on loopback: records
// found, a name that does not exist, a name without records of the type, a zone
// published later, a server that refuses, one that never answers; MX and SPF read
// against the gateway. Skipped (saying why) without nsd.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "gateway/dns_checks.h"
#include "gateway/dns_resolver.h"
#include "loopback.h"
#include "nsd_fixture.h"

namespace {

using gw::DnsAnswer;
using gw::DnsType;
using Outcome = gw::DnsAnswer::Outcome;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class DnsResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = gwtest::NsdMissing(); !missing.empty()) GTEST_SKIP() << missing;
    nsd_ = std::make_unique<gwtest::Nsd>(
        std::map<std::string, std::string>{{"acme.example",
                                            "@ IN MX 20 mx2.gw.test.\n@ IN MX 10 mx1.gw.test.\n"
                                            "@ IN TXT \"v=spf1 include:spf.gw.test -all\"\n"
                                            "@ IN TXT \"a long record \" \"in two strings\"\n"
                                            "@ IN A 192.0.2.10\nwww IN A 192.0.2.11\n"},
                                           {"globex.example", "@ IN A 192.0.2.20\n"}});
    ASSERT_TRUE(nsd_->started()) << nsd_->log();
  }

  std::unique_ptr<gwtest::Nsd> nsd_;
};

TEST_F(DnsResolverTest, RecordsAbsentNamesAndNamesWithoutTheTypeAreTellable) {
  auto resolver = nsd_->Resolver();
  auto answers = resolver->Resolve({{"acme.example", DnsType::kMx},
                                    {"acme.example", DnsType::kTxt},
                                    {"www.acme.example", DnsType::kA},
                                    {"nowhere.acme.example", DnsType::kMx},
                                    {"globex.example", DnsType::kMx}});
  ASSERT_EQ(answers.size(), 5u);
  EXPECT_EQ(answers[0].outcome, Outcome::kFound);
  EXPECT_THAT(answers[0].records, ElementsAre("10 mx1.gw.test", "20 mx2.gw.test"));
  EXPECT_THAT(answers[1].records,
              ElementsAre("a long record in two strings", "v=spf1 include:spf.gw.test -all"));
  EXPECT_THAT(answers[2].records, ElementsAre("192.0.2.11"));
  EXPECT_EQ(answers[3].outcome, Outcome::kNoSuchName);
  EXPECT_EQ(answers[4].outcome, Outcome::kNoRecords);  // it exists, with an A only
  for (const DnsAnswer& answer : answers) EXPECT_TRUE(answer.Known());
}

TEST_F(DnsResolverTest, ARecordPublishedLaterIsSeen) {
  auto resolver = nsd_->Resolver();
  EXPECT_EQ(resolver->Resolve({{"_gwctl.globex.example", DnsType::kTxt}})[0].outcome,
            Outcome::kNoSuchName);
  ASSERT_TRUE(
      nsd_->Publish("globex.example", "@ IN A 192.0.2.20\n_gwctl IN TXT \"gwctl-verify=abc123\"\n"))
      << nsd_->log();
  auto answer = resolver->Resolve({{"_gwctl.globex.example", DnsType::kTxt}})[0];
  EXPECT_EQ(answer.outcome, Outcome::kFound);
  EXPECT_THAT(answer.records, ElementsAre("gwctl-verify=abc123"));
}

// nsd refuses names outside its zones: a server failure, never "absent".
TEST_F(DnsResolverTest, ARefusalIsAServerFailureNotAnAbsentRecord) {
  auto answer = nsd_->Resolver()->Resolve({{"initech.example", DnsType::kMx}})[0];
  EXPECT_EQ(answer.outcome, Outcome::kServerFailure);
  EXPECT_FALSE(answer.Known());
  EXPECT_THAT(answer.problem, HasSubstr(nsd_->endpoint().ToString()));
}

// A server that takes the questions and never answers: a timeout within the stated bound,
// for every question at once, naming the server.
TEST(DnsResolverTimeoutTest, AServerThatNeverAnswersTimesOutWithinTheBound) {
  gwtest::SilentListener silent(SOCK_DGRAM);
  ASSERT_NE(silent.port(), 0);
  gw::DnsResolverOptions options;
  options.servers = {silent.endpoint()};
  options.timeout = std::chrono::milliseconds(200);
  options.tries = 2;
  auto resolver = gw::DnsResolver::Create(options);
  ASSERT_TRUE(resolver.ok()) << resolver.status().message();
  std::vector<gw::DnsQuestion> questions;
  for (int i = 0; i < 50; ++i) questions.push_back({fmt::format("d{}.example", i), DnsType::kTxt});
  auto started = std::chrono::steady_clock::now();
  auto answers = (*resolver)->Resolve(questions);
  auto took = std::chrono::steady_clock::now() - started;
  for (const DnsAnswer& answer : answers) {
    EXPECT_EQ(answer.outcome, Outcome::kTimeout);
    EXPECT_FALSE(answer.Known());
  }
  EXPECT_THAT(answers[0].problem,
              HasSubstr(fmt::format("no answer from 127.0.0.1:{} in 2 tries", silent.port())));
  // The bound: 200 ms, then 400 ms.
  EXPECT_LT(took, std::chrono::milliseconds(1200));
  std::printf(
      "50 questions to a silent server: %lld ms\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
}

}  // namespace

namespace {

using Mx = gw::DomainDnsReport::Mx;
using Spf = gw::DomainDnsReport::Spf;

// Customers' published DNS read against the gateway's hosts and SPF include: MX to the
// gateway or elsewhere, SPF including it directly or through another include, loops,
// two policies, and a resolver failure that stays "unknown".
TEST(DnsChecksTest, MxAndSpfAreReadAgainstTheGateway) {
  if (std::string missing = gwtest::NsdMissing(); !missing.empty()) GTEST_SKIP() << missing;
  gwtest::Nsd nsd(
      {{"acme.example",
        "@ IN MX 10 mx1.gw.test.\n@ IN MX 20 mx2.gw.test.\n"
        "@ IN TXT \"v=spf1 include:spf.gw.test -all\"\n"},
       {"globex.example",
        "@ IN MX 10 mail.globex.example.\n@ IN MX 5 mx1.gw.test.\n"
        "@ IN TXT \"v=spf1 include:_spf.provider.example ~all\"\n"
        "@ IN TXT \"google-site-verification=x\"\n"},
       {"provider.example", "_spf IN TXT \"v=spf1 include:spf.gw.test -all\"\n"},
       {"initech.example", "@ IN A 192.0.2.1\n@ IN TXT \"v=spf1 ip4:192.0.2.1 -all\"\n"},
       {"hooli.example",
        "@ IN MX 10 mx1.gw.test.\n@ IN TXT \"v=spf1 -all\"\n@ IN TXT \"v=spf1 +all\"\n"},
       {"loop.example", "@ IN TXT \"v=spf1 include:loop.example -all\"\n"}});
  ASSERT_TRUE(nsd.started()) << nsd.log();
  // A chain of includes longer than SPF allows (11 lookups before the gateway's).
  std::string chain = "@ IN TXT \"v=spf1 include:c0.chain.example -all\"\n";
  for (int i = 0; i < 11; ++i)
    chain += fmt::format("c{} IN TXT \"v=spf1 include:c{}.chain.example\"\n", i, i + 1);
  chain += "c11 IN TXT \"v=spf1 include:spf.gw.test\"\n";
  gwtest::Nsd chain_server({{"chain.example", chain}});
  ASSERT_TRUE(chain_server.started()) << chain_server.log();
  auto long_chain =
      gw::CheckDomains(*chain_server.Resolver(), {"chain.example"}, {}, "spf.gw.test");
  EXPECT_EQ(long_chain[0].spf, Spf::kInvalid);
  EXPECT_THAT(long_chain[0].detail, HasSubstr("more than 10 lookups"));
  auto resolver = nsd.Resolver();
  auto reports =
      gw::CheckDomains(*resolver,
                       {"acme.example", "globex.example", "initech.example", "hooli.example",
                        "loop.example", "nowhere.acme.example", "elsewhere.example"},
                       {"MX1.gw.test.", "mx2.gw.test"}, "spf.gw.test");
  ASSERT_EQ(reports.size(), 7u);
  EXPECT_EQ(reports[0].mx, Mx::kToGateway);
  EXPECT_EQ(reports[0].spf, Spf::kIncludesGateway);
  EXPECT_EQ(reports[1].mx, Mx::kElsewhere);
  EXPECT_THAT(reports[1].mx_hosts, ElementsAre("mx1.gw.test", "mail.globex.example"));
  EXPECT_EQ(reports[1].spf, Spf::kIncludesGateway) << "through _spf.provider.example";
  EXPECT_EQ(reports[2].mx, Mx::kNoMx);
  EXPECT_EQ(reports[2].spf, Spf::kMissing);
  EXPECT_EQ(reports[3].spf, Spf::kInvalid);
  EXPECT_THAT(reports[3].detail, HasSubstr("more than one v=spf1"));
  EXPECT_EQ(reports[4].spf, Spf::kMissing) << "a loop ends";
  EXPECT_EQ(reports[5].mx, Mx::kNoSuchDomain);
  EXPECT_EQ(reports[5].spf, Spf::kNoPolicy);
  // nsd refuses a name outside its zones: unknown, saying why, never "missing".
  EXPECT_EQ(reports[6].mx, Mx::kUnknown);
  EXPECT_EQ(reports[6].spf, Spf::kUnknown);
  EXPECT_THAT(reports[6].detail, HasSubstr(nsd.endpoint().ToString()));
}

}  // namespace
