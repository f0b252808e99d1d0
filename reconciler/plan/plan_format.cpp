#include "plan_format.h"

#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "gwctl/diagnostics.h"

namespace gwctl {

using nlohmann::json;

namespace {

std::string Show(const json& value) {
  if (value.is_null()) return "(unset)";
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    // A document (a branded template) is named by its size and a fingerprint, not shown.
    if (text.size() > 200 || text.find('\n') != std::string::npos) {
      return fmt::format("({} bytes, #{:08x})", text.size(),
                         std::hash<std::string>{}(text)&0xffffffffu);
    }
    return text;
  }
  return value.dump();
}

bool ScalarList(const json& value) {
  return value.is_array() &&
         std::all_of(value.begin(), value.end(), [](const json& v) { return !v.is_structured(); });
}

struct Totals {
  size_t add = 0, change = 0, remove = 0;
};

std::string Painted(bool color, const char* code, const std::string& text) {
  return color ? fmt::format("\033[{}m{}\033[0m", code, text) : text;
}

Totals UserTotals(const Plan& plan) {
  Totals t;
  for (const auto& c : plan.changes) {
    t.add += c.users.add.size();
    t.change += c.users.change.size();
    t.remove += c.users.remove.size();
  }
  return t;
}

class TextWriter {
 public:
  TextWriter(std::ostream& out, const PlanOutput& options) : out_(out), options_(options) {}

  void Write(const Plan& plan) {
    std::string provenance = Provenance(plan);
    if (!provenance.empty()) out_ << provenance << "\n\n";
    for (const auto& change : plan.changes) WriteChange(change);
    if (!plan.changes.empty()) out_ << "\n";
    WriteUserSources(plan);
    WritePendingDomains(plan);
    for (const auto& warning : plan.warnings) out_ << Paint("33", "warning: ") << warning << "\n";
    for (const auto& refusal : plan.refusals) out_ << Paint("31", "refused: ") << refusal << "\n";
    if (plan.changes.empty()) {
      out_ << "No changes. The gateway matches the repository.\n";
    } else {
      out_ << PlanSummary(plan) << "\n";
    }
    if (!plan.refusals.empty()) out_ << "The plan is over a safety limit; --force goes past it.\n";
  }

 private:
  void WriteUserSources(const Plan& plan) {
    if (plan.user_sources.empty()) return;
    out_ << "User sources:\n";
    for (const auto& customer : plan.user_sources) {
      for (const auto& source : customer.sources) {
        std::string name = source.kind == "csv" ? File(source.name) : source.name;
        out_ << "  " << customer.customer << ": " << source.kind << (name.empty() ? "" : " ")
             << name << ": ";
        if (source.failed) {
          out_ << Paint("33", "not read") << ", its users are kept (see the warning below)\n";
          continue;
        }
        if (source.not_due) {
          out_ << "not read, its users are kept: " << source.detail << "\n";
          continue;
        }
        out_ << source.users << " user" << (source.users == 1 ? "" : "s")
             << (source.detail.empty() ? "" : "; " + source.detail) << "\n";
      }
    }
    out_ << "\n";
  }

  void WritePendingDomains(const Plan& plan) {
    if (plan.pending_domains.empty()) return;
    gwctl::WritePendingDomains(out_, plan, options_);
    out_ << "\n";
  }

  std::string Paint(const char* code, const std::string& text) const {
    return Painted(options_.color, code, text);
  }

  std::string Where(const Location& location) const {
    if (location.file.empty()) return "";
    std::string at = FormatLocation({location.file, location.line, 0}, options_.display_root);
    return location.file == options_.defaults_file ? fmt::format("   ({}, from defaults)", at)
                                                   : fmt::format("   ({})", at);
  }

  std::string File(const std::string& file) const {
    return FormatLocation({file, 0, 0}, options_.display_root);
  }

  void WriteChange(const CustomerChange& c) {
    switch (c.kind) {
      case ChangeKind::kCreate:
        out_ << Paint("32", "+ customer " + c.customer) << " (" << File(c.file)
             << "): " << c.domains << " domain" << (c.domains == 1 ? "" : "s") << ", "
             << c.destinations << " destination" << (c.destinations == 1 ? "" : "s") << ", "
             << c.desired_users << " user" << (c.desired_users == 1 ? "" : "s") << "\n";
        break;
      case ChangeKind::kDelete:
        out_ << Paint("31", "- customer " + c.customer)
             << ": owned by this repository, no longer in the manifests (" << c.desired_users
             << " users)\n";
        break;
      case ChangeKind::kConflict:
        out_ << Paint("31", "! customer " + c.customer) << " (" << File(c.file)
             << "): exists on the gateway but "
             << (c.observed_owner.empty() ? "was made by hand (no owner)"
                                          : fmt::format("is owned by '{}'", c.observed_owner))
             << "; not changed"
             << (c.detail.empty()
                     ? c.observed_owner.empty() ? " (--adopt takes it if it matches)" : ""
                     : ": " + c.detail)
             << "\n";
        break;
      case ChangeKind::kReplace:
      case ChangeKind::kUpdate:
        out_ << (c.kind == ChangeKind::kReplace
                     ? Paint("31", "-/+ customer " + c.customer) + " (replace)"
                     : "customer " + c.customer)
             << " (" << File(c.file) << ")\n";
        for (const auto& f : c.fields) WriteField(f);
        WriteUsers(c);
        break;
    }
  }

  void WriteField(const FieldChange& f) {
    std::string where = Where(f.source);
    std::string tag = f.immutable ? "   [immutable: forces replacement]" : "";
    if (f.secret) {
      const char* what = f.before.is_null() ? "set" : f.after.is_null() ? "removed" : "changed";
      out_ << "  " << Paint("33", "~") << " " << f.path << ": (secret " << what << ")" << where
           << "\n";
      return;
    }
    if (ScalarList(f.before.is_null() ? json::array() : f.before) &&
        ScalarList(f.after.is_null() ? json::array() : f.after) &&
        (f.before.is_array() || f.after.is_array())) {
      json before = f.before.is_null() ? json::array() : f.before;
      json after = f.after.is_null() ? json::array() : f.after;
      for (const auto& v : after) {
        if (std::find(before.begin(), before.end(), v) == before.end()) {
          out_ << "  " << Paint("32", "+") << " " << f.path << ": " << Show(v) << where << "\n";
        }
      }
      for (const auto& v : before) {
        if (std::find(after.begin(), after.end(), v) == after.end()) {
          out_ << "  " << Paint("31", "-") << " " << f.path << ": " << Show(v) << where << "\n";
        }
      }
      if (std::is_permutation(before.begin(), before.end(), after.begin(), after.end())) {
        out_ << "  " << Paint("33", "~") << " " << f.path << ": reordered " << Show(before)
             << " -> " << Show(after) << where << "\n";
      }
      return;
    }
    if (f.before.is_null()) {
      out_ << "  " << Paint("32", "+") << " " << f.path << ": " << Show(f.after) << where << "\n";
    } else if (f.after.is_null()) {
      out_ << "  " << Paint("31", "-") << " " << f.path << ": " << Show(f.before) << where << "\n";
    } else {
      out_ << "  " << Paint("33", "~") << " " << f.path << ": " << Show(f.before) << " -> "
           << Show(f.after) << where << tag << "\n";
    }
  }

  void WriteUsers(const CustomerChange& c) {
    const UserChanges& u = c.users;
    if (u.empty() && u.kept == 0) return;
    out_ << "  users: +" << u.add.size() << " ~" << u.change.size() << " -" << u.remove.size();
    if (!u.remove.empty()) {
      std::vector<std::string> shown(u.remove.begin(),
                                     u.remove.begin() + std::min<size_t>(u.remove.size(), 5));
      out_ << "   (-" << u.remove.size() << ": " << fmt::format("{}", fmt::join(shown, ", "))
           << (u.remove.size() > shown.size() ? ", ..." : "") << ")";
    }
    if (u.kept > 0)
      out_ << "   (" << u.kept << " kept: discovered by the gateway or from a source not read)";
    out_ << "\n";
  }

  std::ostream& out_;
  const PlanOutput& options_;
};

}  // namespace

std::string Provenance(const Plan& plan) {
  std::vector<std::string> parts;
  if (!plan.repository_revision.empty()) {
    parts.push_back(plan.base_revision.empty()
                        ? fmt::format("repository at {}", plan.repository_revision.substr(0, 7))
                        : fmt::format("repository at {}, compared with {}",
                                      plan.repository_revision.substr(0, 7),
                                      plan.base_revision.substr(0, 7)));
  }
  std::vector<std::string> applied;
  for (const auto& [revision, count] : plan.gateway_revisions) {
    if (!revision.empty())
      applied.push_back(fmt::format("{} ({} customers)", revision.substr(0, 7), count));
  }
  if (!applied.empty()) parts.push_back(fmt::format("gateway at {}", fmt::join(applied, ", ")));
  if (parts.empty()) return "";
  std::string text = fmt::format("{}", fmt::join(parts, "; "));
  text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
  return text + ".";
}

std::string PlanSummary(const Plan& plan) {
  Totals users = UserTotals(plan);
  std::string replaced = plan.Count(ChangeKind::kReplace)
                             ? fmt::format(", {} to replace", plan.Count(ChangeKind::kReplace))
                             : "";
  std::string conflicts = plan.Count(ChangeKind::kConflict)
                              ? fmt::format(", {} in conflict", plan.Count(ChangeKind::kConflict))
                              : "";
  return fmt::format("Plan: {} to create, {} to update, {} to delete{}{}; users +{} ~{} -{}.",
                     plan.Count(ChangeKind::kCreate), plan.Count(ChangeKind::kUpdate),
                     plan.Count(ChangeKind::kDelete), replaced, conflicts, users.add, users.change,
                     users.remove);
}

namespace {

json PendingDomainsToJson(const Plan& plan) {
  json out = json::array();
  for (const auto& claim : plan.pending_domains) out.push_back(gw::ToJson(claim));
  return out;
}

json UserSourcesToJson(const Plan& plan) {
  json out = json::array();
  for (const auto& customer : plan.user_sources) {
    json sources = json::array();
    for (const auto& s : customer.sources) {
      sources.push_back({{"kind", s.kind},
                         {"name", s.name},
                         {"users", s.users},
                         {"failed", s.failed},
                         {"notDue", s.not_due},
                         {"detail", s.detail}});
    }
    out.push_back({{"customer", customer.customer}, {"sources", std::move(sources)}});
  }
  return out;
}

}  // namespace

json ChangeToJson(const CustomerChange& c) {
  json fields = json::array();
  for (const auto& f : c.fields) fields.push_back(FieldToJson(f));
  return {{"kind", ChangeKindName(c.kind)},
          {"customer", c.customer},
          {"file", c.file},
          {"observedVersion", c.observed_version},
          {"observedOwner", c.observed_owner},
          {"detail", c.detail},
          {"fields", std::move(fields)}};
}

json FieldToJson(const FieldChange& f) {
  auto shown = [&](const json& value) {
    return f.secret ? (value.is_null() ? json() : json("(secret)")) : value;
  };
  json field = {{"path", f.path},
                {"secret", f.secret},
                {"immutable", f.immutable},
                {"before", shown(f.before)},
                {"after", shown(f.after)}};
  if (!f.source.file.empty()) field["source"] = {{"file", f.source.file}, {"line", f.source.line}};
  return field;
}

json PlanToJson(const Plan& plan) {
  Totals users = UserTotals(plan);
  json changes = json::array();
  for (const auto& c : plan.changes) {
    auto addresses = [](const std::vector<gw::User>& list) {
      json out = json::array();
      for (const auto& u : list) out.push_back(u.address);
      return out;
    };
    json change = ChangeToJson(c);
    change["users"] = {{"add", addresses(c.users.add)},
                       {"change", addresses(c.users.change)},
                       {"remove", c.users.remove},
                       {"kept", c.users.kept}};
    changes.push_back(std::move(change));
  }
  return {{"format_version", 1},
          {"partner", plan.partner},
          {"gateway", plan.gateway},
          {"observedRevision", plan.observed_revision},
          {"repositoryRevision", plan.repository_revision},
          {"baseRevision", plan.base_revision},
          {"gatewayRevisions", plan.gateway_revisions},
          {"summary",
           {{"create", plan.Count(ChangeKind::kCreate)},
            {"update", plan.Count(ChangeKind::kUpdate)},
            {"replace", plan.Count(ChangeKind::kReplace)},
            {"delete", plan.Count(ChangeKind::kDelete)},
            {"conflict", plan.Count(ChangeKind::kConflict)},
            {"usersAdd", users.add},
            {"usersChange", users.change},
            {"usersRemove", users.remove}}},
          {"refusals", plan.refusals},
          {"warnings", plan.warnings},
          {"userSources", UserSourcesToJson(plan)},
          {"pendingDomains", PendingDomainsToJson(plan)},
          {"changes", std::move(changes)}};
}

void WritePendingDomains(std::ostream& out, const Plan& plan, const PlanOutput& options) {
  if (plan.pending_domains.empty()) return;
  out << "Domains waiting for verification (the gateway takes no mail for them yet):\n";
  for (const auto& claim : plan.pending_domains) {
    out << "  " << claim.domain << ": "
        << Painted(options.color, "33", "waiting for TXT " + claim.record()) << " (customer "
        << claim.customer;
    if (!claim.checked_at.empty())
      out << "; checked " << claim.checked_at << ": " << claim.check_detail;
    out << ")\n";
  }
}

void WritePlan(std::ostream& out, const Plan& plan, const PlanOutput& options) {
  switch (options.format) {
    case PlanFormat::kJson:
      out << PlanToJson(plan).dump(2) << "\n";
      return;
    case PlanFormat::kText:
      TextWriter(out, options).Write(plan);
      return;
    case PlanFormat::kMarkdown: {
      PlanOutput plain = options;
      plain.color = false;
      std::ostringstream details;
      TextWriter(details, plain).Write(plan);
      out << "### gwctl plan for `" << plan.partner << "`\n\n";
      out << "**" << (plan.changes.empty() ? "No changes." : PlanSummary(plan)) << "**\n\n";
      for (const auto& r : plan.refusals) out << "> :no_entry: Refused: " << r << "\n\n";
      for (const auto& w : plan.warnings) out << "> :warning: " << w << "\n\n";
      for (const auto& claim : plan.pending_domains) {
        out << "> :hourglass: `" << claim.domain << "` waits for TXT `" << claim.record()
            << "`\n\n";
      }
      if (!plan.changes.empty()) {
        out << "| | customer | change |\n|---|---|---|\n";
        for (const auto& c : plan.changes) {
          static const char* const kSigns[] = {"+", "~", "-/+", "-", "!"};
          std::string what =
              c.kind == ChangeKind::kCreate
                  ? fmt::format("create: {} domains, {} users", c.domains, c.desired_users)
              : c.kind == ChangeKind::kDelete ? "delete"
              : c.kind == ChangeKind::kConflict
                  ? "conflict: not owned by this repository"
                  : fmt::format("{} field{}, users +{} ~{} -{}", c.fields.size(),
                                c.fields.size() == 1 ? "" : "s", c.users.add.size(),
                                c.users.change.size(), c.users.remove.size());
          out << "| " << kSigns[static_cast<int>(c.kind)] << " | `" << c.customer << "` | " << what
              << " |\n";
        }
        out << "\n<details><summary>Details</summary>\n\n```diff\n"
            << details.str() << "```\n</details>\n";
      }
      out << "\n<sub>" << plan.gateway << " (state revision " << plan.observed_revision << ")";
      if (!plan.repository_revision.empty())
        out << ", repository commit " << plan.repository_revision;
      if (!plan.base_revision.empty()) out << ", base commit " << plan.base_revision;
      out << "</sub>\n";
      return;
    }
  }
}

}  // namespace gwctl
