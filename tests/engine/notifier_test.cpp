// Webhook notifications: one notice per incident and one on recovery, to a real HTTP
// receiver on loopback, in each webhook's own format; generic ones signed.
#include "gateway/notifier.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "process.h"
#include "webhook_receiver.h"

namespace {

using gwtest::WebhookReceiver;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<gw::WebhookTarget> Targets(const WebhookReceiver& receiver) {
  std::vector<gw::WebhookTarget> targets;
  for (const char* spec : {"generic=", "slack=", "teams="}) {
    std::string kind = std::string(spec).substr(0, std::string(spec).size() - 1);
    auto target = gw::ParseWebhookTarget(spec + receiver.Url("/" + kind));
    EXPECT_TRUE(target.ok());
    targets.push_back(*target);
  }
  targets[0].secret = "webhook-secret";
  return targets;
}

TEST(NotifierTest, EachIncidentIsToldOnceAndItsEndOnceInEachWebhooksFormat) {
  WebhookReceiver receiver;
  std::vector<std::string> logged;
  gw::Notifier notifier(
      "gatewayd mx1.example", Targets(receiver),
      [&](const std::string& line) { logged.push_back(line); }, 2);

  notifier.Report("queue/acme.example", true, "queue/acme.example needs attention",
                  "12 recipients <waiting>");
  EXPECT_TRUE(receiver.Take().empty()) << "one failing check is not yet an incident";
  notifier.Report("queue/acme.example", true, "queue/acme.example needs attention",
                  "12 recipients <waiting>");
  auto fired = receiver.Take();
  ASSERT_EQ(fired.size(), 3u);

  // Generic: the fields, signed over "TIME.BODY" with the secret.
  EXPECT_EQ(fired[0].path, "/generic");
  json generic = json::parse(fired[0].body);
  EXPECT_EQ(generic["state"], "firing");
  EXPECT_EQ(generic["key"], "queue/acme.example");
  EXPECT_EQ(generic["source"], "gatewayd mx1.example");
  EXPECT_EQ(generic["detail"], "12 recipients <waiting>");
  const std::string& signature = fired[0].signature;
  ASSERT_THAT(signature, ::testing::StartsWith("t="));
  int64_t at = std::stoll(signature.substr(2, signature.find(',') - 2));
  EXPECT_EQ(signature, gw::SignNotice("webhook-secret", fired[0].body, at));
  EXPECT_NE(signature, gw::SignNotice("another-secret", fired[0].body, at));
  EXPECT_NEAR(static_cast<double>(at), static_cast<double>(std::time(nullptr)), 60);
  // Slack: mrkdwn text with its markup characters escaped; unsigned.
  EXPECT_EQ(fired[1].path, "/slack");
  EXPECT_EQ(fired[1].signature, "");
  std::string text = json::parse(fired[1].body)["text"];
  EXPECT_THAT(text, HasSubstr(":rotating_light: *queue/acme.example needs attention*"));
  EXPECT_THAT(text, HasSubstr("12 recipients &lt;waiting&gt;"));
  // Teams: an Adaptive Card in a message.
  EXPECT_EQ(fired[2].path, "/teams");
  json teams = json::parse(fired[2].body);
  EXPECT_EQ(teams["type"], "message");
  const json& card = teams["attachments"][0];
  EXPECT_EQ(card["contentType"], "application/vnd.microsoft.card.adaptive");
  EXPECT_EQ(card["content"]["type"], "AdaptiveCard");
  EXPECT_EQ(card["content"]["body"][0]["color"], "Attention");

  notifier.Report("queue/acme.example", true, "queue/acme.example needs attention");
  EXPECT_TRUE(receiver.Take().empty()) << "told already";

  // Recovery: once, to each.
  notifier.Report("queue/acme.example", false, "queue/acme.example is healthy again");
  auto resolved = receiver.Take();
  ASSERT_EQ(resolved.size(), 3u);
  EXPECT_EQ(json::parse(resolved[0].body)["state"], "resolved");
  EXPECT_THAT(json::parse(resolved[1].body)["text"].get<std::string>(),
              HasSubstr(":white_check_mark: *Resolved: "));
  EXPECT_EQ(json::parse(resolved[2].body)["attachments"][0]["content"]["body"][0]["color"], "Good");
  notifier.Report("queue/acme.example", false, "queue/acme.example is healthy again");
  EXPECT_TRUE(receiver.Take().empty());
  EXPECT_TRUE(logged.empty());
}

// A webhook that fails is tried again at the next check, alone: the others are not told
// twice. A failure that ends before any webhook heard of it is never told at all.
TEST(NotifierTest, AWebhookThatFailedIsToldAtTheNextCheckAndOnlyIt) {
  WebhookReceiver receiver;
  std::vector<std::string> logged;
  gw::Notifier notifier("gwctl run northwind", Targets(receiver),
                        [&](const std::string& line) { logged.push_back(line); });
  receiver.Fail("/slack");
  notifier.Report("apply", true, "apply failed", "gateway answered 500");
  EXPECT_EQ(receiver.Take().size(), 3u);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_THAT(logged[0], HasSubstr("slack webhook #2 not delivered"));
  EXPECT_THAT(logged[0], Not(HasSubstr("127.0.0.1"))) << "a webhook URL is a credential";
  receiver.Fail("");
  notifier.Report("apply", true, "apply failed", "gateway answered 500");
  auto retried = receiver.Take();
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].path, "/slack");

  receiver.Fail("/generic");
  gw::Notifier unheard("gwctl run northwind", {Targets(receiver)[0]}, nullptr);
  unheard.Report("drift/acme", true, "drift on acme");
  EXPECT_EQ(receiver.Take().size(), 1u) << "tried, and refused";
  receiver.Fail("");
  unheard.Report("drift/acme", false, "acme matches the repository again");
  EXPECT_TRUE(receiver.Take().empty()) << "no one heard it start; no one is told it ended";
}

TEST(NotifierTest, WebhookFilesNameTheLineButNeverTheUrl) {
  auto dir = gwtest::MakeTempDir("webhooks");
  std::ofstream(dir / "hooks") << "# who is told\nslack=https://hooks.slack.example/T0/B0/secret\n"
                                  "\n  generic=https://alerts.example/in  \n";
  std::ofstream(dir / "secret") << "s3cret\n";
  auto read = gw::ReadWebhooks((dir / "hooks").string(), (dir / "secret").string());
  ASSERT_TRUE(read.ok()) << read.status().message();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0].kind, gw::WebhookTarget::Kind::kSlack);
  EXPECT_EQ((*read)[0].secret, "");
  EXPECT_EQ((*read)[1].url, "https://alerts.example/in");
  EXPECT_EQ((*read)[1].secret, "s3cret");
  std::ofstream(dir / "bad") << "pager=https://pager.example/key-123\n";
  auto bad = gw::ReadWebhooks((dir / "bad").string());
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("bad:1: webhook kind 'pager'"));
  EXPECT_THAT(bad.status().message(), Not(HasSubstr("key-123")));
  std::filesystem::remove_all(dir);
}

}  // namespace
