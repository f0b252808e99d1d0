// Test support: a fresh gateway on each GatewayClient transport, for tests that must hold
// on every one. A new transport is one more name in kTransportNames and one more branch in
// TestGateway's constructor; every parameterised suite then runs on it.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gatewayd_fixture.h"
#include "postgres_fixture.h"

namespace gwtest {

inline const std::vector<std::string> kTransportNames = {"embedded", "http"};

// For INSTANTIATE_TEST_SUITE_P(Transports, Suite, TransportValues(), TransportTestName).
inline auto TransportValues() {
  return ::testing::ValuesIn(kTransportNames);
}
// The transports over PostgreSQL (the engine in-process, and gatewayd --store); each
// test on them starts its own server and skips without root.
inline auto PostgresTransportValues() {
  return ::testing::Values("postgres", "http_postgres");
}
inline std::string TransportTestName(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

// Empty when `transport` can run here; otherwise why a test on it must skip.
inline std::string TransportMissing(const std::string& transport) {
  return transport == "postgres" || transport == "http_postgres" ? PostgresMissing() : "";
}

class TestGateway {
 public:
  // `store` is where an embedded gateway keeps its store; `partners` exist afterwards.
  TestGateway(const std::string& transport, const std::filesystem::path& store,
              const std::vector<std::string>& partners) {
    if (transport == "embedded") {
      url_ = "embedded:" + store.string();
      store_ = store.string();
    } else if (transport == "postgres") {
      // The engine in-process over a PostgreSQL of the test's own (needs root: see
      // TransportMissing).
      postgres_ = std::make_unique<Postgres>();
      if (!postgres_->problem().empty()) return;
      url_ = "embedded:" + postgres_->url();
      store_ = postgres_->url();
    } else {
      std::vector<std::string> args;
      if (transport == "http_postgres") {  // gatewayd --store postgres://...
        postgres_ = std::make_unique<Postgres>();
        if (!postgres_->problem().empty()) return;
        args = {"--store", postgres_->url()};
      }
      gatewayd_ = std::make_unique<Gatewayd>(partners, args);
      if (!gatewayd_->started()) return;
      url_ = gatewayd_->url();
      store_ = postgres_ ? postgres_->url() : gatewayd_->store_path();
    }
    auto ops = Operator();
    for (const auto& partner : partners) {
      if (!ops || !ops->EnsurePartner(partner).ok()) return;
    }
    ready_ = true;
  }

  // Whether the gateway runs and holds the partners.
  bool ready() const { return ready_; }
  // What gwctl's --gateway takes.
  const std::string& url() const { return url_; }
  bool embedded() const { return !gatewayd_; }
  // Where the gateway keeps its store: a SQLite file, or a postgres:// URL.
  const std::string& store() const { return store_; }
  Gatewayd* gatewayd() { return gatewayd_.get(); }

  // The token gwctl needs for `partner` ($GWCTL_TOKEN); empty when embedded.
  std::string Token(const std::string& partner) const {
    return gatewayd_ ? Gatewayd::PartnerToken(partner) : "";
  }
  // Sets $GWCTL_TOKEN for gwctl processes acting as `partner`.
  void ExportToken(const std::string& partner) const {
    setenv("GWCTL_TOKEN", Token(partner).c_str(), 1);
  }

  // A client acting as `partner` (in-process: the local operator, who sees every partner).
  std::unique_ptr<gw::GatewayClient> Client(const std::string& partner) const {
    return Connect(Token(partner));
  }
  std::unique_ptr<gw::GatewayClient> Operator() const {
    return Connect(gatewayd_ ? Gatewayd::kOperatorToken : "");
  }

 private:
  std::unique_ptr<gw::GatewayClient> Connect(const std::string& token) const {
    gw::ClientOptions options;
    options.token = token;
    options.request_timeout = std::chrono::seconds(30);
    auto client = gw::ConnectGateway(url_, options);
    EXPECT_TRUE(client.ok()) << client.status().message();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  std::unique_ptr<Postgres> postgres_;
  std::unique_ptr<Gatewayd> gatewayd_;
  std::string url_;
  std::string store_;
  bool ready_ = false;
};

}  // namespace gwtest
