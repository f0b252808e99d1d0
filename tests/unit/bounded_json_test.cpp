#include "gateway/bounded_json.h"

#include <gtest/gtest.h>

namespace gw {
namespace {

std::string Nested(int depth) {
  std::string text;
  for (int i = 0; i < depth; ++i) text += "{\"spec\":";
  text += "1";
  text += std::string(depth, '}');
  return text;
}

TEST(BoundedJsonTest, ParsesUpToTheLimit) {
  auto parsed = ParseBoundedJson(Nested(kMaxJsonDepth));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_TRUE(parsed->contains("spec"));
}

// The body that took gatewayd down: 100,000 levels, 1.2 MB.
TEST(BoundedJsonTest, RefusesDeepNestingBeforeParsing) {
  auto parsed = ParseBoundedJson(Nested(100'000));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kMalformed);
  EXPECT_EQ(parsed.status().message(), "the JSON nests deeper than 64 levels (at byte 512)");
  EXPECT_FALSE(ParseBoundedJson(std::string(100'000, '[')).ok());
}

TEST(BoundedJsonTest, BracketsInStringsDoNotCount) {
  std::string text = "{\"a\":\"" + std::string(1000, '[') + "\\\"{{{\"}";
  auto parsed = ParseBoundedJson(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ((*parsed)["a"].get<std::string>().size(), 1004u);
  EXPECT_EQ(FindJsonTooDeep("[[[", 2), 2u);
  EXPECT_EQ(FindJsonTooDeep("[]]][", 1), std::string_view::npos);
}

TEST(BoundedJsonTest, InvalidJsonIsMalformed) {
  for (std::string_view text : {"", "{", "{\"a\":}", "\"\\", "nul", "{\"a\":1}x"}) {
    auto parsed = ParseBoundedJson(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().message(), "the body is not valid JSON");
  }
}

}  // namespace
}  // namespace gw
