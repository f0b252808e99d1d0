#include "gwctl/mail_trace.h"

#include <fmt/format.h>

#include "gateway/json_cursor.h"

namespace gwctl {
namespace {

const CustomerManifest* ManifestOf(const Manifests& manifests, const gw::MailCustomer* customer) {
  if (!customer) return nullptr;
  for (const auto& m : manifests.customers) {
    if (m.name == customer->name) return &m;
  }
  return nullptr;
}

const char* Participle(gw::Verdict::Action action) {
  switch (action) {
    case gw::Verdict::Action::kAccept:
      return "accepted";
    case gw::Verdict::Action::kRefuse:
      return "refused";
    case gw::Verdict::Action::kDefer:
      return "deferred";
    case gw::Verdict::Action::kProbe:
      return "probed";
  }
  return "?";
}

bool ReadsDirectoryUsers(const CustomerManifest& customer) {
  const nlohmann::json* spec = gw::JsonCursor::Root(customer.effective.value())["spec"].get();
  return spec && gw::ReadsDirectoryUsers(*spec);
}

}  // namespace

gw::MailDirectory MailDirectoryOf(const Manifests& manifests) {
  std::vector<std::shared_ptr<const gw::MailCustomer>> customers;
  for (const auto& customer : manifests.customers) {
    std::unordered_map<std::string, std::string> recipients;
    for (const auto& user : customer.users) {
      recipients.emplace(user.address, user.address);
      for (const auto& alias : user.aliases) recipients.emplace(alias, user.address);
    }
    customers.push_back(gw::MakeMailCustomer(manifests.partner(), customer.name,
                                             customer.compiled.config, std::move(recipients)));
  }
  return gw::MailDirectory(std::move(customers));
}

TracedMail TraceMail(const Manifests& manifests, const gw::MailDirectory& directory,
                     const gw::Envelope& envelope) {
  TracedMail traced;
  traced.verdict = gw::Trace(directory, envelope);
  if (const CustomerManifest* manifest = ManifestOf(manifests, traced.verdict.customer)) {
    if (!traced.verdict.pointer.empty()) {
      traced.decided_at = manifest->effective.LocationOf(traced.verdict.pointer);
    }
    traced.users_incomplete =
        traced.verdict.rule == "unknown-recipient" && ReadsDirectoryUsers(*manifest);
  }
  return traced;
}

void CheckMailTests(const Manifests& manifests, Diagnostics& diagnostics) {
  if (manifests.mail_tests.empty()) return;
  gw::MailDirectory directory = MailDirectoryOf(manifests);
  for (const LocatedDocument& test : manifests.mail_tests) {
    auto cases = gw::JsonCursor::Root(test.value())["spec"]["cases"];
    for (size_t i = 0; i < cases.size(); ++i) {
      auto c = cases[i];
      gw::Envelope envelope{c["from"].string_or(""), c["to"].string_or(""),
                            static_cast<uint64_t>(c["size"].integer().value_or(0)),
                            c["client"].string_or("")};
      std::string expect = c["expect"].string_or("");
      std::string rule = c["rule"].string_or("");
      TracedMail traced = TraceMail(manifests, directory, envelope);
      const gw::Verdict& v = traced.verdict;
      std::string outcome = gw::ActionName(v.action);
      Location at = test.LocationOf(c.pointer());
      if (traced.users_incomplete) {
        diagnostics.Warning(at, "mail-test",
                            fmt::format("cannot check mail to {} offline: customer {} reads its "
                                        "users from LDAP",
                                        envelope.recipient, v.customer->name));
        continue;
      }
      if (outcome == expect && (rule.empty() || rule == v.rule)) continue;
      std::string decided = FileAndLine(traced.decided_at);
      diagnostics.Error(
          at, "mail-test",
          fmt::format("mail from <{}> to <{}> would be {} ({}{}{}{}); expected {}{}",
                      envelope.sender, envelope.recipient, Participle(v.action),
                      v.reply.empty() ? "" : v.reply + "; ", v.rule, decided.empty() ? "" : " at ",
                      decided, expect, rule.empty() ? "" : " by " + rule));
    }
  }
}

}  // namespace gwctl
