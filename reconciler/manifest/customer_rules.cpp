#include "customer_rules.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include "gateway/domain_name.h"
#include "gateway/report_template.h"
#include "repository_users.h"
#include "yaml_documents.h"

namespace gwctl {

void AddFindings(const LocatedDocument& document, const gw::RuleFindings& findings,
                 Diagnostics& diagnostics) {
  for (const auto& finding : findings) {
    std::string message = finding.Text(
        [&](const std::string& pointer) { return FileAndLine(document.LocationOf(pointer)); });
    Location at = document.LocationOf(finding.pointer, finding.at_key);
    if (finding.is_error()) {
      diagnostics.Error(std::move(at), finding.rule, std::move(message));
    } else {
      diagnostics.Warning(std::move(at), finding.rule, std::move(message));
    }
  }
}

void CheckDefaults(const LocatedDocument& defaults, Diagnostics& diagnostics) {
  gw::RuleFindings findings;
  gw::CheckPartnerDefaults(defaults.value(), findings);
  AddFindings(defaults, findings, diagnostics);
}

void CheckSecretReferences(const LocatedDocument& document, const SecretPolicy& secrets,
                           Diagnostics& diagnostics) {
  const nlohmann::json& root = document.value();
  if (!root.is_object() || !root.contains("spec")) return;
  for (const auto& [pointer, reference] : SecretReferencesIn(root["spec"])) {
    // Something not shaped like a reference at all is the schema's to report.
    if (reference.rfind("env:", 0) != 0 && reference.rfind("file:", 0) != 0) continue;
    if (auto refused = CheckSecretReference(reference, secrets))
      diagnostics.Error(document.LocationOf("/spec" + pointer), "secret-ref", *refused);
  }
}

namespace {

// Filtering on with no user anywhere and no discovery: Postfix would refuse every
// recipient with 550, and nothing else would say so until customers call.
void WarnWithoutRecipients(const CustomerManifest& customer, Diagnostics& diagnostics) {
  const nlohmann::json& document = customer.effective.value();
  if (!document.is_object() || !document.contains("spec")) return;
  const nlohmann::json& spec = document["spec"];
  const gw::CustomerConfig& config = customer.compiled.config;
  if (!config.filtering_enabled || config.address_discovery || !customer.users.empty() ||
      gw::ReadsDirectoryUsers(spec)) {
    return;
  }
  diagnostics.Warning(customer.effective.LocationOf("/spec"), "no-recipients",
                      "this customer has no users, no directory source (users.ldap, "
                      "users.microsoft365, users.googleWorkspace) and no addressDiscovery: every "
                      "message to it would be refused with 550");
}

// recipientAllow lets mail to a local part past the customer's lists, but only to an
// address that exists: one that names no user or alias is refused with 550 first.
void WarnRecipientAllowWithoutUser(const CustomerManifest& customer,
                                   const std::unordered_set<std::string>& addresses,
                                   Diagnostics& diagnostics) {
  const nlohmann::json& document = customer.effective.value();
  if (!document.is_object() || !document.contains("spec")) return;
  const gw::CustomerConfig& config = customer.compiled.config;
  if (config.address_discovery || config.domains.empty() ||
      gw::ReadsDirectoryUsers(document["spec"]))
    return;
  const auto& allowed = config.lists.recipient_allow;
  for (size_t i = 0; i < allowed.size(); ++i) {
    bool named = std::any_of(
        config.domains.begin(), config.domains.end(),
        [&](const std::string& domain) { return addresses.count(allowed[i] + "@" + domain) > 0; });
    if (named) continue;
    diagnostics.Warning(
        customer.effective.LocationOf(fmt::format("/spec/lists/recipientAllow/{}", i)),
        "recipient-allow-unknown",
        fmt::format("'{0}' names no user or alias of this customer: mail to {0}@{1} is refused "
                    "(550) before recipientAllow applies; give a user the alias {0}@{1}",
                    allowed[i], config.domains.front()));
  }
}

// Where in `text` byte `offset` is, 1-based.
Location LocationIn(const std::string& file, std::string_view text, size_t offset) {
  Location at{file, 1, 1};
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++at.line;
      at.column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++at.column;
    }
  }
  return at;
}

// A branded spam report template: report-templates/NAME.html of the repository, checked
// where it is written and handed to the customer's settings as spamReport.templateHtml
// (the gateway keeps and fills it). False when it is not usable; gwctl said why.
bool ReadReportTemplate(CustomerManifest& customer, const SourceTree& tree,
                        Diagnostics& diagnostics) {
  const std::string pointer = "/spec/filtering/spamReport";
  const nlohmann::json& document = customer.effective.value();
  nlohmann::json::json_pointer at(pointer);
  if (!document.contains(at) || !document[at].is_object()) return true;
  const nlohmann::json& report = document[at];
  if (report.contains("templateHtml")) {
    diagnostics.Error(customer.effective.LocationOf(pointer + "/templateHtml", true),
                      "report-template-inline",
                      "templateHtml is filled by gwctl: write the template in "
                      "report-templates/NAME.html and name it in template");
    return false;
  }
  if (!report.contains("template") || !report["template"].is_string()) return true;
  std::string name = report["template"].get<std::string>();
  if (name == "default") return true;
  std::string path = "report-templates/" + name + ".html";
  Location named = customer.effective.LocationOf(pointer + "/template");
  auto html = tree.Read(path, gw::kMaxReportTemplateBytes + 1);
  if (!html.ok()) {
    diagnostics.Error(named, "report-template",
                      fmt::format("the branded template '{}': {}", name, html.status().message()));
    return false;
  }
  int line = 0, column = 0;
  if (FindInvalidUtf8(*html, line, column)) {
    diagnostics.Error({path, line, column}, "report-template", "the template is not UTF-8");
    return false;
  }
  auto problems = gw::CheckReportTemplate(*html);
  for (const auto& problem : problems) {
    diagnostics.Error(LocationIn(path, *html, problem.offset), problem.rule, problem.message);
  }
  if (!problems.empty()) return false;
  customer.effective.mutable_value()[at]["templateHtml"] = std::move(*html);
  return true;
}

}  // namespace

size_t CheckCustomer(CustomerManifest& customer, const CustomerRuleContext& context,
                     Diagnostics& diagnostics) {
  CheckSecretReferences(customer.document, context.secrets, diagnostics);
  bool template_read = ReadReportTemplate(customer, *context.tree, diagnostics);
  gw::RuleFindings findings;
  customer.compiled =
      gw::CompileCustomer(customer.effective.value(), context.rule_options, findings);
  // A template gwctl could not read is said once, where it is named.
  if (!template_read) {
    std::erase_if(findings,
                  [](const gw::RuleFinding& f) { return f.rule == "report-template-missing"; });
  }
  AddFindings(customer.effective, findings, diagnostics);
  size_t csv_files = ReadRepositoryUsers(customer, *context.tree, context.limits, diagnostics);
  std::unordered_set<std::string> addresses;
  for (const auto& user : customer.users) {
    addresses.insert(user.address);
    addresses.insert(user.aliases.begin(), user.aliases.end());
  }
  gw::RuleFindings members;
  gw::CheckContinuityMembers(
      customer.effective.value(),
      [&](const std::string& address) { return addresses.count(address) > 0; }, members);
  AddFindings(customer.effective, members, diagnostics);
  WarnWithoutRecipients(customer, diagnostics);
  WarnRecipientAllowWithoutUser(customer, addresses, diagnostics);
  return csv_files;
}

}  // namespace gwctl
