// Spam reports: when one is due in the customer's time zone (daylight saving included),
// what it says, and the pass that sends them (Service over a real SQLite store; the mail
// it sends is captured here; tests/mail sends it through Postfix).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "gateway/rfc3339.h"
#include "gateway/service.h"
#include "gateway/spam_report.h"
#include "gatewayd_fixture.h"
#include "service/housekeeper.h"

namespace {

using gw::TimePoint;
using ::testing::HasSubstr;
using ::testing::Not;

TimePoint At(const std::string& text) {
  auto parsed = gw::ParseRfc3339(text);
  EXPECT_TRUE(parsed) << text;
  return parsed.value_or(TimePoint{});
}

gw::SpamReportSettings Schedule(std::vector<std::string> days, std::vector<std::string> times,
                                std::string zone) {
  gw::SpamReportSettings settings;
  settings.enabled = true;
  settings.days = std::move(days);
  settings.times = std::move(times);
  settings.time_zone = std::move(zone);
  return settings;
}

TEST(SpamReportSchedule, AReportIsDueAtItsWallClockTimeInTheCustomersZone) {
  // 2026-11-23 is a Monday; New York is on EST (UTC-5).
  auto monday = Schedule({"mon"}, {"08:00"}, "America/New_York");
  EXPECT_FALSE(gw::LatestReportTime(monday, At("2026-11-23T12:00:00Z"), At("2026-11-23T12:59:59Z")))
      << "07:59:59 in New York";
  EXPECT_EQ(gw::LatestReportTime(monday, At("2026-11-23T12:00:00Z"), At("2026-11-23T13:00:00Z")),
            At("2026-11-23T13:00:00Z"));
  EXPECT_FALSE(gw::LatestReportTime(monday, At("2026-11-23T13:00:00Z"), At("2026-11-24T23:00:00Z")))
      << "each time once: not again after it passed, and not on Tuesday";
  // Missed for days (gatewayd was down): the latest time is found, once.
  EXPECT_EQ(gw::LatestReportTime(monday, At("2026-10-01T00:00:00Z"), At("2026-11-25T00:00:00Z")),
            At("2026-11-23T13:00:00Z"));
  monday.enabled = false;
  EXPECT_FALSE(
      gw::LatestReportTime(monday, At("2026-11-23T12:00:00Z"), At("2026-11-23T14:00:00Z")));

  // London's 08:00 is 07:00 UTC in summer and 08:00 UTC in winter.
  auto london = Schedule({"mon", "fri"}, {"08:00", "13:00"}, "Europe/London");
  EXPECT_EQ(gw::LatestReportTime(london, At("2026-07-06T00:00:00Z"), At("2026-07-06T10:00:00Z")),
            At("2026-07-06T07:00:00Z"));
  EXPECT_EQ(gw::LatestReportTime(london, At("2026-11-23T00:00:00Z"), At("2026-11-23T23:00:00Z")),
            At("2026-11-23T13:00:00Z"))
      << "the later of the day's two times";
  // Tokyo's Monday 08:00 is Sunday 23:00 UTC.
  auto tokyo = Schedule({"mon"}, {"08:00"}, "Asia/Tokyo");
  EXPECT_EQ(gw::LatestReportTime(tokyo, At("2026-11-22T00:00:00Z"), At("2026-11-23T00:00:00Z")),
            At("2026-11-22T23:00:00Z"));
}

TEST(SpamReportSchedule, DaylightSavingGapsAndRepeatsSendOnce) {
  // 2026-03-08 (Sunday): New York skips 02:00-03:00; a 02:30 report goes at 03:00 EDT.
  auto gap = Schedule({"sun"}, {"02:30"}, "America/New_York");
  EXPECT_EQ(gw::LatestReportTime(gap, At("2026-03-08T00:00:00Z"), At("2026-03-08T23:00:00Z")),
            At("2026-03-08T07:00:00Z"));
  // 2026-11-01 (Sunday): 01:30 happens twice (EDT, then EST); the first one only.
  auto repeat = Schedule({"sun"}, {"01:30"}, "America/New_York");
  EXPECT_EQ(gw::LatestReportTime(repeat, At("2026-11-01T00:00:00Z"), At("2026-11-01T12:00:00Z")),
            At("2026-11-01T05:30:00Z"));
  EXPECT_FALSE(
      gw::LatestReportTime(repeat, At("2026-11-01T05:30:00Z"), At("2026-11-01T12:00:00Z")));
}

gw::QuarantinedMessage Held(int64_t id, std::string reason, std::string subject) {
  gw::QuarantinedMessage m;
  m.id = id;
  m.customer = "acme";
  m.received_at = "2026-11-23T10:15:00.000Z";
  m.sender = "offers@spam.example";
  m.recipients = {"ann@acme.example"};
  m.subject = std::move(subject);
  m.reason = std::move(reason);
  return m;
}

TEST(SpamReportMail, ListsTheSectionsTheCustomerShowsInItsZone) {
  auto settings = Schedule({"mon"}, {"08:00"}, "Europe/Berlin");
  std::vector<gw::QuarantinedMessage> held = {Held(3, "spam", "Cheap watches"),
                                              Held(5, "attachment", "invoice"),
                                              Held(7, "infomail", "November deals")};
  auto mail = gw::ComposeSpamReport(settings, "quarantine@gw.example", "ann@acme.example", held,
                                    At("2026-11-23T07:00:00Z"));
  ASSERT_TRUE(mail);
  EXPECT_EQ(mail->listed, 2u) << "spam and infomail by default";
  EXPECT_THAT(mail->message, HasSubstr("From: Quarantine report <quarantine@gw.example>\r\n"));
  EXPECT_THAT(mail->message, HasSubstr("To: <ann@acme.example>\r\n"));
  EXPECT_THAT(mail->message, HasSubstr("Subject: Quarantine report: 2 held messages\r\n"));
  EXPECT_THAT(mail->message, HasSubstr("Date: Mon, 23 Nov 2026 07:00:00 +0000\r\n"));
  EXPECT_THAT(mail->message, HasSubstr("Auto-Submitted: auto-generated\r\n"));
  EXPECT_THAT(mail->message, HasSubstr("Spam (1)\r\n  2026-11-23 11:15  from offers@spam.example"))
      << "10:15 UTC is 11:15 in Berlin";
  EXPECT_THAT(mail->message, HasSubstr("\"Cheap watches\"  (ref 3)"));
  EXPECT_THAT(mail->message, HasSubstr("Newsletters (infomail) (1)"));
  EXPECT_THAT(mail->message, Not(HasSubstr("invoice")));
  EXPECT_THAT(mail->message, Not(HasSubstr("allow list")));

  settings.categories = {"spam", "content"};
  settings.whitelist_spam = true;
  mail = gw::ComposeSpamReport(settings, "quarantine@gw.example", "ann@acme.example", held,
                               At("2026-11-23T07:00:00Z"));
  ASSERT_TRUE(mail);
  EXPECT_EQ(mail->listed, 2u);
  EXPECT_THAT(mail->message, HasSubstr("Forbidden attachments (1)"));
  EXPECT_THAT(mail->message, Not(HasSubstr("November deals")));
  EXPECT_THAT(mail->message, HasSubstr("add it to your allow list"));

  settings.categories = {"virus"};
  EXPECT_FALSE(gw::ComposeSpamReport(settings, "quarantine@gw.example", "ann@acme.example", held,
                                     At("2026-11-23T07:00:00Z")))
      << "nothing to show: no mail";
}

TEST(SpamReportMail, WhatASpammerWroteStaysText) {
  auto settings = Schedule({"mon"}, {"08:00"}, "UTC");
  auto hostile = Held(1, "spam", "Hi\r\nBcc: everyone@victim.example\r\n\r\nfake body");
  hostile.sender = "a\r\nX-Evil: 1@spam.example";
  std::string long_subject(300, 'x');
  long_subject.replace(97, 3, "\xc3\xa9\xc3\xa9");  // a two-byte character across the cut
  std::vector<gw::QuarantinedMessage> held = {hostile, Held(2, "spam", long_subject),
                                              Held(3, "spam", "bad \xff byte")};
  auto mail = gw::ComposeSpamReport(settings, "q@gw.example", "ann@acme.example", held,
                                    At("2026-11-23T08:00:00Z"));
  ASSERT_TRUE(mail);
  std::string headers = mail->message.substr(0, mail->message.find("\r\n\r\n"));
  EXPECT_THAT(headers, Not(HasSubstr("Bcc")));
  EXPECT_THAT(headers, Not(HasSubstr("X-Evil")));
  EXPECT_THAT(mail->message, HasSubstr("\"Hi  Bcc: everyone@victim.example    fake body\""));
  EXPECT_THAT(mail->message, HasSubstr("\"" + std::string(97, 'x') + "...\""))
      << "cut before the character, not inside it";
  EXPECT_THAT(mail->message, HasSubstr("\"bad ? byte\""));
}

// The pass, through Service over a real store; mail is captured, or fails on purpose.
class SpamReportPass : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.send_mail = [this](const std::string& sender,
                                const std::vector<std::string>& recipients,
                                const std::string& message) {
      if (fail_for_ == recipients.front())
        return gw::Status(gw::StatusCode::kUnavailable, "Postfix is down");
      if (sender != "quarantine@gw.example") {
        ++released_;  // a release, not a report
        return gw::Status::Ok();
      }
      EXPECT_EQ(recipients.size(), 1u);
      sent_[recipients.front()].push_back(message);
      if (while_sending_) while_sending_();
      return gw::Status::Ok();
    };
    options_.report_sender = "quarantine@gw.example";
    auto service = gw::Service::Open((dir_ / "gateway.db").string(), options_);
    ASSERT_TRUE(service.ok()) << service.status().message();
    service_ = std::move(*service);
    ASSERT_TRUE(service_->PutPartner(local_, "northwind").ok());
    gw::CustomerWrite write;
    write.spec = {{"product", "ultimate-defense"},
                  {"billableUsers", 2},
                  {"domains", {{"primary", "acme.example"}}},
                  {"destinations", "mx.acme.example"},
                  {"filtering",
                   {{"spamReport",
                     {{"enabled", true},
                      {"days", {"mon"}},
                      {"times", {"08:00"}},
                      {"timezone", "America/New_York"},
                      {"categories", {"spam", "content"}}}}}}};
    auto put =
        service_->PutCustomer(local_, "northwind", "acme", write, gw::WriteCondition::CreateOnly());
    ASSERT_TRUE(put.ok()) << put.status().message();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  int64_t Keep(const std::string& subject, std::vector<std::string> recipients,
               const std::string& reason = "spam") {
    gw::QuarantinedMessage meta;
    meta.customer = "acme";
    meta.sender = "offers@spam.example";
    meta.recipients = std::move(recipients);
    meta.subject = subject;
    meta.reason = reason;
    auto id =
        service_->Quarantine(local_, "northwind", meta, "Subject: " + subject + "\r\n\r\nx\r\n");
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? *id : 0;
  }

  gw::SpamReportRun Run(const std::string& as_of) {
    auto run = service_->RunSpamReports(local_, At(as_of));
    EXPECT_TRUE(run.ok()) << run.status().message();
    return run.ok() ? *run : gw::SpamReportRun{};
  }

  std::filesystem::path dir_ = gwtest::MakeTempDir("spam-reports");
  gw::ServiceOptions options_;
  std::unique_ptr<gw::Service> service_;
  const gw::Actor local_ = gw::Actor::Local();
  std::map<std::string, std::vector<std::string>> sent_;
  std::string fail_for_;
  int released_ = 0;
  std::function<void()> while_sending_;
};

TEST_F(SpamReportPass, EachRecipientGetsOneDigestAtTheScheduledTime) {
  // Mondays 2026-11-16 and 2026-11-23 (a pass may not run ahead of the real clock).
  Run("2026-11-16T12:00:00Z");  // the first pass notes the time
  int64_t watches = Keep("Cheap watches", {"ann@acme.example", "bob@acme.example"});
  Keep("Forbidden invoice", {"ann@acme.example"}, "attachment");
  Keep("A newsletter", {"bob@acme.example"}, "infomail");  // a hidden section
  int64_t released = Keep("Released one", {"ann@acme.example"});
  ASSERT_TRUE(service_->ReleaseQuarantined(local_, "northwind", "acme", released).ok());
  EXPECT_EQ(released_, 1);

  EXPECT_EQ(Run("2026-11-16T12:59:00Z").reports_sent, 0) << "07:59 in New York";
  gw::SpamReportRun run = Run("2026-11-16T13:00:30Z");
  EXPECT_EQ(run.customers_due, 1);
  EXPECT_EQ(run.reports_sent, 2);
  EXPECT_EQ(run.messages_listed, 3);
  ASSERT_EQ(sent_["ann@acme.example"].size(), 1u);
  const std::string& ann = sent_["ann@acme.example"][0];
  EXPECT_THAT(ann, HasSubstr("Subject: Quarantine report: 2 held messages"));
  EXPECT_THAT(ann, HasSubstr(fmt::format("\"Cheap watches\"  (ref {})", watches)));
  EXPECT_THAT(ann, HasSubstr("Forbidden invoice"));
  EXPECT_THAT(ann, Not(HasSubstr("Released one")));
  ASSERT_EQ(sent_["bob@acme.example"].size(), 1u);
  EXPECT_THAT(sent_["bob@acme.example"][0], Not(HasSubstr("A newsletter")));

  sent_.clear();
  EXPECT_EQ(Run("2026-11-16T13:01:30Z").reports_sent, 0) << "the same time, once";
  Keep("Tuesday spam", {"ann@acme.example"});
  EXPECT_EQ(Run("2026-11-17T13:00:30Z").reports_sent, 0) << "Tuesday is not a report day";
  EXPECT_TRUE(sent_.empty());
  run = Run("2026-11-23T13:00:30Z");
  EXPECT_EQ(run.reports_sent, 1) << "only ann has mail since her last report";
  ASSERT_EQ(sent_["ann@acme.example"].size(), 1u);
  EXPECT_THAT(sent_["ann@acme.example"][0], HasSubstr("Tuesday spam"));
  EXPECT_THAT(sent_["ann@acme.example"][0], Not(HasSubstr("Cheap watches")));
}

TEST_F(SpamReportPass, AReportThatCouldNotBeSentIsRetriedAndNoOtherIsSentTwice) {
  Run("2026-11-23T12:00:00Z");
  Keep("For both", {"ann@acme.example", "bob@acme.example"});
  fail_for_ = "bob@acme.example";
  gw::SpamReportRun run = Run("2026-11-23T13:00:30Z");
  EXPECT_EQ(run.reports_sent, 1);
  ASSERT_EQ(run.failures.size(), 1u);
  EXPECT_THAT(run.failures[0], HasSubstr("northwind/acme: bob@acme.example: Postfix is down"));
  fail_for_.clear();
  run = Run("2026-11-23T13:01:30Z");
  EXPECT_EQ(run.reports_sent, 1) << "bob's, retried";
  EXPECT_EQ(sent_["ann@acme.example"].size(), 1u) << "ann's is not sent again";
  EXPECT_EQ(sent_["bob@acme.example"].size(), 1u);
  EXPECT_EQ(Run("2026-11-23T13:02:30Z").customers_due, 0) << "done with this time";
}

// The hourly purge, with a clock: nothing younger than the retention goes, all older does.
TEST_F(SpamReportPass, TheQuarantinePurgeForgetsOnlyMailPastItsRetention) {
  Keep("first", {"ann@acme.example"});
  Keep("second", {"bob@acme.example"});
  auto now = std::chrono::system_clock::now();
  auto listed = [&] {
    auto held = service_->ListQuarantine(local_, "northwind", "acme", 0, 100);
    EXPECT_TRUE(held.ok());
    return held.ok() ? held->size() : 0u;
  };
  auto kept = service_->PurgeQuarantine(30, now + std::chrono::hours(24 * 30 - 1));
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  EXPECT_EQ(*kept, 0);
  EXPECT_EQ(listed(), 2u);
  auto purged = service_->PurgeQuarantine(30, now + std::chrono::hours(24 * 30 + 1));
  ASSERT_TRUE(purged.ok()) << purged.status().message();
  EXPECT_EQ(*purged, 2);
  EXPECT_EQ(listed(), 0u);
}

TEST_F(SpamReportPass, OnlyTheOperatorRunsItAndNeverAheadOfTime) {
  gw::Actor partner{"ci", gw::Role::kPartnerAdmin, "northwind", ""};
  EXPECT_EQ(service_->RunSpamReports(partner, At("2026-11-23T13:00:00Z")).status().code(),
            gw::StatusCode::kPermissionDenied);
  auto ahead =
      service_->RunSpamReports(local_, std::chrono::system_clock::now() + std::chrono::hours(24));
  EXPECT_EQ(ahead.status().code(), gw::StatusCode::kInvalidArgument);
  EXPECT_THAT(ahead.status().message(), HasSubstr("future"));

  auto embedded = gw::Service::Open((dir_ / "other.db").string());
  ASSERT_TRUE(embedded.ok());
  auto cannot = (*embedded)->RunSpamReports(local_, At("2026-11-23T13:00:00Z"));
  EXPECT_EQ(cannot.status().code(), gw::StatusCode::kFailedPrecondition);
  EXPECT_THAT(cannot.status().message(), HasSubstr("--release-smtp"));
}

// Two gatewayd replicas on one store: a pass holds the store's job lease while it runs,
// so the other replica's pass is refused meanwhile, and finds nothing left to send after.
TEST_F(SpamReportPass, ReplicasSharingAStoreSendEachReportOnce) {
  gw::ServiceOptions other = options_;
  other.replica = "replica-b";
  auto b = gw::Service::Open((dir_ / "gateway.db").string(), other);
  ASSERT_TRUE(b.ok()) << b.status().message();
  Run("2026-11-23T12:00:00Z");
  Keep("For ann", {"ann@acme.example"});
  std::optional<gw::Result<gw::SpamReportRun>> meanwhile;
  while_sending_ = [&] {
    if (!meanwhile) meanwhile.emplace((*b)->RunSpamReports(local_, At("2026-11-23T13:00:40Z")));
  };
  EXPECT_EQ(Run("2026-11-23T13:00:30Z").reports_sent, 1);
  ASSERT_TRUE(meanwhile.has_value());
  EXPECT_EQ(meanwhile->status().code(), gw::StatusCode::kConflict);
  EXPECT_THAT(meanwhile->status().message(), HasSubstr("replica 'gatewayd' holds"));
  auto after = (*b)->RunSpamReports(local_, At("2026-11-23T13:00:50Z"));
  ASSERT_TRUE(after.ok()) << after.status().message();  // the lease was given back
  EXPECT_EQ(after->customers_due, 0);
  EXPECT_EQ(sent_["ann@acme.example"].size(), 1u);
}

// gatewayd's housekeeping: a round at once and then each interval, what fails logged
// (here: reports with no way to send mail), and a prompt stop however long the interval.
TEST(HousekeeperTest, RoundsRepeatFailuresAreLoggedAndStopIsPrompt) {
  auto dir = gwtest::MakeTempDir("housekeeper");
  auto service = gw::Service::Open((dir / "gateway.db").string(), {});
  ASSERT_TRUE(service.ok()) << service.status().message();
  std::mutex mutex;
  std::vector<std::string> logged;
  gw::HousekeeperOptions options;
  options.interval = std::chrono::milliseconds(20);
  options.log = [&](const std::string& line) {
    std::lock_guard lock(mutex);
    logged.push_back(line);
  };
  auto count = [&] {
    std::lock_guard lock(mutex);
    return logged.size();
  };
  auto housekeeper = gw::Housekeeper::Start(**service, options);
  for (int i = 0; i < 250 && count() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  housekeeper->Stop();
  ASSERT_GE(count(), 3u) << "a round at once, then each interval";
  EXPECT_THAT(logged[0], HasSubstr("spam reports: "));

  options.interval = std::chrono::hours(1);
  auto idle = gw::Housekeeper::Start(**service, options);
  auto stopping = std::chrono::steady_clock::now();
  idle.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, std::chrono::seconds(5));
  std::filesystem::remove_all(dir);
}

}  // namespace
