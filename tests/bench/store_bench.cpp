// The store benchmark: one generated partner repository (10,000 customers and 1,000,000
// users by default) applied and planned with gwctl over HTTP, on gatewayd with its SQLite
// store, with a PostgreSQL store, and as two replicas on one PostgreSQL (applied through
// one, planned through the other); then socketmap lookups per second on one replica and
// on both at once.
//   store_bench [--customers N] [--users N] [--seconds S] [--connections N]
// Needs root (PostgreSQL runs as its own user). Numbers go to stdout.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "gatewayd_fixture.h"
#include "lookup_load.h"
#include "postgres_fixture.h"
#include "process.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr const char* kPartner = "bench-msp";  // the generated repository's partner

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "store_bench: %s\n", message.c_str());
  std::exit(1);
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Runs gwctl `verb` on the repository through `gateway`; dies unless it exits `expected`.
double TimedGwctl(const std::string& label, const std::string& verb, const fs::path& repo,
                  const gwtest::Gatewayd& gateway, int expected) {
  std::vector<std::string> argv = {GWCTL_BINARY, verb, repo.string(), "--gateway", gateway.url()};
  if (verb == "apply") argv.push_back("--yes");
  auto started = Clock::now();
  gwtest::ChildProcess gwctl(argv);
  int code = gwctl.Wait();
  double took = Seconds(started);
  if (code != expected)
    Die(fmt::format("{}: gwctl {} exited {} (expected {}):\n{}", label, verb, code, expected,
                    gwctl.output()));
  std::printf("  %-30s %8.1f s\n", (label + " " + verb).c_str(), took);
  std::fflush(stdout);
  return took;
}

std::unique_ptr<gwtest::Gatewayd> StartGatewayd(const std::vector<std::string>& store_args) {
  std::vector<std::string> args = {"--socketmap", "127.0.0.1:0", "--lookup-threads", "2"};
  args.insert(args.end(), store_args.begin(), store_args.end());
  auto gatewayd = std::make_unique<gwtest::Gatewayd>(std::vector<std::string>{kPartner}, args);
  if (!gatewayd->started()) Die("gatewayd did not start: " + gatewayd->process().output());
  auto ops = gatewayd->Client(gwtest::Gatewayd::kOperatorToken);
  if (gw::Status s = ops->EnsurePartner(kPartner); !s.ok()) Die(s.message());
  return gatewayd;
}

int SocketmapPort(gwtest::Gatewayd& gatewayd) {
  const std::string& log = gatewayd.process().output();
  size_t at = log.find("socketmap on ");
  if (at == std::string::npos) Die("gatewayd did not say where its socketmap is");
  return gwtest::PortOf(log.substr(at, log.find('\n', at) - at));
}

}  // namespace

int main(int argc, char** argv) {
  long customers = 10'000, users = 1'000'000;
  double seconds = 5;
  int connections = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--customers")
      customers = std::stol(value);
    else if (flag == "--users")
      users = std::stol(value);
    else if (flag == "--seconds")
      seconds = std::stod(value);
    else if (flag == "--connections")
      connections = std::stoi(value);
    else
      Die("unknown flag " + flag);
  }
  if (std::string missing = gwtest::PostgresMissing(); !missing.empty()) Die(missing);
  fs::path dir = gwtest::MakeTempDir("store-bench");
  fs::path repo = dir / "repo";
  auto generated = gwtest::RunCommand(fmt::format(
      "{} {} --customers {} --users {}", GENERATOR_BINARY, repo.string(), customers, users));
  if (generated.exit_code != 0) Die(generated.output);
  std::printf("repository: %ld customers, %ld users; gwctl over HTTP on loopback\n", customers,
              users);
  setenv("GWCTL_TOKEN", gwtest::Gatewayd::PartnerToken(kPartner).c_str(), 1);

  {
    auto sqlite = StartGatewayd({});
    TimedGwctl("sqlite", "apply", repo, *sqlite, 0);
    TimedGwctl("sqlite", "plan", repo, *sqlite, 0);
  }
  {
    gwtest::Postgres postgres;
    if (!postgres.problem().empty()) Die(postgres.problem());
    auto one = StartGatewayd({"--store", postgres.url()});
    TimedGwctl("postgres", "apply", repo, *one, 0);
    TimedGwctl("postgres", "plan", repo, *one, 0);
  }
  gwtest::Postgres postgres;
  if (!postgres.problem().empty()) Die(postgres.problem());
  auto a = StartGatewayd({"--store", postgres.url(), "--replica", "a"});
  auto b = StartGatewayd({"--store", postgres.url(), "--replica", "b"});
  TimedGwctl("two replicas: A", "apply", repo, *a, 0);
  TimedGwctl("two replicas: B", "plan", repo, *b, 0);

  // Users as the generator names them (about 9% of the asks are unknown addresses).
  long per_customer = std::max(1L, users / customers);
  const char* first[] = {"alice", "bob",   "carol", "dave", "erin",
                         "frank", "grace", "heidi", "ivan", "judy"};
  const char* last[] = {"smith", "jones", "brown", "taylor", "wilson", "davies", "evans", "thomas"};
  auto ask = [&](std::mt19937& random) {
    long c = static_cast<long>(random() % customers);
    long u = static_cast<long>(random() % (per_customer + per_customer / 10));
    std::string address =
        fmt::format("{}.{}{}@c{:05d}.example", first[u % 10], last[(u / 10) % 8], u, c);
    std::string request = "recipients " + address;
    return fmt::format("{}:{},", request.size(), request);
  };
  auto done = [](const std::string& reply) { return !reply.empty() && reply.back() == ','; };
  std::printf("socketmap recipient lookups, %d connections, %.0f s (2 lookup threads each):\n",
              connections, seconds);
  gwbench::Report("one replica", gwbench::Load(SocketmapPort(*a), connections, seconds, ask, done));
  gwbench::LoadResult on_a, on_b;
  std::thread load_a(
      [&] { on_a = gwbench::Load(SocketmapPort(*a), connections / 2, seconds, ask, done); });
  on_b = gwbench::Load(SocketmapPort(*b), connections - connections / 2, seconds, ask, done);
  load_a.join();
  gwbench::Report("two replicas: A", on_a);
  gwbench::Report("two replicas: B", on_b);
  std::printf("%-28s %9.0f lookups/s\n", "two replicas together",
              on_a.requests / on_a.seconds + on_b.requests / on_b.seconds);
  std::printf("(on one %u-core machine both replicas share its cores)\n",
              std::thread::hardware_concurrency());
  a.reset();
  b.reset();
  fs::remove_all(dir);
  return 0;
}
