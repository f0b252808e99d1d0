// gatewayd's lookup servers for Postfix, spoken to directly: answers from the store as it
// changes (also when another process writes it), and every kind of bad input answered
// with a protocol error or a temporary failure, logged once, while others are served.
// No Postfix and no root needed (tests/mail has those).
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/continuity.h"

#include <atomic>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "gateway/socketmap_client.h"
#include "gatewayd_fixture.h"
#include "hostile_clients.h"
#include "lookups/postfix_protocols.h"
#include "loopback.h"
#include "smtp_responder.h"

namespace {

using gwtest::Gatewayd;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

std::string Netstring(const std::string& text) {
  return fmt::format("{}:{},", text.size(), text);
}

class PostfixLookupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gatewayd_ = std::make_unique<Gatewayd>(
        std::vector<std::string>{"northwind"},
        std::vector<std::string>{"--socketmap", "127.0.0.1:0", "--policy", "127.0.0.1:0",
                                 "--verify", "127.0.0.1:0", "--lookup-request-timeout-ms", "500",
                                 "--smtp", "127.0.0.1:2525"});
    ASSERT_TRUE(gatewayd_->started()) << gatewayd_->process().output();
    socketmap_ = gatewayd_->LoggedPort("socketmap on ");
    policy_ = gatewayd_->LoggedPort("policy on ");
    verify_ = gatewayd_->LoggedPort("verify on ");
    ASSERT_TRUE(socketmap_ && policy_ && verify_) << gatewayd_->process().output();
    auto ops = gatewayd_->Client(Gatewayd::kOperatorToken);
    ASSERT_TRUE(ops->EnsurePartner("northwind").ok());
  }

  gw::Status PutCustomer(const std::string& name, json spec) {
    gw::CustomerWrite write;
    write.spec = std::move(spec);
    return gatewayd_->Client(Gatewayd::kOperatorToken)
        ->PutCustomer("northwind", name, write, gw::WriteCondition::CreateOnly())
        .status();
  }

  static json Acme(int port) {
    return {{"product", "ultimate-access"},
            {"billableUsers", 1},
            {"domains", {{"primary", "acme.example"}}},
            {"destinations", {{{"host", "127.0.0.1"}, {"port", port}}}},
            {"users", {{"addressDiscovery", true}}}};
  }

  // One policy request (attribute lines) and its reply on connection `fd`.
  static std::string AskPolicy(int fd, const std::string& attributes) {
    gwtest::SendAll(fd, attributes + "\n");
    return gwtest::ReadUntil(fd, 5s,
                             [](const std::string& b) {
                               return b.size() >= 2 && b.compare(b.size() - 2, 2, "\n\n") == 0;
                             })
        .bytes;
  }

  // One socketmap request and its reply on connection `fd`.
  static std::string Ask(int fd, const std::string& request) {
    gwtest::SendAll(fd, Netstring(request));
    auto reply = gwtest::ReadUntil(
        fd, 5s, [](const std::string& b) { return !b.empty() && b.back() == ','; });
    return reply.bytes;
  }

  // Polls until the socketmap gives `expected` for `request` (the directory follows the
  // store within a poll interval).
  bool Eventually(const std::string& request, const std::string& expected) {
    for (int i = 0; i < 40; ++i) {
      int fd = gwtest::ConnectLoopback(socketmap_);
      std::string reply = Ask(fd, request);
      close(fd);
      if (reply == Netstring(expected)) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  size_t LogCount(const std::string& text) {
    const std::string& log = gatewayd_->process().output();
    size_t count = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++count;
    return count;
  }

  std::unique_ptr<Gatewayd> gatewayd_;
  int socketmap_ = 0, policy_ = 0, verify_ = 0;
};

// gw-milter's filter question cannot be confused by an address: quoted local parts may
// hold spaces, and once split on spaces a sender could name the client's address.
TEST_F(PostfixLookupsTest, TheFilterKeyIsFramedSoNoAddressCanShiftItsFields) {
  json acme = Acme(25);
  acme["lists"] = {{"allow", {{{"ip", "192.0.2.0/24"}}}}};
  ASSERT_TRUE(PutCustomer("acme", acme).ok());
  gw::UserBatch users;
  users.upsert.push_back(gw::User{});
  users.upsert.back().address = "alice@acme.example";
  ASSERT_TRUE(
      gatewayd_->Client(Gatewayd::kOperatorToken)->BatchUsers("northwind", "acme", users).ok());
  auto filter = [](const std::string& recipient, const std::string& sender,
                   const std::string& client) {
    return "filter " + gw::FilterLookupKey(recipient, sender, client);
  };
  // The allow-listed client is exempt from spam scoring (once the directory has acme).
  std::string exempt;
  for (int i = 0; i < 40 && exempt.find("OK") == std::string::npos; ++i) {
    if (i) std::this_thread::sleep_for(50ms);
    int fd = gwtest::ConnectLoopback(socketmap_);
    exempt = Ask(fd, filter("alice@acme.example", "x@sender.example", "192.0.2.77"));
    close(fd);
  }
  ASSERT_THAT(exempt, HasSubstr("\"skipSpam\":true"));
  int fd = gwtest::ConnectLoopback(socketmap_);
  // A sender that spells an allow-listed address stays a sender.
  EXPECT_THAT(
      Ask(fd, filter("alice@acme.example", "\"x 192.0.2.77 y\"@spammer.example", "203.0.113.9")),
      HasSubstr("\"skipSpam\":false"));
  // A recipient with a space is still the customer's (never NOTFOUND, which would pass).
  EXPECT_THAT(Ask(fd, filter("\"a b\"@acme.example", "x@spammer.example", "203.0.113.9")),
              HasSubstr("OK {"));
  EXPECT_THAT(Ask(fd, filter("", "", "")), HasSubstr("NOTFOUND"));
  // The old spelling, or netstrings that do not add up, are refused.
  for (const char* key :
       {"filter alice@acme.example x@sender.example 192.0.2.77", "filter 18:alice@acme.example,0:,",
        "filter 99:alice@acme.example,0:,0:,", "filter 18:alice@acme.example,0:,0:,extra"}) {
    EXPECT_THAT(Ask(fd, key), HasSubstr("PERM the filter key must be three netstrings")) << key;
  }
  close(fd);
}

TEST_F(PostfixLookupsTest, TheSocketmapAnswersEveryMapOnOnePersistentConnection) {
  ASSERT_TRUE(PutCustomer("acme", Acme(2626)).ok());
  ASSERT_TRUE(Eventually("domains acme.example", "OK northwind/acme"));
  int fd = gwtest::ConnectLoopback(socketmap_);
  EXPECT_EQ(Ask(fd, "domains ACME.example"), Netstring("OK northwind/acme"));
  EXPECT_EQ(Ask(fd, "domains other.example"), Netstring("NOTFOUND "));
  EXPECT_EQ(Ask(fd, "recipients anyone@acme.example"), Netstring("OK discovery"));
  EXPECT_EQ(Ask(fd, "transport anyone@acme.example"), Netstring("OK smtp:[127.0.0.1]:2626"));
  EXPECT_EQ(Ask(fd, "transport *"), Netstring("NOTFOUND "));
  // Two requests in one write (Postfix pipelines nothing, but a client may).
  gwtest::SendAll(fd, Netstring("domains acme.example") + Netstring("domains x.example"));
  auto both = gwtest::ReadUntil(
      fd, 5s, [](const std::string& b) { return b.find("NOTFOUND") != std::string::npos; });
  EXPECT_EQ(both.bytes, Netstring("OK northwind/acme") + Netstring("NOTFOUND "));
  close(fd);

  std::string metrics = gwtest::RawExchange(gwtest::PortOf(gatewayd_->url()),
                                            "GET /metrics HTTP/1.1\r\nHost: gw\r\n\r\n");
  EXPECT_THAT(metrics, HasSubstr("\ngatewayd_mail_directory_customers 1\n"));
  EXPECT_THAT(metrics,
              HasSubstr("\ngatewayd_mail_lookup_connections_total{outcome=\"accepted\"} "));
}

TEST_F(PostfixLookupsTest, AWriteByAnotherProcessIsAnsweredWithinTheBound) {
  // gwctl's embedded engine writes the same SQLite file from its own process.
  std::filesystem::path repo = gwtest::MakeTempDir("lookup-repo");
  std::filesystem::create_directories(repo / "customers");
  std::ofstream(repo / "gwctl.yaml") << "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: "
                                        "northwind}\nspec: {}\n";
  std::ofstream(repo / "customers" / "initech.yaml")
      << "apiVersion: gwctl/v1\nkind: Customer\nmetadata: {name: initech}\nspec:\n"
         "  product: ultimate-defense\n  billableUsers: 1\n  domains: {primary: initech.example}\n"
         "  destinations: [{host: 127.0.0.1, port: 2627}]\n";
  auto start = std::chrono::steady_clock::now();
  std::string command = fmt::format("{} apply --yes --gateway embedded:{} {} 2>&1", GWCTL_BINARY,
                                    gatewayd_->store_path(), repo.string());
  ASSERT_EQ(std::system(command.c_str()), 0);
  auto applied = std::chrono::steady_clock::now();
  EXPECT_TRUE(Eventually("domains initech.example", "OK northwind/initech"));
  auto seen = std::chrono::steady_clock::now();
  RecordProperty(
      "apply_ms",
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(applied - start).count()));
  RecordProperty(
      "visible_after_ms",
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(seen - applied).count()));
  EXPECT_LT(seen - applied, 2s);
  std::filesystem::remove_all(repo);
}

TEST_F(PostfixLookupsTest, BadSocketmapInputGetsAnErrorIsLoggedOnceAndOthersAreServed) {
  ASSERT_TRUE(PutCustomer("acme", Acme(2626)).ok());
  ASSERT_TRUE(Eventually("domains acme.example", "OK northwind/acme"));
  int good = gwtest::ConnectLoopback(socketmap_);

  int unknown = gwtest::ConnectLoopback(socketmap_);
  EXPECT_THAT(Ask(unknown, "aliases x@acme.example"), HasSubstr("PERM unknown map 'aliases'"));
  EXPECT_EQ(Ask(unknown, "domains acme.example"), Netstring("OK northwind/acme"))
      << "an unknown map is the client's mistake; its connection stays usable";
  close(unknown);

  for (auto [bytes, answer] :
       {std::pair{"12x:domains a,", "TEMP malformed netstring"},
        std::pair{"999999:domains ", "TEMP request of 999999 bytes is too large"}}) {
    int fd = gwtest::ConnectLoopback(socketmap_);
    gwtest::SendAll(fd, bytes);
    auto reply = gwtest::ReadUntil(fd, 2s);
    EXPECT_THAT(reply.bytes, HasSubstr(answer));
    EXPECT_TRUE(reply.closed) << bytes;
    close(fd);
  }

  int stalled = gwtest::ConnectLoopback(socketmap_);
  gwtest::SendAll(stalled, "20:domains acme");
  EXPECT_EQ(Ask(good, "domains acme.example"), Netstring("OK northwind/acme"));
  EXPECT_TRUE(gwtest::ClosedWithin(stalled, 3s)) << "an unfinished request times out";
  close(stalled);
  EXPECT_EQ(Ask(good, "domains acme.example"), Netstring("OK northwind/acme"));
  close(good);

  EXPECT_EQ(LogCount("unknown map 'aliases'"), 1u);
  EXPECT_EQ(LogCount("malformed netstring"), 1u);
  EXPECT_EQ(LogCount("request of 999999 bytes is too large"), 1u);
  EXPECT_EQ(LogCount("did not finish its request"), 1u);
}

// The relay listener's filter question: the sending customer's settings with its tenant
// proof, and the receiving customer's when the mail stays in the gateway.
TEST_F(PostfixLookupsTest, TheRelayFilterNamesTheSenderTheProofAndTheReceivingCustomer) {
  json acme = Acme(25);
  acme["destinations"] = "mx.acme.example";
  acme["outboundRelay"] = {{"service", "office365"},
                           {"tenantId", "3F2B8C1E-7D4A-4E6B-9C2D-5A1E8F0B7C3D"}};
  ASSERT_TRUE(PutCustomer("acme", acme).ok());
  json globex = Acme(25);
  globex["domains"] = {{"primary", "globex.example"}};
  globex["outboundRelay"] = {{"sources", {"203.0.113.0/24"}}};
  ASSERT_TRUE(PutCustomer("globex", globex).ok());
  ASSERT_TRUE(Eventually("domains globex.example", "OK northwind/globex"));
  auto relay = [](const std::string& recipient, const std::string& sender,
                  const std::string& client) {
    return "relay-filter " + gw::FilterLookupKey(recipient, sender, client);
  };
  std::string out;
  for (int i = 0; i < 40 && out.find("OK") == std::string::npos; ++i) {
    if (i) std::this_thread::sleep_for(50ms);
    int fd = gwtest::ConnectLoopback(socketmap_);
    out = Ask(fd, relay("x@external.example", "ceo@acme.example", "40.92.1.2"));
    close(fd);
  }
  EXPECT_THAT(out, HasSubstr(R"("tenantId":"3f2b8c1e-7d4a-4e6b-9c2d-5a1e8f0b7c3d")"));
  EXPECT_THAT(out, Not(HasSubstr(R"("recipient")")));
  int fd = gwtest::ConnectLoopback(socketmap_);
  std::string between = Ask(fd, relay("bob@acme.example", "ann@globex.example", "203.0.113.5"));
  EXPECT_THAT(
      between,
      HasSubstr(
          R"("recipient":{"action":"cut-and-inform","archive":false,"customer":"northwind/acme")"))
      << between;
  EXPECT_THAT(
      between,
      HasSubstr(
          R"("sender":{"action":"cut-and-inform","archive":false,"customer":"northwind/globex")"));
  EXPECT_THAT(between, HasSubstr(R"("skipSpam":false)"));
  EXPECT_EQ(Ask(fd, relay("x@external.example", "ceo@acme.example", "198.51.100.1")),
            Netstring("NOTFOUND "))
      << "not from the customer's sources: nothing relays it";
  EXPECT_EQ(Ask(fd, relay("x@external.example", "ceo@nobody.example", "40.92.1.2")),
            Netstring("NOTFOUND "));
  EXPECT_THAT(Ask(fd, "relay-filter x@external.example ceo@acme.example 40.92.1.2"),
              HasSubstr("PERM the relay-filter key must be three netstrings"));
  close(fd);
}

// The lookups carry no credentials (and verify writes): only this host's loopback
// address, or networks the operator names, may use them.
TEST_F(PostfixLookupsTest, OnlyTheClientNetworksAreServed) {
  ASSERT_TRUE(PutCustomer("acme", Acme(2626)).ok());
  ASSERT_TRUE(Eventually("domains acme.example", "OK northwind/acme"));
  for (int port : {socketmap_, policy_, verify_}) {
    int stranger = gwtest::ConnectLoopback(port, "127.0.0.9");
    ASSERT_GE(stranger, 0);
    gwtest::SendAll(stranger, Netstring("domains acme.example"));
    auto answer = gwtest::ReadUntil(stranger, 2s);
    EXPECT_TRUE(answer.closed) << port;
    EXPECT_EQ(answer.bytes, "") << "nothing is answered to a client outside the networks";
    close(stranger);
  }
  EXPECT_GE(LogCount("outside the lookup client networks"), 1u);
  int fd = gwtest::ConnectLoopback(socketmap_);
  EXPECT_EQ(Ask(fd, "domains acme.example"), Netstring("OK northwind/acme"));
  close(fd);
}

// One client holding every connection it can, idle, does not keep Postfix out: the
// connection idle longest makes room (the admin API's admission).
TEST(PostfixLookupsAdmissionTest, IdleConnectionsCannotKeepAnAskingClientOut) {
  Gatewayd gatewayd({"northwind"}, {"--socketmap", "127.0.0.1:0", "--lookup-max-connections", "20",
                                    "--lookup-max-connections-per-address", "20"});
  ASSERT_TRUE(gatewayd.started()) << gatewayd.process().output();
  int socketmap = gatewayd.LoggedPort("socketmap on ");
  ASSERT_GT(socketmap, 0);
  std::vector<int> idle;
  for (int i = 0; i < 60; ++i) {
    int fd = gwtest::ConnectLoopback(socketmap);
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
    std::this_thread::sleep_for(2ms);  // an order of age
  }
  int asker = gwtest::ConnectLoopback(socketmap);
  gwtest::SendAll(asker, Netstring("domains nobody.example"));
  auto answer = gwtest::ReadUntil(
      asker, 5s, [](const std::string& b) { return !b.empty() && b.back() == ','; });
  EXPECT_EQ(answer.bytes, Netstring("NOTFOUND ")) << gatewayd.process().output();
  close(asker);
  // The oldest were closed to make room; the newest are still open.
  EXPECT_TRUE(gwtest::ReadUntil(idle.front(), 1s).closed);
  EXPECT_FALSE(gwtest::ReadUntil(idle.back(), 200ms).closed);
  for (int fd : idle) close(fd);
}

TEST(PostfixLookupsAdmissionTest, ListeningOnEveryAddressOrBeyondLoopbackNeedsTheOperatorsWord) {
  auto dir = gwtest::MakeTempDir("lookup-binds");
  std::ofstream(dir / "tokens.yaml") << "tokens: []\n";
  auto start = [&](const std::string& flags) {
    return gwtest::RunCommand(fmt::format(
        "timeout 10 {} --data {} --tokens {} --listen "
        "127.0.0.1:0 {} 2>&1",
        GATEWAYD_BINARY, (dir / "data").string(), (dir / "tokens.yaml").string(), flags));
  };
  auto everywhere = start("--socketmap 0.0.0.0:0");
  EXPECT_EQ(everywhere.exit_code, 2) << everywhere.output;
  EXPECT_THAT(everywhere.output, HasSubstr("never on all"));
  auto beyond = start("--verify 192.0.2.10:0");
  EXPECT_EQ(beyond.exit_code, 2) << beyond.output;
  EXPECT_THAT(beyond.output, HasSubstr("--lookup-client-network"));
  std::filesystem::remove_all(dir);
}

// Kept mail goes on through the gateway's Postfix, under its TLS policy: gatewayd does not
// start continuity delivery without the listener it hands the mail to.
TEST(PostfixLookupsAdmissionTest, ContinuityDeliveryNeedsTheReleaseListener) {
  auto dir = gwtest::MakeTempDir("continuity-flags");
  std::ofstream(dir / "tokens.yaml") << "tokens: []\n";
  std::ofstream(dir / "doveadm-key") << "key\n";
  auto started = gwtest::RunCommand(fmt::format(
      "timeout 10 {0} --data {1}/data --tokens {1}/tokens.yaml --listen 127.0.0.1:0 --socketmap "
      "127.0.0.1:0 --continuity-smtp 127.0.0.1:2526 --doveadm 127.0.0.1:8091 --doveadm-key-file "
      "{1}/doveadm-key 2>&1",
      GATEWAYD_BINARY, dir.string()));
  EXPECT_EQ(started.exit_code, 2) << started.output;
  EXPECT_THAT(started.output, HasSubstr("--doveadm needs --release-smtp"));
  // The doveadm key is also the IMAP master login's password: never across a network.
  auto remote_imap = gwtest::RunCommand(fmt::format(
      "timeout 10 {0} --data {1}/data --tokens {1}/tokens.yaml --listen 127.0.0.1:0 --socketmap "
      "127.0.0.1:0 --continuity-smtp 127.0.0.1:2526 --doveadm 127.0.0.1:8091 --doveadm-key-file "
      "{1}/doveadm-key --release-smtp 127.0.0.1:2527 --continuity-imap 192.0.2.10:143 2>&1",
      GATEWAYD_BINARY, dir.string()));
  EXPECT_EQ(remote_imap.exit_code, 2) << remote_imap.output;
  EXPECT_THAT(remote_imap.output, HasSubstr("--continuity-imap 192.0.2.10:143 must be a loopback"));
  std::filesystem::remove_all(dir);
}

// A customer that requires TLS has its mail routed by the encrypting transport; its next
// hops are still answered "dane" in the smtp transport's map (another customer's mail
// there stays opportunistic) and not in the verifying transport's.
TEST_F(PostfixLookupsTest, TheTlsOfACustomersMailIsItsOwnTransportsAndPolicy) {
  json acme = Acme(2525);
  acme["destinations"] = "mx.acme.example;[2001:db8::25]:2525";
  acme["tls"] = {{"delivery", "required"}};
  ASSERT_TRUE(PutCustomer("acme", acme).ok());
  ASSERT_TRUE(Eventually("transport acme.example",
                         "OK smtp-encrypt:[mx.acme.example]:25, [ipv6:2001:db8::25]:2525"));
  int fd = gwtest::ConnectLoopback(socketmap_);
  EXPECT_EQ(Ask(fd, "tls-policy [MX.acme.example]:25"), Netstring("OK dane"));
  EXPECT_EQ(Ask(fd, "tls-policy [ipv6:2001:db8::25]:2525"), Netstring("OK dane"));
  EXPECT_EQ(Ask(fd, "tls-verify [mx.acme.example]:25"), Netstring("NOTFOUND "));
  EXPECT_EQ(Ask(fd, "tls-policy [mx.acme.example]:2525"), Netstring("NOTFOUND "));
  EXPECT_EQ(Ask(fd, "tls-policy [mx.other.example]:25"), Netstring("NOTFOUND "));
  EXPECT_EQ(Ask(fd, "tls-policy other.example"), Netstring("NOTFOUND "))
      << "an internet domain is left to DANE and MTA-STS";

  // A customer sharing that server verifies it: its own mail alone is checked.
  json globex = acme;
  globex["domains"] = {{"primary", "globex.example"}};
  globex["tls"] = {{"delivery", "verify"}, {"serverNames", {"mx.acme.example"}}};
  ASSERT_TRUE(PutCustomer("globex", globex).ok());
  ASSERT_TRUE(Eventually("tls-verify [MX.acme.example]:25", "OK verify match=mx.acme.example"));
  EXPECT_EQ(Ask(fd, "transport globex.example"),
            Netstring("OK smtp-verify:[mx.acme.example]:25, [ipv6:2001:db8::25]:2525"));
  EXPECT_EQ(Ask(fd, "transport acme.example"),
            Netstring("OK smtp-encrypt:[mx.acme.example]:25, [ipv6:2001:db8::25]:2525"));
  EXPECT_EQ(Ask(fd, "tls-policy [mx.acme.example]:25"), Netstring("OK dane"));
  close(fd);
}

// The release listener: kept continuity mail (gatewayd's redelivery HELO) is routed to
// its customer's own servers whatever transport Postfix holds; anything else as usual.
TEST_F(PostfixLookupsTest, KeptMailHandedBackGoesToTheCustomersServers) {
  ASSERT_TRUE(PutCustomer("acme", Acme(2626)).ok());
  ASSERT_TRUE(Eventually("domains acme.example", "OK northwind/acme"));
  int fd = gwtest::ConnectLoopback(policy_);
  auto ask = [&](const std::string& helo, const std::string& recipient) {
    gwtest::SendAll(fd, fmt::format("request=smtpd_access_policy\nprotocol_state=RCPT\n"
                                    "policy_context=release\nclient_address=127.0.0.1\n"
                                    "helo_name={}\nsender=bob@ext.example\nsize=0\n"
                                    "recipient={}\n\n",
                                    helo, recipient));
    return gwtest::ReadUntil(fd, 5s,
                             [](const std::string& b) {
                               return b.size() >= 2 && b.compare(b.size() - 2, 2, "\n\n") == 0;
                             })
        .bytes;
  };
  EXPECT_EQ(ask(gw::kContinuityRedeliveryHelo, "alice@acme.example"),
            "action=FILTER smtp:[127.0.0.1]:2626\n\n");
  EXPECT_EQ(ask("gatewayd", "alice@acme.example"), "action=DUNNO\n\n") << "a release";
  EXPECT_EQ(ask(gw::kContinuityRedeliveryHelo, "x@elsewhere.example"), "action=DUNNO\n\n");
  close(fd);
}

// A user's own lists, written through the admin API, decide that user's mail live: an
// allowed sender skips scoring for that user only, so the policy keeps the user's
// recipients in a transaction of their own, and a blocked sender is refused at RCPT.
TEST_F(PostfixLookupsTest, AUsersOwnListsDecideItsMailLiveAndNoOneElses) {
  json acme = Acme(25);
  acme["users"] = json::object();
  acme["destinations"] = "mx.acme.example";
  acme["lists"] = {{"block", {{{"senderDomain", "spam.example"}}}}};
  ASSERT_TRUE(PutCustomer("acme", acme).ok());
  gw::UserBatch users;
  for (const char* address : {"alice@acme.example", "bob@acme.example"}) {
    users.upsert.push_back(gw::User{});
    users.upsert.back().address = address;
  }
  auto ops = gatewayd_->Client(Gatewayd::kOperatorToken);
  ASSERT_TRUE(ops->BatchUsers("northwind", "acme", users).ok());
  httplib::Client admin(gatewayd_->url());
  admin.set_bearer_token_auth(Gatewayd::PartnerToken("northwind"));
  const std::string lists = "/v1/partners/northwind/customers/acme/users/";
  auto put = [&](const std::string& user, const std::string& list, const std::string& value) {
    auto res = admin.Post((lists + user + "/lists").c_str(),
                          json{{"list", list}, {"value", value}}.dump(), "application/json");
    return res ? res->status : -1;
  };
  ASSERT_EQ(put("alice@acme.example", "allow", "Deals@Spam.Example"), 204);
  ASSERT_EQ(put("alice@acme.example", "allow", "news@shop.example"), 204);
  ASSERT_EQ(put("alice@acme.example", "block", "pest.example"), 204);

  auto filter = [](const std::string& recipient, const std::string& sender) {
    return "filter " + gw::FilterLookupKey(recipient, sender, "203.0.113.9");
  };
  std::string alice;
  for (int i = 0; i < 40 && alice.find("\"skipSpam\":true") == std::string::npos; ++i) {
    if (i) std::this_thread::sleep_for(50ms);
    int fd = gwtest::ConnectLoopback(socketmap_);
    alice = Ask(fd, filter("alice@acme.example", "deals@spam.example"));
    close(fd);
  }
  EXPECT_THAT(alice, HasSubstr("\"skipSpam\":true"));
  int fd = gwtest::ConnectLoopback(socketmap_);
  EXPECT_THAT(Ask(fd, filter("bob@acme.example", "deals@spam.example")),
              HasSubstr("\"skipSpam\":false"));
  close(fd);

  fd = gwtest::ConnectLoopback(policy_);
  auto ask = [&](const std::string& attributes) { return AskPolicy(fd, attributes); };
  auto rcpt = [](const std::string& sender, const std::string& recipient,
                 const std::string& instance) {
    return fmt::format(
        "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=203.0.113.9\n"
        "sender={}\nsize=0\ninstance={}\nrecipient={}\n",
        sender, instance, recipient);
  };
  EXPECT_EQ(ask(rcpt("deals@spam.example", "alice@acme.example", "t.1")), "action=DUNNO\n\n");
  EXPECT_THAT(ask(rcpt("deals@spam.example", "bob@acme.example", "t.1")),
              HasSubstr("action=550 5.7.1 sender is blocked by acme.example"));
  // Bob's copy is scored where Alice's is not: it goes in a transaction of its own.
  EXPECT_EQ(ask(rcpt("news@shop.example", "alice@acme.example", "t.2")), "action=DUNNO\n\n");
  EXPECT_THAT(ask(rcpt("news@shop.example", "bob@acme.example", "t.2")),
              HasSubstr("action=452 4.5.3"));
  EXPECT_EQ(ask(rcpt("news@shop.example", "bob@acme.example", "t.5")), "action=DUNNO\n\n");
  EXPECT_THAT(ask(rcpt("x@pest.example", "alice@acme.example", "t.3")),
              HasSubstr("action=550 5.7.1 <alice@acme.example>: sender blocked by the recipient"));
  EXPECT_EQ(ask(rcpt("x@pest.example", "bob@acme.example", "t.4")), "action=DUNNO\n\n");
  close(fd);

  // Removing the entry takes it out of the decision.
  auto removed = admin.Delete((lists + "alice@acme.example/lists/pest.example").c_str());
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->status, 204);
  bool unblocked = false;
  for (int i = 0; i < 40 && !unblocked; ++i) {
    if (i) std::this_thread::sleep_for(50ms);
    fd = gwtest::ConnectLoopback(policy_);
    unblocked = ask(rcpt("x@pest.example", "alice@acme.example", fmt::format("u.{}", i))) ==
                "action=DUNNO\n\n";
    close(fd);
  }
  EXPECT_TRUE(unblocked);
}

TEST_F(PostfixLookupsTest, ThePolicyServerDecidesAndRefusesIncompleteRequestsTemporarily) {
  ASSERT_TRUE(PutCustomer("acme", Acme(2626)).ok());
  ASSERT_TRUE(Eventually("domains acme.example", "OK northwind/acme"));
  int fd = gwtest::ConnectLoopback(policy_);
  auto ask = [&](const std::string& attributes) { return AskPolicy(fd, attributes); };
  std::string rcpt =
      "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\n"
      "sender=bob@ext.example\nsize=0\ninstance=a.1\n";
  EXPECT_EQ(ask(rcpt + "recipient=new@acme.example\n"), "action=gw_discover\n\n");
  EXPECT_EQ(ask(rcpt + "recipient=x@elsewhere.example\n"),
            "action=452 4.5.3 <x@elsewhere.example>: send mail for this domain in a separate "
            "transaction\n\n");
  EXPECT_EQ(ask("request=smtpd_access_policy\nrecipient=new@acme.example\n"),
            "action=451 4.3.5 incomplete policy request\n\n");
  EXPECT_EQ(ask("protocol_state=RCPT\n"), "action=451 4.3.5 incomplete policy request\n\n");
  EXPECT_EQ(ask("request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nsize=12\n"
                "instance=a.1\nrecipient=\n"),
            "action=DUNNO\n\n");
  EXPECT_EQ(ask("request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nsize=12\n"
                "instance=b.2\nrecipient=\n"),
            "action=451 4.3.0 the recipients of this message are not known; try again\n\n");
  gwtest::SendAll(fd, "request=" + std::string(70'000, 'x'));
  auto flood = gwtest::ReadUntil(fd, 2s);
  EXPECT_THAT(flood.bytes, HasSubstr("action=451 4.3.5 policy request too large"));
  EXPECT_TRUE(flood.closed);
  close(fd);
  // The relay listener: a shared service's range is refused where no filter checks the
  // tenant.
  ASSERT_TRUE(
      PutCustomer("hooli", {{"product", "ultimate-access"},
                            {"billableUsers", 1},
                            {"domains", {{"primary", "hooli.example"}}},
                            {"destinations", "mx.hooli.example"},
                            {"outboundRelay", {{"service", "google"}, {"dkimSigned", true}}}})
          .ok());
  ASSERT_TRUE(Eventually("domains hooli.example", "OK northwind/hooli"));
  fd = gwtest::ConnectLoopback(policy_);
  std::string relayed =
      "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=64.233.160.9\n"
      "sender=gavin@hooli.example\nsize=0\ninstance=c.3\nrecipient=x@elsewhere.example\n";
  EXPECT_EQ(ask(relayed + "policy_context=outbound\n"), "action=OK\n\n");
  EXPECT_THAT(ask(relayed + "policy_context=outbound-unfiltered\n"),
              HasSubstr("action=554 5.7.1 relay not permitted"));
  close(fd);
  EXPECT_EQ(LogCount("a request without request=smtpd_access_policy"), 1u);
  EXPECT_EQ(LogCount("a request without protocol_state"), 1u);
}

TEST_F(PostfixLookupsTest, TheVerifyCacheKeepsProbeResultsAndBadCommandsAreErrors) {
  int fd = gwtest::ConnectLoopback(verify_);
  auto ask = [&](const std::string& text, const std::string& until) {
    gwtest::SendAll(fd, text);
    return gwtest::ReadUntil(
               fd, 5s, [&](const std::string& b) { return b.find(until) != std::string::npos; })
        .bytes;
  };
  EXPECT_EQ(ask("get verify:x@acme.example\r\n", "END\r\n"), "END\r\n");
  EXPECT_EQ(ask("set verify:x@acme.example 0 0 5\r\n2:0:1\r\n", "\r\n"), "STORED\r\n");
  EXPECT_EQ(ask("get verify:x@acme.example\r\n", "END\r\n"),
            "VALUE verify:x@acme.example 0 5\r\n2:0:1\r\nEND\r\n");
  // Anything but verify(8)'s own small records is not stored: no key of another form,
  // no value past its size.
  EXPECT_EQ(ask("set junk:1 0 0 3\r\nabc\r\n", "\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(
      ask(fmt::format("set verify:big@acme.example 0 0 65536\r\n{}\r\n", std::string(65536, 'x')),
          "\r\n"),
      "NOT_STORED\r\n");
  EXPECT_EQ(ask("get junk:1 verify:big@acme.example\r\n", "END\r\n"), "END\r\n");
  EXPECT_EQ(ask("flush_all\r\n", "\r\n"), "ERROR\r\n");
  EXPECT_EQ(ask("delete verify:x@acme.example\r\n", "\r\n"), "DELETED\r\n");
  EXPECT_EQ(ask("set k 0 0 3\r\nabcXY", "\r\n"), "CLIENT_ERROR set value not followed by CRLF\r\n");
  EXPECT_TRUE(gwtest::ClosedWithin(fd, 2s));
  close(fd);
}

TEST(VerifyCacheTest, ItStaysWithinItsEntriesAndBytes) {
  gw::postfix::VerifyCache cache(1000, 10'000);
  for (int i = 0; i < 5000; ++i)
    cache.Set(fmt::format("verify:u{}@acme.example", i), std::string(200, 'x'));
  EXPECT_LE(cache.bytes(), 10'000u);
  std::string value;
  EXPECT_TRUE(cache.Get("verify:u4999@acme.example", value)) << "the newest is kept";
  cache.Set("verify:u4999@acme.example", "0:1:2:ok");  // replaced, not counted twice
  EXPECT_LE(cache.bytes(), 10'000u);
  EXPECT_TRUE(cache.Delete("verify:u4999@acme.example"));
  gw::postfix::VerifyCache few(3);
  for (int i = 0; i < 10; ++i) few.Set(fmt::format("verify:{}", i), "v");
  EXPECT_TRUE(few.Get("verify:9", value));
  EXPECT_EQ(few.bytes(), 3 * std::string("verify:9v").size());
}

TEST_F(PostfixLookupsTest, ADestinationIsTheGatewayOnlyAtItsOwnSmtpAddress) {
  // gatewayd runs with --smtp 127.0.0.1:2525: a customer server beside it is fine.
  EXPECT_TRUE(PutCustomer("beside", {{"product", "ultimate-access"},
                                     {"billableUsers", 1},
                                     {"domains", {{"primary", "beside.example"}}},
                                     {"destinations", {{{"host", "127.0.0.1"}, {"port", 2626}}}}})
                  .ok());
  gw::Status loop =
      PutCustomer("loop", {{"product", "ultimate-access"},
                           {"billableUsers", 1},
                           {"domains", {{"primary", "loop.example"}}},
                           {"destinations", {{{"host", "127.0.0.1"}, {"port", 2525}}}}});
  ASSERT_FALSE(loop.ok());
  ASSERT_EQ(loop.details().size(), 1u);
  EXPECT_EQ(loop.details()[0].rule, "destination-self");
}

}  // namespace

namespace {

// A connection to gatewayd's Dovecot dict socket, as Dovecot's auth process opens one.
int ConnectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un at{};
  at.sun_family = AF_UNIX;
  std::snprintf(at.sun_path, sizeof(at.sun_path), "%s", path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string Lookup(int fd, const std::string& key) {
  gwtest::SendAll(fd, "L" + key + "\n");
  return gwtest::ReadUntil(fd, 5s,
                           [](const std::string& b) { return !b.empty() && b.back() == '\n'; })
      .bytes;
}

class ContinuityLookupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = gwtest::MakeTempDir("continuity-lookups");
    socket_ = (dir_ / "auth.sock").string();
    destination_ = gwtest::PickFreePort();  // closed: the customer's server is down
    gatewayd_ = std::make_unique<Gatewayd>(
        std::vector<std::string>{"northwind"},
        std::vector<std::string>{"--socketmap", "127.0.0.1:0", "--policy", "127.0.0.1:0",
                                 "--verify", "127.0.0.1:0", "--continuity-smtp", "127.0.0.1:10026",
                                 "--continuity-auth", socket_, "--continuity-probe-interval-ms",
                                 "200"});
    ASSERT_TRUE(gatewayd_->started()) << gatewayd_->process().output();
    socketmap_ = gatewayd_->LoggedPort("socketmap on ");
    ASSERT_NE(socketmap_, 0) << gatewayd_->process().output();
    auto ops = gatewayd_->Client(Gatewayd::kOperatorToken);
    ASSERT_TRUE(ops->EnsurePartner("northwind").ok());
    gw::CustomerWrite write;
    write.spec = {{"product", "ultimate-access"},
                  {"billableUsers", 3},
                  {"domains", {{"primary", "acme.example"}}},
                  {"destinations", fmt::format("127.0.0.1:{}", destination_)},
                  {"continuity",
                   {{"enabled", true},
                    {"scope", "selected"},
                    {"members", {"alice@acme.example", "bob@acme.example"}}}}};
    ASSERT_TRUE(
        ops->PutCustomer("northwind", "acme", write, gw::WriteCondition::CreateOnly()).ok());
    gw::User alice, bob, carol;
    alice.address = "alice@acme.example";
    alice.aliases = {"a@acme.example"};
    alice.continuity = true;
    bob.address = "bob@acme.example";      // a member, not activated
    carol.address = "carol@acme.example";  // activated, not a member
    carol.continuity = true;
    ASSERT_TRUE(ops->BatchUsers("northwind", "acme", {{alice, bob, carol}, {}}).ok());
    for (const char* user : {"alice@acme.example", "bob@acme.example", "carol@acme.example"}) {
      ASSERT_TRUE(ops->SetContinuityPassword("northwind", "acme", user, "a-long-password").ok());
    }
  }
  void TearDown() override {
    gatewayd_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Socketmap(const std::string& request) {
    int fd = gwtest::ConnectLoopback(socketmap_);
    gwtest::SendAll(fd, Netstring(request));
    std::string reply = gwtest::ReadUntil(fd, 5s, [](const std::string& b) {
                          return !b.empty() && b.back() == ',';
                        }).bytes;
    close(fd);
    return reply;
  }

  bool EventuallySocketmap(const std::string& request, const std::string& expected,
                           std::chrono::milliseconds timeout = 5s) {
    for (auto deadline = std::chrono::steady_clock::now() + timeout;
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(50ms)) {
      if (Socketmap(request) == Netstring(expected)) return true;
    }
    return false;
  }

  std::filesystem::path dir_;
  std::string socket_;
  int destination_ = 0, socketmap_ = 0;
  std::unique_ptr<Gatewayd> gatewayd_;
};

TEST_F(ContinuityLookupsTest, DovecotIsAnsweredOnlyForUsersInScopeAndActivated) {
  ASSERT_TRUE(EventuallySocketmap("continuity bob@acme.example", "OK bob@acme.example"));
  // Password hashes: only the socket's directory's group (Dovecot's) may ask.
  struct stat info {};
  ASSERT_EQ(stat(socket_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0660u);
  int fd = ConnectUnix(socket_);
  ASSERT_GE(fd, 0) << socket_;
  gwtest::SendAll(fd, "H3\t2\t0\t\tcontinuity\n");
  std::string alice = Lookup(fd, "shared/passdb/a@acme.example");  // an alias logs in as alice
  ASSERT_EQ(alice.substr(0, 1), "O") << alice;
  json fields = json::parse(alice.substr(1));
  EXPECT_EQ(fields["user"], "alice@acme.example");
  EXPECT_THAT(fields["password"].get<std::string>(), ::testing::StartsWith("{ARGON2ID}$argon2id$"));
  EXPECT_EQ(Lookup(fd, "shared/passdb/bob@acme.example"), "N\n") << "not activated";
  EXPECT_EQ(Lookup(fd, "shared/passdb/carol@acme.example"), "N\n") << "not a member";
  EXPECT_EQ(Lookup(fd, "shared/passdb/nobody@acme.example"), "N\n");
  EXPECT_EQ(Lookup(fd, "shared/passdb/x@other.example"), "N\n");
  // Every user has a mailbox place (what reaches Dovecot is the continuity map's call).
  EXPECT_EQ(Lookup(fd, "shared/userdb/bob@acme.example"), "O{\"user\":\"bob@acme.example\"}\n");
  EXPECT_EQ(Lookup(fd, "shared/userdb/carol@acme.example"), "O{\"user\":\"carol@acme.example\"}\n");
  EXPECT_EQ(Lookup(fd, "shared/userdb/nobody@acme.example"), "N\n");
  EXPECT_EQ(Lookup(fd, "shared/other/alice@acme.example"), "N\n");
  // Writes and iteration are not served: the connection is closed, and logged.
  gwtest::SendAll(fd, "I0\t0\tshared/passdb/\n");
  EXPECT_TRUE(gwtest::ClosedWithin(fd, 5s));
  close(fd);
  int early = ConnectUnix(socket_);
  gwtest::SendAll(early, "Lshared/passdb/alice@acme.example\n");  // no hello
  EXPECT_TRUE(gwtest::ClosedWithin(early, 5s));
  close(early);
  EXPECT_THAT(gatewayd_->process().output(), HasSubstr("dovecot dict: command 'I' is not served"));

  // Postfix's continuity listener takes members; submission lets the activated send.
  EXPECT_EQ(Socketmap("continuity a@acme.example"), Netstring("OK alice@acme.example"));
  EXPECT_EQ(Socketmap("continuity carol@acme.example"), Netstring("NOTFOUND "));
  EXPECT_EQ(Socketmap("logins a@acme.example"), Netstring("OK alice@acme.example"));
  EXPECT_EQ(Socketmap("logins bob@acme.example"), Netstring("NOTFOUND "));
}

TEST_F(ContinuityLookupsTest, TheTransportSwitchesToContinuityWhileTheServerIsDownAndBack) {
  // The server's port is closed: two failed rounds, then the continuity listener.
  ASSERT_TRUE(EventuallySocketmap("transport x@acme.example", "OK smtp:[127.0.0.1]:10026"))
      << gatewayd_->process().output();
  // Logged as the switch is made: the line may come a moment after the answer changed.
  EXPECT_TRUE(gatewayd_->process().WaitForOutput("northwind/acme: its servers are down", 5s))
      << gatewayd_->process().output();
  std::string listed = gwtest::RawExchange(
      gwtest::PortOf(gatewayd_->url()),
      fmt::format("GET /v1/continuity HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\n\r\n",
                  Gatewayd::PartnerToken("northwind")));
  EXPECT_THAT(listed, HasSubstr("\"customer\":\"acme\""));
  EXPECT_THAT(listed, HasSubstr("Connection refused"));

  // A server answering on the port (any SMTP answer to RCPT, even a 5xx, is "up").
  gwtest::SmtpResponder server(destination_);
  ASSERT_TRUE(server.listening());
  EXPECT_TRUE(EventuallySocketmap("transport x@acme.example",
                                  fmt::format("OK smtp:[127.0.0.1]:{}", destination_)));
  EXPECT_TRUE(gatewayd_->process().WaitForOutput("take mail again; leaving continuity", 5s))
      << gatewayd_->process().output();
}

}  // namespace

namespace {

// A gatewayd killed and started again takes its continuity job lease back at once (the
// process that held it is gone), rather than routing by recorded outages until the lease
// expires three probe rounds later (30 s here).
TEST(ContinuityRestartTest, AGatewaydRestartedAfterACrashProbesAgainAtOnce) {
  Gatewayd gatewayd({"northwind"}, {"--socketmap", "127.0.0.1:0", "--continuity-smtp",
                                    "127.0.0.1:10026", "--continuity-probe-interval-ms", "10000"});
  ASSERT_TRUE(gatewayd.started()) << gatewayd.process().output();
  ASSERT_TRUE(gatewayd.process().WaitForOutput("this replica probes customers' servers"));
  gatewayd.Restart();  // SIGKILL, then the same arguments on the same port
  ASSERT_TRUE(gatewayd.started());
  EXPECT_TRUE(gatewayd.process().WaitForOutput("this replica probes customers' servers", 5s))
      << gatewayd.process().output();
  EXPECT_THAT(gatewayd.process().output(), HasSubstr("is gone; taking its job lease"));
  EXPECT_THAT(gatewayd.process().output(), Not(HasSubstr("this one routes by")));
}

}  // namespace
