#include "gateway/schema.h"

#include <gtest/gtest.h>

namespace gw {
namespace {

using nlohmann::json;

json Customer(json spec) {
  return {{"apiVersion", "gwctl/v1"},
          {"kind", "Customer"},
          {"metadata", {{"name", "acme"}}},
          {"spec", spec}};
}

std::vector<std::string> Messages(const json& document,
                                  std::string_view schema = "customer.schema.json") {
  std::vector<std::string> out;
  for (const auto& v : SchemaSet::Builtin().Validate(schema, document))
    out.push_back(v.pointer + ": " + v.message);
  std::sort(out.begin(), out.end());
  return out;
}

const json kMinimalSpec = {
    {"product", "ultimate-access"}, {"billableUsers", 1}, {"domains", {{"primary", "a.example"}}}};

TEST(SchemaTest, AcceptsAMinimalCustomer) {
  EXPECT_TRUE(Messages(Customer(kMinimalSpec)).empty());
}

TEST(SchemaTest, ReportsEveryUnknownFieldWithASuggestion) {
  json spec = kMinimalSpec;
  spec["usres"] = json::object();
  spec["colour"] = "red";
  EXPECT_EQ(
      Messages(Customer(spec)),
      (std::vector<std::string>{"/spec/colour: unknown field 'colour'",
                                "/spec/usres: unknown field 'usres' (did you mean 'users'?)"}));
}

TEST(SchemaTest, ExplainsEnumsTypesPatternsAndRanges) {
  json spec = kMinimalSpec;
  spec["product"] = "gold";
  spec["billableUsers"] = "many";
  spec["filtering"] = {{"contentFilter", {{"maxMessageSize", 200000}}}};
  spec["destinations"] = {{{"host", "mx.a.example"}, {"port", 0}}};
  EXPECT_EQ(
      Messages(Customer(spec)),
      (std::vector<std::string>{
          "/spec/billableUsers: expected an integer, found a string",
          "/spec/destinations/0/port: must be at least 1",
          "/spec/filtering/contentFilter/maxMessageSize: must be a size with a unit, such as "
          "150MiB (units: B, "
          "KB, KiB, MB, MiB, GB, GiB)",
          "/spec/product: must be one of: ultimate-access, ultimate-defense (found 'gold')"}));
}

TEST(SchemaTest, RequiredFieldsAndConditionalRequirements) {
  json spec = kMinimalSpec;
  spec.erase("domains");
  spec["panelLogin"] = {{"email", "it@a.example"}, {"status", "activated"}};
  EXPECT_EQ(Messages(Customer(spec)),
            (std::vector<std::string>{"/spec/panelLogin: missing required field 'passwordRef'",
                                      "/spec: missing required field 'domains'"}));
}

TEST(SchemaTest, SecretsMustBeReferences) {
  json spec = kMinimalSpec;
  spec["panelLogin"] = {{"email", "it@a.example"}, {"passwordRef", "hunter2"}};
  EXPECT_EQ(Messages(Customer(spec)),
            (std::vector<std::string>{"/spec/panelLogin/passwordRef: must be a secret reference, "
                                      "env:NAME or file:PATH, never the secret "
                                      "itself"}));
}

TEST(SchemaTest, ListEntriesNeedExactlyOneMatcher) {
  json spec = kMinimalSpec;
  spec["lists"] = {{"allow", {{{"sender", "a@b.example"}, {"ip", "192.0.2.1"}}, json::object()}}};
  EXPECT_EQ(Messages(Customer(spec)),
            (std::vector<std::string>{
                "/spec/lists/allow/0: must set exactly one of: ip, sender, senderDomain",
                "/spec/lists/allow/1: must set exactly one of: ip, sender, senderDomain"}));
}

TEST(SchemaTest, EnvelopeNamesUnknownKinds) {
  json doc = {{"apiVersion", "gwctl/v2"},
              {"kind", "Tenant"},
              {"metadata", json::object()},
              {"spec", json::object()}};
  EXPECT_EQ(Messages(doc, "manifest.schema.json"),
            (std::vector<std::string>{
                "/apiVersion: must be 'gwctl/v1'",
                "/kind: must be one of: Repository, PartnerDefaults, Customer, MailTest (found "
                "'Tenant')"}));
}

TEST(SchemaTest, RepeatedListItemsPointAtTheRepeat) {
  json spec = kMinimalSpec;
  spec["domains"]["aliases"] = {"b.example", "c.example", "b.example"};
  EXPECT_EQ(Messages(Customer(spec)),
            (std::vector<std::string>{"/spec/domains/aliases/2: repeats item 1 of the list"}));
}

}  // namespace
}  // namespace gw
