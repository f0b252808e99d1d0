// Directory entries to users (no server: entries are written by hand), and how directory
// users merge into a customer's desired state (with an in-memory resolver).
#include "directory_users.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gwctl/desired_state.h"
#include "temp_repo.h"

namespace gwctl {
namespace {

using ::testing::ElementsAre;

DirectoryEntry Entry(const std::string& dn,
                     std::map<std::string, std::vector<std::string>> attributes) {
  return DirectoryEntry{dn, std::move(attributes)};
}

std::vector<std::string> Addresses(const std::vector<gw::User>& users) {
  std::vector<std::string> out;
  for (const auto& u : users) out.push_back(u.address);
  return out;
}

TEST(DirectoryUsers, FurtherMailValuesBecomeAliasesAndAddressesAreNormalised) {
  LdapSource source;
  auto mapping =
      MapDirectoryEntries({Entry("uid=a", {{"mail", {"Ann@Corp.Example", "ann.other@corp.example"}},
                                           {"givenname", {"Ann"}},
                                           {"sn", {"Lee"}}})},
                          source, {"corp.example"});
  ASSERT_EQ(mapping.users.size(), 1u);
  EXPECT_EQ(mapping.users[0].address, "ann@corp.example");
  EXPECT_THAT(mapping.users[0].aliases, ElementsAre("ann.other@corp.example"));
  EXPECT_EQ(mapping.users[0].first_name, "Ann");
  EXPECT_EQ(mapping.users[0].last_name, "Lee");
  EXPECT_EQ(mapping.SkippedSummary(), "");
}

TEST(DirectoryUsers, ConfiguredAttributesAreRead) {
  LdapSource source;
  source.attributes = {"userPrincipalName", "firstName", "surname", "otherMailbox",
                       "extensionAttribute1"};
  auto mapping = MapDirectoryEntries(
      {Entry("cn=a", {{"userprincipalname", {"a@corp.example"}},
                      {"firstname", {"A"}},
                      {"surname", {"B"}},
                      {"othermailbox", {"a2@corp.example", "smtp:a3@corp.example"}},
                      {"extensionattribute1", {"TRUE"}}}),
       Entry("cn=b",
             {{"userprincipalname", {"b@corp.example"}}, {"extensionattribute1", {"maybe"}}}),
       Entry("cn=c", {{"userprincipalname", {"c@corp.example"}}})},
      source, {"corp.example"});
  ASSERT_EQ(mapping.users.size(), 3u);
  EXPECT_EQ(mapping.users[0].first_name, "A");
  EXPECT_EQ(mapping.users[0].last_name, "B");
  EXPECT_THAT(mapping.users[0].aliases, ElementsAre("a2@corp.example", "a3@corp.example"));
  EXPECT_TRUE(mapping.users[0].continuity);
  EXPECT_FALSE(mapping.users[1].continuity);  // not a yes/no: not activated
  EXPECT_FALSE(mapping.users[2].continuity);
}

TEST(DirectoryUsers, AnAddressTwoEntriesClaimGoesToTheFirstInDnOrder) {
  LdapSource source;
  auto mapping =
      MapDirectoryEntries({Entry("uid=a", {{"mail", {"shared@corp.example"}}}),
                           Entry("uid=b", {{"mail", {"b@corp.example", "shared@corp.example"}}}),
                           Entry("uid=c", {{"mail", {"shared@corp.example"}}})},
                          source, {"corp.example"});
  EXPECT_THAT(Addresses(mapping.users), ElementsAre("b@corp.example", "shared@corp.example"));
  EXPECT_TRUE(mapping.users[0].aliases.empty());
  EXPECT_THAT(mapping.duplicates, ElementsAre("shared@corp.example", "shared@corp.example"));
}

TEST(DirectoryUsers, InvalidAndForeignAddressesAreReportedNotImported) {
  LdapSource source;
  auto mapping =
      MapDirectoryEntries({Entry("uid=a", {{"mail", {"not an address"}}}),
                           Entry("uid=b", {{"mail", {"b@other.example"}}}),
                           Entry("uid=c", {{"mail", {"c@corp.example", "c@other.example"}}})},
                          source, {"corp.example"});
  EXPECT_THAT(Addresses(mapping.users), ElementsAre("c@corp.example"));
  EXPECT_TRUE(mapping.users[0].aliases.empty());
  EXPECT_THAT(mapping.invalid, ElementsAre("not an address (uid=a)"));
  EXPECT_THAT(mapping.outside_domains, ElementsAre("b@other.example", "c@other.example"));
}

TEST(DirectoryUsers, UserAccountControlIsReadOnlyForActiveDirectory) {
  std::vector<DirectoryEntry> entries = {
      Entry("cn=a", {{"mail", {"a@corp.example"}}, {"useraccountcontrol", {"514"}}})};
  LdapSource openldap;
  EXPECT_EQ(MapDirectoryEntries(entries, openldap, {"corp.example"}).users.size(), 1u);
  LdapSource active_directory = LdapSource::FromJson(
      {{"url", "ldap://dc"}, {"baseDN", "dc=x"}, {"directory", "active-directory"}});
  EXPECT_EQ(active_directory.attributes.aliases, "proxyAddresses");
  auto mapping = MapDirectoryEntries(entries, active_directory, {"corp.example"});
  EXPECT_TRUE(mapping.users.empty());
  EXPECT_EQ(mapping.disabled, 1u);
}

// BuildDesiredState with an in-memory resolver standing in for the directory.
class DirectoryMergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.WriteRepository();
    repo_.Write("customers/corp.yaml", R"(apiVersion: gwctl/v1
kind: Customer
metadata: {name: corp}
spec:
  product: ultimate-defense
  billableUsers: 100
  domains: {primary: corp.example, aliases: [corp.test]}
  destinations: mail.corp.example
  users:
    mailboxes:
      - {address: boss@corp.example, firstName: Inline}
      - {address: desk@corp.example, aliases: [help@corp.example]}
    ldap:
      - {url: ldap://dc1.corp.example, baseDN: "dc=corp,dc=example"}
      - {url: ldap://dc2.corp.example, baseDN: "dc=corp,dc=example"}
)");
    report_ = repo_.Validate();
    ASSERT_FALSE(report_.diagnostics.has_errors());
  }

  static gw::User User(const std::string& address, std::vector<std::string> aliases = {}) {
    gw::User u;
    u.address = address;
    u.aliases = std::move(aliases);
    u.source = "ldap";
    return u;
  }

  testing::TempRepo repo_;
  ValidationReport report_;
};

TEST_F(DirectoryMergeTest, InlineUsersWinAndEachSourceIsCounted) {
  std::vector<DirectoryRequest> seen;
  DesiredOptions options;
  options.directories[0].read = [&](const DirectoryRequest& request) -> gw::Result<DirectoryUsers> {
    EXPECT_EQ(request.domains, (std::set<std::string>{"corp.example", "corp.test"}));
    if (request.source->at("url") == "ldap://dc2.corp.example") {
      return gw::Status(gw::StatusCode::kUnavailable, "dc2 is down");
    }
    DirectoryUsers out;
    out.users = {User("boss@corp.example"),
                 User("new@corp.example", {"help@corp.example", "n@corp.test"})};
    out.detail = "skipped 1 disabled accounts";
    return out;
  };
  auto desired = BuildDesiredState(report_.manifests, options);
  ASSERT_TRUE(desired.ok()) << desired.status().message();
  const DesiredCustomer& corp = desired->customers.at(0);
  EXPECT_THAT(Addresses(corp.users),
              ElementsAre("boss@corp.example", "desk@corp.example", "new@corp.example"));
  EXPECT_EQ(corp.users[0].first_name, "Inline");                   // the inline entry won
  EXPECT_THAT(corp.users[2].aliases, ElementsAre("n@corp.test"));  // help@ is desk's
  EXPECT_EQ(corp.failed_sources, std::set<std::string>{"ldap"});   // dc2 failed
  ASSERT_EQ(corp.sources.size(), 3u);
  EXPECT_EQ(corp.sources[0].kind, "inline");
  EXPECT_EQ(corp.sources[0].users, 2u);
  EXPECT_EQ(corp.sources[1].name, "ldap://dc1.corp.example");
  EXPECT_EQ(corp.sources[1].users, 1u);
  EXPECT_EQ(corp.sources[1].detail, "skipped 1 disabled accounts");
  EXPECT_TRUE(corp.sources[2].failed);
  EXPECT_EQ(corp.sources[2].detail, "dc2 is down");
}

TEST_F(DirectoryMergeTest, CustomersNotPlannedAreNotAskedFor) {
  int calls = 0;
  DesiredOptions options;
  options.directories[0].read = [&](const DirectoryRequest&) -> gw::Result<DirectoryUsers> {
    ++calls;
    return DirectoryUsers{};
  };
  options.only = std::set<std::string>{"someone-else"};
  auto desired = BuildDesiredState(report_.manifests, options);
  ASSERT_TRUE(desired.ok());
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(desired->customers.at(0).failed_sources, std::set<std::string>{"ldap"});
}

}  // namespace
}  // namespace gwctl
