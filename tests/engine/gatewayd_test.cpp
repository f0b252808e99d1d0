// gatewayd as a process: authentication, the error shape, limits, signals and TLS.
#include <httplib.h>

#include <set>

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "base/atomic_file.h"
#include "gateway/dovecot_config.h"
#include "gateway/postfix_config.h"
#include "gateway/smtp_client.h"
#include "gatewayd_fixture.h"
#include "hostile_clients.h"
#include "loopback.h"
#include "store_lock.h"

namespace {

using gwtest::Gatewayd;
using nlohmann::json;
using ::testing::HasSubstr;

httplib::Headers Auth(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

const std::string kCustomer =
    R"({"spec": {"product": "ultimate-access", "billableUsers": 1, "domains": {"primary": "acme.example"},
        "destinations": "mx.acme.example"}})";

class GatewaydTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gatewayd_ = std::make_unique<Gatewayd>(std::vector<std::string>{"northwind", "contoso"},
                                           std::vector<std::string>{"--max-body-bytes", "65536"});
    ASSERT_TRUE(gatewayd_->started()) << gatewayd_->process().output();
    http_ = std::make_unique<httplib::Client>(gatewayd_->url());
    auto ops = gatewayd_->Client(Gatewayd::kOperatorToken);
    ASSERT_TRUE(ops->EnsurePartner("northwind").ok());
    ASSERT_TRUE(ops->EnsurePartner("contoso").ok());
  }

  httplib::Result PutCustomer(const std::string& body,
                              const std::string& token = Gatewayd::PartnerToken("northwind"),
                              const std::string& path = "/v1/partners/northwind/customers/acme") {
    auto headers = Auth(token);
    headers.emplace("If-None-Match", "*");
    return http_->Put(path, headers, body, "application/json");
  }

  static json Error(const httplib::Result& r) { return json::parse(r->body)["error"]; }

  std::unique_ptr<Gatewayd> gatewayd_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(GatewaydTest, StartupLogsSayWhereItListensAndWhatStoreItOpened) {
  EXPECT_THAT(gatewayd_->process().output(), HasSubstr("opened store " + gatewayd_->store_path()));
  EXPECT_THAT(gatewayd_->process().output(), HasSubstr("listening on http://127.0.0.1:"));
}

TEST_F(GatewaydTest, MissingOrWrongTokensAre401) {
  auto missing = http_->Get("/v1/partners/northwind/state");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_EQ(Error(missing)["code"], "unauthenticated");
  auto wrong = http_->Get("/v1/partners/northwind/state", Auth("guessed"));
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(Error(wrong)["message"], "unknown token");
}

TEST_F(GatewaydTest, AnotherPartnersObjectsAre404) {
  ASSERT_EQ(PutCustomer(kCustomer)->status, 201);
  auto other =
      http_->Get("/v1/partners/northwind/customers/acme", Auth(Gatewayd::PartnerToken("contoso")));
  EXPECT_EQ(other->status, 404);
  auto write = PutCustomer(kCustomer, Gatewayd::PartnerToken("contoso"));
  EXPECT_EQ(write->status, 404);
  auto partners = http_->Get("/v1/partners", Auth(Gatewayd::PartnerToken("contoso")));
  EXPECT_EQ(partners->status, 403);
  // A partner may confirm its own partner (gwctl does before every plan), nothing more.
  EXPECT_EQ(http_
                ->Put("/v1/partners/contoso", Auth(Gatewayd::PartnerToken("contoso")), "{}",
                      "application/json")
                ->status,
            200);
  EXPECT_EQ(http_
                ->Put("/v1/partners/northwind", Auth(Gatewayd::PartnerToken("contoso")), "{}",
                      "application/json")
                ->status,
            403);
}

TEST_F(GatewaydTest, MalformedJsonIs400) {
  auto r = PutCustomer("{\"spec\": ");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Error(r)["code"], "malformed");
}

TEST_F(GatewaydTest, UnknownFieldsAndSchemaViolationsAre422NamingTheField) {
  auto unknown = PutCustomer(R"({"spec": {}, "colour": "red"})");
  EXPECT_EQ(unknown->status, 422);
  EXPECT_EQ(Error(unknown)["field"], "/colour");
  auto invalid = PutCustomer(
      R"({"spec": {"product": "gold", "billableUsers": 1, "domains": {"primary": "a.example"}}})");
  EXPECT_EQ(invalid->status, 422);
  EXPECT_EQ(Error(invalid)["field"], "/spec/product");
  EXPECT_THAT(Error(invalid)["message"].get<std::string>(), HasSubstr("must be one of"));
}

TEST_F(GatewaydTest, AWriteWithoutAPreconditionIs428AndAStaleOneIs412) {
  auto none = http_->Put("/v1/partners/northwind/customers/acme",
                         Auth(Gatewayd::PartnerToken("northwind")), kCustomer, "application/json");
  EXPECT_EQ(none->status, 428);
  ASSERT_EQ(PutCustomer(kCustomer)->status, 201);
  auto headers = Auth(Gatewayd::PartnerToken("northwind"));
  headers.emplace("If-Match", "\"9\"");
  auto stale =
      http_->Put("/v1/partners/northwind/customers/acme", headers, kCustomer, "application/json");
  EXPECT_EQ(stale->status, 412);
  auto get = http_->Get("/v1/partners/northwind/customers/acme",
                        Auth(Gatewayd::PartnerToken("northwind")));
  EXPECT_EQ(get->get_header_value("ETag"), "\"1\"");
}

TEST_F(GatewaydTest, ADomainOfAnotherPartnerIs422WithTheRuleAndNoHolder) {
  ASSERT_EQ(PutCustomer(kCustomer)->status, 201);
  auto r = PutCustomer(kCustomer, Gatewayd::PartnerToken("contoso"),
                       "/v1/partners/contoso/customers/mine");
  EXPECT_EQ(r->status, 422);
  EXPECT_EQ(Error(r)["details"][0]["rule"], "domain-duplicate");
  EXPECT_EQ(Error(r)["details"][0]["field"], "/spec/domains/primary");
  EXPECT_THAT(r->body, ::testing::Not(HasSubstr("northwind")));
}

TEST_F(GatewaydTest, ARelayRangeOfAnotherPartnerIsNeverNamed) {
  const std::string relaying =
      R"({"spec": {"product": "ultimate-access", "billableUsers": 1, "domains": {"primary": "acme.example"},
          "destinations": "mx.acme.example",
          "outboundRelay": {"enabled": true, "sources": "198.51.100.0/28"}}})";
  ASSERT_EQ(PutCustomer(relaying)->status, 201);
  const std::string probe =
      R"({"spec": {"product": "ultimate-access", "billableUsers": 1, "domains": {"primary": "probe.example"},
          "destinations": "mx.probe.example",
          "outboundRelay": {"enabled": true, "sources": "198.51.100.0/24"}}})";
  auto r =
      PutCustomer(probe, Gatewayd::PartnerToken("contoso"), "/v1/partners/contoso/customers/probe");
  EXPECT_EQ(r->status, 422);
  EXPECT_EQ(Error(r)["details"][0]["rule"], "relay-source-conflict");
  EXPECT_THAT(r->body, HasSubstr("198.51.100.0/24 overlaps a relay source of another customer"));
  EXPECT_THAT(r->body, ::testing::Not(HasSubstr("198.51.100.0/28")));
  EXPECT_THAT(r->body, ::testing::Not(HasSubstr("northwind")));
}

// What a new user typed straight into the API used to be stored; now one 422 names every
// problem with its rule, and nothing is stored.
TEST_F(GatewaydTest, EveryBrokenRuleIsOne422WithPointersAndRuleIds) {
  const std::string other =
      R"({"spec": {"product": "ultimate-defense", "billableUsers": 1,
          "domains": {"primary": "globex.example"}, "destinations": "mx.globex.example",
          "outboundRelay": {"sources": ["0.0.0.0/0"]}}})";
  ASSERT_EQ(
      PutCustomer(other, Gatewayd::PartnerToken("contoso"), "/v1/partners/contoso/customers/globex")
          ->status,
      201);
  const std::string broken =
      R"({"spec": {"product": "ultimate-defense", "billableUsers": 1,
          "domains": {"primary": "acme.example"},
          "destinations": [{"host": "mx.acme.example", "port": 2525}, {"host": "MX.acme.example", "port": 2525}],
          "outboundRelay": {"sources": ["0.0.0.0/0"]},
          "filtering": {"contentFilter": {"maxMessageSize": "3GiB"},
                        "spamReport": {"enabled": true, "days": ["mon"], "times": ["08:00"], "timezone": "Mars/X"}},
          "continuity": {"enabled": true, "retention": "999d"}}})";
  auto r = PutCustomer(broken);
  ASSERT_EQ(r->status, 422) << r->body;
  auto rules_found = [](const httplib::Result& answer) {
    std::set<std::pair<std::string, std::string>> out;
    json details = Error(answer)["details"];
    for (const auto& d : details) out.emplace(d["field"], d["rule"]);
    return out;
  };
  auto found = rules_found(r);
  std::set<std::pair<std::string, std::string>> expected = {
      {"/spec/destinations/1", "destination-duplicate"},
      {"/spec/outboundRelay/sources/0", "relay-source-conflict"},
      {"/spec/filtering/contentFilter/maxMessageSize", "content-filter-size"},
      {"/spec/filtering/spamReport/timezone", "spam-report"},
      {"/spec/product", "continuity"},
      {"/spec/continuity/retention", "continuity"}};
  EXPECT_EQ(found, expected) << r->body;
  // The other customer is another partner's: it is not named.
  EXPECT_THAT(r->body, ::testing::Not(HasSubstr("globex")));
  auto state = http_->Get("/v1/partners/northwind/customers/acme",
                          Auth(Gatewayd::PartnerToken("northwind")));
  EXPECT_EQ(state->status, 404);
  // A port the schema refuses is reported beside the rules, not instead of them.
  auto port = PutCustomer(
      R"({"spec": {"product": "ultimate-defense", "billableUsers": 1, "domains": {"primary": "acme.example"},
          "destinations": [{"host": "mx.acme.example", "port": 99999}],
          "continuity": {"enabled": true}}})");
  ASSERT_EQ(port->status, 422);
  EXPECT_EQ(rules_found(port),
            (std::set<std::pair<std::string, std::string>>{{"/spec/destinations/0/port", "schema"},
                                                           {"/spec/product", "continuity"}}))
      << port->body;
}

TEST_F(GatewaydTest, TheCompiledConfigurationIsServedTyped) {
  ASSERT_EQ(PutCustomer(R"({"spec": {"product": "ultimate-access", "billableUsers": 1,
      "domains": {"primary": "acme.example"}, "destinations": "b.acme.example#20;a.acme.example:2525#10",
      "filtering": {"contentFilter": {"maxMessageSize": "50MiB"}},
      "outboundRelay": {"service": "google", "dkimSigned": true}}})")
                ->status,
            201);
  auto r = http_->Get("/v1/partners/northwind/customers/acme/config",
                      Auth(Gatewayd::PartnerToken("northwind")));
  ASSERT_EQ(r->status, 200) << r->body;
  json config = json::parse(r->body);
  EXPECT_EQ(config["maxMessageSizeBytes"], 50 * 1024 * 1024);
  EXPECT_EQ(config["destinations"][0],
            json({{"host", "a.acme.example"}, {"port", 2525}, {"preference", 10}}));
  EXPECT_EQ(config["relay"]["service"], "google");
  EXPECT_GT(config["relay"]["sources"].size(), 10u);
  EXPECT_EQ(r->get_header_value("ETag"), "\"1\"");
  EXPECT_EQ(http_
                ->Get("/v1/partners/northwind/customers/acme/config",
                      Auth(Gatewayd::PartnerToken("contoso")))
                ->status,
            404);
}

// Another process (an embedded gwctl, a backup) holding the store's write lock past the
// busy timeout: a write is 503 with Retry-After and changes nothing; reads go on.
TEST_F(GatewaydTest, AStoreLockedByAnotherProcessIs503WithRetryAfter) {
  gatewayd_ =
      std::make_unique<Gatewayd>(std::vector<std::string>{"northwind"},
                                 std::vector<std::string>{"--store-busy-timeout-ms", "200"});
  ASSERT_TRUE(gatewayd_->started()) << gatewayd_->process().output();
  ASSERT_TRUE(gatewayd_->Client(Gatewayd::kOperatorToken)->EnsurePartner("northwind").ok());
  http_ = std::make_unique<httplib::Client>(gatewayd_->url());

  gwtest::StoreWriteLock lock(gatewayd_->store_path());
  ASSERT_TRUE(lock.held());
  auto started = std::chrono::steady_clock::now();
  auto refused = PutCustomer(kCustomer);
  ASSERT_TRUE(refused);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(200));
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->get_header_value("Retry-After"), "1");
  EXPECT_EQ(Error(refused)["code"], "unavailable");
  EXPECT_THAT(Error(refused)["message"].get<std::string>(), HasSubstr("busy"));
  auto state =
      http_->Get("/v1/partners/northwind/state", Auth(Gatewayd::PartnerToken("northwind")));
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, 200);
  EXPECT_EQ(json::parse(state->body)["customers"].size(), 0u);

  lock.Release();
  EXPECT_EQ(PutCustomer(kCustomer)->status, 201);
}

// One partner at its limit of requests in flight gets 429 with Retry-After; another
// partner is still served.
TEST_F(GatewaydTest, APartnerOverItsShareOfRequestsIs429AndOthersAreServed) {
  gatewayd_ =
      std::make_unique<Gatewayd>(std::vector<std::string>{"northwind", "contoso"},
                                 std::vector<std::string>{"--max-in-flight-per-partner", "1",
                                                          "--store-busy-timeout-ms", "10000"});
  ASSERT_TRUE(gatewayd_->started()) << gatewayd_->process().output();
  auto ops = gatewayd_->Client(Gatewayd::kOperatorToken);
  ASSERT_TRUE(ops->EnsurePartner("northwind").ok());
  ASSERT_TRUE(ops->EnsurePartner("contoso").ok());
  auto in_flight = [&](int count) {
    auto metrics = httplib::Client(gatewayd_->url()).Get("/metrics");
    return metrics && metrics->body.find(fmt::format("gatewayd_http_requests_in_flight {}\n",
                                                     count)) != std::string::npos;
  };
  auto wait_in_flight = [&](int count) {
    for (int i = 0; i < 250 && !in_flight(count); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return in_flight(count);
  };

  // A write that waits for the store (held by another process) stays in flight. (The
  // threads are joined however the test ends: the write ends at the busy timeout.)
  auto lock = std::make_unique<gwtest::StoreWriteLock>(gatewayd_->store_path());
  ASSERT_TRUE(lock->held());
  int waiting_status = 0;
  std::jthread waiting([&] {
    auto headers = Auth(Gatewayd::PartnerToken("northwind"));
    headers.emplace("If-None-Match", "*");
    httplib::Client client(gatewayd_->url());
    client.set_read_timeout(std::chrono::seconds(30));
    auto r =
        client.Put("/v1/partners/northwind/customers/acme", headers, kCustomer, "application/json");
    waiting_status = r ? r->status : -1;
  });
  ASSERT_TRUE(wait_in_flight(1)) << "status " << waiting_status;

  auto refused =
      httplib::Client(gatewayd_->url())
          .Get("/v1/partners/northwind/state", Auth(Gatewayd::PartnerToken("northwind")));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  EXPECT_EQ(refused->get_header_value("Retry-After"), "1");
  EXPECT_EQ(Error(refused)["code"], "too_many_requests");
  // Another partner's request is admitted: a write, so that it too waits for the store
  // whatever the order the two reach it in (a read could finish before the first write
  // takes the store, and never be seen in flight).
  int other_status = 0;
  std::jthread other([&] {
    auto headers = Auth(Gatewayd::PartnerToken("contoso"));
    headers.emplace("If-None-Match", "*");
    std::string body = kCustomer;
    body.replace(body.find("acme.example"), 4, "fabrikam");
    body.replace(body.find("acme.example"), 4, "fabrikam");
    httplib::Client client(gatewayd_->url());
    client.set_read_timeout(std::chrono::seconds(30));
    auto r =
        client.Put("/v1/partners/contoso/customers/fabrikam", headers, body, "application/json");
    other_status = r ? r->status : -1;
  });
  EXPECT_TRUE(wait_in_flight(2));
  lock.reset();
  waiting.join();
  other.join();
  EXPECT_EQ(waiting_status, 201);
  EXPECT_EQ(other_status, 201);
  EXPECT_EQ(httplib::Client(gatewayd_->url())
                .Get("/v1/partners/northwind/state", Auth(Gatewayd::PartnerToken("northwind")))
                ->status,
            200);
}

TEST_F(GatewaydTest, OversizedBodiesAre413) {
  std::string big = "{\"spec\": {\"x\": \"" + std::string(100000, 'a') + "\"}}";
  auto r = PutCustomer(big);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(Error(r)["code"], "too_large");
}

TEST_F(GatewaydTest, HealthAndMetrics) {
  auto health = http_->Get("/healthz");
  EXPECT_EQ(health->status, 200);
  http_->Get("/v1/partners/northwind/state");  // a 401 to count
  // A request is counted just after its answer is sent: give the count a moment.
  httplib::Result metrics = http_->Get("/metrics");
  for (int i = 0; i < 50 && metrics->body.find("code=\"401\"") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = http_->Get("/metrics");
  }
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->body,
              HasSubstr("gatewayd_http_requests_total{method=\"GET\",code=\"401\"}"));
  EXPECT_THAT(metrics->body, HasSubstr("gatewayd_http_request_duration_seconds_count"));
}

TEST_F(GatewaydTest, SighupReloadsTheTokens) {
  EXPECT_EQ(http_->Get("/v1/partners/northwind/state", Auth("new-token"))->status, 401);
  {
    std::ofstream tokens(gatewayd_->dir() / "tokens.yaml", std::ios::app);
    tokens << "  - {name: added, partner: northwind, sha256: \"" << gw::HashToken("new-token")
           << "\"}\n";
  }
  gatewayd_->process().Signal(SIGHUP);
  ASSERT_TRUE(gatewayd_->process().WaitForLine("reloaded 5 token(s)"));
  EXPECT_EQ(http_->Get("/v1/partners/northwind/state", Auth("new-token"))->status, 200);
}

TEST_F(GatewaydTest, AMalformedTokensFileOnSighupKeepsTheTokensInForce) {
  {
    std::ofstream tokens(gatewayd_->dir() / "tokens.yaml", std::ios::app);
    tokens << "  - {name: [not, a, string], partner: northwind, sha256: \""
           << gw::HashToken("new-token") << "\"}\n";
  }
  gatewayd_->process().Signal(SIGHUP);
  auto refused = gatewayd_->process().WaitForLine("kept the previous tokens");
  ASSERT_TRUE(refused) << gatewayd_->process().output();
  EXPECT_THAT(*refused, HasSubstr("name must be a string"));
  auto ops = Auth(Gatewayd::kOperatorToken);
  EXPECT_EQ(http_->Get("/v1/partners/northwind/state", ops)->status, 200);
}

TEST_F(GatewaydTest, SigtermFinishesTheRequestInFlightAndExitsZero) {
  ASSERT_EQ(PutCustomer(kCustomer)->status, 201);
  json batch = {{"upsert", json::array()}};
  for (int i = 0; i < 20000; ++i)
    batch["upsert"].push_back({{"address", fmt::format("u{}@acme.example", i)}});
  gatewayd_.reset();  // restart without the small body limit
  gatewayd_ = std::make_unique<Gatewayd>();
  ASSERT_TRUE(gatewayd_->started());
  ASSERT_TRUE(gatewayd_->Client(Gatewayd::kOperatorToken)->EnsurePartner("northwind").ok());
  http_ = std::make_unique<httplib::Client>(gatewayd_->url());
  ASSERT_EQ(PutCustomer(kCustomer)->status, 201);

  int in_flight_status = 0;
  std::thread request([&] {
    auto in_flight =
        http_->Post("/v1/partners/northwind/customers/acme/users:batch",
                    Auth(Gatewayd::PartnerToken("northwind")), batch.dump(), "application/json");
    in_flight_status = in_flight ? in_flight->status : -1;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  gatewayd_->process().Signal(SIGTERM);
  request.join();
  EXPECT_EQ(gatewayd_->process().Wait(), 0);
  EXPECT_THAT(gatewayd_->process().output(), HasSubstr("SIGTERM: finishing requests in flight"));
  EXPECT_THAT(gatewayd_->process().output(), HasSubstr("gatewayd: stopped"));
  // Either the batch was answered (and then it is stored), or it never reached the server.
  if (in_flight_status == 200) {
    gatewayd_->Start();
    ASSERT_TRUE(gatewayd_->started());
    auto customer =
        gatewayd_->Client(Gatewayd::PartnerToken("northwind"))->GetCustomer("northwind", "acme");
    ASSERT_TRUE(customer.ok());
    EXPECT_EQ(customer->user_count, 20000);
  }
}

TEST(GatewaydTlsTest, ServesHttpsWithTheGivenCertificate) {
  auto dir = gwtest::MakeTempDir("gatewayd-tls");
  std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext "
      "subjectAltName=IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " 2>/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0) << "openssl is needed (ci/setup installs it)";
  Gatewayd gatewayd({"northwind"},
                    {"--tls-cert", cert, "--tls-key", key, "--portal", "127.0.0.1:0"});
  ASSERT_TRUE(gatewayd.started()) << gatewayd.process().output();
  EXPECT_EQ(gatewayd.url().substr(0, 8), "https://");
  gw::ClientOptions options;
  options.token = Gatewayd::kOperatorToken;
  options.ca_file = cert;
  auto client = std::move(gw::ConnectGateway(gatewayd.url(), options)).value();
  EXPECT_TRUE(client->EnsurePartner("northwind").ok());

  // The users' portal is HTTPS too, and its session cookie is only ever sent back over it.
  gw::CustomerWrite acme;
  acme.spec = {{"product", "ultimate-defense"},
               {"billableUsers", 1},
               {"domains", {{"primary", "acme.example"}}},
               {"destinations", "mx.acme.example"},
               {"panelLogin",
                {{"email", "it@acme.example"},
                 {"status", "activated"},
                 {"passwordRef", "env:ACME_PANEL_PASSWORD"}}}};
  acme.secrets["/panelLogin/password"] = "correct horse battery staple";
  ASSERT_TRUE(
      client->PutCustomer("northwind", "acme", acme, gw::WriteCondition::CreateOnly()).ok());
  httplib::SSLClient portal("127.0.0.1", gatewayd.LoggedPort("portal on "));
  portal.set_ca_cert_path(cert.c_str());
  auto signed_in = portal.Post("/q/admin-sign-in",
                               "email=it%40acme.example&password=correct+horse+battery+staple",
                               "application/x-www-form-urlencoded");
  ASSERT_TRUE(signed_in) << httplib::to_string(signed_in.error());
  EXPECT_EQ(signed_in->status, 303) << signed_in->body;
  EXPECT_THAT(signed_in->get_header_value("Set-Cookie"), HasSubstr("; Secure"));
  // Without trusting the certificate, the client refuses to talk.
  options.ca_file = "";
  auto untrusting = std::move(gw::ConnectGateway(gatewayd.url(), options)).value();
  EXPECT_EQ(untrusting->EnsurePartner("northwind").code(), gw::StatusCode::kUnavailable);
  std::filesystem::remove_all(dir);
}

}  // namespace

namespace {

TEST(TokensTest, TheSampleTokensFileLoadsAndItsExampleTokensAuthenticate) {
  auto tokens = gw::TokenStore::Load(GWCTL_SOURCE_DIR "/examples/gatewayd/tokens.yaml.sample");
  ASSERT_TRUE(tokens.ok()) << tokens.status().message();
  auto ops = (*tokens)->Authenticate("example-operator-token");
  ASSERT_TRUE(ops);
  EXPECT_TRUE(ops->is_operator());
  auto ci = (*tokens)->Authenticate("example-northwind-token");
  ASSERT_TRUE(ci);
  EXPECT_EQ(ci->partner, "northwind-msp");
  EXPECT_FALSE((*tokens)->Authenticate("example-northwind-token "));
  auto filter = (*tokens)->Authenticate("example-filter-token");
  ASSERT_TRUE(filter);
  EXPECT_TRUE(filter->is_filter());
  EXPECT_FALSE(filter->is_operator());
}

TEST(TokensTest, BadEntriesAreNamedByLine) {
  auto dir = gwtest::MakeTempDir("tokens");
  std::ofstream(dir / "t.yaml") << "tokens:\n  - {name: a, role: operator, sha256: \"abc\"}\n";
  auto tokens = gw::TokenStore::Load((dir / "t.yaml").string());
  ASSERT_FALSE(tokens.ok());
  EXPECT_THAT(tokens.status().message(),
              HasSubstr("t.yaml:2: sha256 must be 64 lowercase hex digits"));
  std::filesystem::remove_all(dir);
}

}  // namespace

namespace {

// Configuration files (Postfix's, Dovecot's, the doveadm key) are written whole, with
// their mode from the first byte, and nothing planted beside them redirects the write.
TEST(AtomicFileTest, AFileIsWrittenWholeWithItsModeAndPlantedLinksAreNotFollowed) {
  auto dir = gwtest::MakeTempDir("atomic");
  mode_t old_mask = umask(022);
  // A link planted at the name the old writer used for its temporary.
  std::ofstream(dir / "victim") << "untouched";
  std::filesystem::create_symlink(dir / "victim", dir / "doveadm-api.conf.tmp");
  ASSERT_TRUE(gw::WriteFileAtomically(dir / "doveadm-api.conf", "key = secret\n", 0600).ok());
  umask(old_mask);
  std::ifstream in(dir / "doveadm-api.conf");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), {}), "key = secret\n");
  struct stat info {};
  ASSERT_EQ(stat((dir / "doveadm-api.conf").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::ifstream victim(dir / "victim");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(victim)), {}), "untouched");
  // Nothing else is left beside it.
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 3u);  // victim, the planted link, the file
  std::filesystem::remove_all(dir);
}

}  // namespace

namespace {

// Listeners that trust their clients, or take passwords, never face a network by
// accident: the writers refuse, naming the flag, and write nothing.
TEST(MailConfigTest, InternalListenersAreLoopbackOnlyAndPasswordsNeverCrossInCleartext) {
  auto dir = gwtest::MakeTempDir("mail-config");
  gw::DovecotInstanceOptions dovecot;
  dovecot.dir = (dir / "dovecot").string();
  dovecot.auth_socket = "/run/gatewayd/auth";
  dovecot.lmtp = {"127.0.0.1", 10024};
  auto refused = [&](gw::DovecotInstanceOptions o, const std::string& flag) {
    gw::Status s = gw::WriteDovecotInstance(o);
    EXPECT_EQ(s.code(), gw::StatusCode::kInvalidArgument) << flag;
    EXPECT_THAT(s.message(), HasSubstr(flag)) << s.message();
    EXPECT_FALSE(std::filesystem::exists(dir / "dovecot")) << flag;
  };
  auto o = dovecot;
  o.lmtp = {"0.0.0.0", 10024};
  refused(o, "--lmtp 0.0.0.0:10024 must be a loopback address");
  o = dovecot;
  o.sasl = gw::Endpoint{"192.0.2.10", 10012};
  refused(o, "--sasl 192.0.2.10:10012 must be a loopback address");
  o = dovecot;
  o.doveadm = gw::Endpoint{"::", 8091};
  o.doveadm_key = "key";
  refused(o, "--doveadm [::]:8091 must be a loopback address");
  o = dovecot;
  o.imap = gw::Endpoint{"0.0.0.0", 143};
  refused(o, "--imap 0.0.0.0:143 is not a loopback address: without --tls-cert");
  o = dovecot;
  o.pop3 = gw::Endpoint{"127.0.0.1.example", 110};  // a name, not this machine
  refused(o, "--pop3 127.0.0.1.example:110");
  // Loopback, or any address with a certificate, is written.
  o = dovecot;
  o.imap = gw::Endpoint{"127.0.0.1", 10143};
  EXPECT_TRUE(gw::WriteDovecotInstance(o).ok());

  gw::PostfixInstanceOptions postfix;
  postfix.dir = (dir / "postfix").string();
  postfix.smtp = {"127.0.0.1", 2525};
  postfix.release_smtp = gw::Endpoint{"127.0.0.1.example", 10027};
  gw::Status s = gw::WritePostfixInstance(postfix);
  EXPECT_EQ(s.code(), gw::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--release-smtp 127.0.0.1.example:10027 must be a loopback"));
  // Postfix takes the MTA-STS socketmap's answers as TLS policy.
  postfix.release_smtp.reset();
  postfix.mta_sts = gw::Endpoint{"192.0.2.10", 8461};
  s = gw::WritePostfixInstance(postfix);
  EXPECT_EQ(s.code(), gw::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--mta-sts 192.0.2.10:8461 must be a loopback"));
  EXPECT_FALSE(std::filesystem::exists(dir / "postfix"));
  std::filesystem::remove_all(dir);
}

}  // namespace

namespace {

// A partner's destinations are where gatewayd and its Postfix connect on the partner's
// behalf: an internal address is refused unless the operator allows its network.
TEST(GatewaydDestinationsTest, InternalAddressesAreRefusedUnlessTheOperatorAllowsTheirNetwork) {
  Gatewayd gatewayd({"northwind"}, {"--allow-destination-network", "10.1.0.0/16"});
  ASSERT_TRUE(gatewayd.started()) << gatewayd.process().output();
  ASSERT_TRUE(gatewayd.Client(Gatewayd::kOperatorToken)->EnsurePartner("northwind").ok());
  httplib::Client http(gatewayd.url());
  int n = 0;
  auto put = [&](const std::string& destinations) {
    auto headers = Auth(Gatewayd::PartnerToken("northwind"));
    headers.emplace("If-None-Match", "*");
    ++n;
    std::string body = fmt::format(
        R"({{"spec": {{"product": "ultimate-access", "billableUsers": 1,
            "domains": {{"primary": "c{}.example"}}, "destinations": "{}"}}}})",
        n, destinations);
    return http.Put(fmt::format("/v1/partners/northwind/customers/c{}", n), headers, body,
                    "application/json");
  };
  for (const char* internal : {"127.0.0.1:2525", "10.2.0.1", "192.168.1.10", "169.254.169.254",
                               "[fd00::25]", "[::ffff:127.0.0.1]", "100.64.0.1"}) {
    auto refused = put(internal);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 422) << internal << ": " << refused->body;
    EXPECT_EQ(json::parse(refused->body)["error"]["details"][0]["rule"], "destination-internal")
        << internal;
    EXPECT_EQ(json::parse(refused->body)["error"]["details"][0]["field"], "/spec/destinations")
        << internal;
  }
  for (const char* allowed : {"10.1.2.3", "mx.acme.example", "198.51.100.25"}) {
    auto stored = put(allowed);
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->status, 201) << allowed << ": " << stored->body;
  }
}

// gw-milter parses hostile mail; its token keeps quarantined mail and does nothing else.
TEST_F(GatewaydTest, TheFiltersTokenKeepsQuarantinedMailAndNothingElse) {
  ASSERT_EQ(PutCustomer(R"({"spec": {"product": "ultimate-access", "billableUsers": 1,
      "domains": {"primary": "acme.example"}, "destinations": "mx.acme.example"}})")
                ->status,
            201);
  auto filter = gatewayd_->Client(Gatewayd::kFilterToken);
  gw::QuarantinedMessage meta;
  meta.customer = "acme";
  meta.sender = "spammer@outside.example";
  meta.recipients = {"alice@acme.example"};
  meta.reason = "spam";
  auto kept = filter->Quarantine("northwind", meta, "Subject: x\r\n\r\nx\r\n");
  EXPECT_TRUE(kept.ok()) << kept.status().message();
  EXPECT_FALSE(filter->GetCustomer("northwind", "acme").ok());
  EXPECT_FALSE(filter->ListQuarantine("northwind", "acme", 0, 10).ok());
  EXPECT_FALSE(filter->ReleaseQuarantined("northwind", "acme", kept.ok() ? *kept : 1).ok());
  EXPECT_FALSE(filter->EnsurePartner("evil").ok());
  for (const char* path : {"/v1/partners", "/v1/partners/northwind/customers",
                           "/v1/partners/northwind/state", "/v1/audit"}) {
    auto r = http_->Get(path, Auth(Gatewayd::kFilterToken));
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->status == 403 || r->status == 404) << path << ": " << r->status;
  }
  auto write = PutCustomer(R"({"spec": {"product": "ultimate-access", "billableUsers": 1,
      "domains": {"primary": "evil.example"}, "destinations": "mx.evil.example"}})",
                           Gatewayd::kFilterToken, "/v1/partners/northwind/customers/evil");
  ASSERT_TRUE(write);
  EXPECT_TRUE(write->status == 403 || write->status == 404) << write->status << write->body;
}

TEST(SmtpClientTest, AProbeConnectsOnlyWhereTheNetworksAllow) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in at = gwtest::Loopback();
  socklen_t length = sizeof at;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  getsockname(listener, reinterpret_cast<sockaddr*>(&at), &length);
  gw::DestinationNetworks none;
  gw::Status refused = gw::ProbeMail({"localhost", ntohs(at.sin_port)}, "a@acme.example",
                                     std::chrono::seconds(2), &none);
  EXPECT_EQ(refused.code(), gw::StatusCode::kPermissionDenied) << refused.message();
  EXPECT_THAT(refused.message(), HasSubstr("is an internal address"));
  EXPECT_LT(accept(listener, nullptr, nullptr), 0) << "nothing connected";
  gw::DestinationNetworks loopback{{*gw::IpRange::Parse("127.0.0.0/8")}};
  gw::Status reached = gw::ProbeMail({"127.0.0.1", ntohs(at.sin_port)}, "a@acme.example",
                                     std::chrono::milliseconds(300), &loopback);
  EXPECT_NE(reached.code(), gw::StatusCode::kPermissionDenied) << reached.message();
  int connected = accept(listener, nullptr, nullptr);
  EXPECT_GE(connected, 0) << "the allowed network was connected to";
  if (connected >= 0) close(connected);
  close(listener);
}

// A server whose STARTTLS is broken still gets mail in cleartext from Postfix
// (opportunistic TLS), so the probe tries it again without STARTTLS before calling it
// down; where the customer requires TLS it is down.
TEST(SmtpClientTest, AProbeFallsBackToCleartextWhenStartTlsBreaksUnlessTlsIsRequired) {
  gwtest::SilentListener server;
  ASSERT_NE(server.port(), 0);
  // Answers each command by its verb; STARTTLS is accepted, then bytes that are no TLS.
  auto serve = [listener = server.fd()](int connections) {
    for (int i = 0; i < connections; ++i) {
      int client = accept(listener, nullptr, nullptr);
      gwtest::SendAll(client, "220 mx ESMTP\r\n");
      for (bool open = true; open;) {
        auto line = gwtest::ReadUntil(client, std::chrono::seconds(2), [](const std::string& b) {
          return b.find('\n') != std::string::npos;
        });
        if (line.closed || line.bytes.empty()) break;
        const std::string& verb = line.bytes;
        if (verb.rfind("EHLO", 0) == 0)
          gwtest::SendAll(client, "250-mx\r\n250 STARTTLS\r\n");
        else if (verb.rfind("STARTTLS", 0) == 0) {
          gwtest::SendAll(client, "220 go ahead\r\nthis is not TLS\r\n");
          open = false;
        } else if (verb.rfind("QUIT", 0) == 0) {
          gwtest::SendAll(client, "221 bye\r\n");
          open = false;
        } else {
          gwtest::SendAll(client, "250 ok\r\n");
        }
      }
      close(client);
    }
  };
  std::thread twice(serve, 2);
  gw::Status opportunistic =
      gw::ProbeMail(server.endpoint(), "a@acme.example", std::chrono::seconds(2));
  twice.join();
  EXPECT_TRUE(opportunistic.ok()) << opportunistic.message();
  std::thread once(serve, 1);
  gw::Status required =
      gw::ProbeMail(server.endpoint(), "a@acme.example", std::chrono::seconds(2), nullptr, true);
  once.join();
  EXPECT_EQ(required.code(), gw::StatusCode::kUnavailable) << required.message();
}

// A partner reads probe results (GET /v1/continuity): a destination pointed at another
// kind of service must not hand them its banner, nor a server its free text.
TEST(SmtpClientTest, AReplyIsReportedByItsCodesNeverItsText) {
  for (const auto& [greeting, expected] : std::vector<std::pair<std::string, std::string>>{
           {"* OK [CAPABILITY IMAP4rev1] internal-mailstore-3.corp.lan Dovecot ready.\r\n",
            "answered something that is not an SMTP reply to the greeting"},
           {"554 5.7.1 mx.internal.corp.lan refuses you\r\n", "answered 554 5.7.1 to the greeting"},
           {"421 internal-host busy\r\n", "answered 421 to the greeting"}}) {
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in at = gwtest::Loopback();
    socklen_t length = sizeof at;
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
    ASSERT_EQ(listen(listener, 1), 0);
    getsockname(listener, reinterpret_cast<sockaddr*>(&at), &length);
    std::thread server([listener, greeting = greeting] {
      int client = accept(listener, nullptr, nullptr);
      gwtest::SendAll(client, greeting);
      gwtest::ReadFor(client, std::chrono::milliseconds(300));
      close(client);
    });
    gw::Status probed =
        gw::ProbeMail({"127.0.0.1", ntohs(at.sin_port)}, "a@acme.example", std::chrono::seconds(2));
    server.join();
    close(listener);
    EXPECT_FALSE(probed.ok());
    EXPECT_THAT(probed.message(), HasSubstr(expected));
    EXPECT_THAT(probed.message(), ::testing::Not(HasSubstr("internal")));
  }
}

}  // namespace
