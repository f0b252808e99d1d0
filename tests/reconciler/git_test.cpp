// Manifests straight from git: real repositories made with the git CLI in temporary
// directories, and a remote served by `git daemon` on loopback.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "change_scope.h"
#include "gatewayd_fixture.h"
#include "git_cli.h"
#include "git_source.h"
#include "gwctl/validate.h"
#include "loopback.h"
#include "process.h"
#include "temp_repo.h"

namespace gwctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using gwtest::Git;

std::string CustomerYaml(const std::string& name, int billable = 5, const std::string& csv = "") {
  return fmt::format(
      "apiVersion: gwctl/v1\nkind: Customer\nmetadata: {{name: {0}}}\nspec:\n  product: "
      "ultimate-defense\n"
      "  billableUsers: {1}\n  domains: {{primary: {0}.example}}\n  destinations: "
      "mx.{0}.example\n{2}",
      name, billable, csv.empty() ? "" : "  users: {csv: [" + csv + "]}\n");
}

int RunGwctl(const std::vector<std::string>& args, std::string* output = nullptr) {
  std::vector<std::string> argv = {GWCTL_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  gwtest::ChildProcess process(argv);
  int code = process.Wait();
  if (output) *output = process.output();
  return code;
}

class GitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.WriteRepository("northwind");
    repo_.Write("customers/a.yaml", CustomerYaml("a"));
    repo_.Write("customers/b.yaml", CustomerYaml("b"));
    repo_.Write("customers/c.yaml", CustomerYaml("c", 5, "c.csv"));
    repo_.Write("customers/c.csv", "email\nx@c.example\n");
    repo_.Write("customers/d.yaml", CustomerYaml("d"));
    Git(repo_.root(), "init -q");
    Git(repo_.root(), "add -A");
    Git(repo_.root(), "commit -q -m first");
    Git(repo_.root(), "tag v1");
    // The second commit: a changed, b renamed, c's CSV changed, d deleted.
    repo_.Write("customers/a.yaml", CustomerYaml("a", 9));
    Git(repo_.root(), "mv customers/b.yaml customers/bee.yaml");
    repo_.Write("customers/c.csv", "email\nx@c.example\ny@c.example\n");
    Git(repo_.root(), "rm -q customers/d.yaml");
    Git(repo_.root(), "add -A");
    Git(repo_.root(), "commit -q -m second");
    // Uncommitted edits are not read: gwctl reads commits.
    repo_.Write("customers/a.yaml", "this: [is not committed\n");
  }

  std::vector<std::string> CustomersAt(GitSource& git, const std::string& ref) {
    auto commit = git.Resolve(ref);
    EXPECT_TRUE(commit.ok()) << commit.status().message();
    auto tree = git.TreeAt(*commit);
    auto report = ValidateRepository(**tree);
    EXPECT_TRUE(report.ok());
    EXPECT_FALSE(report->diagnostics.has_errors());
    std::vector<std::string> names;
    for (const auto& c : report->manifests.customers) names.push_back(c.name);
    return names;
  }

  testing::TempRepo repo_;
};

TEST_F(GitTest, ReadsATagAndABranchWithoutACheckout) {
  auto git = GitSource::Open(repo_.root().string());
  ASSERT_TRUE(git.ok()) << git.status().message();
  EXPECT_THAT(CustomersAt(**git, "v1"), ElementsAre("a", "b", "c", "d"));
  EXPECT_THAT(CustomersAt(**git, "main"), ElementsAre("a", "b", "c"));
  EXPECT_NE(*(*git)->Resolve("v1"), *(*git)->Resolve("main"));
  EXPECT_EQ((*git)->Resolve("main")->size(), 40u);
  // An abbreviated commit works too.
  EXPECT_THAT(CustomersAt(**git, (*git)->Resolve("v1")->substr(0, 8)),
              ElementsAre("a", "b", "c", "d"));
}

TEST_F(GitTest, SinceSelectsExactlyTheChangedCustomers) {
  auto git = GitSource::Open(repo_.root().string());
  ASSERT_TRUE(git.ok());
  std::string base = *(*git)->Resolve("v1"), head = *(*git)->Resolve("main");
  auto tree = (*git)->TreeAt(head);
  auto report = ValidateRepository(**tree);
  auto change = CompareCommits(**git, base, head);
  ASSERT_TRUE(change.ok()) << change.status().message();
  auto affected = CustomersAffected(*change, report->manifests);
  ASSERT_TRUE(affected.ok()) << affected.status().message();
  ASSERT_TRUE(affected->has_value());
  // a: edited; b: renamed (its file changed name); c: its CSV; d: deleted (read at v1).
  EXPECT_THAT(std::vector<std::string>((*affected)->begin(), (*affected)->end()),
              ElementsAre("a", "b", "c", "d"));

  // Nothing changed between a commit and itself.
  auto none = CustomersAffected(*CompareCommits(**git, head, head), report->manifests);
  EXPECT_TRUE((*none)->empty());

  // A change to the defaults affects every customer.
  repo_.Write("customers/a.yaml", CustomerYaml("a", 9));
  repo_.Write("defaults.yaml",
              "apiVersion: gwctl/v1\nkind: PartnerDefaults\nmetadata: {name: d}\nspec:\n"
              "  filtering: {level: standard}\n");
  Git(repo_.root(), "add -A");
  Git(repo_.root(), "commit -q -m defaults");
  auto git2 = GitSource::Open(repo_.root().string());
  std::string third = *(*git2)->Resolve("main");
  auto tree3 = (*git2)->TreeAt(third);
  auto report3 = ValidateRepository(**tree3);
  auto all = CustomersAffected(*CompareCommits(**git2, head, third), report3->manifests);
  ASSERT_TRUE(all.ok());
  EXPECT_FALSE(all->has_value());
}

TEST_F(GitTest, UnknownRefsAndRepositoriesAreClearErrors) {
  auto git = GitSource::Open(repo_.root().string());
  auto missing = (*git)->Resolve("no-such-branch");
  EXPECT_EQ(missing.status().code(), gw::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("no branch, tag or commit named 'no-such-branch'"));

  std::string output;
  EXPECT_EQ(RunGwctl({"plan", "--repo", repo_.root().string(), "--ref", "no-such-branch"}, &output),
            4);
  EXPECT_THAT(output, HasSubstr("no branch, tag or commit named 'no-such-branch'"));

  setenv("XDG_CACHE_HOME", (repo_.root() / "cache").c_str(), 1);  // keep the failed clone here
  auto store = repo_.root() / "never-created.db";
  EXPECT_EQ(RunGwctl({"apply", "--yes", "--repo", "git://127.0.0.1:9/nothing.git", "--gateway",
                      "embedded:" + store.string()},
                     &output),
            4);
  EXPECT_THAT(output, HasSubstr("cannot clone git://127.0.0.1:9/nothing.git"));
  EXPECT_FALSE(std::filesystem::exists(store));  // nothing was applied, not even a store made
}

TEST_F(GitTest, ApplyRecordsTheCommitAndPlanShowsBoth) {
  std::string store = "embedded:" + (repo_.root() / "gw.db").string();
  std::string head = Git(repo_.root(), "rev-parse HEAD");
  head.pop_back();
  std::string output;
  ASSERT_EQ(RunGwctl({"apply", "--yes", "--repo", repo_.root().string(), "--ref", "main",
                      "--gateway", store},
                     &output),
            0)
      << output;
  auto client = std::move(gw::ConnectGateway(store)).value();
  auto customer = client->GetCustomer("northwind", "a");
  ASSERT_TRUE(customer.ok());
  EXPECT_EQ(customer->applied_revision, head);
  EXPECT_EQ(customer->spec["billableUsers"], 9);  // the committed value, not the working copy

  // Planning the older tag against it: both commits are named.
  std::string v1 = Git(repo_.root(), "rev-parse v1");
  v1.pop_back();
  // The plan goes to stdout, which RunGwctl does not keep: write it to a file.
  auto out = repo_.root() / "plan.txt";
  std::string command = fmt::format("'{}' plan --repo '{}' --ref v1 --gateway '{}' > '{}' 2>&1",
                                    GWCTL_BINARY, repo_.root().string(), store, out.string());
  EXPECT_EQ(WEXITSTATUS(std::system(command.c_str())), 2);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_THAT(text, HasSubstr(fmt::format("Repository at {}; gateway at {} (3 customers).",
                                          v1.substr(0, 7), head.substr(0, 7))));
  EXPECT_THAT(text, HasSubstr("+ customer d"));
}

TEST_F(GitTest, APlanSinceABaseShowsOnlyWhatTheChangeDoes) {
  std::string store = "embedded:" + (repo_.root() / "gw.db").string();
  std::string output;
  ASSERT_EQ(RunGwctl({"apply", "--yes", "--repo", repo_.root().string(), "--ref", "v1", "--gateway",
                      store},
                     &output),
            0)
      << output;
  auto out = repo_.root() / "plan.txt";
  std::string command =
      fmt::format("'{}' plan --repo '{}' --ref main --since v1 --gateway '{}' > '{}' 2>&1",
                  GWCTL_BINARY, repo_.root().string(), store, out.string());
  EXPECT_EQ(WEXITSTATUS(std::system(command.c_str())), 2);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_THAT(text, HasSubstr("customer a (customers/a.yaml)\n  ~ billableUsers: 5 -> 9"));
  EXPECT_THAT(text, HasSubstr("customer c (customers/c.yaml)\n  users: +1 ~0 -0"));
  EXPECT_THAT(text,
              HasSubstr("- customer d: owned by this repository, no longer in the manifests"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("customer b")));  // renamed, unchanged
  EXPECT_THAT(text, HasSubstr("Plan: 0 to create, 2 to update, 1 to delete; users +1 ~0 -0."));
}

TEST_F(GitTest, RequireSignedAcceptsOnlyCommitsSignedByAnAllowedKey) {
  auto keys = gwtest::MakeTempDir("signing-keys");
  for (const char* name : {"allowed", "stranger"}) {
    std::string command =
        fmt::format("ssh-keygen -q -t ed25519 -N '' -C {0} -f '{1}/{0}'", name, keys.string());
    ASSERT_EQ(std::system(command.c_str()), 0) << "ssh-keygen is needed (openssh-client)";
  }
  std::ifstream public_key(keys / "allowed.pub");
  std::string key((std::istreambuf_iterator<char>(public_key)), {});
  std::ofstream(keys / "allowed_signers") << "t@example.com " << key;
  repo_.Write("customers/a.yaml", CustomerYaml("a", 9));  // undo SetUp's uncommitted edit
  auto sign = [&](const char* with, const char* message) {
    repo_.Write(fmt::format("customers/{}.yaml", message), CustomerYaml(message));
    Git(repo_.root(), "add -A");
    Git(repo_.root(), fmt::format("-c gpg.format=ssh -c user.signingkey='{}/{}' commit -q -S -m {}",
                                  keys.string(), with, message));
  };
  sign("allowed", "signed");
  std::string good = Git(repo_.root(), "rev-parse HEAD");
  sign("stranger", "foreign");

  auto run = [&](const std::string& ref, std::string* output) {
    return RunGwctl({"validate", "--repo", repo_.root().string(), "--ref", ref, "--require-signed",
                     "--allowed-signers", (keys / "allowed_signers").string()},
                    output);
  };
  std::string output;
  EXPECT_EQ(run(good.substr(0, 12), &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("is signed by an allowed key"));
  EXPECT_EQ(run("main", &output), 3);
  EXPECT_THAT(output, HasSubstr("signed by an SSH key that is not in"));
  EXPECT_EQ(run("v1", &output), 3);
  EXPECT_THAT(output, HasSubstr("is not signed, and --require-signed is set"));
  std::filesystem::remove_all(keys);
}

TEST_F(GitTest, RequireSignedChecksGpgSignaturesAgainstAKeyring) {
  auto dir = gwtest::MakeTempDir("gpg-keys");
  for (const char* who : {"allowed", "stranger"}) {
    std::filesystem::create_directories(dir / who);
    std::filesystem::permissions(dir / who, std::filesystem::perms::owner_all);
    std::string command = fmt::format(
        "gpg --homedir '{0}/{1}' --batch --passphrase '' --quick-gen-key '{1} <{1}@example.com>' "
        "ed25519 sign never "
        ">/dev/null 2>&1 && gpg --homedir '{0}/{1}' --export > '{0}/{1}.gpg'",
        dir.string(), who);
    ASSERT_EQ(std::system(command.c_str()), 0) << "gpg is needed (gnupg)";
  }
  repo_.Write("customers/a.yaml", CustomerYaml("a", 9));  // undo SetUp's uncommitted edit
  repo_.Write("customers/g.yaml", CustomerYaml("g"));
  Git(repo_.root(), "add -A");
  setenv("GNUPGHOME", (dir / "allowed").c_str(), 1);
  Git(repo_.root(), "-c user.signingkey=allowed@example.com commit -q -S -m gpg-signed");
  unsetenv("GNUPGHOME");
  std::string output;
  auto run = [&](const char* keyring) {
    return RunGwctl({"validate", "--repo", repo_.root().string(), "--require-signed",
                     "--allowed-gpg-keyring", (dir / keyring).string()},
                    &output);
  };
  EXPECT_EQ(run("allowed.gpg"), 0) << output;
  EXPECT_EQ(run("stranger.gpg"), 3) << output;
  EXPECT_THAT(output, HasSubstr("the GPG signature is not by a key in"));
  for (const char* who : {"allowed", "stranger"}) {  // key generation started an agent each
    std::system(
        fmt::format("gpgconf --homedir '{}/{}' --kill gpg-agent", dir.string(), who).c_str());
  }
  std::filesystem::remove_all(dir);
}

TEST_F(GitTest, AGitServerThatNeverAnswersTimesOut) {
  gwtest::SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  setenv("XDG_CACHE_HOME", (repo_.root() / "cache").c_str(), 1);
  std::string output;
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(
      RunGwctl({"validate", "--repo", fmt::format("git://127.0.0.1:{}/silent.git", silent.port()),
                "--git-timeout", "2"},
               &output),
      4);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  EXPECT_THAT(output, HasSubstr("gave up after 2 s"));
}

TEST_F(GitTest, AHugeHistoryIsNotRead) {
  // 3,000 commits, each changing a customer; then a clone with only the last commit's
  // objects. gwctl reads that commit's tree and nothing of the history, so the history
  // may as well not be there.
  auto dir = gwtest::MakeTempDir("git-history");
  {
    std::ofstream stream(dir / "stream");
    for (int i = 1; i <= 3000; ++i) {
      std::string manifest = CustomerYaml("busy", i);
      std::string repository =
          "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: northwind}\nspec: {}\n";
      stream << "commit refs/heads/main\ncommitter T <t@example.com> " << 1700000000 + i
             << " +0000\n"
             << "data 3\nc" << i % 10 << "\n";
      stream << "M 100644 inline gwctl.yaml\ndata " << repository.size() << "\n"
             << repository << "\n"
             << "M 100644 inline customers/busy.yaml\ndata " << manifest.size() << "\n"
             << manifest << "\n";
    }
  }
  std::filesystem::create_directories(dir / "full");
  Git(dir / "full", "init -q --bare");
  Git(dir / "full", fmt::format("fast-import --quiet < '{}'", (dir / "stream").string()));
  EXPECT_EQ(Git(dir / "full", "rev-list --count main"), "3000\n");
  Git(dir, fmt::format("clone -q --bare --depth 1 'file://{}' shallow", (dir / "full").string()));
  EXPECT_EQ(Git(dir / "shallow", "rev-list --count main"), "1\n");

  auto git = GitSource::Open((dir / "shallow").string());
  ASSERT_TRUE(git.ok()) << git.status().message();
  auto commit = (*git)->Resolve("main");
  ASSERT_TRUE(commit.ok());
  auto tree = (*git)->TreeAt(*commit);
  auto report = ValidateRepository(**tree);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->diagnostics.has_errors());
  ASSERT_EQ(report->manifests.customers.size(), 1u);
  EXPECT_EQ(report->manifests.customers[0].effective.value()["spec"]["billableUsers"], 3000);
  std::filesystem::remove_all(dir);
}

// git http-backend behind a small loopback server that wants a token (HTTP basic auth,
// as GitHub and GitLab take one over https).
TEST_F(GitTest, AnHttpRemoteNeedsItsToken) {
  auto served = gwtest::MakeTempDir("git-http");
  Git(served, fmt::format("clone -q --bare '{}' repo.git", repo_.root().string()));
  const std::string expected =
      "Basic " +
      std::string("eC1hY2Nlc3MtdG9rZW46czNjcmV0LXRva2Vu");  // x-access-token:s3cret-token
  httplib::Server server;
  auto cgi = [&](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != expected) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Basic realm=\"git\"");
      return;
    }
    std::string query;
    for (const auto& [key, value] : req.params)
      query += (query.empty() ? "" : "&") + key + "=" + value;
    auto body_file = served / "body";
    std::ofstream(body_file, std::ios::binary) << req.body;
    std::string command = fmt::format(
        "GIT_PROJECT_ROOT='{}' GIT_HTTP_EXPORT_ALL=1 REQUEST_METHOD='{}' PATH_INFO='{}' "
        "QUERY_STRING='{}' "
        "CONTENT_TYPE='{}' CONTENT_LENGTH={} /usr/lib/git-core/git-http-backend < '{}'",
        served.string(), req.method, req.path, query, req.get_header_value("Content-Type"),
        req.body.size(), body_file.string());
    std::string output;
    FILE* pipe = popen(command.c_str(), "r");
    char buffer[65536];
    while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
    pclose(pipe);
    // CGI: headers, a blank line, the body.
    size_t end = output.find("\r\n\r\n");
    size_t skip = 4;
    if (end == std::string::npos) end = output.find("\n\n"), skip = 2;
    std::string content_type = "application/octet-stream";
    std::istringstream headers(output.substr(0, end));
    for (std::string line; std::getline(headers, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("Status: ", 0) == 0) res.status = std::atoi(line.c_str() + 8);
      if (line.rfind("Content-Type: ", 0) == 0) content_type = line.substr(14);
    }
    res.set_content(output.substr(end + skip), content_type);
  };
  server.Get(R"(/repo\.git/.*)", cgi);
  server.Post(R"(/repo\.git/.*)", cgi);
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));

  std::string url = fmt::format("http://127.0.0.1:{}/repo.git", port);
  GitOptions options;
  options.cache_dir = (served / "cache").string();
  auto refused = GitSource::Open(url, options);
  EXPECT_EQ(refused.status().code(), gw::StatusCode::kUnavailable);
  options.token = "s3cret-token";
  auto opened = GitSource::Open(url, options);
  EXPECT_TRUE(opened.ok()) << opened.status().message();
  if (opened.ok()) {
    EXPECT_THAT(CustomersAt(**opened, "main"), ElementsAre("a", "b", "c"));
  }
  server.stop();
  serving.join();
  std::filesystem::remove_all(served);
}

TEST_F(GitTest, FollowsAForcePushedBranchOfAServedRemote) {
  // A bare copy served read-only by git daemon on a free loopback port.
  auto served = gwtest::MakeTempDir("git-served");
  Git(served, fmt::format("clone -q --bare '{}' repo.git", repo_.root().string()));
  int port = gwtest::PickFreePort();
  gwtest::ChildProcess daemon({"/usr/bin/git", "daemon", "--verbose", "--reuseaddr", "--export-all",
                               "--listen=127.0.0.1", fmt::format("--port={}", port),
                               "--base-path=" + served.string(), served.string()});
  ASSERT_TRUE(daemon.WaitForLine("Ready to rumble", std::chrono::seconds(10))) << daemon.output();

  GitOptions options;
  options.cache_dir = (served / "cache").string();
  std::string url = fmt::format("git://127.0.0.1:{}/repo.git", port);
  auto first = GitSource::Open(url, options);
  ASSERT_TRUE(first.ok()) << first.status().message();
  std::string before = *(*first)->Resolve("main");
  EXPECT_THAT(CustomersAt(**first, "main"), ElementsAre("a", "b", "c"));

  // Rewrite history: main goes back to v1 plus a different commit, force-pushed.
  Git(repo_.root(), "checkout -q -f v1");
  Git(repo_.root(), "checkout -q -B main");
  repo_.Write("customers/e.yaml", CustomerYaml("e"));
  Git(repo_.root(), "add -A");
  Git(repo_.root(), "commit -q -m rewritten");
  Git(repo_.root(), fmt::format("push -q --force '{}' main", (served / "repo.git").string()));

  auto second = GitSource::Open(url, options);  // fetches into the same cache
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_NE(*(*second)->Resolve("main"), before);
  EXPECT_THAT(CustomersAt(**second, "main"), ElementsAre("a", "b", "c", "d", "e"));
  std::filesystem::remove_all(served);
}

}  // namespace
}  // namespace gwctl
