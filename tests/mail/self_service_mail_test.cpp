// Spam report links against a real gatewayd: the report carries one per action the
// customer allows; following a link (GET) shows what it would do and does nothing, as
// mail scanners follow every URL; confirming (POST) acts once, for that recipient only;
// a link altered, expired or used again does nothing. The mail goes to an SMTP sink.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "gateway/digest_links.h"
#include "gateway/rfc3339.h"
#include "mail_fixture.h"

namespace {

using gwtest::Gatewayd;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(DigestLinksTest, OnlyTheKeysOwnUnalteredUnexpiredLinksVerify) {
  gw::LinkClaim claim{"northwind", "acme", "alice@acme.example", 42, "release", 2000, "n1"};
  std::string token = gw::SignLink("key-one", claim);
  auto verified = gw::VerifyLink("key-one", token, 1999);
  ASSERT_TRUE(verified.ok()) << verified.status().message();
  EXPECT_EQ(verified->recipient, "alice@acme.example");
  EXPECT_EQ(verified->message, 42);
  EXPECT_EQ(verified->action, "release");
  EXPECT_EQ(gw::VerifyLink("key-one", token, 2000).status().code(),
            gw::StatusCode::kFailedPrecondition);
  EXPECT_EQ(gw::VerifyLink("key-two", token, 1).status().code(), gw::StatusCode::kInvalidArgument);
  // Another action, recipient or message under the same signature is refused.
  gw::LinkClaim other = claim;
  other.action = "allow";
  std::string forged = gw::SignLink("key-two", other);
  std::string spliced = forged.substr(0, forged.find('.')) + token.substr(token.find('.'));
  EXPECT_EQ(gw::VerifyLink("key-one", spliced, 1).status().code(),
            gw::StatusCode::kInvalidArgument);
  for (const std::string& bad : {std::string(), std::string("."), token.substr(0, token.size() - 3),
                                 token + "x", std::string(5000, 'a') + "." + "b"}) {
    EXPECT_FALSE(gw::VerifyLink("key-one", bad, 1).ok()) << bad;
  }
}

class SelfServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (gwtest::RunCommand("/usr/bin/python3 -c 'import aiosmtpd'").exit_code != 0)
      GTEST_SKIP() << "needs python3-aiosmtpd (ci/setup --tests)";
    ASSERT_TRUE(sink_.ready()) << sink_.output();
    gatewayd_ = std::make_unique<Gatewayd>(
        std::vector<std::string>{"northwind"},
        std::vector<std::string>{
            "--portal", "127.0.0.1:0", "--release-smtp", fmt::format("127.0.0.1:{}", sink_.port()),
            "--no-scheduled-reports", "--report-from", "quarantine@gw.example"});
    ASSERT_TRUE(gatewayd_->started()) << gatewayd_->process().output();
    portal_ = gatewayd_->LoggedPort("portal on ");
    ASSERT_NE(portal_, 0) << gatewayd_->process().output();
    auto ops = gatewayd_->Client(Gatewayd::kOperatorToken);
    ASSERT_TRUE(ops->EnsurePartner("northwind").ok());
    std::vector<std::string> every_hour;
    for (int h = 0; h < 24; ++h) every_hour.push_back(fmt::format("{:02}:00", h));
    gw::CustomerWrite acme;
    acme.spec = {{"product", "ultimate-defense"},
                 {"billableUsers", 5},
                 {"domains", {{"primary", "acme.example"}}},
                 {"destinations", "mx.acme.example"},
                 {"filtering",
                  {{"spamReport",
                    {{"enabled", true},
                     {"days", {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}},
                     {"times", every_hour},
                     {"categories", {"spam", "content"}}}}}},
                 {"selfService", {{"releaseRequestsTo", {"it@acme.example"}}}},
                 {"panelLogin",
                  {{"email", "it@acme.example"},
                   {"status", "activated"},
                   {"passwordRef", "env:ACME_PANEL_PASSWORD"}}}};
    acme.secrets["/panelLogin/password"] = "correct horse battery staple";
    auto put = ops->PutCustomer("northwind", "acme", acme, gw::WriteCondition::CreateOnly());
    ASSERT_TRUE(put.ok()) << put.status().message();
    gw::UserBatch users;
    for (const char* address : {"alice@acme.example", "bob@acme.example", "it@acme.example"}) {
      users.upsert.push_back(gw::User{});
      users.upsert.back().address = address;
    }
    ASSERT_TRUE(ops->BatchUsers("northwind", "acme", users).ok());
  }

  // Keeps a message as gw-milter would.
  int64_t Hold(const std::string& reason, const std::string& subject,
               std::vector<std::string> recipients) {
    gw::QuarantinedMessage meta;
    meta.customer = "acme";
    meta.sender = "offers@shop.example";
    meta.recipients = std::move(recipients);
    meta.subject = subject;
    meta.reason = reason;
    meta.detail = "test";
    auto id =
        gatewayd_->Client(Gatewayd::kFilterToken)
            ->Quarantine("northwind", meta,
                         "From: offers@shop.example\r\nSubject: " + subject + "\r\n\r\nhi\r\n");
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? *id : 0;
  }

  json Run(std::chrono::system_clock::time_point as_of) {
    httplib::Client http(gatewayd_->url());
    http.set_bearer_token_auth(Gatewayd::kOperatorToken);
    json body = {{"asOf", gw::FormatRfc3339(as_of)}};
    auto res = http.Post("/v1/spam-reports:run", body.dump(), "application/json");
    EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
    return res ? json::parse(res->body, nullptr, false) : json();
  }

  // The report mailed to `recipient`: each "label: URL" line under the message `subject`.
  std::map<std::string, std::string> LinksFor(const std::string& recipient,
                                              const std::string& subject) {
    std::map<std::string, std::string> links;
    for (const auto& message : sink_.Messages()) {
      if (message.find("X-Sink-To: " + recipient) == std::string::npos ||
          message.find("Subject: Quarantine report") == std::string::npos)
        continue;
      size_t at = message.find("\"" + subject + "\"");
      if (at == std::string::npos) continue;
      std::regex line(R"(^      ([A-Za-z ]+): (http://\S+)\r?$)");
      std::istringstream lines(message.substr(message.find('\n', at) + 1));
      for (std::string text; std::getline(lines, text);) {
        std::smatch match;
        if (!std::regex_match(text, match, line)) break;
        links[match[1]] = match[2];
      }
    }
    return links;
  }

  httplib::Result Get(const std::string& url) {
    httplib::Client portal(fmt::format("http://127.0.0.1:{}", portal_));
    return portal.Get(url.substr(url.find("/q/")).c_str());
  }
  httplib::Result Confirm(const std::string& url) {
    std::string token = url.substr(url.find("t=") + 2);
    httplib::Client portal(fmt::format("http://127.0.0.1:{}", portal_));
    return portal.Post("/q/link", "t=" + token, "application/x-www-form-urlencoded");
  }

  std::vector<gw::QuarantinedMessage> Held() {
    auto held =
        gatewayd_->Client(Gatewayd::kOperatorToken)->ListQuarantine("northwind", "acme", 0, 100);
    EXPECT_TRUE(held.ok()) << held.status().message();
    return held.ok() ? *held : std::vector<gw::QuarantinedMessage>{};
  }

  gwtest::Sink sink_;
  std::unique_ptr<Gatewayd> gatewayd_;
  int portal_ = 0;
};

TEST_F(SelfServiceTest, AReportsLinksAskFirstActOnceAndOnlyForTheirRecipient) {
  auto now = std::chrono::system_clock::now();
  Run(now - std::chrono::hours(3));  // a customer's first pass only notes the time
  int64_t spam = Hold("spam", "Cheap <b>watches</b>", {"alice@acme.example", "bob@acme.example"});
  int64_t attachment = Hold("attachment", "Invoice", {"alice@acme.example"});
  json run = Run(now);
  EXPECT_EQ(run["reportsSent"], 2) << run.dump();

  // Spam may be released; an attachment only asked for (the defaults).
  auto alice_spam = LinksFor("alice@acme.example", "Cheap <b>watches</b>");
  ASSERT_EQ(alice_spam.size(), 3u) << sink_.Messages().front();
  ASSERT_TRUE(alice_spam.count("Release"));
  ASSERT_TRUE(alice_spam.count("Release and always accept this sender"));
  ASSERT_TRUE(alice_spam.count("Block this sender"));
  auto alice_invoice = LinksFor("alice@acme.example", "Invoice");
  ASSERT_TRUE(alice_invoice.count("Ask for release")) << sink_.Messages().front();
  EXPECT_FALSE(alice_invoice.count("Release"));
  size_t mailed = sink_.Messages().size();

  // Following a link shows what it would do, escaped, and changes nothing.
  auto shown = Get(alice_spam["Release"]);
  ASSERT_TRUE(shown);
  EXPECT_EQ(shown->status, 200) << shown->body;
  EXPECT_THAT(shown->body, HasSubstr("deliver this message to alice@acme.example"));
  EXPECT_THAT(shown->body, HasSubstr("Cheap &lt;b&gt;watches&lt;/b&gt;"));
  EXPECT_THAT(shown->body, Not(HasSubstr("<b>watches")));
  EXPECT_THAT(shown->body, Not(HasSubstr("<script")));
  EXPECT_THAT(shown->get_header_value("Content-Security-Policy"), HasSubstr("default-src 'none'"));
  EXPECT_EQ(shown->get_header_value("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(shown->get_header_value("Cache-Control"), "no-store");
  ASSERT_TRUE(Get(alice_spam["Release"]));  // a scanner's second look
  EXPECT_EQ(sink_.Messages().size(), mailed);
  EXPECT_TRUE(Held()[0].released_to.empty());

  // Confirming delivers to Alice only, once.
  auto done = Confirm(alice_spam["Release"]);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 200) << done->body;
  EXPECT_THAT(done->body, HasSubstr("The message was delivered to alice@acme.example."));
  ASSERT_EQ(sink_.WaitForMessages(mailed + 1), mailed + 1);
  std::string released = sink_.Messages().back();
  EXPECT_THAT(released, HasSubstr("X-Sink-To: alice@acme.example"));
  EXPECT_THAT(released, Not(HasSubstr("bob@acme.example")));
  EXPECT_THAT(released, HasSubstr("X-GW-Released: from quarantine (spam"));
  auto again = Confirm(alice_spam["Release"]);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 410);
  EXPECT_THAT(again->body, HasSubstr("released already"));
  auto held = Held();
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].id, spam);
  EXPECT_EQ(held[0].released_to, std::vector<std::string>{"alice@acme.example"});
  EXPECT_TRUE(held[0].released_at.empty()) << "Bob's copy is still held";

  // An altered link does nothing.
  std::string altered = alice_spam["Block this sender"];
  altered[altered.size() - 5] = altered[altered.size() - 5] == 'A' ? 'B' : 'A';
  auto refused = Confirm(altered);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);

  // Asking for the attachment tells the customer's release desk; nothing is delivered.
  ASSERT_EQ(Confirm(alice_invoice["Ask for release"])->status, 200);
  ASSERT_EQ(sink_.WaitForMessages(mailed + 2), mailed + 2);
  std::string request = sink_.Messages().back();
  EXPECT_THAT(request, HasSubstr("X-Sink-To: it@acme.example"));
  EXPECT_THAT(request, HasSubstr("alice@acme.example asks for the release"));
  EXPECT_EQ(Held()[1].release_requests, std::vector<std::string>{"alice@acme.example"});
  EXPECT_EQ(Held()[1].id, attachment);

  // Bob blocks the sender: his own list, and mail from it is refused for him from now on.
  auto bob_spam = LinksFor("bob@acme.example", "Cheap <b>watches</b>");
  ASSERT_EQ(Confirm(bob_spam["Block this sender"])->status, 200);
  auto twice = Confirm(bob_spam["Block this sender"]);
  EXPECT_EQ(twice->status, 410);
  EXPECT_THAT(twice->body, HasSubstr("used already"));
  auto lists = gatewayd_->Client(Gatewayd::PartnerToken("northwind"))
                   ->ListPersonalEntries("northwind", "acme");
  ASSERT_TRUE(lists.ok()) << lists.status().message();
  ASSERT_EQ(lists->size(), 1u);
  EXPECT_EQ((*lists)[0].address, "bob@acme.example");
  EXPECT_EQ((*lists)[0].list, "block");
  EXPECT_EQ((*lists)[0].value, "offers@shop.example");
  EXPECT_EQ((*lists)[0].added_by, "bob@acme.example");

  // Alice's "release and allow" after her release: the sender is allowed, nothing resent.
  size_t before = sink_.Messages().size();
  auto allowed = Confirm(alice_spam["Release and always accept this sender"]);
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 200) << allowed->body;
  EXPECT_THAT(allowed->body, HasSubstr("Mail from offers@shop.example will always be accepted."));
  EXPECT_EQ(sink_.Messages().size(), before);

  // Every act is audited under the user's address.
  auto audit = gatewayd_->Client(Gatewayd::kOperatorToken)->ListAudit("northwind", 0, 100);
  ASSERT_TRUE(audit.ok());
  std::vector<std::string> acts;
  for (const auto& e : *audit)
    if (e.actor.find('@') != std::string::npos) acts.push_back(e.actor + " " + e.action);
  EXPECT_THAT(acts,
              ::testing::ElementsAre("alice@acme.example quarantine.release",
                                     "alice@acme.example quarantine.request",
                                     "bob@acme.example lists.put", "alice@acme.example lists.put"));
}

TEST_F(SelfServiceTest, ACustomerThatTurnsActionsOffGetsNoLinksAndOldOnesStopWorking) {
  auto now = std::chrono::system_clock::now();
  Run(now - std::chrono::hours(3));
  Hold("spam", "Offer", {"alice@acme.example"});
  Run(now - std::chrono::minutes(30));
  auto links = LinksFor("alice@acme.example", "Offer");
  ASSERT_TRUE(links.count("Release")) << sink_.Messages().front();
  auto ops = gatewayd_->Client(Gatewayd::kOperatorToken);
  auto acme = ops->GetCustomer("northwind", "acme");
  ASSERT_TRUE(acme.ok());
  gw::CustomerWrite write;
  write.spec = acme->spec;
  write.spec["selfService"]["digestActions"] = false;
  ASSERT_TRUE(
      ops->PutCustomer("northwind", "acme", write, gw::WriteCondition::AtVersion(acme->version))
          .ok());
  auto shown = Get(links["Release"]);
  ASSERT_TRUE(shown);
  EXPECT_EQ(shown->status, 410);
  EXPECT_THAT(shown->body, HasSubstr("turned off actions"));
  EXPECT_EQ(Confirm(links["Release"])->status, 410);
  Hold("spam", "Second offer", {"alice@acme.example"});
  Run(now);
  EXPECT_TRUE(LinksFor("alice@acme.example", "Second offer").empty());
  EXPECT_THAT(sink_.Messages().back(), HasSubstr("ask your email administrator"));
}

// The quarantine page: a user signs in by a link mailed to it (asking gives away nothing),
// sees only its own held mail, and acts with forms another site cannot forge; the
// customer admin signs in with the manifest's panelLogin and sees everyone's.
TEST_F(SelfServiceTest, TheQuarantinePageShowsEachUserItsOwnMailAndActsOnlyByItsForms) {
  int64_t spam =
      Hold("spam", "<img src=x onerror=alert(1)>", {"alice@acme.example", "bob@acme.example"});
  int64_t attachment = Hold("attachment", "Invoice", {"alice@acme.example"});
  int64_t bobs = Hold("spam", "For Bob", {"bob@acme.example"});
  httplib::Client portal(fmt::format("http://127.0.0.1:{}", portal_));
  auto form = [&](const std::string& path, const std::string& body,
                  const std::string& cookie = "") {
    httplib::Headers headers;
    if (!cookie.empty()) headers.emplace("Cookie", cookie);
    return portal.Post(path.c_str(), headers, body, "application/x-www-form-urlencoded");
  };

  // Asking for a link answers the same for anyone; only a user gets mail, once in a while.
  size_t mailed = sink_.Messages().size();
  auto asked = form("/q/sign-in", "address=alice%40acme.example");
  ASSERT_TRUE(asked);
  EXPECT_EQ(asked->status, 200);
  EXPECT_THAT(asked->body, HasSubstr("a sign-in link is on its way"));
  for (const char* other : {"address=nobody%40acme.example", "address=x%40elsewhere.example",
                            "address=alice%40acme.example"}) {
    auto same = form("/q/sign-in", other);
    ASSERT_TRUE(same);
    EXPECT_EQ(same->status, 200);
    EXPECT_THAT(same->body, HasSubstr("a sign-in link is on its way"));
  }
  ASSERT_EQ(sink_.WaitForMessages(mailed + 1), mailed + 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(sink_.Messages().size(), mailed + 1) << "one mail, to the one user";
  std::string mail = sink_.Messages().back();
  EXPECT_THAT(mail, HasSubstr("X-Sink-To: alice@acme.example"));
  std::smatch link;
  ASSERT_TRUE(std::regex_search(mail, link, std::regex(R"(/q/session\?t=(\S+))"))) << mail;
  std::string token = link[1];

  // The link asks first; the POST opens the session, once.
  auto confirm = portal.Get(("/q/session?t=" + token).c_str());
  ASSERT_TRUE(confirm);
  EXPECT_EQ(confirm->status, 200);
  EXPECT_THAT(confirm->body, HasSubstr("Show my held mail"));
  auto opened = form("/q/session", "t=" + token);
  ASSERT_TRUE(opened);
  ASSERT_EQ(opened->status, 303);
  std::string set_cookie = opened->get_header_value("Set-Cookie");
  EXPECT_THAT(set_cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(set_cookie, HasSubstr("SameSite=Strict"));
  std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  EXPECT_EQ(form("/q/session", "t=" + token)->status, 410) << "a sign-in link works once";

  // Alice sees her two messages, escaped, with what she may do; not Bob's.
  httplib::Headers with_cookie = {{"Cookie", cookie}};
  auto inbox = portal.Get("/q/", with_cookie);
  ASSERT_TRUE(inbox);
  ASSERT_EQ(inbox->status, 200) << inbox->body;
  EXPECT_THAT(inbox->body, HasSubstr(fmt::format("data-id=\"{}\"", spam)));
  EXPECT_THAT(inbox->body, HasSubstr(fmt::format("data-id=\"{}\"", attachment)));
  EXPECT_THAT(inbox->body, Not(HasSubstr(fmt::format("data-id=\"{}\"", bobs))));
  EXPECT_THAT(inbox->body, HasSubstr("&lt;img src=x onerror=alert(1)&gt;"));
  EXPECT_THAT(inbox->body, Not(HasSubstr("<img")));
  EXPECT_THAT(inbox->body, HasSubstr("Ask for release"));
  std::smatch csrf;
  ASSERT_TRUE(
      std::regex_search(inbox->body, csrf, std::regex("name=\"csrf\" value=\"([0-9a-f]+)\"")));
  EXPECT_EQ(portal.Get("/q/")->status, 401) << "no cookie, no mail";

  // A form without the session's token is refused, even with the cookie.
  std::string release = fmt::format("id={}&action=release", spam);
  EXPECT_EQ(form("/q/act", release, cookie)->status, 403);
  EXPECT_EQ(form("/q/act", release + "&csrf=" + std::string(64, '0'), cookie)->status, 403);
  // Bob's own message, or an action not offered, is not hers to act on.
  std::string token_field = "&csrf=" + csrf[1].str();
  EXPECT_EQ(form("/q/act", fmt::format("id={}&action=release", bobs) + token_field, cookie)->status,
            404);
  EXPECT_EQ(
      form("/q/act", fmt::format("id={}&action=release", attachment) + token_field, cookie)->status,
      403);
  auto released = form("/q/act", release + token_field, cookie);
  ASSERT_TRUE(released);
  EXPECT_EQ(released->status, 200) << released->body;
  ASSERT_EQ(sink_.WaitForMessages(mailed + 2), mailed + 2);
  EXPECT_THAT(sink_.Messages().back(), HasSubstr("X-Sink-To: alice@acme.example"));
  EXPECT_EQ(
      form("/q/act", fmt::format("id={}&action=delete", attachment) + token_field, cookie)->status,
      200);
  inbox = portal.Get("/q/", with_cookie);
  EXPECT_THAT(inbox->body, Not(HasSubstr(fmt::format("data-id=\"{}\"", attachment))));

  // The preview is the message as text; another user's is not found.
  auto preview = portal.Get(fmt::format("/q/message/{}", spam).c_str(), with_cookie);
  ASSERT_TRUE(preview);
  EXPECT_EQ(preview->status, 200);
  EXPECT_THAT(preview->body, HasSubstr("Subject: &lt;img src=x onerror=alert(1)&gt;"));
  EXPECT_EQ(portal.Get(fmt::format("/q/message/{}", bobs).c_str(), with_cookie)->status, 404);

  // The customer admin: panelLogin's password, else the same refusal, then a lockout.
  auto wrong = form("/q/admin-sign-in", "email=it%40acme.example&password=guess");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(form("/q/admin-sign-in", "email=nobody%40acme.example&password=x")->status, 401);
  auto admin =
      form("/q/admin-sign-in", "email=it%40acme.example&password=correct+horse+battery+staple");
  ASSERT_TRUE(admin);
  ASSERT_EQ(admin->status, 303) << admin->body;
  std::string admin_cookie = admin->get_header_value("Set-Cookie");
  admin_cookie = admin_cookie.substr(0, admin_cookie.find(';'));
  auto everyone = portal.Get("/q/", {{"Cookie", admin_cookie}});
  ASSERT_TRUE(everyone);
  EXPECT_THAT(everyone->body, HasSubstr(fmt::format("data-id=\"{}\"", bobs)));
  EXPECT_THAT(everyone->body, HasSubstr("the administrator of acme"));
  for (int i = 0; i < 5; ++i) form("/q/admin-sign-in", "email=it%40acme.example&password=guess");
  EXPECT_EQ(
      form("/q/admin-sign-in", "email=it%40acme.example&password=correct+horse+battery+staple")
          ->status,
      401)
      << "locked after five failures";
}

// What headless Chromium makes of a page: its DOM, and a screenshot kept in the build's
// screenshots/ folder for a person to look at.
std::string Rendered(const std::string& url, const std::string& name) {
  auto profile = gwtest::MakeTempDir("chromium-profile");
  std::filesystem::create_directories(SCREENSHOT_DIR);
  std::string png = std::string(SCREENSHOT_DIR) + "/" + name + ".png";
  std::string dom_file = (profile / "dom.html").string();
  std::string flags = fmt::format(
      "--headless --no-sandbox --disable-gpu --no-first-run --user-data-dir='{}' "
      "--window-size=1100,800",
      profile.string());
  int shot = std::system(fmt::format("'{}' {} --screenshot='{}' '{}' >/dev/null 2>&1",
                                     CHROMIUM_BINARY, flags, png, url)
                             .c_str());
  int dumped = std::system(fmt::format("'{}' {} --dump-dom '{}' > '{}' 2>/dev/null",
                                       CHROMIUM_BINARY, flags, url, dom_file)
                               .c_str());
  EXPECT_EQ(shot, 0);
  EXPECT_EQ(dumped, 0);
  std::ifstream image(png, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(image)), {});
  EXPECT_EQ(bytes.substr(0, 4), "\x89PNG") << png;
  EXPECT_GT(bytes.size(), 5000u) << png << ": a blank page?";
  std::ifstream in(dom_file);
  std::string dom((std::istreambuf_iterator<char>(in)), {});
  std::filesystem::remove_all(profile);
  return dom;
}

TEST_F(SelfServiceTest, TheSignInAndConfirmationPagesRenderInAHeadlessBrowser) {
  if (access(CHROMIUM_BINARY, X_OK) != 0) GTEST_SKIP() << "needs chromium (ci/setup --tests)";
  std::string base = fmt::format("http://127.0.0.1:{}", portal_);
  std::string sign_in = Rendered(base + "/q/", "quarantine-sign-in");
  EXPECT_THAT(sign_in, HasSubstr("<label for=\"address\">"));
  EXPECT_THAT(sign_in, HasSubstr("<label for=\"password\">"));
  EXPECT_THAT(sign_in, HasSubstr("autocomplete=\"current-password\""));

  auto now = std::chrono::system_clock::now();
  Run(now - std::chrono::hours(3));
  Hold("spam", "Cheap watches", {"alice@acme.example"});
  Run(now);
  auto links = LinksFor("alice@acme.example", "Cheap watches");
  ASSERT_TRUE(links.count("Release"));
  size_t mailed = sink_.Messages().size();
  std::string confirm = Rendered(links["Release"], "quarantine-confirm-release");
  EXPECT_THAT(confirm, HasSubstr("deliver this message to alice@acme.example"));
  EXPECT_THAT(confirm, HasSubstr("<button type=\"submit\">Confirm</button>"));
  EXPECT_EQ(sink_.Messages().size(), mailed) << "a browser opening the link releases nothing";
  EXPECT_TRUE(Held()[0].released_to.empty());
}

}  // namespace
