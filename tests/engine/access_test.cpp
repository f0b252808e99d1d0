// Roles against a real gatewayd over HTTP: every kind of token on a route of every
// action, with the answers each must get written out here (not read from the table
// under test), and the audit log naming a technician.
#include <signal.h>

#include <fstream>
#include <map>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sqlite3.h>
#include <nlohmann/json.hpp>

#include "gateway/access.h"
#include "gateway/tokens.h"
#include "gatewayd_fixture.h"

namespace {

using gwtest::Gatewayd;
using json = nlohmann::json;

// One token of each kind; the names are what the audit log shows.
const std::map<std::string, std::string> kTokens = {
    {"operator", Gatewayd::kOperatorToken},
    {"filter", Gatewayd::kFilterToken},
    {"admin", Gatewayd::PartnerToken("northwind")},
    {"technician", "token-of-alice"},
    {"read-only", "token-of-dashboard"},
    {"customer-admin", "token-of-acme-admin"},
    {"other-partner", Gatewayd::PartnerToken("contoso")},
};

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(gatewayd_.started());
    {
      std::ofstream tokens(gatewayd_.dir() / "tokens.yaml", std::ios::app);
      tokens << fmt::format(
          "  - {{name: alice, role: technician, partner: northwind, sha256: \"{}\"}}\n"
          "  - {{name: dashboard, role: read-only, partner: northwind, sha256: \"{}\"}}\n"
          "  - {{name: acme-it, role: customer-admin, partner: northwind, customer: acme, "
          "sha256: \"{}\"}}\n",
          gw::HashToken("token-of-alice"), gw::HashToken("token-of-dashboard"),
          gw::HashToken("token-of-acme-admin"));
    }
    gatewayd_.process().Signal(SIGHUP);
    ASSERT_TRUE(gatewayd_.process().WaitForLine("SIGHUP: reloaded 7 token(s)"))
        << gatewayd_.process().output();
    auto ops = gatewayd_.Client(Gatewayd::kOperatorToken);
    ASSERT_TRUE(ops->EnsurePartner("northwind").ok());
    ASSERT_TRUE(ops->EnsurePartner("contoso").ok());
    for (const std::string name : {"acme", "globex"}) {
      ASSERT_EQ(Call("operator", "PUT", "/v1/partners/northwind/customers/" + name,
                     Customer(name).dump(), {{"If-None-Match", "*"}}),
                201);
      gw::User user;
      user.address = "ann@" + name + ".example";
      ASSERT_TRUE(ops->BatchUsers("northwind", name, {{user}, {}}).ok());
    }
  }

  static json Customer(const std::string& name) {
    return {{"spec",
             {{"product", "ultimate-defense"},
              {"billableUsers", 5},
              {"domains", {{"primary", name + ".example"}}},
              {"destinations", "mail." + name + ".example"}}}};
  }

  int Call(const std::string& who, const std::string& method, const std::string& path,
           const std::string& body = "", httplib::Headers headers = {}) {
    httplib::Client client(gatewayd_.url());
    headers.emplace("Authorization", "Bearer " + kTokens.at(who));
    httplib::Result result =
        method == "GET"    ? client.Get(path.c_str(), headers)
        : method == "PUT"  ? client.Put(path.c_str(), headers, body, "application/json")
        : method == "POST" ? client.Post(path.c_str(), headers, body, "application/json")
                           : client.Delete(path.c_str(), headers);
    last_body_ = result ? result->body : "";
    return result ? result->status : -1;
  }

  Gatewayd gatewayd_;
  std::string last_body_;
};

struct Expectation {
  const char* method;
  std::string path;
  std::string body;
  // operator, admin, technician, read-only, customer-admin, filter, another partner's admin
  std::vector<int> statuses;
};

TEST_F(AccessTest, EveryRoleGetsWhatItsRowSaysOnARouteOfEveryAction) {
  const std::string p = "/v1/partners/northwind";
  const std::string password = R"({"password": "a long enough passphrase 42"})";
  const std::vector<Expectation> table = {
      {"GET", "/v1/partners", "", {200, 403, 403, 403, 403, 403, 403}},
      {"GET", p + "/state", "", {200, 200, 200, 200, 403, 403, 404}},
      {"GET", p + "/customers", "", {200, 200, 200, 200, 200, 403, 404}},
      {"GET", p + "/customers/acme", "", {200, 200, 200, 200, 200, 403, 404}},
      {"GET", p + "/customers/globex", "", {200, 200, 200, 200, 404, 403, 404}},
      {"GET", p + "/customers/acme/users", "", {200, 200, 200, 200, 200, 403, 404}},
      {"GET", p + "/customers/globex/users", "", {200, 200, 200, 200, 404, 403, 404}},
      {"POST",
       p + "/customers/acme/users:batch",
       R"({"upsert": [], "delete": []})",
       {200, 200, 200, 403, 403, 403, 404}},
      {"POST",
       p + "/lease",
       R"({"holder": "h", "ttlSeconds": 1})",
       {200, 200, 200, 403, 403, 403, 404}},
      {"GET", p + "/customers/acme/quarantine", "", {200, 200, 200, 200, 200, 403, 404}},
      {"GET", p + "/customers/globex/quarantine", "", {200, 200, 200, 200, 404, 403, 404}},
      {"PUT",
       p + "/customers/acme/users/ann@acme.example/continuity-password",
       password,
       {204, 204, 204, 403, 204, 403, 404}},
      {"PUT",
       p + "/customers/globex/users/ann@globex.example/continuity-password",
       password,
       {204, 204, 204, 403, 404, 403, 404}},
      {"GET", p + "/domains", "", {200, 200, 200, 200, 200, 403, 404}},
      {"GET", "/v1/audit?partner=northwind", "", {200, 200, 200, 200, 403, 403, 404}},
      {"POST", "/v1/spam-reports:run", "", {412, 403, 403, 403, 403, 403, 403}},
      {"GET", p + "/tokens", "", {200, 200, 403, 403, 403, 403, 404}},
      {"POST",
       p + "/tokens",
       R"({"name": "x", "role": "read-only"})",
       {201, 201, 403, 403, 403, 403, 404}},
      {"DELETE", p + "/tokens/0123456789abcdef", "", {404, 404, 403, 403, 403, 403, 404}},
  };
  const std::vector<std::string> roles = {"operator",       "admin",  "technician",   "read-only",
                                          "customer-admin", "filter", "other-partner"};
  for (const Expectation& row : table) {
    for (size_t r = 0; r < roles.size(); ++r) {
      int status = Call(roles[r], row.method, row.path, row.body);
      EXPECT_EQ(status, row.statuses[r])
          << roles[r] << " " << row.method << " " << row.path << ": " << last_body_;
    }
  }
  // Who may is decided before the body is read: a wrong body tells a stranger nothing.
  EXPECT_EQ(Call("read-only", "POST", p + "/customers/acme/users:batch", "{not json"), 403);
  EXPECT_EQ(Call("other-partner", "POST", p + "/customers/acme/users:batch", "{not json"), 404);
  EXPECT_EQ(Call("admin", "POST", p + "/customers/acme/users:batch", "{not json"), 400);
  // The customer admin lists only its own customer.
  ASSERT_EQ(Call("customer-admin", "GET", p + "/customers"), 200);
  json listed = json::parse(last_body_)["customers"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["name"], "acme");
}

TEST_F(AccessTest, ManifestsStayWithThePartnersAdminsAndATechniciansWorkIsAuditedByName) {
  const std::string acme = "/v1/partners/northwind/customers/acme";
  json replaced = Customer("acme");
  replaced["spec"]["billableUsers"] = 9;
  for (const std::string who : {"read-only", "customer-admin"}) {
    EXPECT_EQ(Call(who, "PUT", acme, replaced.dump(), {{"If-Match", "\"1\""}}), 403) << who;
    EXPECT_EQ(Call(who, "DELETE", acme, "", {{"If-Match", "\"1\""}}), 403) << who;
  }
  ASSERT_EQ(Call("technician", "PUT", acme, replaced.dump(), {{"If-Match", "\"1\""}}), 200)
      << last_body_;
  ASSERT_EQ(Call("admin", "GET", "/v1/audit?partner=northwind"), 200);
  json entries = json::parse(last_body_)["entries"];
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.back()["actor"], "alice");
  EXPECT_EQ(entries.back()["target"], "acme");
}

// Bearer `token`'s answer to `method path`.
int CallWith(const std::string& url, const std::string& token, const std::string& method,
             const std::string& path, const std::string& body, std::string* answer = nullptr) {
  httplib::Client client(url);
  httplib::Headers headers = {{"Authorization", "Bearer " + token}};
  httplib::Result result =
      method == "GET"    ? client.Get(path.c_str(), headers)
      : method == "POST" ? client.Post(path.c_str(), headers, body, "application/json")
      : method == "PUT"  ? client.Put(path.c_str(), headers, body, "application/json")
                         : client.Delete(path.c_str(), headers);
  if (answer) *answer = result ? result->body : "";
  return result ? result->status : -1;
}

TEST_F(AccessTest, MintedTokensActAsTheirRoleUntilRevokedOrExpired) {
  const std::string p = "/v1/partners/northwind";
  ASSERT_EQ(Call("admin", "POST", p + "/tokens",
                 R"({"name": "bob", "role": "technician", "expiresInDays": 30})"),
            201)
      << last_body_;
  json minted = json::parse(last_body_);
  std::string bob = minted["token"];
  EXPECT_EQ(bob.rfind("gwt_" + minted["id"].get<std::string>() + "_", 0), 0u) << bob;
  EXPECT_EQ(minted["role"], "technician");
  EXPECT_FALSE(minted.contains("sha256"));

  // The technician works under its own name, and mints nothing.
  json replaced = Customer("acme");
  replaced["spec"]["billableUsers"] = 7;
  EXPECT_EQ(
      CallWith(gatewayd_.url(), bob, "POST", p + "/tokens", R"({"name": "eve", "role": "admin"})"),
      403);
  httplib::Client client(gatewayd_.url());
  auto put = client.Put((p + "/customers/acme").c_str(),
                        {{"Authorization", "Bearer " + bob}, {"If-Match", "\"1\""}},
                        replaced.dump(), "application/json");
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 200) << put->body;
  ASSERT_EQ(Call("admin", "GET", "/v1/audit?partner=northwind"), 200);
  json entries = json::parse(last_body_)["entries"];
  EXPECT_EQ(entries.back()["actor"], "bob");
  bool mint_audited = false;
  for (const auto& e : entries)
    mint_audited |= e["action"] == "token.mint" && e["detail"]["name"] == "bob";
  EXPECT_TRUE(mint_audited) << entries.dump();
  EXPECT_EQ(last_body_.find(bob), std::string::npos) << "the audit log holds a secret";

  // A customer admin's minted token reaches its customer only.
  ASSERT_EQ(Call("admin", "POST", p + "/tokens",
                 R"({"name": "acme-boss", "role": "customer-admin", "customer": "acme"})"),
            201);
  std::string boss = json::parse(last_body_)["token"];
  EXPECT_EQ(CallWith(gatewayd_.url(), boss, "GET", p + "/customers/acme", ""), 200);
  EXPECT_EQ(CallWith(gatewayd_.url(), boss, "GET", p + "/customers/globex", ""), 404);

  // What cannot be minted is refused, saying which field.
  for (const std::string bad :
       {R"({"name": "root", "role": "operator"})", R"({"name": "x", "role": "customer-admin"})",
        R"({"name": "x", "role": "customer-admin", "customer": "nobody"})",
        R"({"name": "x", "role": "read-only", "expiresInDays": 0})",
        R"({"name": "x", "role": "read-only", "expiresInDays": 366})",
        R"({"name": "a b", "role": "read-only"})",
        R"({"name": "x", "role": "read-only", "k": 1})"}) {
    EXPECT_EQ(Call("admin", "POST", p + "/tokens", bad), 422) << bad << ": " << last_body_;
  }

  // The list shows who holds what, never a secret or its hash.
  ASSERT_EQ(Call("admin", "GET", p + "/tokens"), 200);
  json listed = json::parse(last_body_)["tokens"];
  ASSERT_EQ(listed.size(), 2u) << listed.dump();
  EXPECT_EQ(last_body_.find("gwt_"), std::string::npos);
  EXPECT_EQ(last_body_.find("sha256"), std::string::npos);

  // Revoked: unknown at once; revoking again is fine; another partner cannot see it.
  std::string id = minted["id"];
  EXPECT_EQ(CallWith(gatewayd_.url(), kTokens.at("other-partner"), "DELETE",
                     "/v1/partners/contoso/tokens/" + id, ""),
            404);
  EXPECT_EQ(Call("admin", "DELETE", p + "/tokens/" + id), 204);
  EXPECT_EQ(Call("admin", "DELETE", p + "/tokens/" + id), 204);
  EXPECT_EQ(CallWith(gatewayd_.url(), bob, "GET", p + "/customers", ""), 401);
  // A guessed secret for a real id is refused like any unknown token.
  std::string forged = boss.substr(0, boss.size() - 4) + "0000";
  EXPECT_EQ(CallWith(gatewayd_.url(), forged, "GET", p + "/customers", ""), 401);

  // Expired: as if the 30 days had passed.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(gatewayd_.store_path().c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE access_tokens SET expires_at = '2020-01-01T00:00:00.000Z'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(CallWith(gatewayd_.url(), boss, "GET", p + "/customers/acme", ""), 401);
}

TEST_F(AccessTest, PersonalListsRefuseHighRiskSendersAndStayInTheirScope) {
  const std::string ann = "/v1/partners/northwind/customers/acme/users/ann@acme.example/lists";
  auto put = [&](const std::string& who, const std::string& path, const std::string& list,
                 const std::string& value) {
    return Call(who, "POST", path, json{{"list", list}, {"value", value}}.dump());
  };
  EXPECT_EQ(put("customer-admin", ann, "allow", "boss@supplier.example"), 204) << last_body_;
  EXPECT_EQ(put("technician", ann, "block", "pest.example"), 204) << last_body_;
  // The same value moves between the lists rather than sitting on both.
  EXPECT_EQ(put("admin", ann, "block", "Boss@Supplier.Example"), 204) << last_body_;
  ASSERT_EQ(Call("read-only", "GET", ann), 200);
  json entries = json::parse(last_body_)["entries"];
  ASSERT_EQ(entries.size(), 2u) << entries.dump();
  EXPECT_EQ(entries[0]["list"], "block");
  EXPECT_EQ(entries[0]["value"], "boss@supplier.example");
  EXPECT_EQ(entries[0]["addedBy"], "northwind-ci");

  // High-risk senders cannot be allowed: the customer's own domain, a public mail domain.
  for (const std::string value :
       {"acme.example", "ceo@acme.example", "mail.acme.example", "gmail.com", "not an address@"}) {
    EXPECT_EQ(put("admin", ann, "allow", value), 422) << value << ": " << last_body_;
  }
  EXPECT_EQ(put("admin", ann, "allow", "friend@gmail.com"), 204) << last_body_;
  EXPECT_EQ(put("admin", ann, "maybe", "x.example"), 422);

  // Scope: another customer's user is not found for acme's admin; read-only writes nothing.
  const std::string globex =
      "/v1/partners/northwind/customers/globex/users/ann@globex.example/lists";
  EXPECT_EQ(put("customer-admin", globex, "block", "x.example"), 404);
  EXPECT_EQ(put("read-only", ann, "block", "x.example"), 403);
  EXPECT_EQ(put("other-partner", ann, "block", "x.example"), 404);
  EXPECT_EQ(put("admin", "/v1/partners/northwind/customers/acme/users/nobody@acme.example/lists",
                "block", "x.example"),
            404);

  // Removed, then gone; every change is audited.
  EXPECT_EQ(Call("customer-admin", "DELETE", ann + "/pest.example"), 204);
  EXPECT_EQ(Call("customer-admin", "DELETE", ann + "/pest.example"), 404);
  ASSERT_EQ(Call("admin", "GET", "/v1/audit?partner=northwind"), 200);
  EXPECT_THAT(last_body_, ::testing::HasSubstr("\"lists.remove\""));

  // A customer that keeps no personal lists refuses them.
  json off = Customer("globex");
  off["spec"]["selfService"] = {{"personalLists", false}};
  ASSERT_EQ(Call("admin", "PUT", "/v1/partners/northwind/customers/globex", off.dump(),
                 {{"If-Match", "\"1\""}}),
            200)
      << last_body_;
  EXPECT_EQ(put("admin", globex, "block", "x.example"), 412) << last_body_;
}

TEST(AccessTableTest, TheOperatorMayDoEverythingAndTheFilterOneThing) {
  for (int a = 0; a <= static_cast<int>(gw::Action::kWritePersonalLists); ++a) {
    auto action = static_cast<gw::Action>(a);
    auto roles = gw::RolesAllowed(action);
    EXPECT_EQ(roles.front(), gw::Role::kOperator) << gw::ActionName(action);
    bool filter = std::find(roles.begin(), roles.end(), gw::Role::kFilter) != roles.end();
    EXPECT_EQ(filter, action == gw::Action::kKeepQuarantined) << gw::ActionName(action);
  }
  for (const char* name : {"operator", "filter", "admin", "technician", "read-only",
                           "customer-admin", "mailbox-user"}) {
    auto role = gw::ParseRole(name);
    ASSERT_TRUE(role) << name;
    EXPECT_EQ(gw::RoleName(*role), name);
  }
  EXPECT_FALSE(gw::ParseRole("root"));
}

}  // namespace
