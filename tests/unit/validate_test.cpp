#include "gwctl/validate.h"

#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "temp_repo.h"

namespace gwctl {
namespace {

using ::gwctl::testing::Lines;
using ::gwctl::testing::TempRepo;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The diagnostics but the no-recipients warning, which the small customers of these tests
// (no users) all draw; NoRecipients below is its test.
std::vector<std::string> Reported(const Diagnostics& diagnostics) {
  std::vector<std::string> out;
  for (const std::string& line : Lines(diagnostics))
    if (line.find("[no-recipients]") == std::string::npos) out.push_back(line);
  return out;
}

std::string CustomerYaml(const std::string& name, const std::string& domain,
                         const std::string& extra = "") {
  return "apiVersion: gwctl/v1\nkind: Customer\nmetadata: {name: " + name +
         "}\nspec:\n  product: ultimate-access\n  billableUsers: 10\n  domains: {primary: " +
         domain + "}\n  destinations: mail." + domain + "\n" + extra;
}

// recipientAllow names local parts; one that no user or alias has is refused with 550
// before the list applies, which is said where it is written.
TEST(ValidateTest, ARecipientAllowThatNamesNoAddressIsWarnedAbout) {
  TempRepo repo;
  repo.WriteRepository();
  repo.Write("customers/acme.yaml",
             CustomerYaml("acme", "acme.example",
                          "  users: {mailboxes: [{address: a@acme.example, aliases: "
                          "[postmaster@acme.example]}]}\n"
                          "  lists: {recipientAllow: [postmaster, abuse]}\n"));
  repo.Write("customers/finds.yaml", CustomerYaml("finds", "finds.example",
                                                  "  users: {addressDiscovery: true}\n"
                                                  "  lists: {recipientAllow: [abuse]}\n"));
  auto report = repo.Validate();
  EXPECT_THAT(Reported(report.diagnostics),
              ElementsAre("customers/acme.yaml:10:40: warning: 'abuse' names no user or alias of "
                          "this customer: mail to abuse@acme.example is refused (550) before "
                          "recipientAllow applies; give a user the alias abuse@acme.example "
                          "[recipient-allow-unknown]"));
}

TEST(ValidateTest, ACustomerThatWouldRefuseAllItsMailIsWarnedAbout) {
  TempRepo repo;
  repo.WriteRepository();
  repo.Write("customers/none.yaml", CustomerYaml("none", "none.example"));
  repo.Write("customers/users.yaml",
             CustomerYaml("users", "users.example",
                          "  users: {mailboxes: [{address: a@users.example}]}\n"));
  repo.Write("customers/discovers.yaml",
             CustomerYaml("discovers", "discovers.example", "  users: {addressDiscovery: true}\n"));
  repo.Write("customers/unfiltered.yaml",
             CustomerYaml("unfiltered", "unfiltered.example", "  filtering: {enabled: false}\n"));
  repo.Write("customers/tenant.yaml",
             CustomerYaml("tenant", "tenant.example",
                          "  users:\n    microsoft365:\n      - {tenant: t.onmicrosoft.com, "
                          "clientId: 6e1f2b1c-9d3a-4c51-8a2e-0f4b7c2d9e10, clientSecretRef: "
                          "env:GWCTL_SECRET_T}\n"));
  auto report = repo.Validate();
  EXPECT_THAT(Lines(report.diagnostics),
              ElementsAre("customers/none.yaml:5:3: warning: this customer has no users, no "
                          "directory source (users.ldap, users.microsoft365, "
                          "users.googleWorkspace) and no addressDiscovery: every message to it "
                          "would be refused with 550 [no-recipients]"));
}

TEST(ValidateTest, EmptyRepositoryNeedsARepositoryDocument) {
  TempRepo repo;
  auto report = repo.Validate();
  EXPECT_THAT(
      Reported(report.diagnostics),
      ElementsAre(
          "gwctl.yaml:0:0: error: no Repository document found: a repository needs a gwctl.yaml "
          "with kind: Repository [repository-count]"));
}

TEST(ValidateTest, TwoRepositoryDocumentsAreAnError) {
  TempRepo repo;
  repo.WriteRepository();
  repo.Write("other.yaml",
             "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: second}\nspec: {}\n");
  auto report = repo.Validate();
  EXPECT_THAT(
      Reported(report.diagnostics),
      ElementsAre(
          "other.yaml:3:18: error: a second Repository document; the repository is already defined "
          "at gwctl.yaml:1 [repository-count]"));
}

TEST(ValidateTest, ADocumentThatIsAListIsAnError) {
  TempRepo repo;
  repo.WriteRepository();
  repo.Write("list.yaml", "- a\n- b\n");
  auto report = repo.Validate();
  EXPECT_THAT(
      Reported(report.diagnostics),
      ElementsAre(
          "list.yaml:1:1: error: a manifest must be a mapping with apiVersion, kind, metadata and "
          "spec [schema]"));
}

TEST(ValidateTest, SymlinksOutOfTheRepositoryAreNotRead) {
  TempRepo repo;
  TempRepo outside;
  repo.WriteRepository();
  outside.Write("secret.yaml", "apiVersion: gwctl/v1\n");
  std::filesystem::create_symlink(outside.root() / "secret.yaml", repo.root() / "link.yaml");
  std::filesystem::create_directories(repo.root() / "customers");
  std::filesystem::create_directory_symlink(outside.root(),
                                            repo.root() / "customers" / "elsewhere");
  auto report = repo.Validate();
  ASSERT_EQ(report.diagnostics.items().size(), 2u);
  EXPECT_EQ(report.diagnostics.items()[0].location.file, "customers/elsewhere");
  EXPECT_EQ(report.diagnostics.items()[0].rule, "path-escape");
  EXPECT_EQ(report.diagnostics.items()[1].location.file, "link.yaml");
  EXPECT_EQ(report.diagnostics.items()[1].rule, "path-escape");
}

TEST(ValidateTest, CsvPathsMayNotLeaveTheRepository) {
  TempRepo repo;
  TempRepo outside;
  repo.WriteRepository();
  outside.Write("users.csv", "email\nx@acme.example\n");
  std::filesystem::create_directories(repo.root() / "customers");
  std::filesystem::create_symlink(outside.root() / "users.csv",
                                  repo.root() / "customers" / "linked.csv");
  repo.Write("customers/acme.yaml",
             CustomerYaml("acme", "acme.example",
                          "  users:\n    csv: [../../etc/passwd, /etc/passwd, linked.csv]\n"));
  auto report = repo.Validate();
  EXPECT_THAT(
      Reported(report.diagnostics),
      ElementsAre(
          "customers/acme.yaml:10:11: error: '../../etc/passwd' leaves the repository [csv-path]",
          "customers/acme.yaml:10:29: error: '/etc/passwd' is absolute; paths are relative to the "
          "manifest, inside the repository [csv-path]",
          "customers/acme.yaml:10:42: error: customers/linked.csv: leaves the repository (through "
          "a "
          "symbolic link) [path-escape]"));
}

TEST(ValidateTest, AFiftyMegabyteFileIsRefusedQuickly) {
  TempRepo repo;
  repo.WriteRepository();
  repo.Write("huge.yaml", "# " + std::string(50u << 20, 'x') + "\n");
  auto started = std::chrono::steady_clock::now();
  auto report = repo.Validate();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_THAT(
      Reported(report.diagnostics),
      ElementsAre(
          "huge.yaml:0:0: error: file is larger than the 16 MiB limit for manifests [file-size]"));
}

TEST(ValidateTest, HiddenDirectoriesAndNestedRepositoriesAreSkipped) {
  TempRepo repo;
  repo.WriteRepository();
  repo.Write(".github/workflows/ci.yml", "on: push\n");
  repo.Write("vendor/other/gwctl.yaml", "not: ours\n");
  repo.Write("vendor/other/customers/x.yaml", "not: ours\n");
  auto report = repo.Validate();
  EXPECT_TRUE(report.diagnostics.items().empty()) << Reported(report.diagnostics)[0];
  EXPECT_EQ(report.files, 1u);
}

TEST(ValidateTest, DefaultsMergeKeyByKeyAndTheCustomerWins) {
  TempRepo repo;
  repo.WriteRepository();
  repo.Write("defaults.yaml",
             "apiVersion: gwctl/v1\nkind: PartnerDefaults\nmetadata: {name: defaults}\nspec:\n  "
             "filtering:\n"
             "    level: premium\n    contentFilter:\n      maxMessageSize: 150MiB\n"
             "      forbiddenAttachments: [docmacro, executable]\n");
  repo.Write(
      "customers/acme.yaml",
      CustomerYaml("acme", "acme.example",
                   "  filtering:\n    contentFilter:\n      forbiddenAttachments: [archive]\n"));
  auto report = repo.Validate();
  ASSERT_FALSE(report.diagnostics.has_errors());
  ASSERT_EQ(report.manifests.customers.size(), 1u);
  const auto& effective = report.manifests.customers[0].effective;
  const auto& filtering = effective.value()["spec"]["filtering"];
  EXPECT_EQ(filtering["level"], "premium");
  EXPECT_EQ(filtering["contentFilter"]["maxMessageSize"], "150MiB");
  EXPECT_EQ(filtering["contentFilter"]["forbiddenAttachments"], nlohmann::json::array({"archive"}));
  EXPECT_EQ(effective.LocationOf("/spec/filtering/level").file, "defaults.yaml");
  EXPECT_EQ(effective.LocationOf("/spec/filtering/contentFilter/maxMessageSize").line, 8);
  EXPECT_EQ(effective.LocationOf("/spec/filtering/contentFilter/forbiddenAttachments").file,
            "customers/acme.yaml");
}

TEST(ValidateTest, InheritedValuesAreCheckedAgainstEachCustomer) {
  TempRepo repo;
  repo.WriteRepository();
  repo.Write("defaults.yaml",
             "apiVersion: gwctl/v1\nkind: PartnerDefaults\nmetadata: {name: defaults}\nspec:\n"
             "  continuity: {enabled: true}\n");
  repo.Write("customers/acme.yaml", CustomerYaml("acme", "acme.example"));
  std::string globex = CustomerYaml("globex", "globex.example");
  globex.replace(globex.find("ultimate-access"), 15, "ultimate-defense");
  repo.Write("customers/globex.yaml", globex);
  auto report = repo.Validate();
  EXPECT_THAT(
      Reported(report.diagnostics),
      ElementsAre(
          "customers/globex.yaml:5:12: error: continuity is enabled (defaults.yaml:5) but needs "
          "product ultimate-access, not ultimate-defense [continuity]"));
}

TEST(ValidateTest, CsvUsersMergeWithInlineMailboxesAndReportBadRows) {
  TempRepo repo;
  repo.WriteRepository();
  repo.Write(
      "customers/acme.yaml",
      CustomerYaml(
          "acme", "acme.example",
          "  users:\n    mailboxes:\n      - {address: alice@acme.example, firstName: Alice}\n"
          "    csv: [acme.csv]\n"));
  repo.Write("customers/acme.csv",
             "email,first_name,type,aliases\r\n"
             "ALICE@acme.example,Alicia,,\r\n"  // merged: the inline entry wins
             "bob@acme.example,Bob,,b@acme.example\r\n"
             "carol@other.example,Carol,,\r\n"
             "bob@acme.example,Robert,,\r\n"
             "dave@acme.example,Dave,boss,\r\n"
             "erin@acme.example,Erin\r\n"
             "frank@acme.example,Frank,,bob@acme.example;f@acme.example\r\n");
  auto report = repo.Validate();
  EXPECT_THAT(Reported(report.diagnostics),
              ElementsAre("customers/acme.csv:4:1: error: 'carol@other.example' is not in this "
                          "customer's domains (acme.example) "
                          "[user-domain]",
                          "customers/acme.csv:5:1: error: address 'bob@acme.example' is already "
                          "defined at customers/acme.csv:3 "
                          "[user-duplicate]",
                          "customers/acme.csv:6:24: error: type 'boss' must be one of: mailbox, "
                          "shared, resource, alias [csv]",
                          "customers/acme.csv:7:1: error: row has 2 fields; the header has 4 [csv]",
                          "customers/acme.csv:8:1: error: address 'bob@acme.example' is already "
                          "defined at customers/acme.csv:3 "
                          "[user-duplicate]"));
  const auto& users = report.manifests.customers[0].users;
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0].address, "alice@acme.example");
  EXPECT_EQ(users[0].first_name, "Alice");
  EXPECT_EQ(users[0].source, "manifest");
  EXPECT_EQ(users[1].address, "bob@acme.example");
  EXPECT_EQ(users[1].aliases, std::vector<std::string>{"b@acme.example"});
}

TEST(ValidateTest, UsersAreActivatedForContinuityInlineAndInCsv) {
  TempRepo repo;
  repo.WriteRepository();
  repo.Write("customers/acme.yaml",
             CustomerYaml("acme", "acme.example",
                          "  users:\n    mailboxes:\n"
                          "      - {address: alice@acme.example, continuity: true}\n"
                          "      - {address: ann@acme.example}\n"
                          "    csv: [acme.csv]\n"));
  repo.Write("customers/acme.csv",
             "email,continuity\n"
             "bob@acme.example,Yes\n"
             "carol@acme.example,\n"
             "dave@acme.example,0\n"
             "erin@acme.example,sometimes\n");
  auto report = repo.Validate();
  EXPECT_THAT(Reported(report.diagnostics),
              ElementsAre("customers/acme.csv:5:19: error: continuity 'sometimes' must be yes or "
                          "no (or true/false, 1/0, empty for no) [csv]"));
  std::map<std::string, bool> activated;
  for (const auto& user : report.manifests.customers[0].users) {
    activated[user.address] = user.continuity;
  }
  EXPECT_THAT(activated, ElementsAre(std::pair{std::string("alice@acme.example"), true},
                                     std::pair{std::string("ann@acme.example"), false},
                                     std::pair{std::string("bob@acme.example"), true},
                                     std::pair{std::string("carol@acme.example"), false},
                                     std::pair{std::string("dave@acme.example"), false}));
}

TEST(ValidateTest, DomainsAreComparedAfterIdnaNormalisation) {
  TempRepo repo;
  repo.WriteRepository();
  repo.Write("customers/a.yaml", CustomerYaml("a", "bücher.example"));
  repo.Write("customers/b.yaml", CustomerYaml("b", "XN--BCHER-KVA.example"));
  repo.Write("customers/c.yaml", CustomerYaml("c", "eu.bücher.example"));
  auto report = repo.Validate();
  EXPECT_THAT(
      Reported(report.diagnostics),
      ElementsAre(
          "customers/b.yaml:7:22: error: domain 'xn--bcher-kva.example' is already claimed by "
          "customer 'a' (customers/a.yaml:7) [domain-duplicate]",
          "customers/c.yaml:7:22: warning: 'eu.xn--bcher-kva.example' is a subdomain of "
          "'xn--bcher-kva.example', which belongs to customer 'a' [subdomain]"));
}

TEST(ValidateTest, RelaySourcesMayNotOverlapBetweenCustomers) {
  TempRepo repo;
  repo.WriteRepository();
  repo.Write("customers/a.yaml",
             CustomerYaml("a", "a.example",
                          "  outboundRelay: {sources: [198.51.100.0/24, 203.0.113.1]}\n"));
  repo.Write("customers/b.yaml",
             CustomerYaml("b", "b.example", "  outboundRelay: {sources: \"198.51.100.64/26\"}\n"));
  repo.Write("customers/c.yaml",
             CustomerYaml("c", "c.example", "  outboundRelay: {sources: [203.0.113.2]}\n"));
  auto report = repo.Validate();
  EXPECT_THAT(
      Reported(report.diagnostics),
      ElementsAre(
          "customers/b.yaml:9:28: error: relay source 198.51.100.64/26 overlaps 198.51.100.0/24 of "
          "customer 'a' (customers/a.yaml:9) [relay-source-conflict]"));
}

TEST(ValidateTest, ReportsMistakesInEveryFileInOneRun) {
  TempRepo repo;
  repo.WriteRepository();
  repo.Write("customers/a.yaml", CustomerYaml("a", "a.example", "  colour: red\n"));
  repo.Write("customers/b.yaml", "apiVersion: gwctl/v1\nkind: Customer\n\tbad\n");
  repo.Write("customers/c.yaml", CustomerYaml("a", "c.example"));
  auto report = repo.Validate();
  std::vector<std::string> lines = Reported(report.diagnostics);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], HasSubstr("customers/a.yaml:"));
  EXPECT_THAT(lines[1], HasSubstr("customers/b.yaml:"));
  EXPECT_THAT(lines[2], HasSubstr("[name-duplicate]"));
}

TEST(ValidateTest, TheExamplesAreValid) {
  auto tree = OpenDirectoryTree(GWCTL_SOURCE_DIR "/examples");
  ASSERT_TRUE(tree.ok());
  auto report = ValidateRepository(**tree);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->diagnostics.items().empty()) << Lines(report->diagnostics)[0];
  EXPECT_GE(report->manifests.customers.size(), 6u);
  EXPECT_EQ(report->manifests.partner(), "northwind-msp");
}

}  // namespace
}  // namespace gwctl
