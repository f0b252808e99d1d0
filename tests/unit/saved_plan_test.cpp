// LoadPlan: a saved plan that is not complete, or holds a value of the wrong type, is
// refused with the place named, even when its checksum matches.
#include "saved_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/model.h"

namespace gwctl {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json Sealed(json body) {
  body["checksum"] = gw::ContentChecksum(body.dump());
  return body;
}

json Body() {
  return {{"format_version", 1},
          {"kind", "gwctl-saved-plan"},
          {"partner", "northwind"},
          {"owner", "gwctl:northwind"},
          {"gateway", "embedded:x.db"},
          {"observedRevision", 3},
          {"observedChecksum", "sha256:x"},
          {"repositoryRevision", ""},
          {"refusals", json::array()},
          {"changes",
           {{{"kind", "create"},
             {"customer", "acme"},
             {"file", "customers/acme.yaml"},
             {"observedVersion", 0},
             {"observedOwner", ""},
             {"fields", json::array()},
             {"users", {{"upsert", json::array()}, {"remove", json::array()}, {"kept", 0}}}}}}};
}

TEST(SavedPlanTest, ACompletePlanLoads) {
  auto loaded = LoadPlan(Sealed(Body()));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->plan.partner, "northwind");
  ASSERT_EQ(loaded->plan.changes.size(), 1u);
  EXPECT_EQ(loaded->plan.changes[0].customer, "acme");
}

TEST(SavedPlanTest, AMissingOrMistypedValueIsNamedWithItsPlace) {
  json no_owner = Body();
  no_owner.erase("owner");
  auto loaded = LoadPlan(Sealed(no_owner));
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(),
            "the saved plan is incomplete: missing required field 'owner' (at /owner)");

  json bad_version = Body();
  bad_version["changes"][0]["observedVersion"] = "three";
  loaded = LoadPlan(Sealed(bad_version));
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(
      loaded.status().message(),
      HasSubstr("field 'observedVersion' has the wrong type (at /changes/0/observedVersion)"));

  json no_users = Body();
  no_users["changes"][0]["users"].erase("upsert");
  loaded = LoadPlan(Sealed(no_users));
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(), HasSubstr("/changes/0/users/upsert"));
}

}  // namespace
}  // namespace gwctl
