// LDAP sources against a real slapd: paging past a size limit, TLS in both forms,
// Active Directory shaped entries, and every failure leaving the gateway's users alone
// (end to end through the gwctl binary and a real gatewayd).
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "directory_users.h"
#include "gatewayd_fixture.h"
#include "ldap_search.h"
#include "slapd_fixture.h"
#include "temp_repo.h"

namespace gwctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string People(int count, int first = 0) {
  std::string ldif;
  for (int i = first; i < first + count; ++i) {
    ldif +=
        gwtest::PersonLdif(fmt::format("user{:05}", i), fmt::format("user{:05}@corp.example", i));
  }
  return ldif;
}

LdapSource SourceFor(const std::string& url) {
  LdapSource source;
  source.url = url;
  source.bind_dn = gwtest::Slapd::kBindDn;
  source.base_dn = std::string("ou=people,") + gwtest::Slapd::kSuffix;
  source.filter = "(mail=*)";
  source.timeout_seconds = 5;
  return source;
}

TEST(LdapSearch, PagesPastTheServersSizeLimitAndReturnsEveryEntry) {
  gwtest::Slapd slapd({.people_ldif = People(3000), .size_limit = 500});
  ASSERT_TRUE(slapd.started()) << slapd.log();
  auto found = SearchDirectory(SourceFor(slapd.url()), gwtest::Slapd::kBindPassword);
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(found->entries.size(), 3000u);
  EXPECT_GE(found->pages, 3u);  // 1,000 a page at most
  EXPECT_EQ(found->entries.front().dn, "uid=user00000,ou=people,dc=corp,dc=example");
  const auto* mail = found->entries.front().Values("MAIL");
  ASSERT_NE(mail, nullptr);
  EXPECT_EQ(mail->front(), "user00000@corp.example");

  auto mapped = MapDirectoryEntries(found->entries, SourceFor(slapd.url()), {"corp.example"});
  ASSERT_EQ(mapped.users.size(), 3000u);
  EXPECT_EQ(mapped.users[7].first_name, "Given-user00007");
  EXPECT_EQ(mapped.users[7].last_name, "Family-user00007");
  EXPECT_EQ(mapped.users[7].source, "ldap");
}

TEST(LdapSearch, AnonymousBindReadsWhatTheDirectoryAllows) {
  gwtest::Slapd slapd({.people_ldif = People(20)});
  ASSERT_TRUE(slapd.started()) << slapd.log();
  LdapSource source = SourceFor(slapd.url());
  source.bind_dn.clear();
  auto found = SearchDirectory(source, "");
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(found->entries.size(), 20u);
}

TEST(LdapSearch, TheFilterIsUsedExactlyAsWritten) {
  gwtest::Slapd slapd({.people_ldif = People(20)});
  ASSERT_TRUE(slapd.started()) << slapd.log();
  LdapSource source = SourceFor(slapd.url());
  source.filter = "(&(mail=*)(uid=user0001*))";
  auto found = SearchDirectory(source, gwtest::Slapd::kBindPassword);
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(found->entries.size(), 10u);  // user00010 .. user00019
  source.filter = "(mail=*";              // unbalanced: the server's parser says no
  auto broken = SearchDirectory(source, gwtest::Slapd::kBindPassword);
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.status().message(), HasSubstr("search ou=people,dc=corp,dc=example"));
}

TEST(LdapSearch, AWrongPasswordIsAClearErrorWithoutThePassword) {
  gwtest::Slapd slapd({.people_ldif = People(5)});
  ASSERT_TRUE(slapd.started()) << slapd.log();
  auto found = SearchDirectory(SourceFor(slapd.url()), "not-the-password");
  ASSERT_FALSE(found.ok());
  EXPECT_THAT(
      found.status().message(),
      HasSubstr(slapd.url() + ": bind as cn=gateway,dc=corp,dc=example: Invalid credentials"));
  EXPECT_THAT(found.status().message(), Not(HasSubstr("not-the-password")));
}

TEST(LdapSearch, AMissingBaseIsAClearError) {
  gwtest::Slapd slapd({.people_ldif = People(5)});
  ASSERT_TRUE(slapd.started()) << slapd.log();
  LdapSource source = SourceFor(slapd.url());
  source.base_dn = "ou=nobody,dc=corp,dc=example";
  auto found = SearchDirectory(source, gwtest::Slapd::kBindPassword);
  ASSERT_FALSE(found.ok());
  EXPECT_THAT(found.status().message(),
              HasSubstr("search ou=nobody,dc=corp,dc=example: No such object"));
}

TEST(LdapSearch, AnUnreachableServerFailsFast) {
  int port = gwtest::PickFreePort();  // nothing listens there
  auto started = std::chrono::steady_clock::now();
  auto found = SearchDirectory(SourceFor(fmt::format("ldap://127.0.0.1:{}", port)), "irrelevant");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), gw::StatusCode::kUnavailable);
  EXPECT_THAT(found.status().message(), HasSubstr("connect: Can't contact LDAP server"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST(LdapSearch, AServerThatNeverAnswersTimesOut) {
  gwtest::SilentListener silent;  // accepts connections, never answers
  ASSERT_NE(silent.port(), 0);
  for (const char* scheme : {"ldap", "ldaps"}) {  // ldaps: the TLS handshake never completes
    LdapSource source = SourceFor(fmt::format("{}://127.0.0.1:{}", scheme, silent.port()));
    source.timeout_seconds = 1;
    auto started = std::chrono::steady_clock::now();
    auto found = SearchDirectory(source, "irrelevant");
    auto took = std::chrono::steady_clock::now() - started;
    ASSERT_FALSE(found.ok()) << scheme;
    EXPECT_EQ(found.status().code(), gw::StatusCode::kUnavailable) << found.status().message();
    EXPECT_THAT(found.status().message(),
                HasSubstr(scheme == std::string("ldap")
                              ? ": bind as cn=gateway,dc=corp,dc=example: Timed out"
                              : ": connect: no answer within 1 s"));
    EXPECT_LT(took, std::chrono::seconds(4)) << scheme;
  }
}

TEST(LdapSearch, ReferralsAreCountedNotFollowed) {
  std::string referral = std::string("dn: ou=branch,ou=people,") + gwtest::Slapd::kSuffix +
                         "\nobjectClass: referral\nobjectClass: extensibleObject\nou: branch\n"
                         "ref: ldap://branch.corp.example/ou=branch,dc=corp,dc=example\n\n";
  gwtest::Slapd slapd({.people_ldif = People(5) + referral});
  ASSERT_TRUE(slapd.started()) << slapd.log();
  auto found = SearchDirectory(SourceFor(slapd.url()), gwtest::Slapd::kBindPassword);
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(found->entries.size(), 5u);
  EXPECT_EQ(found->referrals_skipped, 1u);
}

TEST(LdapSearch, TlsVerifiesTheServerAgainstTheCaFileAndTheHostName) {
  gwtest::Slapd slapd({.people_ldif = People(10), .tls = true});
  ASSERT_TRUE(slapd.started()) << slapd.log();

  LdapSource ldaps = SourceFor(slapd.ldaps_url());
  auto untrusted = SearchDirectory(ldaps, gwtest::Slapd::kBindPassword);  // system CAs only
  ASSERT_FALSE(untrusted.ok());
  EXPECT_THAT(untrusted.status().message(),
              HasSubstr(slapd.ldaps_url() +
                        ": TLS: the server's certificate (issued by CN=gwctl-test-ca) is not "
                        "trusted by /etc/ssl/certs/ca-certificates.crt: unable to get local "
                        "issuer certificate"));

  ldaps.ca_file = slapd.ca_file().string();
  auto trusted = SearchDirectory(ldaps, gwtest::Slapd::kBindPassword);
  ASSERT_TRUE(trusted.ok()) << trusted.status().message();
  EXPECT_EQ(trusted->entries.size(), 10u);

  LdapSource by_ip = SourceFor(slapd.ldaps_ip_url());  // the certificate names localhost
  by_ip.ca_file = slapd.ca_file().string();
  auto mismatch = SearchDirectory(by_ip, gwtest::Slapd::kBindPassword);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_THAT(
      mismatch.status().message(),
      HasSubstr(slapd.ldaps_ip_url() + ": TLS: the server's certificate is for localhost, "));

  LdapSource start_tls = SourceFor(slapd.hostname_url());
  start_tls.start_tls = true;
  auto refused = SearchDirectory(start_tls, gwtest::Slapd::kBindPassword);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(),
              HasSubstr(slapd.hostname_url() + ": StartTLS: the server's certificate (issued by "
                                               "CN=gwctl-test-ca) is not trusted"));
  start_tls.ca_file = slapd.ca_file().string();
  auto upgraded = SearchDirectory(start_tls, gwtest::Slapd::kBindPassword);
  ASSERT_TRUE(upgraded.ok()) << upgraded.status().message();
  EXPECT_EQ(upgraded->entries.size(), 10u);

  start_tls.ca_file = "/nonexistent/ca.pem";
  auto missing = SearchDirectory(start_tls, gwtest::Slapd::kBindPassword);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("caFile /nonexistent/ca.pem does not exist"));
}

std::string AdPerson(const std::string& uid, const std::string& mail, int account_control,
                     const std::vector<std::string>& proxy_addresses) {
  std::string extra = fmt::format("userAccountControl: {}\n", account_control);
  for (const auto& p : proxy_addresses) extra += "proxyAddresses: " + p + "\n";
  return gwtest::PersonLdif(uid, mail, extra, "user");
}

TEST(LdapSearch, ActiveDirectoryEntriesMapToUsersWithAliases) {
  std::string ldif =
      AdPerson("alice", "alice@corp.example", 512,
               {"SMTP:alice.smith@corp.example", "smtp:alice@corp.example",
                "smtp:asmith@corp-alias.example", "smtp:alice@corp.onmicrosoft.com",
                "X500:/o=Corp/ou=Exchange/cn=Recipients/cn=alice", "SIP:alice@corp.example"}) +
      AdPerson("bob", "bob@corp.example", 514, {"SMTP:bob@corp.example"}) +  // disabled
      AdPerson("carol", "carol@corp.example", 66048, {}) +  // enabled, password never expires
      AdPerson("dave", "", 512, {}) +                       // no address at all
      AdPerson("erin", "erin@elsewhere.example", 512, {});
  gwtest::Slapd slapd({.people_ldif = ldif, .active_directory_schema = true});
  ASSERT_TRUE(slapd.started()) << slapd.log();
  LdapSource source = SourceFor(slapd.url());
  source.directory = DirectoryKind::kActiveDirectory;
  source.attributes.aliases = "proxyAddresses";
  source.filter = "(objectClass=user)";
  auto found = SearchDirectory(source, gwtest::Slapd::kBindPassword);
  ASSERT_TRUE(found.ok()) << found.status().message();
  ASSERT_EQ(found->entries.size(), 5u);

  auto mapped = MapDirectoryEntries(found->entries, source, {"corp.example", "corp-alias.example"});
  ASSERT_EQ(mapped.users.size(), 2u);
  EXPECT_EQ(mapped.users[0].address, "alice.smith@corp.example");  // SMTP: is the primary
  EXPECT_EQ(mapped.users[0].aliases,
            (std::vector<std::string>{"alice@corp.example", "asmith@corp-alias.example"}));
  EXPECT_EQ(mapped.users[1].address, "carol@corp.example");
  EXPECT_EQ(mapped.disabled, 1u);
  EXPECT_EQ(mapped.without_address, 1u);
  EXPECT_EQ(mapped.outside_domains,
            (std::vector<std::string>{"alice@corp.onmicrosoft.com", "erin@elsewhere.example"}));
  EXPECT_EQ(mapped.SkippedSummary(),
            "skipped 1 disabled accounts; 1 entries without an address; 2 addresses outside the "
            "customer's domains (alice@corp.onmicrosoft.com, erin@elsewhere.example)");
}

// End to end: the gwctl binary, a real gatewayd and a real slapd.
class LdapSyncTest : public ::testing::Test {
 protected:
  static constexpr const char* kPasswordVariable = "GWCTL_SECRET_TEST_CORP_LDAP";

  void SetUp() override {
    setenv(kPasswordVariable, gwtest::Slapd::kBindPassword, 1);
    ASSERT_TRUE(gatewayd_.started());
    ASSERT_TRUE(
        gatewayd_.Client(gwtest::Gatewayd::kOperatorToken)->EnsurePartner("northwind").ok());
    ASSERT_TRUE(slapd_.started()) << slapd_.log();
    repo_.Write("gwctl.yaml",
                "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: northwind}\nspec: {}\n");
    WriteCustomer(slapd_.url());
  }

  void WriteCustomer(const std::string& url, int min_users = 10) {
    repo_.Write("customers/corp.yaml", fmt::format(R"(apiVersion: gwctl/v1
kind: Customer
metadata: {{name: corp}}
spec:
  product: ultimate-defense
  billableUsers: 5000
  domains: {{primary: corp.example}}
  destinations: [{{host: mail.corp.example}}]
  users:
    mailboxes:
      - {{address: postmaster@corp.example}}
    ldap:
      - url: {}
        insecure: true
        bindDN: {}
        bindPasswordRef: env:{}
        baseDN: ou=people,{}
        filter: (mail=*)
        minUsers: {}
        timeoutSeconds: 3
)",
                                                   url, gwtest::Slapd::kBindDn, kPasswordVariable,
                                                   gwtest::Slapd::kSuffix, min_users));
  }

  // Runs gwctl with stdout and stderr captured.
  int Gwctl(const std::string& arguments, std::string& output) {
    auto out = repo_.root() / "out.txt";
    std::string command =
        fmt::format("GWCTL_TOKEN='{}' '{}' {} '{}' --gateway '{}' > '{}' 2>&1",
                    gwtest::Gatewayd::PartnerToken("northwind"), GWCTL_BINARY, arguments,
                    repo_.root().string(), gatewayd_.url(), out.string());
    int status = std::system(command.c_str());
    std::ifstream in(out);
    output.assign(std::istreambuf_iterator<char>(in), {});
    return WEXITSTATUS(status);
  }

  int64_t UsersOnGateway() {
    auto client = gatewayd_.Client(gwtest::Gatewayd::PartnerToken("northwind"));
    auto customer = client->GetCustomer("northwind", "corp");
    EXPECT_TRUE(customer.ok()) << customer.status().message();
    return customer.ok() ? customer->user_count : -1;
  }

  gwtest::Gatewayd gatewayd_{{"northwind"}};
  gwtest::Slapd slapd_{{.people_ldif = People(2000), .tls = true, .size_limit = 500}};
  testing::TempRepo repo_;
};

TEST_F(LdapSyncTest, TheGatewayFollowsTheDirectory) {
  std::string output;
  ASSERT_EQ(Gwctl("plan", output), 2) << output;
  EXPECT_THAT(output,
              HasSubstr("corp: inline: 1 user\n  corp: ldap " + slapd_.url() + ": 2000 users"));
  ASSERT_EQ(Gwctl("apply --yes", output), 0) << output;
  EXPECT_EQ(UsersOnGateway(), 2001);
  ASSERT_EQ(Gwctl("plan", output), 0) << output;
  EXPECT_THAT(output, HasSubstr("No changes."));

  // Two people leave and one joins.
  slapd_.Reload(People(1998, 2) + People(1, 5000));
  ASSERT_TRUE(slapd_.started()) << slapd_.log();
  ASSERT_EQ(Gwctl("apply --yes", output), 0) << output;
  EXPECT_THAT(output,
              HasSubstr("users: +1 ~0 -2   (-2: user00000@corp.example, user00001@corp.example)"));
  EXPECT_EQ(UsersOnGateway(), 2000);
}

TEST_F(LdapSyncTest, ADirectoryThatSuddenlyReturnsFewUsersDeletesNobody) {
  std::string output;
  ASSERT_EQ(Gwctl("apply --yes", output), 0) << output;
  ASSERT_EQ(UsersOnGateway(), 2001);
  slapd_.Reload(People(3));
  ASSERT_TRUE(slapd_.started()) << slapd_.log();
  EXPECT_EQ(Gwctl("apply --yes", output), 0) << output;
  EXPECT_THAT(output, HasSubstr("3 users from 3 entries, fewer than minUsers 10: treated as an "
                                "outage, not as deletions"));
  EXPECT_THAT(output, HasSubstr("warning: customer corp: ldap source " + slapd_.url() +
                                " was not read, so the users it gave stay on the gateway"));
  EXPECT_EQ(UsersOnGateway(), 2001);
}

TEST_F(LdapSyncTest, AWrongPasswordChangesNothing) {
  std::string output;
  ASSERT_EQ(Gwctl("apply --yes", output), 0) << output;
  setenv(kPasswordVariable, "wrong-password", 1);
  EXPECT_EQ(Gwctl("apply --yes", output), 0) << output;
  EXPECT_THAT(output, HasSubstr("Invalid credentials"));
  EXPECT_THAT(output, Not(HasSubstr("wrong-password")));
  EXPECT_THAT(output, HasSubstr("No changes."));
  EXPECT_EQ(UsersOnGateway(), 2001);
  unsetenv(kPasswordVariable);
  EXPECT_EQ(Gwctl("plan", output), 0) << output;
  EXPECT_THAT(output, HasSubstr(fmt::format("bindPasswordRef: secret env:{0}: the environment "
                                            "variable {0} is not set",
                                            kPasswordVariable)));
}

TEST_F(LdapSyncTest, AnUnreachableDirectoryChangesNothing) {
  std::string output;
  ASSERT_EQ(Gwctl("apply --yes", output), 0) << output;
  slapd_.Stop();
  EXPECT_EQ(Gwctl("apply --yes", output), 0) << output;
  EXPECT_THAT(output, HasSubstr("connect: Can't contact LDAP server"));
  EXPECT_EQ(UsersOnGateway(), 2001);
  // --no-ldap says the same without trying.
  EXPECT_EQ(Gwctl("plan --no-ldap", output), 0) << output;
  EXPECT_THAT(output, HasSubstr("was not read, so the users it gave stay on the gateway as they "
                                "are: --no-directories"));
}

TEST_F(LdapSyncTest, ATlsFailureChangesNothing) {
  std::string output;
  ASSERT_EQ(Gwctl("apply --yes", output), 0) << output;
  // The same server over StartTLS, but its certificate is not from a CA this machine trusts.
  std::string url = slapd_.hostname_url();
  WriteCustomer(url);
  std::string yaml;
  {
    std::ifstream in(repo_.root() / "customers/corp.yaml");
    yaml.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string cleartext = "        insecure: true\n";
  yaml.replace(yaml.find(cleartext), cleartext.size(), "        startTLS: true\n");
  repo_.Write("customers/corp.yaml", yaml);
  EXPECT_EQ(Gwctl("apply --yes", output), 0) << output;
  EXPECT_THAT(output, HasSubstr("ldap source " + url +
                                " was not read, so the users it gave stay on the gateway as they "
                                "are: StartTLS: the server's certificate (issued by "
                                "CN=gwctl-test-ca) is not trusted"));
  EXPECT_EQ(UsersOnGateway(), 2001);
}

}  // namespace
}  // namespace gwctl
