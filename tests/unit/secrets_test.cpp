// Secret references: what a manifest may name, and reading files beneath the secrets
// directory only (real files, links and a FIFO in a temporary directory).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gwctl/secrets.h"
#include "temp_repo.h"

namespace gwctl {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_.secrets_dir = dir_.root() / "secrets";
    fs::create_directories(policy_.secrets_dir);
  }
  void Write(const fs::path& path, const std::string& contents) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << contents;
  }
  gw::Result<std::string> Resolve(const std::string& reference) {
    return ResolveSecret(reference, policy_);
  }

  testing::TempRepo dir_;
  SecretPolicy policy_;
};

TEST_F(SecretsTest, EnvironmentReferencesNeedThePrefixAndNeverReachGwctlsCredentials) {
  setenv("GWCTL_SECRET_ACME", "acme-value", 1);
  setenv("GWCTL_TOKEN", "the-partner-token", 1);
  EXPECT_EQ(*Resolve("env:GWCTL_SECRET_ACME"), "acme-value");
  EXPECT_FALSE(CheckSecretReference("env:GWCTL_SECRET_ACME", policy_));
  EXPECT_THAT(*CheckSecretReference("env:HOME", policy_), HasSubstr("GWCTL_SECRET_*"));
  EXPECT_TRUE(CheckSecretReference("env:GWCTL_SECRET_", policy_));  // the prefix alone
  // A wider prefix still never reaches gwctl's own credentials.
  policy_.env_prefix = "GWCTL_";
  for (const char* own : {"env:GWCTL_TOKEN", "env:GWCTL_GIT_TOKEN", "env:GWCTL_WEBHOOK_SECRET"}) {
    auto refused = Resolve(own);
    ASSERT_FALSE(refused.ok()) << own;
    EXPECT_EQ(refused.status().code(), gw::StatusCode::kInvalidArgument);
    EXPECT_THAT(refused.status().message(), HasSubstr("gwctl's own credential"));
    EXPECT_THAT(refused.status().message(), Not(HasSubstr("the-partner-token")));
  }
  EXPECT_EQ(Resolve("env:GWCTL_SECRET_MISSING").status().code(), gw::StatusCode::kNotFound);
  unsetenv("GWCTL_SECRET_ACME");
  unsetenv("GWCTL_TOKEN");
}

TEST_F(SecretsTest, TheOperatorSetsThePolicyAndAnEmptyPrefixIsRefused) {
  setenv("GWCTL_SECRET_ENV_PREFIX", "CI_SECRET_", 1);
  setenv("GWCTL_SECRETS_DIR", "/run/secrets", 1);
  auto policy = SecretPolicy::FromEnvironment();
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ(policy->env_prefix, "CI_SECRET_");
  EXPECT_EQ(policy->secrets_dir, "/run/secrets");
  setenv("GWCTL_SECRET_ENV_PREFIX", "", 1);
  EXPECT_EQ(SecretPolicy::FromEnvironment().status().code(), gw::StatusCode::kInvalidArgument);
  unsetenv("GWCTL_SECRET_ENV_PREFIX");
  unsetenv("GWCTL_SECRETS_DIR");
}

TEST_F(SecretsTest, FilesAreReadBeneathTheSecretsDirectoryOnly) {
  Write(policy_.secrets_dir / "acme/ldap.password", "s3cret\n");
  EXPECT_EQ(*Resolve("file:acme/ldap.password"), "s3cret");

  // A link inside the directory is fine (Kubernetes secret volumes are made of them).
  Write(policy_.secrets_dir / "..data/token", "from-a-volume");
  fs::create_symlink("..data/token", policy_.secrets_dir / "token");
  EXPECT_EQ(*Resolve("file:token"), "from-a-volume");

  // A link out of it is not, nor are absolute paths or "..".
  Write(dir_.root() / "outside.txt", "not-a-secret-of-ours");
  fs::create_symlink(dir_.root() / "outside.txt", policy_.secrets_dir / "escape");
  fs::create_symlink("../outside.txt", policy_.secrets_dir / "escape-relative");
  for (const char* reference : {"file:escape", "file:escape-relative"}) {
    auto refused = Resolve(reference);
    ASSERT_FALSE(refused.ok()) << reference;
    EXPECT_THAT(refused.status().message(), HasSubstr("leaves the secrets directory"));
    EXPECT_THAT(refused.status().message(), Not(HasSubstr("not-a-secret-of-ours")));
  }
  for (const char* reference :
       {"file:/etc/hostname", "file:../outside.txt", "file:acme/../../outside.txt",
        "file:./acme/ldap.password", "file:acme//ldap.password"}) {
    EXPECT_TRUE(CheckSecretReference(reference, policy_)) << reference;
    EXPECT_EQ(Resolve(reference).status().code(), gw::StatusCode::kInvalidArgument) << reference;
  }
  EXPECT_EQ(Resolve("file:absent").status().code(), gw::StatusCode::kNotFound);
}

TEST_F(SecretsTest, OnlySmallRegularFilesAreSecrets) {
  Write(policy_.secrets_dir / "exactly", std::string(kMaxSecretBytes, 'x'));
  EXPECT_EQ(Resolve("file:exactly")->size(), kMaxSecretBytes);
  Write(policy_.secrets_dir / "too-big", std::string(kMaxSecretBytes + 1, 'x'));
  EXPECT_THAT(Resolve("file:too-big").status().message(), HasSubstr("larger than 64 KiB"));
  // A FIFO would block a reader forever, a device never ends: neither is read.
  ASSERT_EQ(mkfifo((policy_.secrets_dir / "fifo").c_str(), 0600), 0);
  EXPECT_THAT(Resolve("file:fifo").status().message(), HasSubstr("not a regular file"));
  fs::create_directories(policy_.secrets_dir / "a-directory");
  EXPECT_THAT(Resolve("file:a-directory").status().message(), HasSubstr("not a regular file"));
  // Without a secrets directory no file is read at all.
  policy_.secrets_dir.clear();
  Write(fs::current_path() / "gwctl-secret-in-cwd", "x");
  EXPECT_THAT(Resolve("file:gwctl-secret-in-cwd").status().message(),
              HasSubstr("no secrets directory is set"));
  fs::remove(fs::current_path() / "gwctl-secret-in-cwd");
}

TEST(SecretReferencesIn, FindsEveryReferenceByItsPointer) {
  auto spec = nlohmann::json::parse(R"({
    "panelLogin": {"email": "a@b.example", "passwordRef": "env:GWCTL_SECRET_A"},
    "users": {"ldap": [{"url": "ldaps://x", "bindPasswordRef": "file:x"}, {"url": "ldaps://y"}]},
    "notAReference": "env:HOME"})");
  EXPECT_EQ(SecretReferencesIn(spec),
            (std::map<std::string, std::string>{{"/panelLogin/passwordRef", "env:GWCTL_SECRET_A"},
                                                {"/users/ldap/0/bindPasswordRef", "file:x"}}));
}

}  // namespace
}  // namespace gwctl
