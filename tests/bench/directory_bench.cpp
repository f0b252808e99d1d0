// Directory sync benchmark: gwctl reading Microsoft 365 tenants from the fake Graph
// (tests/support/fake_graph.h, over TLS on loopback) into an embedded gateway.
//   directory_bench [--tenants N] [--users N]
// Reports, for the initial sync (every tenant read in full and applied) and for a plan
// in which nothing changed (delta reads): wall time, gwctl's peak memory and the Graph
// requests made. Numbers go to stdout.
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fake_graph.h"
#include "gatewayd_fixture.h"
#include "test_ca.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

struct Run {
  int exit_code = -1;
  double seconds = 0;
  long peak_rss_mib = 0;
};

// Runs `command` under /usr/bin/time for its own peak memory (measuring from here would
// count this process's fakes, shared with a forked child until it execs).
Run Measure(const std::string& command, const fs::path& rss_file) {
  auto started = Clock::now();
  int status = std::system(
      fmt::format("/usr/bin/time -f %M -o '{}' {}", rss_file.string(), command).c_str());
  Run run;
  run.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(rss_file);
  long kib = 0;
  in >> kib;
  run.peak_rss_mib = kib / 1024;
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  int tenants = 10, users = 50'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--tenants")
      tenants = std::stoi(argv[i + 1]);
    else if (flag == "--users")
      users = std::stoi(argv[i + 1]);
  }
  fs::path dir = gwtest::MakeTempDir("directory-bench");
  gwtest::TestCa ca(dir);
  gwtest::FakeGraph::Options options;
  options.tenant = "tenant0.onmicrosoft.com";
  gwtest::FakeGraph graph(ca, options);
  auto started = Clock::now();
  fs::create_directories(dir / "repo" / "customers");
  std::ofstream(dir / "repo" / "gwctl.yaml")
      << "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: bench}\nspec: {}\n";
  for (int t = 0; t < tenants; ++t) {
    std::string tenant = fmt::format("tenant{}.onmicrosoft.com", t);
    if (t > 0) graph.AddTenant(tenant, options.client_id, options.secret);
    for (int n = 0; n < users; ++n) {
      graph.PutUser(tenant, {{"id", fmt::format("{}-{:07}", t, n)},
                             {"userPrincipalName", fmt::format("user{}@t{}.example", n, t)},
                             {"mail", fmt::format("user{}@t{}.example", n, t)},
                             {"accountEnabled", true},
                             {"assignedLicenses", json::array({{{"skuId", "e3"}}})},
                             {"proxyAddresses",
                              {fmt::format("SMTP:user{}@t{}.example", n, t),
                               fmt::format("smtp:u{}@t{}.example", n, t),
                               fmt::format("smtp:user{}@{}", n, tenant)}}});
    }
    std::ofstream(dir / "repo" / "customers" / fmt::format("c{}.yaml", t)) << fmt::format(
        R"(apiVersion: gwctl/v1
kind: Customer
metadata: {{name: c{0}}}
spec:
  product: ultimate-defense
  billableUsers: {1}
  domains: {{primary: t{0}.example}}
  destinations: [{{host: mail.t{0}.example}}]
  users:
    microsoft365:
      - tenant: {2}
        clientId: {3}
        clientSecretRef: env:GWCTL_SECRET_BENCH_GRAPH
        groups: false
        minUsers: 1
)",
        t, users * 2, tenant, options.client_id);
  }
  std::printf("fake Graph: %d tenants x %d users ready in %.1f s\n", tenants, users,
              std::chrono::duration<double>(Clock::now() - started).count());
  setenv("GWCTL_MICROSOFT_LOGIN_URL", graph.url().c_str(), 1);
  setenv("GWCTL_MICROSOFT_GRAPH_URL", graph.url().c_str(), 1);
  setenv("SSL_CERT_FILE", ca.ca_file().c_str(), 1);
  setenv("GWCTL_SECRET_BENCH_GRAPH", options.secret.c_str(), 1);
  auto step = [&](const char* what, const std::string& arguments, int expected, bool cache = true) {
    graph.ClearRequests();
    Run run = Measure(
        fmt::format("'{}' {} '{}' --gateway 'embedded:{}' {} >'{}' 2>&1", GWCTL_BINARY, arguments,
                    (dir / "repo").string(), (dir / "gateway.db").string(),
                    cache ? "--directory-cache '" + (dir / "cache").string() + "'" : std::string(),
                    (dir / "out.txt").string()),
        dir / "rss.txt");
    size_t requests = graph.requests().size();
    std::printf("%-42s %7.1f s  peak RSS %5ld MiB  %6zu Graph requests  (exit %d)\n", what,
                run.seconds, run.peak_rss_mib, requests, run.exit_code);
    std::fflush(stdout);
    if (run.exit_code != expected) {
      std::ifstream in(dir / "out.txt");
      std::printf("%s\n", std::string(std::istreambuf_iterator<char>(in), {}).c_str());
      std::exit(1);
    }
  };
  step("initial sync (full reads, apply)", "apply --yes", 0);
  step("plan, nothing changed (delta reads)", "plan", 0);
  step("plan, no cache (full reads)", "plan", 0, /*cache=*/false);
  // What the same plan costs without asking any directory (their users kept as they are).
  step("plan --no-directories (the floor)", "plan --no-directories", 0, /*cache=*/false);
  fs::remove_all(dir);
  return 0;
}
