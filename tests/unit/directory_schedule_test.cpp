#include "directory_schedule.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cloud_directory.h"

namespace gwctl {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using json = nlohmann::json;

const json kSource = {{"tenant", "contoso.onmicrosoft.com"}, {"syncInterval", "2h"}};

// A pass in which `customer` read its one Microsoft 365 source: well, or failing.
DesiredState Pass(const std::string& customer, const json& source, bool failed,
                  bool attempted = true) {
  UserSourceReport report;
  report.kind = "microsoft365";
  report.name = source.value("tenant", "?");
  report.settings = source.dump();
  report.attempted = attempted;
  report.failed = failed;
  report.users = failed ? 0 : 42;
  report.detail = failed ? "the token request was refused (401 invalid_client)" : "";
  DesiredState state;
  DesiredCustomer c;
  c.name = customer;
  c.sources.push_back(report);
  state.customers.push_back(std::move(c));
  return state;
}

TEST(DirectoryScheduleTest, ASourceIsReadAgainAfterItsIntervalAndAtOnceWhenItsSettingsChange) {
  DirectorySchedule schedule;
  auto t0 = std::chrono::system_clock::time_point(std::chrono::hours(500'000));
  EXPECT_FALSE(schedule.NotDue("contoso", "microsoft365", kSource, t0));  // never read
  schedule.Record(Pass("contoso", kSource, /*failed=*/false), t0);
  auto waiting = schedule.NotDue("contoso", "microsoft365", kSource, t0 + 10min);
  ASSERT_TRUE(waiting);
  EXPECT_EQ(*waiting, "read 10 min ago; the next read is in 110 min");
  EXPECT_FALSE(schedule.NotDue("contoso", "microsoft365", kSource, t0 + 2h));
  json changed = kSource;
  changed["skipDisabled"] = true;
  EXPECT_FALSE(schedule.NotDue("contoso", "microsoft365", changed, t0 + 10min));
  EXPECT_FALSE(schedule.NotDue("fabrikam", "microsoft365", kSource, t0 + 10min));

  auto sources = schedule.Sources();
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources[0].users, 42u);
  EXPECT_EQ(sources[0].next_read, t0 + 2h);
}

TEST(DirectoryScheduleTest, AFailedSourceIsTriedAgainInFiveMinutesAndShowsItsError) {
  DirectorySchedule schedule;
  auto t0 = std::chrono::system_clock::time_point(std::chrono::hours(500'000));
  schedule.Record(Pass("contoso", kSource, /*failed=*/false), t0);
  schedule.Record(Pass("contoso", kSource, /*failed=*/true), t0 + 2h);
  EXPECT_TRUE(schedule.NotDue("contoso", "microsoft365", kSource, t0 + 2h + 4min));
  EXPECT_FALSE(schedule.NotDue("contoso", "microsoft365", kSource, t0 + 2h + 5min));
  json shown = DirectorySourcesToJson(schedule.Sources());
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0]["ok"], false);
  EXPECT_THAT(shown[0]["error"].get<std::string>(), HasSubstr("invalid_client"));
  EXPECT_FALSE(shown[0]["lastSuccess"].is_null());  // the good read before
  EXPECT_EQ(shown[0]["users"], 42);
}

TEST(DirectoryScheduleTest, ASourceNotAskedKeepsItsScheduleAndARemovedOneIsForgotten) {
  DirectorySchedule schedule;
  auto t0 = std::chrono::system_clock::time_point(std::chrono::hours(500'000));
  schedule.Record(Pass("contoso", kSource, false), t0);
  schedule.Record(Pass("contoso", kSource, false, /*attempted=*/false), t0 + 30min);
  EXPECT_TRUE(schedule.NotDue("contoso", "microsoft365", kSource, t0 + 1h));
  DesiredState without;
  DesiredCustomer contoso;
  contoso.name = "contoso";
  without.customers.push_back(contoso);
  schedule.Record(without, t0 + 1h);
  EXPECT_TRUE(schedule.Sources().empty());
}

TEST(CloudDirectoryTest, Base64UrlAndProxyAddresses) {
  EXPECT_EQ(Base64Url(""), "");
  EXPECT_EQ(Base64Url("f"), "Zg");
  EXPECT_EQ(Base64Url("fo"), "Zm8");
  EXPECT_EQ(Base64Url("foo"), "Zm9v");
  EXPECT_EQ(Base64Url("\xfb\xff"), "-_8");
  auto primary = ParseProxyAddress("SMTP:Ann@Contoso.example");
  ASSERT_TRUE(primary);
  EXPECT_TRUE(primary->primary);
  EXPECT_EQ(primary->address, "Ann@Contoso.example");
  EXPECT_FALSE(ParseProxyAddress("smtp:ann@contoso.example")->primary);
  EXPECT_FALSE(ParseProxyAddress("SIP:ann@contoso.example"));
  EXPECT_FALSE(ParseProxyAddress("X500:/o=Contoso/ou=Exchange"));
  EXPECT_EQ(ParseProxyAddress("ann@contoso.example")->address, "ann@contoso.example");
}

TEST(CloudDirectoryTest, AnAddressTwoObjectsHoldGoesToTheFirstByIdAndForeignOnesAreCounted) {
  std::vector<DirectoryObject> objects(3);
  objects[0] = {"b", "bob", "bob@acme.example", {"shared@acme.example"}, false, "", ""};
  objects[1] = {
      "a",   "ann", "ann@acme.example", {"shared@acme.example", "ann@acme.onmicrosoft.com"}, false,
      "Ann", "Lee"};
  objects[2] = {"c", "list", "", {"team@acme.example"}, true, "", ""};
  CloudMapping mapping =
      MapDirectoryObjects(objects, "microsoft365", {"acme.example"}, {"excluded@acme.example"});
  ASSERT_EQ(mapping.users.size(), 3u);
  EXPECT_EQ(mapping.users[0].address, "ann@acme.example");
  EXPECT_THAT(mapping.users[0].aliases, ::testing::ElementsAre("shared@acme.example"));
  EXPECT_EQ(mapping.users[1].address, "bob@acme.example");
  EXPECT_TRUE(mapping.users[1].aliases.empty());
  EXPECT_EQ(mapping.users[2].address, "team@acme.example");  // a group without a primary
  EXPECT_EQ(mapping.users[2].type, "alias");
  EXPECT_EQ(mapping.foreign, 1u);
  EXPECT_EQ(mapping.Summary(), "left out 1 addresses another object holds (shared@acme.example)");
}

}  // namespace
}  // namespace gwctl
