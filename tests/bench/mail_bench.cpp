// Mail data plane benchmark: gatewayd's Postfix lookups on a large store, and messages
// through a real Postfix asking gatewayd versus the same Postfix with static hash maps.
//   mail_bench [--customers N] [--users-per-customer N] [--seconds S] [--connections N]
//              [--messages N] [--skip-postfix]
// The Postfix part needs root (it is skipped, saying so, otherwise). Numbers go to stdout.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "gateway/access.h"
#include "gateway/service.h"
#include "gateway/tokens.h"
#include "hostile_clients.h"
#include "lookup_load.h"
#include "loopback.h"
#include "mail_fixture.h"
#include "process.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "mail_bench: %s\n", message.c_str());
  std::exit(1);
}

std::string CustomerName(long c) {
  return fmt::format("c{:05d}", c);
}
std::string UserAddress(long c, long u) {
  return fmt::format("user{}@{}.example", u, CustomerName(c));
}

// 10,000 customers, each with its own domain and an alias domain, delivering to
// `destination_port` on loopback; users in batches as gwctl sends them.
void BuildStore(const fs::path& store, long customers, long per_customer, int destination_port) {
  auto service = gw::Service::Open(store.string());
  if (!service.ok()) Die(service.status().message());
  gw::Actor actor = gw::Actor::Local();
  if (gw::Status s = (*service)->PutPartner(actor, "bench"); !s.ok()) Die(s.message());
  auto started = Clock::now();
  for (long c = 0; c < customers; ++c) {
    std::string name = CustomerName(c);
    gw::CustomerWrite write;
    write.spec = {
        {"product", "ultimate-access"},
        {"billableUsers", per_customer},
        {"domains", {{"primary", name + ".example"}, {"aliases", {name + "-corp.example"}}}},
        {"destinations", {{{"host", "127.0.0.1"}, {"port", destination_port}}}},
        {"filtering", {{"contentFilter", {{"maxMessageSize", "20MiB"}}}}},
        {"lists", {{"block", {{{"senderDomain", "spam.example"}}}}}},
        // The second half archives its mail: the filter's cost of archiving is the
        // difference between mail to the two halves.
        {"archiving", {{"enabled", c >= customers / 2}, {"retention", "30d"}}}};
    auto put =
        (*service)->PutCustomer(actor, "bench", name, write, gw::WriteCondition::CreateOnly());
    if (!put.ok()) Die(put.status().message());
    gw::UserBatch batch;
    for (long u = 0; u < per_customer; ++u) {
      gw::User user;
      user.address = UserAddress(c, u);
      user.source = "csv";
      batch.upsert.push_back(std::move(user));
    }
    auto added = (*service)->BatchUsers(actor, "bench", name, batch);
    if (!added.ok()) Die(added.status().message());
    if ((c + 1) % 1000 == 0) std::fprintf(stderr, "  %ld customers written\n", c + 1);
  }
  std::printf("store: %ld customers, %ld users written in %.1f s\n", customers,
              customers * per_customer, Seconds(started));
}

int PortAfter(const std::string& log, const std::string& what) {
  size_t at = log.find(what);
  if (at == std::string::npos) Die("gatewayd did not say where " + what);
  return gwtest::PortOf(log.substr(at, log.find('\n', at) - at));
}

// Sends `messages` through the instance at `smtp_port` with smtp-source (several senders
// at once, to users of different customers among `customers` from `first`) and waits for
// the queue to empty.
double MessagesPerSecond(const fs::path& etc, int smtp_port, long messages, long customers,
                         long first = 0) {
  const int senders = 4;
  auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s) {
    threads.emplace_back([&, s] {
      gwtest::RunCommand(fmt::format(
          "/usr/sbin/smtp-source -s 10 -m {} -l 2000 -f sender@ext.example -t {} 127.0.0.1:{}",
          messages / senders, UserAddress(first + (s * 7919) % customers, s), smtp_port));
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 6000; ++i) {
    auto queue = gwtest::RunCommand(fmt::format("/usr/sbin/postqueue -c {} -p", etc.string()));
    if (queue.output.find("Mail queue is empty") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return messages / Seconds(started);
}

}  // namespace

int main(int argc, char** argv) {
  long customers = 10'000, per_customer = 100, messages = 2'000;
  int connections = 8;
  double seconds = 5;
  bool skip_postfix = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--skip-postfix") {
      skip_postfix = true;
      continue;
    }
    if (i + 1 >= argc) Die(flag + " needs a value");
    std::string value = argv[++i];
    if (flag == "--customers")
      customers = std::stol(value);
    else if (flag == "--users-per-customer")
      per_customer = std::stol(value);
    else if (flag == "--seconds")
      seconds = std::stod(value);
    else if (flag == "--connections")
      connections = std::stoi(value);
    else if (flag == "--messages")
      messages = std::stol(value);
    else
      Die("unknown flag " + flag);
  }
  std::string missing = gwtest::MailPlaneMissing();
  bool with_postfix = !skip_postfix && missing.empty();
  fs::path dir = gwtest::MakeTempDir("mail-bench");
  fs::permissions(dir, fs::perms::others_exec, fs::perm_options::add);
  int sink_port = gwtest::PickFreePort();
  BuildStore(dir / "data" / "gateway.db", customers, per_customer, sink_port);

  // gw-milter's token (role filter): it keeps archived and quarantined mail.
  const std::string filter_token = "bench-filter-token";
  std::ofstream(dir / "tokens.yaml")
      << fmt::format("tokens:\n  - {{name: gw-milter, role: filter, sha256: \"{}\"}}\n",
                     gw::HashToken(filter_token));
  std::ofstream(dir / "milter-token") << filter_token << "\n";
  auto started = Clock::now();
  gwtest::ChildProcess gatewayd({GATEWAYD_BINARY, "--data", (dir / "data").string(), "--tokens",
                                 (dir / "tokens.yaml").string(), "--listen", "127.0.0.1:0",
                                 "--socketmap", "127.0.0.1:0", "--policy", "127.0.0.1:0",
                                 "--verify", "127.0.0.1:0", "--lookup-threads", "2"});
  if (!gatewayd.WaitForLine("listening on ", std::chrono::minutes(5))) Die(gatewayd.output());
  double startup = Seconds(started);
  std::string log = gatewayd.output();
  std::string admin_url = log.substr(log.find("listening on ") + 13);
  admin_url = admin_url.substr(0, admin_url.find_first_of("\n "));
  int socketmap = PortAfter(log, "socketmap on "), policy = PortAfter(log, "policy on "),
      verify = PortAfter(log, "verify on ");
  std::printf("gatewayd start with the mail directory loaded: %.2f s; RSS %ld MiB\n", startup,
              gwtest::ProcessRssKib(gatewayd.pid()) / 1024);

  auto netstring = [](const std::string& s) { return fmt::format("{}:{},", s.size(), s); };
  auto address = [&](std::mt19937& random) {
    long c = static_cast<long>(random() % customers);
    long u = static_cast<long>(random() % (per_customer + per_customer / 10));  // ~9% unknown
    return UserAddress(c, u);
  };
  auto netstring_done = [](const std::string& b) { return !b.empty() && b.back() == ','; };
  auto policy_done = [](const std::string& b) {
    return b.size() >= 2 && b.compare(b.size() - 2, 2, "\n\n") == 0;
  };
  std::printf("lookups with %d client connections, %.0f s each (2 lookup threads):\n", connections,
              seconds);
  gwbench::Report(
      "socketmap recipients",
      gwbench::Load(
          socketmap, connections, seconds,
          [&](std::mt19937& r) { return netstring("recipients " + address(r)); }, netstring_done));
  gwbench::Report(
      "socketmap transport",
      gwbench::Load(
          socketmap, connections, seconds,
          [&](std::mt19937& r) { return netstring("transport " + address(r)); }, netstring_done));
  gwbench::Report(
      "policy RCPT",
      gwbench::Load(
          policy, connections, seconds,
          [&](std::mt19937& r) {
            return fmt::format(
                "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.{}\n"
                "sender=someone@ext.example\nrecipient={}\nsize=0\ninstance=i{}\n\n",
                r() % 250, address(r), r());
          },
          policy_done));
  std::printf("gatewayd RSS after the lookups: %ld MiB\n",
              gwtest::ProcessRssKib(gatewayd.pid()) / 1024);

  if (!with_postfix) {
    std::printf("Postfix messages/s: skipped (%s)\n",
                skip_postfix ? "--skip-postfix" : missing.c_str());
    fs::remove_all(dir);
    return 0;
  }
  gwtest::ChildProcess sink(
      {"/usr/sbin/smtp-sink", "-u", "nobody", fmt::format("127.0.0.1:{}", sink_port), "1000"});
  // The same data as static hash maps, for the comparison.
  fs::path maps = dir / "maps";
  fs::create_directories(maps);
  {
    std::ofstream domains(maps / "domains"), recipients(maps / "recipients"),
        transport(maps / "transport");
    for (long c = 0; c < customers; ++c) {
      for (const std::string& domain :
           {CustomerName(c) + ".example", CustomerName(c) + "-corp.example"}) {
        domains << domain << " ok\n";
        transport << domain << " smtp:[127.0.0.1]:" << sink_port << "\n";
      }
      for (long u = 0; u < per_customer; ++u) recipients << UserAddress(c, u) << " ok\n";
    }
  }

  struct Instance {
    std::string name;
    fs::path dir;
    int smtp;
    std::string extra;            // more postfix-config flags
    long first_customer = 0;      // mail goes to customers from here (half of them)
    bool shares_postfix = false;  // the instance before's Postfix, other customers
  };
  // The rules (size, lists) have no static equivalent: the third instance keeps the
  // policy service with static maps, so the maps alone are compared too.
  std::vector<Instance> instances = {
      {"gatewayd lookups", dir / "pf-live", gwtest::PickFreePort(), ""},
      {"static hash maps", dir / "pf-static", gwtest::PickFreePort(), ""},
      {"static maps + policy", dir / "pf-static-policy", gwtest::PickFreePort(), ""}};
  // The filter: gw-milter and a private rspamd (whose DNS goes nowhere, so its lookups
  // time out: a pessimistic figure).
  std::unique_ptr<gwtest::Rspamd> rspamd;
  std::unique_ptr<gwtest::ChildProcess> milter;
  std::thread milter_drain;
  std::atomic<bool> draining_done{false};
  if (gwtest::RspamdMissing().empty()) {
    auto rspamd_started = Clock::now();
    rspamd = std::make_unique<gwtest::Rspamd>();
    if (!rspamd->ready()) Die("rspamd did not start: " + rspamd->Log());
    std::printf("rspamd start: %.1f s\n", Seconds(rspamd_started));
    int milter_port = gwtest::PickFreePort();
    milter = std::make_unique<gwtest::ChildProcess>(std::vector<std::string>{
        GW_MILTER_BINARY, "--listen", fmt::format("127.0.0.1:{}", milter_port), "--socketmap",
        fmt::format("127.0.0.1:{}", socketmap), "--rspamd",
        fmt::format("127.0.0.1:{}", rspamd->port()), "--gateway", admin_url, "--no-antivirus",
        "--token-file", (dir / "milter-token").string()});
    if (!milter->WaitForLine("serving on", std::chrono::seconds(10))) Die(milter->output());
    // It logs a line per message: its stderr pipe must be read, or the milter blocks on it.
    milter_drain = std::thread([&] {
      while (!draining_done) {
        milter->output();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    instances.push_back({"gatewayd + gw-milter", dir / "pf-milter", gwtest::PickFreePort(),
                         fmt::format(" --milter 127.0.0.1:{}", milter_port)});
    instances.push_back({"gw-milter + archiving", dir / "pf-milter", instances.back().smtp,
                         instances.back().extra, customers / 2, true});
  } else {
    std::printf("the filter (gw-milter, rspamd): skipped (%s)\n", gwtest::RspamdMissing().c_str());
  }
  std::vector<double> rates;
  for (const auto& instance : instances) {
    if (instance.shares_postfix) continue;
    auto written = gwtest::RunCommand(fmt::format(
        "{} postfix-config --out {} --smtp 127.0.0.1:{} --socketmap 127.0.0.1:{} --policy "
        "127.0.0.1:{} --verify 127.0.0.1:{} --hostname gw.bench{}",
        GATEWAYD_BINARY, instance.dir.string(), instance.smtp, socketmap, policy, verify,
        instance.extra));
    if (written.exit_code != 0) Die(written.output);
    fs::path etc = instance.dir / "etc";
    if (instance.name != "gatewayd lookups" && instance.extra.empty()) {
      if (&instance == &instances[1]) {
        auto indexing = Clock::now();
        for (const char* map : {"domains", "recipients", "transport"}) {
          auto made = gwtest::RunCommand(
              fmt::format("/usr/sbin/postmap -c {} hash:{}", etc.string(), (maps / map).string()));
          if (made.exit_code != 0) Die("postmap: " + made.output);
        }
        std::printf("postmap of the static maps: %.1f s\n", Seconds(indexing));
      }
      auto set = gwtest::RunCommand(fmt::format(
          "/usr/sbin/postconf -c {0} -e 'relay_domains = hash:{1}/domains' "
          "'relay_recipient_maps = hash:{1}/recipients' 'transport_maps = hash:{1}/transport' "
          "'address_verify_map ='",
          etc.string(), maps.string()));
      if (set.exit_code != 0) Die(set.output);
      if (instance.name == "static hash maps") {
        set = gwtest::RunCommand(
            fmt::format("/usr/sbin/postconf -c {} -e 'smtpd_recipient_restrictions = "
                        "reject_unlisted_recipient' "
                        "'smtpd_end_of_data_restrictions ='",
                        etc.string()));
        if (set.exit_code != 0) Die(set.output);
      }
    }
    auto up = gwtest::RunCommand(fmt::format("/usr/sbin/postfix -c {} start", etc.string()));
    if (up.exit_code != 0) Die("postfix start: " + up.output);
    for (int i = 0; i < 100 && !gwtest::CanConnect(instance.smtp); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    MessagesPerSecond(etc, instance.smtp, 200, customers);  // warm up
  }
  // Rounds alternate between the instances, and each reports its median: the machine's
  // noise then falls on all of them alike.
  const int rounds = 3;
  std::vector<std::vector<double>> samples(instances.size());
  for (int round = 0; round < rounds; ++round) {
    for (size_t i = 0; i < instances.size(); ++i) {
      samples[i].push_back(MessagesPerSecond(instances[i].dir / "etc", instances[i].smtp, messages,
                                             customers / 2, instances[i].first_customer));
    }
  }
  for (size_t i = 0; i < instances.size(); ++i) {
    std::sort(samples[i].begin(), samples[i].end());
    rates.push_back(samples[i][rounds / 2]);
    std::printf(
        "Postfix with %-21s %6.0f messages/s (median of %d rounds: %.0f-%.0f; %ld 2 KB messages "
        "each, received and delivered)\n",
        instances[i].name.c_str(), rates.back(), rounds, samples[i].front(), samples[i].back(),
        messages);
  }
  for (const auto& instance : instances) {
    if (instance.shares_postfix) continue;
    gwtest::RunCommand(fmt::format("/usr/sbin/postfix -c {}/etc stop", instance.dir.string()));
  }
  std::printf("ratio gatewayd/static: %.2f; with the policy on both: %.2f\n", rates[0] / rates[1],
              rates[0] / rates[2]);
  if (milter) {
    std::printf("ratio with the filter/without: %.2f; gw-milter RSS %ld MiB\n", rates[3] / rates[0],
                gwtest::ProcessRssKib(milter->pid()) / 1024);
    std::printf(
        "ratio archiving/not, through the same filter: %.2f; archive file %.1f MiB\n",
        rates[4] / rates[3],
        static_cast<double>(fs::file_size(dir / "data" / "gateway.db.archive")) / (1 << 20));
    draining_done = true;
    milter_drain.join();
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  fs::remove_all(dir);
  return 0;
}
