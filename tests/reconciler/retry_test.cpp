// WithRetries and the HTTP client together against a gateway that is overloaded at
// first: 503 and 429 with Retry-After, then an answer; first from a stand-in server that
// only answers GET /state, then from gatewayd whose store another process keeps locked.
#include <httplib.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "gateway/client.h"
#include "gatewayd_fixture.h"
#include "gwctl/apply.h"
#include "store_lock.h"

namespace {

TEST(RetryTest, HonoursRetryAfterAndRetriesPassingFailures) {
  httplib::Server server;
  std::atomic<int> calls{0};
  server.Get("/v1/partners/p/state", [&](const httplib::Request&, httplib::Response& res) {
    int n = ++calls;
    if (n == 1) {
      res.status = 503;
      res.set_header("Retry-After", "1");
      res.set_content(R"({"error": {"code": "unavailable", "message": "busy"}})",
                      "application/json");
    } else if (n == 2) {
      res.status = 429;
      res.set_header("Retry-After", "1");
      res.set_content(R"({"error": {"code": "internal", "message": "slow down"}})",
                      "application/json");
    } else {
      res.set_content(R"({"partner": "p", "revision": 7, "customers": []})", "application/json");
    }
  });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));

  auto client = std::move(gw::ConnectGateway("http://127.0.0.1:" + std::to_string(port))).value();
  auto started = std::chrono::steady_clock::now();
  gw::Result<gw::PartnerState> state = gw::Status(gw::StatusCode::kInternal, "not called");
  gw::Status status = gwctl::WithRetries(5, [&] {
    state = client->GetState("p");
    return state.status();
  });
  auto waited = std::chrono::steady_clock::now() - started;
  server.stop();
  serving.join();

  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(state->revision, 7);
  EXPECT_EQ(calls, 3);
  EXPECT_GE(waited, std::chrono::seconds(2));  // two Retry-After: 1, each honoured
}

TEST(RetryTest, AWriteWaitsOutAStoreAnotherProcessHoldsForAWhile) {
  gwtest::Gatewayd gatewayd({"northwind"}, {"--store-busy-timeout-ms", "200"});
  ASSERT_TRUE(gatewayd.started()) << gatewayd.process().output();
  ASSERT_TRUE(gatewayd.Client(gwtest::Gatewayd::kOperatorToken)->EnsurePartner("northwind").ok());
  auto client = gatewayd.Client(gwtest::Gatewayd::PartnerToken("northwind"));

  gwtest::StoreWriteLock lock(gatewayd.store_path());
  ASSERT_TRUE(lock.held());
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    lock.Release();
  });
  gw::CustomerWrite write;
  write.spec = {{"product", "ultimate-defense"},
                {"billableUsers", 1},
                {"domains", {{"primary", "acme.example"}}},
                {"destinations", "mx.acme.example"}};
  int calls = 0;
  auto started = std::chrono::steady_clock::now();
  gw::Status status = gwctl::WithRetries(5, [&] {
    ++calls;
    return client->PutCustomer("northwind", "acme", write, gw::WriteCondition::CreateOnly())
        .status();
  });
  auto waited = std::chrono::steady_clock::now() - started;
  releaser.join();
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_GE(calls, 2);
  EXPECT_GE(waited, std::chrono::milliseconds(1500));
  EXPECT_TRUE(client->GetCustomer("northwind", "acme").ok());
}

TEST(RetryTest, MistakesAreNotRetried) {
  int calls = 0;
  gw::Status status = gwctl::WithRetries(5, [&] {
    ++calls;
    return gw::Status::Invalid("bad");
  });
  EXPECT_EQ(status.code(), gw::StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 1);
}

TEST(RetryTest, AnUnreachableGatewayIsRetriedThenReported) {
  auto client = std::move(gw::ConnectGateway("http://127.0.0.1:9")).value();
  int calls = 0;
  gw::Status status = gwctl::WithRetries(3, [&] {
    ++calls;
    return client->GetState("p").status();
  });
  EXPECT_EQ(status.code(), gw::StatusCode::kUnavailable);
  EXPECT_EQ(calls, 3);
  EXPECT_NE(status.message().find("cannot reach gateway at http://127.0.0.1:9"), std::string::npos);
}

}  // namespace
