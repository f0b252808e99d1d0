// Branded spam report templates: what a template may hold, and how it is filled.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/customer_rules.h"
#include "gateway/report_template.h"

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Problems(const std::string& html) {
  std::vector<std::string> out;
  for (const auto& p : gw::CheckReportTemplate(html)) out.push_back(p.message);
  return out;
}

TEST(ReportTemplate, APlainBrandedPageWithEveryPlaceholderIsUsable) {
  EXPECT_THAT(Problems("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>p{color:red}"
                       "</style></head><body><img src=\"data:image/png;base64,iVBO\" alt=\"logo\">"
                       "<p>{{recipient}} {{ count }} {{time_zone}}</p>{{messages}}"
                       "<a href=\"{{portal}}\">portal</a></body></html>"),
              IsEmpty());
}

TEST(ReportTemplate, ScriptHandlersCodeUrlsAndUnknownPlaceholdersAreRefusedWhereTheyAre) {
  std::string html = "<p onclick=\"x()\">{{messages}}</p>\n<SCRIPT>alert(1)</SCRIPT>";
  auto problems = gw::CheckReportTemplate(html);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_THAT(problems[0].message, HasSubstr("event handler 'onclick'"));
  EXPECT_EQ(problems[1].offset, html.find("<SCRIPT>"));
  EXPECT_THAT(problems[1].message, HasSubstr("<script> is not allowed"));

  EXPECT_THAT(Problems("{{messages}}<a href=\" java\nscript:alert(1)\">x</a>"),
              ElementsAre(HasSubstr("javascript URL")))
      << "a scheme split by whitespace is still found";
  EXPECT_THAT(Problems("{{messages}}<style>p{background:url(javascript:x)}</style>"),
              ElementsAre(HasSubstr("javascript URL")));
  EXPECT_THAT(Problems("{{messages}}<meta http-equiv=\"refresh\" content=\"0;url=x\">"),
              ElementsAre(HasSubstr("http-equiv")));
  EXPECT_THAT(Problems("{{messages}}<iframe src=x></iframe><form></form>"),
              ElementsAre(HasSubstr("<iframe>"), HasSubstr("<form>")));
  EXPECT_THAT(Problems("{{messages}}<img src=\"data:text/html;base64,PHNjcmlwdD4=\">"),
              ElementsAre(HasSubstr("data: URL")));
  EXPECT_THAT(Problems("{{messages}}<img src=\"data:image/svg+xml;base64,PHN2Zz4=\">"),
              ElementsAre(HasSubstr("data: URL")))
      << "SVG images carry script";
  EXPECT_THAT(Problems("Dear {{name}}, {{messages}}"),
              ElementsAre(HasSubstr("unknown placeholder {{name}}")));
  EXPECT_THAT(Problems("<p>{{recipient}}</p>"), ElementsAre(HasSubstr("no {{messages}}")));
  EXPECT_THAT(Problems("{{messages}} {{count"), ElementsAre(HasSubstr("not closed")));
  EXPECT_THAT(Problems(std::string(gw::kMaxReportTemplateBytes + 1, 'x')),
              ElementsAre(HasSubstr("at most")));
}

TEST(ReportTemplate, FillingPutsEachValueInItsPlaceholder) {
  EXPECT_EQ(
      gw::FillReportTemplate("<p>{{recipient}}: {{ count }}</p>{{messages}}{{unknown}}",
                             {{"recipient", "a&amp;b"}, {"count", "3"}, {"messages", "<ul/>"}}),
      "<p>a&amp;b: 3</p><ul/>");
}

// A partner's token can write templateHtml straight through the API, past gwctl: the
// engine's own rules refuse a hostile page, and a branded name without its page.
TEST(ReportTemplate, TheEngineRefusesAHostilePageWrittenPastGwctl) {
  auto findings_for = [](nlohmann::json report) {
    nlohmann::json document = {{"spec",
                                {{"product", "ultimate-defense"},
                                 {"billableUsers", 1},
                                 {"domains", {{"primary", "acme.example"}}},
                                 {"destinations", "mx.acme.example"},
                                 {"filtering", {{"spamReport", std::move(report)}}}}}};
    gw::RuleFindings findings;
    gw::CompiledCustomer compiled = gw::CompileCustomer(document, {}, findings);
    std::vector<std::string> rules;
    for (const auto& f : findings) {
      if (f.is_error()) rules.push_back(f.rule + " " + f.pointer);
    }
    return std::make_pair(rules, compiled.config.spam_report.template_html);
  };
  auto hostile = findings_for(
      {{"template", "brand"}, {"templateHtml", "{{messages}}<img src=x onerror=alert(1)>"}});
  EXPECT_THAT(hostile.first,
              ElementsAre("report-template /spec/filtering/spamReport/templateHtml"));
  EXPECT_EQ(hostile.second, "") << "a refused page is never used";
  EXPECT_THAT(findings_for({{"template", "brand"}}).first,
              ElementsAre("report-template-missing /spec/filtering/spamReport/template"));
  auto usable = findings_for({{"template", "brand"}, {"templateHtml", "<p>{{messages}}</p>"}});
  EXPECT_THAT(usable.first, IsEmpty());
  EXPECT_EQ(usable.second, "<p>{{messages}}</p>");
}

}  // namespace
