#include "yaml_documents.h"

#include <gtest/gtest.h>

namespace gwctl {
namespace {

using nlohmann::json;

std::vector<LocatedDocument> Parse(const std::string& text, Diagnostics& diagnostics,
                                   YamlLimits limits = {}) {
  return ParseYamlDocuments("f.yaml", text, diagnostics, limits);
}

TEST(LocatedDocumentTest, ResolvesScalarsWithYaml12CoreSchema) {
  Diagnostics d;
  auto docs = Parse(
      "a: yes\nb: no\nc: on\nd: 08:00\ne: 25\nf: 1.5\ng: true\nh: ~\ni: '25'\nj: 0x1F\nk: "
      "\"true\"\nl: 1e3\n",
      d);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_FALSE(d.has_errors());
  const json& v = docs[0].value();
  EXPECT_EQ(v["a"], "yes");
  EXPECT_EQ(v["b"], "no");
  EXPECT_EQ(v["c"], "on");
  EXPECT_EQ(v["d"], "08:00");
  EXPECT_EQ(v["e"], 25);
  EXPECT_TRUE(v["e"].is_number_integer());
  EXPECT_DOUBLE_EQ(v["f"].get<double>(), 1.5);
  EXPECT_EQ(v["g"], true);
  EXPECT_TRUE(v["h"].is_null());
  EXPECT_EQ(v["i"], "25");
  EXPECT_EQ(v["j"], 31);
  EXPECT_EQ(v["k"], "true");
  EXPECT_DOUBLE_EQ(v["l"].get<double>(), 1000.0);
}

TEST(LocatedDocumentTest, RecordsValueAndKeyLocations) {
  Diagnostics d;
  auto docs = Parse("spec:\n  users:\n    - address: a@b.example\n      type: shared\n", d);
  ASSERT_EQ(docs.size(), 1u);
  Location value = docs[0].LocationOf("/spec/users/0/type");
  EXPECT_EQ(value.file, "f.yaml");
  EXPECT_EQ(value.line, 4);
  EXPECT_EQ(value.column, 13);
  Location key = docs[0].LocationOf("/spec/users/0/type", true);
  EXPECT_EQ(key.line, 4);
  EXPECT_EQ(key.column, 7);
  // A missing pointer falls back to its nearest ancestor.
  EXPECT_EQ(docs[0].LocationOf("/spec/users/0/missing").line, 3);
}

TEST(LocatedDocumentTest, ReportsDuplicateKeysAtTheSecondOne) {
  Diagnostics d;
  Parse("a: 1\nb:\n  c: 1\n  c: 2\n", d);
  ASSERT_EQ(d.items().size(), 1u);
  EXPECT_EQ(d.items()[0].rule, "duplicate-key");
  EXPECT_EQ(d.items()[0].location.line, 4);
  EXPECT_EQ(d.items()[0].location.column, 3);
  EXPECT_EQ(d.items()[0].message, "duplicate key 'c' (first set at line 3)");
}

TEST(LocatedDocumentTest, SplitsMultipleDocumentsAndSkipsEmptyOnes) {
  Diagnostics d;
  auto docs = Parse("# only a comment\n---\na: 1\n---\n---\nb: 2\n", d);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[1].value()["b"], 2);
  EXPECT_EQ(docs[1].LocationOf("/b").line, 6);
}

TEST(LocatedDocumentTest, TabIndentationIsALocatedSyntaxError) {
  Diagnostics d;
  auto docs = Parse("spec:\n\tproduct: x\n", d);
  EXPECT_TRUE(docs.empty());
  ASSERT_EQ(d.items().size(), 1u);
  EXPECT_EQ(d.items()[0].rule, "yaml-syntax");
  EXPECT_EQ(d.items()[0].location.line, 2);
}

TEST(LocatedDocumentTest, UnterminatedQuoteIsALocatedSyntaxError) {
  Diagnostics d;
  auto docs = Parse("a: 1\nb: \"never closed\nc: 2\n", d);
  EXPECT_TRUE(docs.empty());
  ASSERT_EQ(d.items().size(), 1u);
  EXPECT_EQ(d.items()[0].rule, "yaml-syntax");
  EXPECT_GE(d.items()[0].location.line, 2);
}

TEST(LocatedDocumentTest, RefusesAnAliasBombWithoutExpandingIt) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
            prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n";
  }
  Diagnostics d;
  auto docs = Parse(bomb, d);
  EXPECT_TRUE(docs.empty());
  ASSERT_EQ(d.items().size(), 1u);
  EXPECT_EQ(d.items()[0].rule, "document-size");
  EXPECT_NE(d.items()[0].message.find("anchors and aliases"), std::string::npos);
  EXPECT_EQ(d.items()[0].location.line, 1);
}

TEST(LocatedDocumentTest, AliasesWithinTheLimitExpand) {
  Diagnostics d;
  auto docs = Parse("base: &b {level: premium}\ncopy: *b\n", d);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].value()["copy"]["level"], "premium");
}

TEST(LocatedDocumentTest, RefusesDeepNesting) {
  Diagnostics d;
  YamlLimits limits;
  limits.max_depth = 10;
  Parse(std::string(20, '[') + std::string(20, ']') + "\n", d, limits);
  ASSERT_EQ(d.items().size(), 1u);
  EXPECT_EQ(d.items()[0].rule, "document-size");
}

// Past yaml-cpp's own limit (2000) its message was "bad file".
TEST(LocatedDocumentTest, NestingPastTheYamlParsersLimitNamesTheLimit) {
  for (const std::string& deep : {std::string(100'000, '[') + std::string(100'000, ']'), [] {
                                    std::string text;
                                    for (int i = 0; i < 3000; ++i)
                                      text += std::string(i, ' ') + "a:\n";
                                    return text;
                                  }()}) {
    Diagnostics d;
    auto docs = Parse(deep + "\n", d);
    EXPECT_TRUE(docs.empty());
    ASSERT_EQ(d.items().size(), 1u);
    EXPECT_EQ(d.items()[0].rule, "document-size");
    EXPECT_EQ(d.items()[0].message, "document nests deeper than 64 levels");
  }
}

// yaml-cpp 0.7 loops, allocating, on a document that begins with a comma (found by
// fuzzing: a 40-byte manifest took all the memory of the machine).
TEST(LocatedDocumentTest, ADocumentBeginningWithACommaIsASyntaxErrorNotALoop) {
  for (const auto& [text, line] : std::vector<std::pair<std::string, int>>{
           {",a\n", 1}, {"\"q\"\n,\n", 2}, {"a: 1\n---\n ,b\n", 3}, {"&x ,a\n", 1}}) {
    Diagnostics d;
    auto docs = Parse(text, d);
    EXPECT_TRUE(docs.empty()) << text;
    ASSERT_EQ(d.items().size(), 1u) << text;
    EXPECT_EQ(d.items()[0].rule, "yaml-syntax");
    EXPECT_EQ(d.items()[0].location.line, line) << text;
    EXPECT_NE(d.items()[0].message.find("unexpected ','"), std::string::npos);
  }
}

TEST(LocatedDocumentTest, InvalidUtf8IsReportedAtItsByte) {
  Diagnostics d;
  auto docs = Parse("a: ok\nb: caf\xC3\x28\n", d);
  EXPECT_TRUE(docs.empty());
  ASSERT_EQ(d.items().size(), 1u);
  EXPECT_EQ(d.items()[0].rule, "utf8");
  EXPECT_EQ(d.items()[0].location.line, 2);
  EXPECT_EQ(d.items()[0].location.column, 7);
}

TEST(LocatedDocumentTest, RejectsOverlongUtf8AndSurrogates) {
  int line = 0, column = 0;
  EXPECT_TRUE(FindInvalidUtf8("\xC0\xAF", line, column));
  EXPECT_TRUE(FindInvalidUtf8("\xED\xA0\x80", line, column));
  EXPECT_FALSE(FindInvalidUtf8("m\xC3\xBCller \xF0\x9F\x93\xA7", line, column));
}

TEST(LocatedDocumentTest, RefusesFilesOverTheSizeLimitBeforeParsing) {
  Diagnostics d;
  YamlLimits limits;
  limits.max_file_bytes = 100;
  auto docs = Parse(std::string(200, '#'), d, limits);
  EXPECT_TRUE(docs.empty());
  ASSERT_EQ(d.items().size(), 1u);
  EXPECT_EQ(d.items()[0].rule, "file-size");
}

TEST(LocatedDocumentTest, NonScalarKeysAreErrors) {
  Diagnostics d;
  Parse("? [a, b]\n: 1\n", d);
  ASSERT_EQ(d.items().size(), 1u);
  EXPECT_EQ(d.items()[0].message, "mapping keys must be plain strings");
}

}  // namespace
}  // namespace gwctl
