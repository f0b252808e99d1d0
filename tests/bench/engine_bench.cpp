// Engine benchmark: user write throughput in batches, customer writes, and the time to
// take a partner's state snapshot with 5,000 customers and 200,000 users; embedded and
// over HTTP to a real gatewayd on loopback.
//   engine_bench [--customers N] [--users N] [--batch N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include <thread>

#include "gateway/continuity_monitor.h"
#include "gateway/service.h"
#include "gatewayd_fixture.h"
#include "hostile_clients.h"
#include "loopback.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Each customer relays from its own address: relay sources may not overlap.
gw::CustomerWrite Write(const std::string& name, long index) {
  gw::CustomerWrite w;
  w.owner = "gwctl:bench";
  w.spec = {
      {"product", "ultimate-access"},
      {"billableUsers", 40},
      {"domains", {{"primary", name + ".example"}, {"aliases", {name + "-corp.example"}}}},
      {"destinations", {{{"host", "mail." + name + ".example"}, {"port", 25}, {"preference", 10}}}},
      {"outboundRelay",
       {{"enabled", true},
        {"sources",
         {fmt::format("44.{}.{}.{}", index >> 16 & 255, index >> 8 & 255, index & 255)}}}},
      {"filtering",
       {{"level", "premium"},
        {"contentFilter", {{"maxMessageSize", "50MiB"}}},
        {"spamReport",
         {{"enabled", true},
          {"days", {"mon", "tue", "wed", "thu", "fri"}},
          {"times", {"08:00", "13:00"}},
          {"timezone", "Europe/London"}}}}},
      {"continuity", {{"enabled", true}, {"retention", "90d"}}}};
  return w;
}

void Run(const std::string& label, gw::GatewayClient& client, long customers, long users,
         long batch_size) {
  if (gw::Status s = client.EnsurePartner("bench");
      !s.ok() && s.code() != gw::StatusCode::kPermissionDenied) {
    std::fprintf(stderr, "cannot create partner\n");
    std::exit(1);
  }
  auto started = Clock::now();
  for (long c = 0; c < customers; ++c) {
    std::string name = fmt::format("c{:05d}", c);
    auto put = client.PutCustomer("bench", name, Write(name, c), gw::WriteCondition::CreateOnly());
    if (!put.ok()) {
      std::fprintf(stderr, "%s\n", put.status().message().c_str());
      std::exit(1);
    }
  }
  double customer_seconds = Seconds(started);
  std::printf("%-9s customers: %ld created in %.2f s (%.0f/s)\n", label.c_str(), customers,
              customer_seconds, customers / customer_seconds);

  // Users go to customers in batches, as gwctl apply sends them.
  long per_customer = users / customers;
  started = Clock::now();
  long written = 0;
  gw::UserBatch batch;
  auto flush = [&](const std::string& customer) {
    if (batch.upsert.empty()) return;
    auto result = client.BatchUsers("bench", customer, batch);
    if (!result.ok()) {
      std::fprintf(stderr, "%s\n", result.status().message().c_str());
      std::exit(1);
    }
    written += static_cast<long>(batch.upsert.size());
    batch.upsert.clear();
  };
  for (long c = 0; c < customers; ++c) {
    std::string name = fmt::format("c{:05d}", c);
    for (long u = 0; u < per_customer; ++u) {
      gw::User user;
      user.address = fmt::format("user{}@{}.example", u, name);
      user.first_name = "First";
      user.last_name = "Last";
      user.source = "csv";
      batch.upsert.push_back(std::move(user));
      if (static_cast<long>(batch.upsert.size()) == batch_size) flush(name);
    }
    flush(name);
  }
  double user_seconds = Seconds(started);
  std::printf(
      "%-9s users: %ld written in %.2f s (%.0f users/s, batches of up to %ld per customer)\n",
      label.c_str(), written, user_seconds, written / user_seconds, batch_size);

  // One big batch to one customer: the throughput of the batch path itself.
  gw::UserBatch big;
  for (long u = 0; u < 50000; ++u) {
    gw::User user;
    user.address = fmt::format("bulk{}@c00000.example", u);
    big.upsert.push_back(std::move(user));
  }
  started = Clock::now();
  auto bulk = client.BatchUsers("bench", "c00000", big);
  double bulk_seconds = Seconds(started);
  if (!bulk.ok()) std::fprintf(stderr, "%s\n", bulk.status().message().c_str());
  std::printf("%-9s one 50,000-user batch: %.2f s (%.0f users/s)\n", label.c_str(), bulk_seconds,
              50000 / bulk_seconds);

  for (int i = 0; i < 3; ++i) {
    started = Clock::now();
    auto state = client.GetState("bench");
    double snapshot_seconds = Seconds(started);
    std::printf("%-9s state snapshot: %zu customers in %.3f s\n", label.c_str(),
                state.ok() ? state->customers.size() : 0, snapshot_seconds);
  }
  // The full state with users: the snapshot, then every customer's users page by page.
  started = Clock::now();
  auto state = client.GetState("bench");
  size_t users_read = 0;
  for (const auto& customer : state->customers) {
    auto read = gw::ListAllUsers(client, "bench", customer.name);
    if (read.ok()) users_read += read->size();
  }
  std::printf("%-9s full state with users: %zu customers and %zu users in %.2f s\n", label.c_str(),
              state->customers.size(), users_read, Seconds(started));
}

}  // namespace

// One continuity probe round over `customers` whose servers refuse connections (a closed
// loopback port), and over `silent` ones whose server accepts and never answers: the time
// until every one of them is in continuity (down after one failed round).
void ContinuityRound(const std::filesystem::path& dir, long customers, long silent) {
  std::string db = (dir / fmt::format("continuity-{}-{}.db", customers, silent)).string();
  auto service = std::move(gw::Service::Open(db)).value();
  service->PutPartner(gw::Actor::Local(), "bench");
  int closed = gwtest::PickFreePort();
  gwtest::SilentListener quiet;
  for (long c = 0; c < customers + silent; ++c) {
    std::string name = fmt::format("k{:05d}", c);
    gw::CustomerWrite w;
    w.spec = {{"product", "ultimate-access"},
              {"billableUsers", 1},
              {"domains", {{"primary", name + ".example"}}},
              {"destinations", fmt::format("127.0.0.1:{}", c < customers ? closed : quiet.port())},
              {"continuity", {{"enabled", true}}}};
    if (!service
             ->PutCustomer(gw::Actor::Local(), "bench", name, w, gw::WriteCondition::CreateOnly())
             .ok()) {
      std::fprintf(stderr, "cannot create %s\n", name.c_str());
      std::exit(1);
    }
  }
  auto feed =
      std::move(gw::MailDirectoryFeed::Start(std::move(gw::OpenSqliteStore(db)).value())).value();
  gw::ContinuityRouting routing({"127.0.0.1", 10026});
  gw::ContinuityMonitorOptions options;
  options.down_after = 1;
  options.probe_interval = std::chrono::hours(1);
  options.probe_timeout = std::chrono::seconds(1);
  size_t concurrency = options.probe_concurrency;
  auto started = Clock::now();
  auto monitor = gw::ContinuityMonitor::Start(*feed, routing, std::move(options));
  while (routing.Entries().size() < static_cast<size_t>(customers + silent))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::printf(
      "continuity: one probe round, %ld refusing + %ld silent servers (1 s timeout, %zu at "
      "once): %.2f s\n",
      customers, silent, concurrency, Seconds(started));
}

int main(int argc, char** argv) {
  long customers = 5000, users = 200000, batch = 10000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--customers") customers = std::atol(argv[i + 1]);
    if (flag == "--users") users = std::atol(argv[i + 1]);
    if (flag == "--batch") batch = std::atol(argv[i + 1]);
  }
  auto dir = gwtest::MakeTempDir("engine-bench");
  ContinuityRound(dir, customers, 0);
  ContinuityRound(dir, 0, 256);
  {
    auto embedded =
        std::move(gw::ConnectGateway("embedded:" + (dir / "embedded.db").string())).value();
    Run("embedded", *embedded, customers, users, batch);
  }
  {
    // The spam report pass gatewayd runs every minute, over the same store: every customer
    // sends reports; the first pass reads all settings, later ones only what changed.
    gw::ServiceOptions options;
    options.send_mail = [](const std::string&, const std::vector<std::string>&,
                           const std::string&) { return gw::Status::Ok(); };
    auto service = std::move(gw::Service::Open((dir / "embedded.db").string(), options)).value();
    double pass_ms[2];
    for (double& ms : pass_ms) {
      auto started = Clock::now();
      auto run = service->RunSpamReports(gw::Actor::Local(), std::chrono::system_clock::now());
      if (!run.ok()) {
        std::fprintf(stderr, "spam reports: %s\n", run.status().message().c_str());
        return 1;
      }
      ms = Seconds(started) * 1000;
    }
    std::printf("spam reports: a pass over %ld customers: first %.0f ms, then %.0f ms\n", customers,
                pass_ms[0], pass_ms[1]);
  }
  {
    gwtest::Gatewayd gatewayd({"bench"});
    if (!gatewayd.started()) {
      std::fprintf(stderr, "gatewayd did not start\n");
      return 1;
    }
    gatewayd.Client(gwtest::Gatewayd::kOperatorToken)->EnsurePartner("bench");
    auto http = gatewayd.Client(gwtest::Gatewayd::PartnerToken("bench"));
    Run("http", *http, customers, users, batch);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
