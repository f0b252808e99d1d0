// Rendering a Plan: text for people (each change with the manifest line that caused it,
// and whether the value came from defaults), markdown for a pull-request comment, and
// JSON for machines ("format_version": 1). Secret values never appear in any of them.
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "gwctl/plan.h"

namespace gwctl {

enum class PlanFormat { kText, kJson, kMarkdown };

struct PlanOutput {
  PlanFormat format = PlanFormat::kText;
  std::string display_root;  // joined to file names, as the user named the repository
  std::string defaults_file = "defaults.yaml";
  bool color = false;
};

void WritePlan(std::ostream& out, const Plan& plan, const PlanOutput& options);
nlohmann::json PlanToJson(const Plan& plan);

// One customer's change as JSON without its users: kind, customer, file, what was
// observed, detail and every field. The display and the saved plan add users their way.
nlohmann::json ChangeToJson(const CustomerChange& change);

// One field change as JSON (path, before, after, secret, immutable, source); a secret's
// values are "(secret)", never the value. Shared by the display and the saved plan.
nlohmann::json FieldToJson(const FieldChange& field);

// The plan's domains waiting for their TXT record, one line each (text; nothing when none):
// "  acme.example: waiting for TXT gwctl-verify=... (customer acme; checked ...: ...)".
void WritePendingDomains(std::ostream& out, const Plan& plan, const PlanOutput& options);

// "Plan: 1 to create, 2 to update, 0 to delete; users +130 ~1 -3."
std::string PlanSummary(const Plan& plan);

// "Repository at def5678, compared with abc1234; gateway at abc1234 (7 customers)."
// Empty when nothing is known of either.
std::string Provenance(const Plan& plan);

}  // namespace gwctl
