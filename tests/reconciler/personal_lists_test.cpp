// Users' own lists seen from gwctl, against a real gatewayd: trace --gateway decides with
// them, plans keep them (they are not in git), gwctl lists shows them, and a user the
// manifest removes takes its lists along.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "gatewayd_fixture.h"
#include "process.h"
#include "temp_repo.h"

namespace {

using gwtest::Gatewayd;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class PersonalListsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gatewayd_ = std::make_unique<Gatewayd>(std::vector<std::string>{"northwind"});
    ASSERT_TRUE(gatewayd_->started()) << gatewayd_->process().output();
    ASSERT_TRUE(gatewayd_->Client(Gatewayd::kOperatorToken)->EnsurePartner("northwind").ok());
    repo_.WriteRepository("northwind");
    WriteAcme("[{address: alice@acme.example}, {address: bob@acme.example}]");
    auto applied = Gwctl(fmt::format("apply --yes {}", repo_.root().string()));
    ASSERT_EQ(applied.exit_code, 0) << applied.output;
  }

  void WriteAcme(const std::string& mailboxes) {
    repo_.Write("customers/acme.yaml",
                "apiVersion: gwctl/v1\nkind: Customer\nmetadata: {name: acme}\nspec:\n"
                "  product: ultimate-defense\n  billableUsers: 5\n"
                "  domains: {primary: acme.example}\n  destinations: mx.acme.example\n"
                "  lists: {block: [{senderDomain: spam.example}]}\n"
                "  users: {mailboxes: " +
                    mailboxes + "}\n");
  }

  gwtest::CommandResult Gwctl(const std::string& arguments) {
    return gwtest::RunCommand(fmt::format("GWCTL_TOKEN={} {} {} --gateway {}",
                                          Gatewayd::PartnerToken("northwind"), GWCTL_BINARY,
                                          arguments, gatewayd_->url()));
  }

  int Put(const std::string& user, const std::string& list, const std::string& value) {
    httplib::Client client(gatewayd_->url());
    client.set_bearer_token_auth(Gatewayd::PartnerToken("northwind"));
    auto res = client.Post(
        fmt::format("/v1/partners/northwind/customers/acme/users/{}/lists", user).c_str(),
        json{{"list", list}, {"value", value}}.dump(), "application/json");
    return res ? res->status : -1;
  }

  gwctl::testing::TempRepo repo_;
  std::unique_ptr<Gatewayd> gatewayd_;
};

TEST_F(PersonalListsTest, TraceDecidesWithThemPlansKeepThemAndListsShowsThem) {
  ASSERT_EQ(Put("alice@acme.example", "allow", "deals@spam.example"), 204);
  ASSERT_EQ(Put("bob@acme.example", "block", "pest.example"), 204);
  std::string repo = repo_.root().string();

  auto alice =
      Gwctl(fmt::format("trace --from deals@spam.example --to alice@acme.example {}", repo));
  EXPECT_EQ(alice.exit_code, 0) << alice.output;
  EXPECT_THAT(alice.output, HasSubstr("[personal-allow]"));
  EXPECT_THAT(alice.output, HasSubstr("alice@acme.example's own allow list"));
  auto bob = Gwctl(fmt::format("trace --from deals@spam.example --to bob@acme.example {}", repo));
  EXPECT_EQ(bob.exit_code, 2) << bob.output;
  EXPECT_THAT(bob.output, HasSubstr("[block-list]"));
  // Offline, the repository knows no user's own list: the customer's decides.
  auto offline = gwtest::RunCommand(fmt::format(
      "{} trace --from deals@spam.example --to alice@acme.example {}", GWCTL_BINARY, repo));
  EXPECT_EQ(offline.exit_code, 2) << offline.output;

  auto plan = Gwctl(fmt::format("plan {}", repo));
  EXPECT_EQ(plan.exit_code, 0) << plan.output;
  EXPECT_THAT(plan.output, HasSubstr("No changes."));

  auto csv = Gwctl(fmt::format("lists --customer acme --format csv --dir {}", repo));
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  EXPECT_THAT(csv.output, HasSubstr("address,list,kind,value,addedAt,addedBy\n"));
  EXPECT_THAT(csv.output, HasSubstr("alice@acme.example,allow,sender,deals@spam.example,"));
  EXPECT_THAT(csv.output, HasSubstr("bob@acme.example,block,senderDomain,pest.example,"));

  // Bob leaves the manifest: his list goes with him, Alice's stays.
  WriteAcme("[{address: alice@acme.example}]");
  auto applied = Gwctl(fmt::format("apply --yes {}", repo));
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  auto after = Gwctl(fmt::format("lists --customer acme --format json --dir {}", repo));
  ASSERT_EQ(after.exit_code, 0) << after.output;
  json entries = json::parse(after.output)["entries"];
  ASSERT_EQ(entries.size(), 1u) << after.output;
  EXPECT_EQ(entries[0]["address"], "alice@acme.example");
  auto unknown = Gwctl(fmt::format("lists --customer nobody --dir {}", repo));
  EXPECT_EQ(unknown.exit_code, 4);
  EXPECT_THAT(unknown.output, HasSubstr("customer 'nobody' not found"));
}

}  // namespace
