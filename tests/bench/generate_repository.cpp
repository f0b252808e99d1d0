// Generates a large, valid partner repository for benchmarks:
//   generate_repository DIR [--customers N] [--users N]
// Customers get realistic manifests (aliases, destinations, relay sources, lists,
// overrides of the defaults); users go to one CSV file per customer, with a few
// inline mailboxes. The output is deterministic for the same arguments.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [--customers N] [--users N]\n", argv[0]);
    return 2;
  }
  fs::path root = argv[1];
  long customers = 5000, users = 200000;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--customers") customers = std::atol(argv[i + 1]);
    if (flag == "--users") users = std::atol(argv[i + 1]);
  }
  fs::create_directories(root / "customers");
  std::ofstream(root / "gwctl.yaml")
      << "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: bench-msp}\n"
         "spec:\n  prune: owned\n  safety: {maxDeletePercent: 30, minExisting: 10}\n";
  std::ofstream(root / "defaults.yaml")
      << "apiVersion: gwctl/v1\nkind: PartnerDefaults\nmetadata: {name: defaults}\nspec:\n  "
         "filtering:\n"
         "    enabled: true\n    level: premium\n    infomail: false\n    spamReport:\n      "
         "enabled: true\n"
         "      days: [mon, tue, wed, thu, fri]\n      times: [\"08:00\", \"13:00\"]\n      "
         "timezone: Europe/London\n"
         "    contentFilter:\n      maxMessageSize: 150MiB\n      attachmentAction: "
         "cut-and-inform\n"
         "      forbiddenAttachments: [docmacro, xlsmacro, executable]\n  continuity: {enabled: "
         "false, retention: 90d}\n";
  const char* first_names[] = {"alice", "bob",   "carol", "dave", "erin",
                               "frank", "grace", "heidi", "ivan", "judy"};
  const char* last_names[] = {"smith",  "jones",  "brown", "taylor",
                              "wilson", "davies", "evans", "thomas"};
  for (long c = 0; c < customers; ++c) {
    std::string name = fmt::format("c{:05d}", c);
    std::string domain = fmt::format("{}.example", name);
    long count = users / customers + (c < users % customers ? 1 : 0);
    // Public-looking /29 per customer from 11.0.0.0/8 and 12.0.0.0/8, never shared.
    long block = c * 8;
    std::string relay = fmt::format("{}.{}.{}.{}/29", 11 + block / (1 << 24), (block >> 16) & 255,
                                    (block >> 8) & 255, block & 255);
    bool access = c % 3 != 0;
    std::ofstream out(root / "customers" / (name + ".yaml"));
    out << "apiVersion: gwctl/v1\nkind: Customer\nmetadata:\n  name: " << name
        << "\n  labels: {tier: " << (c % 4 == 0 ? "gold" : "silver")
        << "}\nspec:\n  product: " << (access ? "ultimate-access" : "ultimate-defense")
        << "\n  billableUsers: " << count + 5 << "\n  contact: it@" << domain
        << "\n  domains:\n    primary: " << domain << "\n    aliases: [" << name
        << "-corp.example, " << name << ".co.example]\n"
        << "  destinations:\n    - {host: mail." << domain
        << ", port: 25, preference: 10}\n    - {host: backup." << domain
        << ", preference: 20}\n  outboundRelay:\n    enabled: true\n    sources: [" << relay
        << "]\n"
        << "  users:\n    addressDiscovery: " << (c % 5 == 0 ? "true" : "false")
        << "\n    mailboxes:\n      - {address: postmaster@" << domain
        << ", type: shared}\n      - {address: it@" << domain << ", type: shared}\n    csv: ["
        << name << ".users.csv]\n"
        << "  filtering:\n    contentFilter: {maxMessageSize: " << (c % 2 ? "50MiB" : "100MiB")
        << "}\n"
        << "  lists:\n    allow:\n      - {senderDomain: partner-" << c % 97
        << ".example}\n    block:\n"
        << "      - {senderDomain: spam-" << c % 89
        << ".example}\n    recipientAllow: [postmaster]\n";
    if (access) out << "  continuity: {enabled: true, retention: 90d, scope: all}\n";
    std::ofstream csv(root / "customers" / (name + ".users.csv"));
    csv << "email,first_name,last_name,type,aliases\n";
    for (long u = 0; u < count; ++u) {
      const char* first = first_names[u % 10];
      const char* last = last_names[(u / 10) % 8];
      csv << fmt::format("{}.{}{}@{},{},{},mailbox,{}{}@{}\n", first, last, u, domain, first, last,
                         first[0], u, domain);
    }
  }
  std::printf("generated %ld customers, %ld users in %s\n", customers, users, root.c_str());
  return 0;
}
