// LDAP sync benchmark: a real slapd holding N Active Directory shaped users (default
// 20,000) that caps pages at 1,000, read by gwctl's LDAP source: the search alone, the
// mapping to users, and then `gwctl apply` (the first sync) and `gwctl plan` (nothing
// changed) of a customer whose users all come from that directory, on an embedded store.
//   ldap_bench [--entries N] [--runs N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "directory_users.h"
#include "ldap_search.h"
#include "slapd_fixture.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

std::string Directory(long entries) {
  std::string ldif;
  ldif.reserve(static_cast<size_t>(entries) * 400);
  for (long i = 0; i < entries; ++i) {
    std::string uid = fmt::format("user{:06}", i);
    std::string extra = fmt::format(
        "userAccountControl: {}\nproxyAddresses: SMTP:{}@corp.example\n"
        "proxyAddresses: smtp:{}@corp-alias.example\nproxyAddresses: X500:/o=Corp/cn={}\n",
        i % 50 == 0 ? 514 : 512, uid, uid, uid);
    ldif += gwtest::PersonLdif(uid, uid + "@corp.example", extra, "user");
  }
  return ldif;
}

}  // namespace

int main(int argc, char** argv) {
  long entries = 20000;
  int runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--entries")) entries = std::atol(argv[i + 1]);
    if (!std::strcmp(argv[i], "--runs")) runs = std::atoi(argv[i + 1]);
  }
  auto setup = Clock::now();
  gwtest::Slapd slapd(
      {.people_ldif = Directory(entries), .active_directory_schema = true, .size_limit = 1000});
  if (!slapd.started()) {
    std::fprintf(stderr, "slapd did not start:\n%s\n", slapd.log().c_str());
    return 1;
  }
  std::printf("slapd loaded with %ld entries in %.2f s\n", entries, Seconds(setup));

  gwctl::LdapSource source =
      gwctl::LdapSource::FromJson({{"url", slapd.url()},
                                   {"directory", "active-directory"},
                                   {"bindDN", gwtest::Slapd::kBindDn},
                                   {"baseDN", std::string("ou=people,") + gwtest::Slapd::kSuffix},
                                   {"filter", "(&(objectClass=user)(mail=*))"}});
  std::vector<double> search_times, map_times;
  size_t users = 0, pages = 0;
  for (int run = 0; run < runs; ++run) {
    auto started = Clock::now();
    auto found = gwctl::SearchDirectory(source, gwtest::Slapd::kBindPassword);
    if (!found.ok()) {
      std::fprintf(stderr, "search failed: %s\n", found.status().message().c_str());
      return 1;
    }
    search_times.push_back(Seconds(started));
    pages = found->pages;
    started = Clock::now();
    auto mapping =
        gwctl::MapDirectoryEntries(found->entries, source, {"corp.example", "corp-alias.example"});
    map_times.push_back(Seconds(started));
    users = mapping.users.size();
  }
  std::printf("search: %ld entries in %zu pages, median %.3f s of %d runs (%.0f entries/s)\n",
              entries, pages, Median(search_times), runs, entries / Median(search_times));
  std::printf("mapping to users: %zu users (disabled skipped), median %.3f s\n", users,
              Median(map_times));

  // End to end through the gwctl binary, on an embedded store.
  auto repo = gwtest::MakeTempDir("ldap-bench");
  std::ofstream(repo / "gwctl.yaml")
      << "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: bench}\nspec: {}\n";
  std::filesystem::create_directories(repo / "customers");
  std::ofstream(repo / "customers/corp.yaml") << fmt::format(
      "apiVersion: gwctl/v1\nkind: Customer\nmetadata: {{name: corp}}\nspec:\n"
      "  product: ultimate-defense\n  billableUsers: {}\n"
      "  domains: {{primary: corp.example, aliases: [corp-alias.example]}}\n"
      "  destinations: mail.corp.example\n  users:\n    ldap:\n"
      "      - url: {}\n        insecure: true\n        directory: active-directory\n        "
      "bindDN: {}\n"
      "        bindPasswordRef: env:GWCTL_SECRET_BENCH_LDAP_PASSWORD\n        baseDN: "
      "ou=people,{}\n"
      "        filter: (&(objectClass=user)(mail=*))\n        minUsers: 100\n",
      entries, slapd.url(), gwtest::Slapd::kBindDn, gwtest::Slapd::kSuffix);
  setenv("GWCTL_SECRET_BENCH_LDAP_PASSWORD", gwtest::Slapd::kBindPassword, 1);
  std::string common = fmt::format("'{}' --gateway 'embedded:{}' > /dev/null", repo.string(),
                                   (repo / "gateway.db").string());
  auto started = Clock::now();
  int status = std::system(fmt::format("'{}' apply --yes {}", GWCTL_BINARY, common).c_str());
  double apply_time = Seconds(started);
  std::vector<double> plan_times;
  for (int run = 0; run < runs && status == 0; ++run) {
    started = Clock::now();
    status = std::system(fmt::format("'{}' plan {}", GWCTL_BINARY, common).c_str());
    plan_times.push_back(Seconds(started));
  }
  std::filesystem::remove_all(repo);
  if (status != 0) {
    std::fprintf(stderr, "gwctl failed (status %d)\n", status);
    return 1;
  }
  std::printf("gwctl apply, first sync of %zu users: %.2f s\n", users, apply_time);
  std::printf("gwctl plan, directory unchanged: median %.2f s of %d runs\n", Median(plan_times),
              runs);
  return 0;
}
