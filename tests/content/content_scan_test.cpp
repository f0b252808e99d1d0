// The content scanner (gateway/content_scan.h) and gw-milter's decision
// (content_milter.h) on built messages: what each category catches, by content rather
// than name, inside archives; encryption; the limits on hostile input; cutting.
#include "gateway/content_scan.h"

#include <chrono>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "content_milter.h"
#include "mime_samples.h"

namespace gw {
namespace {

using gwtest::Attachment;
using gwtest::MessageWith;
using gwtest::Zip;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

ContentRules Forbid(std::vector<std::string> forbidden, bool encrypted = false) {
  ContentRules rules;
  rules.forbidden = std::move(forbidden);
  rules.forbid_encrypted = encrypted;
  return rules;
}

// "name rule" of each finding, for compact expectations.
std::vector<std::string> Found(const std::string& message, const ContentRules& rules,
                               const ContentLimits& limits = {}) {
  std::vector<std::string> out;
  for (const auto& f : ScanMessage(message, rules, false, limits).findings)
    out.push_back(f.name + " " + f.rule);
  return out;
}

TEST(ContentScan, MacroDocumentsAreFoundByTheirVbaProjectWhateverTheirName) {
  auto rules = Forbid({"docmacro"});
  EXPECT_THAT(
      Found(MessageWith({{"invoice.docm", "application/octet-stream", gwtest::MacroDocument()}}),
            rules),
      ::testing::ElementsAre("invoice.docm docmacro"));
  // Renamed to .docx: still a macro document.
  EXPECT_THAT(
      Found(MessageWith({{"invoice.docx", "application/octet-stream", gwtest::MacroDocument()}}),
            rules),
      ::testing::ElementsAre("invoice.docx docmacro"));
  // A document without macros passes, and is not an "archive" although it is a zip.
  EXPECT_TRUE(
      Found(MessageWith({{"report.docx", "application/octet-stream", gwtest::PlainDocument()}}),
            Forbid({"docmacro", "archive"}))
          .empty());
  // Office 97-2003: the OLE2 directory names the VBA project and the application.
  EXPECT_THAT(
      Found(MessageWith({{"old.doc", "application/msword",
                          gwtest::Ole2({"Root Entry", "WordDocument", "Macros", "_VBA_PROJECT"})}}),
            rules),
      ::testing::ElementsAre("old.doc docmacro"));
  EXPECT_THAT(
      Found(MessageWith(
                {{"sheet.xls", "application/vnd.ms-excel",
                  gwtest::Ole2({"Root Entry", "Workbook", "_VBA_PROJECT_CUR", "_VBA_PROJECT"})}}),
            Forbid({"xlsmacro"})),
      ::testing::ElementsAre("sheet.xls xlsmacro"));
  EXPECT_TRUE(Found(MessageWith({{"plain.doc", "application/msword",
                                  gwtest::Ole2({"Root Entry", "WordDocument"})}}),
                    rules)
                  .empty());
}

TEST(ContentScan, ExecutablesAreFoundByHeaderOrExtension) {
  auto rules = Forbid({"executable"});
  EXPECT_THAT(
      Found(MessageWith({{"report.pdf", "application/pdf", gwtest::WindowsProgram()}}), rules),
      ::testing::ElementsAre("report.pdf executable"));
  EXPECT_THAT(Found(MessageWith({{"eicar.com.txt", "text/plain", gwtest::kEicar}}), rules),
              ::testing::ElementsAre("eicar.com.txt executable"));
  EXPECT_THAT(Found(MessageWith({{"run.bat", "text/plain", "echo hello"}}), rules),
              ::testing::ElementsAre("run.bat executable"));
  EXPECT_TRUE(Found(MessageWith({{"notes.txt", "text/plain", "just text"}}), rules).empty());
  // Without the category, nothing is forbidden.
  EXPECT_TRUE(
      Found(MessageWith({{"setup.exe", "application/octet-stream", gwtest::WindowsProgram()}}),
            Forbid({"mediafile"}))
          .empty());
}

TEST(ContentScan, ArchivesAreOpenedAndTheirEntriesJudgedByPath) {
  std::string inner =
      Zip({{"docs/readme.txt", "hello"}, {"tools/setup.exe", gwtest::WindowsProgram()}});
  EXPECT_THAT(
      Found(MessageWith({{"bundle.zip", "application/zip", inner}}), Forbid({"executable"})),
      ::testing::ElementsAre("bundle.zip/tools/setup.exe executable"));
  // Nested: a macro document in a zip in a zip.
  std::string nested = Zip({{"inner.zip", Zip({{"q3.docm", gwtest::MacroDocument()}})}});
  EXPECT_THAT(Found(MessageWith({{"outer.zip", "application/zip", nested}}), Forbid({"docmacro"})),
              ::testing::ElementsAre("outer.zip/inner.zip/q3.docm docmacro"));
  // The archive category forbids the zip itself.
  EXPECT_THAT(Found(MessageWith({{"photos.zip", "application/zip", Zip({{"a.txt", "a"}})}}),
                    Forbid({"archive"})),
              ::testing::ElementsAre("photos.zip archive"));
  // Extensions as literals, inside archives too.
  EXPECT_THAT(Found(MessageWith({{"disk.zip", "application/zip", Zip({{"image.ISO", "CD001"}})}}),
                    Forbid({".iso"})),
              ::testing::ElementsAre("disk.zip/image.ISO .iso"));
}

TEST(ContentScan, EncryptedContentIsForbiddenOnlyWhereTheCustomerForbidsIt) {
  std::string locked = Zip({{"secret.txt", "the plan"}}, "hunter2");
  std::string message = MessageWith({{"locked.zip", "application/zip", locked}});
  EXPECT_THAT(Found(message, Forbid({}, true)),
              ::testing::ElementsAre("locked.zip/secret.txt encrypted"));
  EXPECT_TRUE(Found(message, Forbid({"executable"}, false)).empty());
  std::string pdf =
      "%PDF-1.7\n1 0 obj <<>> endobj\ntrailer << /Root 1 0 R /Encrypt 5 0 R >>\n%%EOF\n";
  EXPECT_THAT(Found(MessageWith({{"statement.pdf", "application/pdf", pdf}}), Forbid({}, true)),
              ::testing::ElementsAre("statement.pdf encrypted"));
  EXPECT_THAT(
      Found(MessageWith({{"budget.xlsx", "application/octet-stream",
                          gwtest::Ole2({"Root Entry", "EncryptionInfo", "EncryptedPackage"})}}),
            Forbid({}, true)),
      ::testing::ElementsAre("budget.xlsx encrypted"));
}

TEST(ContentScan, WhatTheLimitsStopIsUnscannableAndSoForbidden) {
  // Five archives deep, past the default three.
  std::string deep = Zip({{"payload.txt", "x"}});
  for (int i = 0; i < 5; ++i) deep = Zip({{"layer" + std::to_string(i) + ".zip", deep}});
  auto found = Found(MessageWith({{"deep.zip", "application/zip", deep}}), Forbid({"executable"}));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_THAT(found[0], HasSubstr("unscannable"));

  // A zip bomb: an entry that unpacks past the entry limit while being an archive itself.
  ContentLimits small;
  small.max_entry_bytes = 1 << 20;
  std::string big_inner = Zip({{"zeros.bin", std::string(4 << 20, '\0')}});
  std::string bomb = Zip({{"inner.zip", big_inner + std::string(2 << 20, '\0')}});
  auto start = std::chrono::steady_clock::now();
  found =
      Found(MessageWith({{"bomb.zip", "application/zip", bomb}}), Forbid({"executable"}), small);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0], "bomb.zip/inner.zip unscannable");

  // Thousands of nested multiparts.
  std::string nested = "Content-Type: text/plain\r\n\r\nhi\r\n";
  for (int i = 0; i < 3000; ++i) {
    std::string b = fmt::format("b{}", i);
    nested = "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\n--" + b + "\r\n" +
             nested + "\r\n--" + b + "--\r\n";
  }
  found = Found("From: a@b.example\r\nMIME-Version: 1.0\r\n" + nested, Forbid({"executable"}));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_THAT(found[0], HasSubstr("unscannable"));

  // Without any rule nothing is opened, so nothing is unscannable.
  EXPECT_TRUE(Found(MessageWith({{"deep.zip", "application/zip", deep}}), ContentRules{}).empty());
}

TEST(ContentScan, MalformedInputIsJudgedWithoutCrashing) {
  auto rules = Forbid({"executable", "archive", "docmacro"}, true);
  for (const std::string& message : {
           std::string(),
           std::string("no headers at all"),
           std::string(
               "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Transfer-Encoding: "
               "base64\r\n"
               "Content-Disposition: attachment; filename=a.exe\r\n\r\n!!!not base64%%%\r\n"),
           std::string("Content-Type: multipart/mixed\r\n\r\n--\r\n--\r\n"),
           MessageWith({{"broken.zip", "application/zip", "PK\x03\x04garbage that is not a zip"}}),
       }) {
    ScanMessage(message, rules, true);
  }
  auto found = Found(MessageWith({{"broken.zip", "application/zip", "PK\x03\x04garbage"}}), rules);
  EXPECT_THAT(found, ::testing::Contains(HasSubstr("unscannable")));
}

TEST(ContentScan, CuttingRemovesTheForbiddenPartsAndSaysSo) {
  std::string message =
      MessageWith({{"invoice.docm", "application/octet-stream", gwtest::MacroDocument()},
                   {"photo.txt", "text/plain", "a harmless attachment"}},
                  "alice@acme.example", "Body text stays.");
  ContentVerdict verdict = ScanMessage(message, Forbid({"docmacro"}), true);
  ASSERT_EQ(verdict.findings.size(), 1u);
  const std::string& out = verdict.rewritten;
  EXPECT_THAT(out, HasSubstr("Body text stays."));
  EXPECT_THAT(out, HasSubstr("photo.txt"));
  EXPECT_THAT(out, Not(HasSubstr("filename=\"invoice.docm\"")));
  EXPECT_THAT(out, HasSubstr("invoice.docm: a Word document with macros"));
  EXPECT_THAT(out, HasSubstr("Subject: attachments"));
  EXPECT_TRUE(ScanMessage(out, Forbid({"docmacro"})).findings.empty()) << "what is left is clean";

  // A message that is nothing but the attachment becomes the notice alone.
  std::string bare =
      "From: a@b.example\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream; "
      "name=setup.exe\r\n"
      "Content-Disposition: attachment; filename=setup.exe\r\nContent-Transfer-Encoding: "
      "base64\r\n\r\n" +
      gwtest::Base64(gwtest::WindowsProgram()) + "\r\n";
  verdict = ScanMessage(bare, Forbid({"executable"}), true);
  EXPECT_THAT(verdict.rewritten, HasSubstr("setup.exe: a Windows program"));
  EXPECT_THAT(verdict.rewritten, HasSubstr("text/plain"));
  EXPECT_THAT(verdict.rewritten, Not(HasSubstr("TVq")));  // base64 of "MZ"
}

TEST(ContentScan, AMessageThatParsesDifferentlyOnceRewrittenIsNotCut) {
  // Found by fuzzing: boundaries hidden in an epilogue become parts once the message is
  // written out again. Such a message is refused rather than cut.
  std::ifstream in(GWCTL_SOURCE_DIR "/tests/fuzz/regressions/mime/reparsed-epilogue",
                   std::ios::binary);
  std::string message((std::istreambuf_iterator<char>(in)), {});
  ASSERT_FALSE(message.empty());
  ContentVerdict verdict = ScanMessage(message, Forbid({"docmacro", "archive"}), true);
  EXPECT_FALSE(verdict.findings.empty());
  EXPECT_TRUE(verdict.rewritten.empty());
  SpamEnvelope envelope;
  envelope.recipients = {"alice@acme.example"};
  MilterDecision decision = DecideMessage(
      envelope, message,
      [](const SpamEnvelope&) -> Result<std::optional<FilterProfile>> {
        FilterProfile p;
        p.customer = "northwind/acme";
        p.content = Forbid({"docmacro", "archive"});
        return std::optional(p);
      },
      [](std::string_view, const FilterProfile&, const SpamEnvelope&) -> Result<SpamVerdict> {
        return SpamVerdict{};
      },
      {});
  EXPECT_EQ(decision.kind, MilterDecision::Kind::kReject);
}

FilterProfile Profile(AttachmentAction action, bool filtering = true) {
  FilterProfile p;
  p.customer = "northwind/acme";
  p.filtering = filtering;
  p.content = Forbid({"docmacro", "executable"});
  p.content.action = action;
  return p;
}

// The milter's decision, with gatewayd's answer and rspamd's verdict given by the test.
class ContentMilter : public ::testing::Test {
 protected:
  MilterDecision Decide(const std::string& message) {
    SpamEnvelope envelope;
    envelope.sender = "bob@sender.example";
    envelope.recipients = {"alice@acme.example"};
    return DecideMessage(
        envelope, message, [this](const SpamEnvelope&) { return profile_; },
        [this](std::string_view, const FilterProfile& profile,
               const SpamEnvelope&) -> Result<SpamVerdict> {
          ++scored_;
          EXPECT_EQ(profile.customer, "northwind/acme");
          return spam_;
        },
        virus_);
  }

  Result<std::optional<FilterProfile>> profile_ = std::optional(Profile(AttachmentAction::kReject));
  Result<SpamVerdict> spam_ = SpamVerdict{false, 1.5, "no action", "", {}};
  int scored_ = 0;
  VirusCheck virus_;  // none: no antivirus
  std::string macro_ =
      MessageWith({{"invoice.docm", "application/octet-stream", gwtest::MacroDocument()}});
  std::string plain_ = MessageWith({{"notes.txt", "text/plain", "plain notes"}});
};

TEST_F(ContentMilter, AttachmentRulesRefuseCutOrQuarantine) {
  using Kind = MilterDecision::Kind;
  MilterDecision d = Decide(macro_);
  EXPECT_EQ(d.kind, Kind::kReject);
  EXPECT_THAT(d.reply, HasSubstr("invoice.docm: a Word document with macros"));
  EXPECT_EQ(scored_, 0) << "a refused message is not scored";

  profile_ = std::optional(Profile(AttachmentAction::kCutAndInform));
  d = Decide(macro_);
  ASSERT_EQ(d.kind, Kind::kRewrite);
  EXPECT_THAT(d.body, HasSubstr("\r\n"));
  EXPECT_THAT(d.body, Not(HasSubstr("filename=\"invoice.docm\"")));
  ASSERT_EQ(d.headers.size(), 1u) << "the message became multipart/mixed with a new boundary";
  EXPECT_EQ(d.headers[0].first, "Content-Type");
  ASSERT_TRUE(d.headers[0].second);
  EXPECT_THAT(*d.headers[0].second, HasSubstr("multipart/mixed"));
  EXPECT_THAT(d.removed, HasSubstr("invoice.docm"));
  EXPECT_EQ(scored_, 1) << "what is left is scored";

  profile_ = std::optional(Profile(AttachmentAction::kQuarantine));
  d = Decide(macro_);
  EXPECT_EQ(d.kind, Kind::kQuarantine);
  EXPECT_EQ(d.reason, "attachment");
  EXPECT_EQ(d.customer, "northwind/acme");
  EXPECT_EQ(d.subject, "attachments");
  EXPECT_EQ(d.quarantined, macro_);
}

TEST_F(ContentMilter, SpamIsQuarantinedUnlessTheAllowListExemptsTheSender) {
  using Kind = MilterDecision::Kind;
  spam_ = SpamVerdict{true, 15, "reject", "GTUBE(0.0)", {}};
  MilterDecision d = Decide(plain_);
  EXPECT_EQ(d.kind, Kind::kQuarantine);
  EXPECT_EQ(d.reason, "spam");
  EXPECT_EQ(d.quarantined, plain_);
  EXPECT_THAT(d.log, HasSubstr("GTUBE"));

  FilterProfile allowed = Profile(AttachmentAction::kReject);
  allowed.skip_spam = true;
  profile_ = std::optional(allowed);
  scored_ = 0;
  EXPECT_EQ(Decide(plain_).kind, Kind::kAccept);
  EXPECT_EQ(scored_, 0);
  EXPECT_EQ(Decide(macro_).kind, Kind::kReject) << "attachment rules still apply";
}

TEST_F(ContentMilter, MalwareIsQuarantinedOrRefusedWhoeverSendsItAndAScannerDownDefers) {
  using Kind = MilterDecision::Kind;
  int scanned = 0;
  Result<VirusVerdict> verdict = VirusVerdict{true, "Win.Test.EICAR_HDB-1"};
  virus_ = [&](std::string_view) -> Result<VirusVerdict> {
    ++scanned;
    return verdict;
  };
  FilterProfile allowed = Profile(AttachmentAction::kCutAndInform);
  allowed.skip_spam = true;  // an allow-listed sender is still scanned for malware
  profile_ = std::optional(allowed);
  MilterDecision d = Decide(plain_);
  EXPECT_EQ(d.kind, Kind::kQuarantine);
  EXPECT_EQ(d.reason, "virus");
  EXPECT_EQ(d.quarantined, plain_);
  EXPECT_THAT(d.log, HasSubstr("virus Win.Test.EICAR_HDB-1"));
  EXPECT_EQ(scored_, 0) << "malware is not scored for spam";

  allowed.reject_viruses = true;
  profile_ = std::optional(allowed);
  d = Decide(plain_);
  EXPECT_EQ(d.kind, Kind::kReject);
  EXPECT_THAT(d.reply, HasSubstr("malware (Win.Test.EICAR_HDB-1)"));
  EXPECT_TRUE(d.archive.empty());

  verdict = Status(StatusCode::kUnavailable, "connection refused");
  d = Decide(plain_);
  EXPECT_EQ(d.kind, Kind::kTempfail) << "clamd down: never a pass";
  EXPECT_THAT(d.log, HasSubstr("connection refused"));

  verdict = VirusVerdict{};
  EXPECT_EQ(Decide(plain_).kind, Kind::kAccept);
  profile_ = std::optional(Profile(AttachmentAction::kReject, /*filtering=*/false));
  scanned = 0;
  EXPECT_EQ(Decide(plain_).kind, Kind::kAccept);
  EXPECT_EQ(scanned, 0) << "filtering off: no scanning at all";
}

TEST_F(ContentMilter, WhatIsDeliveredForAnArchivingCustomerNamesItsArchive) {
  using Kind = MilterDecision::Kind;
  FilterProfile archiving = Profile(AttachmentAction::kCutAndInform);
  archiving.archive = true;
  profile_ = std::optional(archiving);
  MilterDecision d = Decide(plain_);
  EXPECT_EQ(d.kind, Kind::kAccept);
  EXPECT_THAT(d.archive, ElementsAre(MilterDecision::ArchiveCopy{"northwind/acme", "inbound"}));
  d = Decide(macro_);
  EXPECT_EQ(d.kind, Kind::kRewrite);
  EXPECT_THAT(d.archive, SizeIs(1)) << "the cut message is archived";
  spam_ = SpamVerdict{true, 15, "reject", "GTUBE(0.0)", {}};
  EXPECT_THAT(Decide(plain_).archive, IsEmpty()) << "held mail is not delivered, not archived";
}

TEST_F(ContentMilter, NewslettersAreQuarantinedOnlyWhereTheInfomailFilterIsOn) {
  using Kind = MilterDecision::Kind;
  std::string newsletter =
      "From: news@shop.example\r\nTo: alice@acme.example\r\nSubject: Our November deals\r\n"
      "List-Unsubscribe: <mailto:unsubscribe@shop.example>\r\n\r\nDeals.\r\n";
  std::string bulk =
      "From: news@shop.example\r\nSubject: Weekly\r\nPrecedence: Bulk\r\n\r\nNews.\r\n";
  std::string discussion =
      "From: bob@list.example\r\nSubject: Re: a question\r\nList-Id: <users.list.example>\r\n"
      "\r\nAn answer.\r\n";
  EXPECT_EQ(Decide(newsletter).kind, Kind::kAccept) << "the infomail filter is off";

  FilterProfile infomail = Profile(AttachmentAction::kReject);
  infomail.infomail = true;
  profile_ = std::optional(infomail);
  MilterDecision d = Decide(newsletter);
  EXPECT_EQ(d.kind, Kind::kQuarantine);
  EXPECT_EQ(d.reason, "infomail");
  EXPECT_EQ(d.subject, "Our November deals");
  EXPECT_THAT(d.log, HasSubstr("List-Unsubscribe"));
  EXPECT_EQ(Decide(bulk).reason, "infomail");
  EXPECT_EQ(Decide(discussion).kind, Kind::kAccept) << "a discussion list is not a newsletter";
  EXPECT_EQ(Decide(plain_).kind, Kind::kAccept);

  spam_ = SpamVerdict{true, 15, "reject", "", {}};
  EXPECT_EQ(Decide(newsletter).reason, "spam") << "spam first: its report section is spam";
  infomail.skip_spam = true;
  profile_ = std::optional(infomail);
  EXPECT_EQ(Decide(newsletter).kind, Kind::kAccept) << "an allow-listed sender's newsletter";
}

TEST_F(ContentMilter, FilteringOffPassesAndWhatCannotBeAskedDefers) {
  using Kind = MilterDecision::Kind;
  spam_ = SpamVerdict{true, 15, "reject", "", {}};
  profile_ = std::optional(Profile(AttachmentAction::kReject, /*filtering=*/false));
  EXPECT_EQ(Decide(macro_).kind, Kind::kAccept);
  EXPECT_EQ(scored_, 0);
  profile_ = std::optional<FilterProfile>();
  EXPECT_EQ(Decide(macro_).kind, Kind::kTempfail) << "no customer's: never passed unfiltered";

  profile_ = Status(StatusCode::kUnavailable, "gatewayd is down");
  MilterDecision d = Decide(plain_);
  EXPECT_EQ(d.kind, Kind::kTempfail) << "never passed unfiltered while the settings are unknown";
  EXPECT_THAT(d.log, HasSubstr("gatewayd is down"));
  profile_ = std::optional(Profile(AttachmentAction::kReject));
  spam_ = Status(StatusCode::kUnavailable, "rspamd is down");
  d = Decide(plain_);
  EXPECT_EQ(d.kind, Kind::kTempfail);
  EXPECT_THAT(d.log, HasSubstr("rspamd is down"));
}

TEST(RspamdSettings, EveryActionStartsAtTheLevelsThreshold) {
  FilterProfile premium;
  premium.level = "premium";
  auto settings = nlohmann::json::parse(RspamdSettings(premium));
  for (const char* action : {"reject", "add header", "rewrite subject", "greylist"})
    EXPECT_EQ(settings["actions"][action], 5.0) << action;
  FilterProfile standard;
  standard.level = "standard";
  EXPECT_EQ(nlohmann::json::parse(RspamdSettings(standard))["actions"]["reject"], 8.0);
}

TEST(FilterProfile, RoundTripsThroughItsJson) {
  FilterProfile p = Profile(AttachmentAction::kQuarantine);
  p.level = "standard";
  p.content.forbid_encrypted = true;
  auto back = FilterProfileFromJson(ToJson(p));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(ToJson(*back), ToJson(p));
  EXPECT_FALSE(FilterProfileFromJson({{"customer", "x"}, {"action", "explode"}}).ok());
  EXPECT_FALSE(FilterProfileFromJson({{"action", "reject"}}).ok()) << "customer is required";
}

TEST(FilterProfile, ARelayFilterRoundTripsWithItsTenantProof) {
  RelayFilter filter{Profile(AttachmentAction::kReject), Profile(AttachmentAction::kQuarantine)};
  filter.sender.proof = {"google", "", {"acme.example", "acme.co.uk"}};
  auto back = RelayFilterFromJson(ToJson(filter));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->sender.proof, filter.sender.proof);
  ASSERT_TRUE(back->recipient);
  EXPECT_EQ(ToJson(*back), ToJson(filter));
  EXPECT_FALSE(RelayFilterFromJson({{"recipient", ToJson(filter.sender)}}).ok());
}

TEST(RspamdAnswer, OnlyValidDkimSignaturesCount) {
  auto symbols = nlohmann::json::parse(R"({
    "R_DKIM_ALLOW": {"score": -0.2, "options": ["Acme.Example:s=google"]},
    "DKIM_TRACE": {"score": 0, "options": ["acme.example:+", "evil.example:-", "x.example:?"]},
    "R_DKIM_REJECT": {"score": 1, "options": ["evil.example:s=sel"]}})");
  EXPECT_EQ(VerifiedDkimDomains(symbols), std::vector<std::string>{"acme.example"});
  EXPECT_TRUE(VerifiedDkimDomains(nlohmann::json::object()).empty());
}

// Mail a customer's server relays (DecideRelayedMessage), with gatewayd's and rspamd's
// answers given by the test: the acme customer sends from Microsoft 365 (tenant kTenant)
// or Google Workspace.
class RelayedMilter : public ::testing::Test {
 protected:
  static constexpr const char* kTenant = "3f2b8c1e-7d4a-4e6b-9c2d-5a1e8f0b7c3d";

  RelayedMilter() {
    filter_.sender.customer = "northwind/acme";
    filter_.sender.proof = {"office365", kTenant, {}};
  }

  MilterDecision Decide(const std::string& message) {
    SpamEnvelope envelope;
    envelope.sender = "ceo@acme.example";
    envelope.recipients = {recipient_};
    return DecideRelayedMessage(
        envelope, message,
        [this](const SpamEnvelope&) -> Result<std::optional<RelayFilter>> {
          if (!found_) return std::optional<RelayFilter>();
          return std::optional(filter_);
        },
        [this](std::string_view, const FilterProfile& profile,
               const SpamEnvelope&) -> Result<SpamVerdict> {
          scored_for_.push_back(profile.customer);
          if (!down_.ok()) return down_;
          return spam_;
        },
        virus_);
  }

  static std::string From365(const std::vector<std::string>& tenants, const std::string& rest) {
    std::string headers;
    for (const auto& tenant : tenants)
      headers += "X-MS-Exchange-CrossTenant-Id: " + tenant + "\r\n";
    return headers + "From: ceo@acme.example\r\nSubject: figures\r\n" + rest;
  }

  RelayFilter filter_;
  bool found_ = true;
  std::string recipient_ = "partner@external.example";
  SpamVerdict spam_{false, 0.5, "no action", "", {}};
  Status down_;  // rspamd's failure, when not ok
  std::vector<std::string> scored_for_;
  VirusCheck virus_;
  std::string plain_ = "\r\nQuarterly figures.\r\n";
};

TEST_F(RelayedMilter, Microsoft365MailMustCarryTheCustomersTenantInEveryStamp) {
  using Kind = MilterDecision::Kind;
  MilterDecision d = Decide(From365({}, plain_));
  EXPECT_EQ(d.kind, Kind::kReject) << "another tenant's mail, or mail not from Exchange Online";
  EXPECT_THAT(d.reply, HasSubstr("relay refused"));
  EXPECT_THAT(d.log, HasSubstr("no X-MS-Exchange-CrossTenant-Id"));
  EXPECT_TRUE(scored_for_.empty());

  d = Decide(From365({"0a0b0c0d-0000-4000-8000-000000000001"}, plain_));
  EXPECT_EQ(d.kind, Kind::kReject);
  EXPECT_THAT(d.log, HasSubstr("0a0b0c0d-0000-4000-8000-000000000001"));

  // An attacker's tenant adds its own copy of the customer's id; Exchange Online stamps
  // the attacker's beside it.
  d = Decide(From365({kTenant, "0a0b0c0d-0000-4000-8000-000000000001"}, plain_));
  EXPECT_EQ(d.kind, Kind::kReject) << "every stamp must name the customer's tenant";

  d = Decide(From365({"3F2B8C1E-7D4A-4E6B-9C2D-5A1E8F0B7C3D"}, plain_));
  EXPECT_EQ(d.kind, Kind::kAccept) << d.log;
  EXPECT_EQ(scored_for_, std::vector<std::string>{"northwind/acme"})
      << "outbound mail is scored, once";
}

TEST_F(RelayedMilter, GoogleMailMustBeSignedByOneOfTheCustomersDomains) {
  using Kind = MilterDecision::Kind;
  filter_.sender.proof = {"google", "", {"acme.example", "acme.co.uk"}};
  std::string message = "From: ceo@acme.example\r\nSubject: figures\r\n" + plain_;
  EXPECT_EQ(Decide(message).kind, Kind::kReject) << "unsigned";
  spam_.dkim_domains = {"gmail.com", "attacker.example"};
  MilterDecision d = Decide(message);
  EXPECT_EQ(d.kind, Kind::kReject) << "signed, but not by acme";
  EXPECT_THAT(d.log, HasSubstr("gmail.com"));
  spam_.dkim_domains = {"gmail.com", "mail.acme.co.uk"};
  scored_for_.clear();
  EXPECT_EQ(Decide(message).kind, Kind::kAccept);
  EXPECT_EQ(scored_for_.size(), 1u) << "the proof's scoring is the outbound filter's";

  down_ = Status(StatusCode::kUnavailable, "rspamd is down");
  EXPECT_EQ(Decide(message).kind, Kind::kTempfail) << "a proof not checked is not assumed";
}

TEST_F(RelayedMilter, OutboundSpamIsHeldEvenFromAnAllowListedSender) {
  using Kind = MilterDecision::Kind;
  filter_.sender.skip_spam = true;
  spam_ = SpamVerdict{true, 25, "reject", "GTUBE(0.0)", {}};
  MilterDecision d = Decide(From365({kTenant}, plain_));
  EXPECT_EQ(d.kind, Kind::kQuarantine);
  EXPECT_EQ(d.customer, "northwind/acme") << "held in the sender's quarantine";
  EXPECT_THAT(d.log, HasSubstr("outbound"));

  found_ = false;
  EXPECT_EQ(Decide(From365({kTenant}, plain_)).kind, Kind::kTempfail)
      << "no customer relays it: never passed unfiltered";
}

TEST_F(RelayedMilter, MalwareIsScannedOnceAndMailBetweenCustomersIsInBothArchives) {
  using Kind = MilterDecision::Kind;
  filter_.sender.proof = {};
  filter_.sender.archive = true;
  recipient_ = "alice@globex.example";
  FilterProfile globex;
  globex.customer = "northwind/globex";
  globex.archive = true;
  filter_.recipient = globex;
  int scans = 0;
  virus_ = [&](std::string_view) -> Result<VirusVerdict> {
    ++scans;
    return VirusVerdict{};
  };
  MilterDecision d = Decide(plain_);
  EXPECT_EQ(d.kind, Kind::kAccept);
  EXPECT_EQ(scans, 1) << "the same text is scanned once for both customers";
  EXPECT_THAT(d.archive, ElementsAre(MilterDecision::ArchiveCopy{"northwind/acme", "outbound"},
                                     MilterDecision::ArchiveCopy{"northwind/globex", "inbound"}));
  virus_ = [](std::string_view) -> Result<VirusVerdict> {
    return VirusVerdict{true, "Gw.Test.Pattern"};
  };
  d = Decide(plain_);
  EXPECT_EQ(d.kind, Kind::kQuarantine);
  EXPECT_EQ(d.customer, "northwind/acme") << "outbound malware is held for the sender";
  EXPECT_TRUE(d.archive.empty());
}

TEST_F(RelayedMilter, MailToAnotherCustomerMeetsThatCustomersRulesToo) {
  using Kind = MilterDecision::Kind;
  filter_.sender.proof = {};
  recipient_ = "alice@globex.example";
  FilterProfile globex;
  globex.customer = "northwind/globex";
  globex.content = Forbid({"docmacro"});
  globex.content.action = AttachmentAction::kReject;
  filter_.recipient = globex;
  std::string macro =
      MessageWith({{"invoice.docm", "application/octet-stream", gwtest::MacroDocument()}});
  MilterDecision d = Decide(macro);
  EXPECT_EQ(d.kind, Kind::kReject) << "acme allows macros; globex does not";
  EXPECT_THAT(d.log, HasSubstr("then inbound"));

  // Both cut: the receiver's cut comes from what the sender's left.
  filter_.sender.content = Forbid({"executable"});
  filter_.recipient->content.action = AttachmentAction::kCutAndInform;
  std::string both =
      MessageWith({{"invoice.docm", "application/octet-stream", gwtest::MacroDocument()},
                   {"setup.exe", "application/octet-stream", "MZ\x90\x00rest"},
                   {"notes.txt", "text/plain", "plain notes"}});
  d = Decide(both);
  ASSERT_EQ(d.kind, Kind::kRewrite) << d.log;
  EXPECT_THAT(d.body, Not(HasSubstr("filename=\"invoice.docm\"")));
  EXPECT_THAT(d.body, Not(HasSubstr("filename=\"setup.exe\"")));
  EXPECT_THAT(d.body, HasSubstr("notes.txt"));
  EXPECT_THAT(d.removed, HasSubstr("setup.exe"));
  EXPECT_THAT(d.removed, HasSubstr("invoice.docm"));

  spam_ = SpamVerdict{true, 9, "reject", "", {}};
  filter_.sender.content = {};
  d = Decide(From365({}, plain_));
  EXPECT_EQ(d.kind, Kind::kQuarantine);
  EXPECT_EQ(d.customer, "northwind/acme") << "spam from acme is held at acme first";
}

}  // namespace
}  // namespace gw
