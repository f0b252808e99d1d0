// `ninja bench-dns`: domain verification at scale against a real nsd on loopback. N
// customers (default 5,000) each claim one domain; the zone publishes every claim's
// record. Timed: one verification round (every TXT question, then every check recorded
// in one transaction), the mail directory's refresh that follows, and the MX and SPF
// checks of all N domains that `gwctl plan --check-dns` makes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "gateway/dns_checks.h"
#include "gateway/domain_verifier.h"
#include "gateway/mail_directory_feed.h"
#include "gateway/service.h"
#include "nsd_fixture.h"

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int Fail(const std::string& why) {
  std::fprintf(stderr, "bench-dns: %s\n", why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int customers = argc > 1 ? std::atoi(argv[1]) : 5000;
  if (std::string missing = gwtest::NsdMissing(); !missing.empty()) return Fail(missing);
  auto dir = gwtest::MakeTempDir("bench-dns");
  std::string store = (dir / "gateway.db").string();
  gw::ServiceOptions options;
  options.verify_domains = true;
  auto service = gw::Service::Open(store, options);
  if (!service.ok()) return Fail(service.status().message());
  gw::Actor local = gw::Actor::Local();
  if (gw::Status s = (*service)->PutPartner(local, "northwind"); !s.ok()) return Fail(s.message());
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < customers; ++i) {
    gw::CustomerWrite w;
    std::string domain = fmt::format("d{}.bench.example", i);
    w.spec = {{"product", "ultimate-defense"},
              {"billableUsers", 1},
              {"domains", {{"primary", domain}}},
              {"destinations", "mx." + domain},
              {"outboundRelay",
               {{"enabled", true}, {"sources", {fmt::format("10.{}.{}.1", i / 250, i % 250)}}}}};
    auto put = (*service)->PutCustomer(local, "northwind", fmt::format("c{}", i), w,
                                       gw::WriteCondition::CreateOnly());
    if (!put.ok()) return Fail(put.status().message());
  }
  std::printf("%d customers written, each claiming a domain: %.2f s\n", customers,
              SecondsSince(started));

  auto pending = (*service)->ListDomainClaims(local, "northwind", "", true);
  if (!pending.ok()) return Fail(pending.status().message());
  std::string zone;
  for (const auto& claim : *pending) {
    std::string name = claim.domain.substr(0, claim.domain.find('.'));
    zone += fmt::format(
        "{0} IN MX 10 mx1.gw.test.\n{0} IN TXT \"v=spf1 include:spf.gw.test ~all\"\n"
        "{0} IN TXT \"{1}\"\n",
        name, claim.record());
  }
  gwtest::Nsd nsd({{"bench.example", zone}});
  if (!nsd.started()) return Fail("nsd did not start: " + nsd.log());

  auto feed_store = gw::OpenStore(store);
  if (!feed_store.ok()) return Fail(feed_store.status().message());
  auto feed = gw::MailDirectoryFeed::Start(std::move(*feed_store));
  if (!feed.ok()) return Fail(feed.status().message());
  std::printf("mail directory before: %zu domains take mail\n", (*feed)->current()->domain_count());

  gw::DnsResolverOptions dns;
  dns.servers = {nsd.endpoint()};
  auto resolver = gw::DnsResolver::Create(dns);
  if (!resolver.ok()) return Fail(resolver.status().message());
  started = std::chrono::steady_clock::now();
  std::vector<gw::DomainCheck> checks = gw::CheckClaims(**resolver, *pending);
  double resolve = SecondsSince(started);
  auto checked = std::chrono::steady_clock::now();
  auto recorded = (*service)->RecordDomainChecks(local, checks);
  if (!recorded.ok()) return Fail(recorded.status().message());
  double record = SecondsSince(checked);
  size_t verified = std::count_if(recorded->begin(), recorded->end(),
                                  [](const gw::DomainClaim& c) { return c.verified(); });
  std::printf(
      "verification round: %zu TXT questions %.2f s, %zu checks recorded %.2f s; %zu "
      "verified\n",
      checks.size(), resolve, recorded->size(), record, verified);
  started = std::chrono::steady_clock::now();
  if (gw::Status s = (*feed)->Refresh(); !s.ok()) return Fail(s.message());
  std::printf("mail directory refresh after it: %.2f s; %zu domains take mail\n",
              SecondsSince(started), (*feed)->current()->domain_count());

  std::vector<std::string> domains;
  for (const auto& claim : *pending) domains.push_back(claim.domain);
  started = std::chrono::steady_clock::now();
  auto reports = gw::CheckDomains(**resolver, domains, {"mx1.gw.test"}, "spf.gw.test");
  size_t reaching = std::count_if(reports.begin(), reports.end(), [](const auto& r) {
    return r.mx == gw::DomainDnsReport::Mx::kToGateway &&
           r.spf == gw::DomainDnsReport::Spf::kIncludesGateway;
  });
  std::printf(
      "MX and SPF checks of %zu domains (plan --check-dns): %.2f s; %zu reach the "
      "gateway\n",
      domains.size(), SecondsSince(started), reaching);
  feed->reset();
  service->reset();
  std::filesystem::remove_all(dir);
  return verified == pending->size() && reaching == domains.size() ? 0 : 1;
}
