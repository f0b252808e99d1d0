// gwctl dns: the DNS records each customer must publish for the gateway, as the gateway
// describes itself: MX to its hosts, the SPF include for customers relaying outbound
// mail, and the TXT record that verifies a pending domain claim. As zone-file lines to
// paste, or JSON.
#include <iostream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "exit_codes.h"
#include "gateway/customer_rules.h"
#include "source_options.h"

namespace gwctl::cli {

namespace {

struct DnsOptions {
  GatewayTargetOptions target;
  std::string customer;
  std::string format = "zone";
  bool check_now = false;
};

struct Record {
  std::string type;   // MX | TXT
  std::string value;  // as in a zone file: "10 mx1.gw.example." or a quoted string
  std::string note;   // why, for a comment
};

// What a domain of a customer must publish, given the gateway's facts.
std::vector<Record> RecordsFor(const gw::GatewayFacts& facts, const gw::Customer& customer,
                               const gw::DomainClaim& claim) {
  std::vector<Record> records;
  for (size_t i = 0; i < facts.mx_hosts.size(); ++i)
    records.push_back({"MX", fmt::format("{} {}.", 10 * (i + 1), facts.mx_hosts[i]), ""});
  if (!facts.spf_include.empty() && gw::CompileStored(customer).config.relay.enabled) {
    records.push_back({"TXT", fmt::format("\"v=spf1 include:{} ~all\"", facts.spf_include),
                       "or add include:" + facts.spf_include + " to the domain's SPF policy"});
  }
  if (!claim.verified() && !claim.token.empty()) {
    records.push_back({"TXT", fmt::format("\"{}\"", claim.record()),
                       claim.checked_at.empty()
                           ? "verifies the claim; not checked yet"
                           : "verifies the claim; last check: " + claim.check_detail});
  }
  return records;
}

void WriteZone(const std::string& partner, const gw::GatewayClient& gateway,
               const gw::GatewayFacts& facts, const std::vector<gw::Customer>& customers) {
  std::cout << fmt::format("; DNS records for the customers of {}, as {} describes itself.\n",
                           partner, gateway.Describe());
  if (facts.mx_hosts.empty())
    std::cout << "; The gateway names no MX hosts (gatewayd --hostname): no MX records shown.\n";
  for (const auto& customer : customers) {
    std::cout << fmt::format("\n; customer {}\n", customer.name);
    for (const auto& claim : customer.domain_claims) {
      std::cout << fmt::format("; {}: {}\n", claim.domain,
                               claim.verified() ? "verified" : "pending: takes no mail yet");
      for (const auto& r : RecordsFor(facts, customer, claim)) {
        std::cout << fmt::format("{}.\t3600\tIN\t{}\t{}{}\n", claim.domain, r.type, r.value,
                                 r.note.empty() ? "" : "\t; " + r.note);
      }
    }
  }
}

void WriteJson(const std::string& partner, const gw::GatewayFacts& facts,
               const std::vector<gw::Customer>& customers) {
  nlohmann::json listed = nlohmann::json::array();
  for (const auto& customer : customers) {
    nlohmann::json domains = nlohmann::json::array();
    for (const auto& claim : customer.domain_claims) {
      nlohmann::json records = nlohmann::json::array();
      for (const auto& r : RecordsFor(facts, customer, claim))
        records.push_back({{"name", claim.domain + "."}, {"type", r.type}, {"value", r.value}});
      nlohmann::json domain = gw::ToJson(claim);
      domain.erase("partner");
      domain.erase("customer");
      domain["records"] = std::move(records);
      domains.push_back(std::move(domain));
    }
    listed.push_back({{"customer", customer.name}, {"domains", std::move(domains)}});
  }
  std::cout << nlohmann::json{{"partner", partner},
                              {"gateway",
                               {{"mxHosts", facts.mx_hosts},
                                {"spfInclude", facts.spf_include},
                                {"verifiesDomains", facts.verifies_domains}}},
                              {"customers", std::move(listed)}}
                   .dump(2)
            << "\n";
}

int ShowRecords(const DnsOptions& options) {
  auto connected = ConnectGatewayTarget(options.target);
  if (!connected.ok()) {
    std::cerr << "gwctl: " << connected.status().message() << "\n";
    return kExitCouldNotRun;
  }
  auto& [partner, gateway] = *connected;
  auto failed = [&gateway = gateway](const gw::Status& status) {
    std::cerr << fmt::format("gwctl: {}: {}\n", gateway->Describe(), status.message());
    return kExitCouldNotRun;
  };
  auto facts = gateway->GetFacts();
  if (!facts.ok()) return failed(facts.status());
  auto state = gateway->GetState(partner);
  if (!state.ok()) return failed(state.status());
  std::vector<gw::Customer> customers;
  for (auto& customer : state->customers) {
    if (options.customer.empty() || customer.name == options.customer)
      customers.push_back(std::move(customer));
  }
  if (!options.customer.empty() && customers.empty()) {
    std::cerr << fmt::format("gwctl: {} has no customer '{}' of {} (apply it first)\n",
                             gateway->Describe(), options.customer, partner);
    return kExitCouldNotRun;
  }
  if (options.check_now) {
    for (auto& customer : customers) {
      bool pending = std::any_of(customer.domain_claims.begin(), customer.domain_claims.end(),
                                 [](const gw::DomainClaim& c) { return !c.verified(); });
      if (!pending) continue;
      auto checked = gateway->CheckDomains(partner, customer.name);
      if (!checked.ok()) return failed(checked.status());
      customer.domain_claims = std::move(*checked);
    }
  }
  if (options.format == "json") {
    WriteJson(partner, *facts, customers);
  } else {
    WriteZone(partner, *gateway, *facts, customers);
  }
  return kExitOk;
}

}  // namespace

void RegisterDnsCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<DnsOptions>();
  CLI::App* command = app.add_subcommand(
      "dns",
      "The DNS records each customer must publish: MX to the gateway, the SPF include for "
      "outbound relay, the TXT record that verifies a pending domain");
  AddGatewayTargetOptions(command, options->target);
  command->add_option("--customer", options->customer, "Only this customer");
  command->add_option("--format", options->format, "zone (lines for a zone file) or json")
      ->check(CLI::IsMember({"zone", "json"}))
      ->capture_default_str();
  command->add_flag("--check-now", options->check_now,
                    "Have the gateway check pending domains' TXT records now, not at its next "
                    "scheduled check");
  command->footer(
      "Records come from the gateway (its host names, SPF include and claim tokens): a customer "
      "shows once applied.\nExit codes: 0 listed, 4 could not run.");
  command->callback([options, &exit_code] { exit_code = ShowRecords(*options); });
}

}  // namespace gwctl::cli
