// What Postfix (or anyone reaching the loopback ports) sends gatewayd's lookup servers:
// the input is split at arbitrary points, as TCP may deliver it, and fed to each protocol
// against a small directory. Each must consume or keep every byte, never grow its input
// buffer past the request limit, and answer only in its own framing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "gateway/customer_rules.h"
#include "lookups/postfix_protocols.h"

namespace {

std::shared_ptr<const gw::MailDirectory> Directory() {
  static const auto directory = [] {
    gw::RuleFindings findings;
    nlohmann::json spec = {{"spec",
                            {{"product", "ultimate-access"},
                             {"billableUsers", 1},
                             {"domains", {{"primary", "acme.example"}}},
                             {"destinations", "mx.acme.example"},
                             {"users", {{"addressDiscovery", true}}},
                             {"continuity", {{"enabled", true}}},
                             {"lists", {{"block", {{{"senderDomain", "spam.example"}}}}}}}}};
    auto compiled = gw::CompileCustomer(spec, {}, findings);
    return std::make_shared<const gw::MailDirectory>(
        std::vector<std::shared_ptr<const gw::MailCustomer>>{gw::MakeMailCustomer(
            "p", "acme", compiled.config, {{"alice@acme.example", "alice@acme.example"}},
            {"alice@acme.example"})});
  }();
  return directory;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  gw::postfix::VerifyCache cache(16);
  auto directory = [] { return Directory(); };
  auto quiet = [](const std::string&) {};
  auto discovered = [](const gw::MailCustomer&, const std::string&) {};
  std::unique_ptr<gw::postfix::Protocol> protocols[] = {
      gw::postfix::MakeSocketmap(directory, nullptr, quiet),
      gw::postfix::MakePolicy(directory, quiet),
      gw::postfix::MakeVerifyMemcache(cache, directory, discovered, quiet),
      gw::postfix::MakeDovecotDict(
          directory,
          [](const gw::MailCustomer&,
             const std::string&) -> gw::Result<std::optional<std::string>> {
            return std::optional<std::string>("{ARGON2ID}x");
          },
          quiet)};
  size_t split = size ? data[0] % (size + 1) : 0;
  for (auto& protocol : protocols) {
    std::string input, output;
    bool open = true;
    for (std::string_view piece :
         {std::string_view(text).substr(0, split), std::string_view(text).substr(split)}) {
      if (!open) break;
      input.append(piece);
      open = protocol->Consume(input, output);
      if (input.size() > gw::postfix::kMaxRequestBytes + 1024 + 16) __builtin_trap();
    }
  }
  return 0;
}
