#include "saved_plan.h"

#include <fmt/format.h>

#include "plan_format.h"
#include "secrets.h"

namespace gwctl {

using nlohmann::json;

namespace {

ChangeKind KindFromName(const std::string& name, bool& ok) {
  for (ChangeKind k : {ChangeKind::kCreate, ChangeKind::kUpdate, ChangeKind::kReplace,
                       ChangeKind::kDelete, ChangeKind::kConflict}) {
    if (name == ChangeKindName(k)) return k;
  }
  ok = false;
  return ChangeKind::kUpdate;
}

// A change as LoadPlan reads it back: what to write and which users to upsert or
// remove, beside what the plan showed (fields, detail) for printing it again.
json SavedChange(const CustomerChange& c, const DesiredCustomer* desired) {
  json upsert = json::array();
  for (const auto& u : c.users.add) upsert.push_back(gw::ToJson(u));
  for (const auto& u : c.users.change) upsert.push_back(gw::ToJson(u));
  json change = ChangeToJson(c);
  change["users"] = {
      {"upsert", std::move(upsert)}, {"remove", c.users.remove}, {"kept", c.users.kept}};
  if (desired) {
    change["write"] = {{"owner", desired->write.owner},
                       {"appliedRevision", desired->write.applied_revision},
                       {"labels", desired->write.labels},
                       {"spec", desired->write.spec},
                       {"secretFingerprints", desired->secret_fingerprints}};
  }
  return change;
}

json Body(const Plan& plan, const DesiredState& desired) {
  std::map<std::string, const DesiredCustomer*> by_name;
  for (const auto& c : desired.customers) by_name.emplace(c.name, &c);
  json changes = json::array();
  for (const CustomerChange& c : plan.changes) {
    auto it = by_name.find(c.customer);
    changes.push_back(SavedChange(c, it == by_name.end() ? nullptr : it->second));
  }
  return {{"format_version", 1},
          {"kind", "gwctl-saved-plan"},
          {"partner", plan.partner},
          {"owner", desired.owner},
          {"gateway", plan.gateway},
          {"observedRevision", plan.observed_revision},
          {"observedChecksum", plan.observed_checksum},
          {"repositoryRevision", plan.repository_revision},
          {"summary", PlanSummary(plan)},
          {"refusals", plan.refusals},
          {"changes", std::move(changes)}};
}

}  // namespace

json SavePlan(const Plan& plan, const DesiredState& desired) {
  json body = Body(plan, desired);
  body["checksum"] = gw::ContentChecksum(body.dump());
  return body;
}

gw::Result<LoadedPlan> LoadPlan(const json& saved) {
  auto invalid = [](std::string why) {
    return gw::Status(gw::StatusCode::kInvalidArgument, std::move(why));
  };
  if (!saved.is_object() || saved.value("kind", "") != "gwctl-saved-plan")
    return invalid("not a saved gwctl plan");
  if (saved.value("format_version", 0) != 1)
    return invalid("a saved plan of another format version");
  json body = saved;
  body.erase("checksum");
  if (saved.value("checksum", "") != gw::ContentChecksum(body.dump())) {
    return invalid(
        "the plan's checksum does not match: it was edited or damaged after it was made");
  }
  LoadedPlan loaded;
  Plan& plan = loaded.plan;
  try {
    plan.partner = saved.at("partner");
    plan.gateway = saved.at("gateway");
    plan.observed_revision = saved.at("observedRevision");
    plan.observed_checksum = saved.at("observedChecksum");
    plan.repository_revision = saved.at("repositoryRevision");
    plan.refusals = saved.at("refusals").get<std::vector<std::string>>();
    loaded.desired.partner = plan.partner;
    loaded.desired.owner = saved.at("owner");
    for (const auto& c : saved.at("changes")) {
      CustomerChange change;
      bool ok = true;
      change.kind = KindFromName(c.at("kind"), ok);
      if (!ok) return invalid("unknown change kind " + c.at("kind").dump());
      change.customer = c.at("customer");
      change.file = c.at("file");
      change.observed_version = c.at("observedVersion");
      change.observed_owner = c.at("observedOwner");
      change.detail = c.value("detail", "");
      for (const auto& f : c.at("fields")) {
        FieldChange field;
        field.path = f.at("path");
        field.before = f.at("before");
        field.after = f.at("after");
        field.secret = f.at("secret");
        field.immutable = f.at("immutable");
        if (f.contains("source"))
          field.source = {f["source"].at("file"), f["source"].at("line"), 0};
        change.fields.push_back(std::move(field));
      }
      for (const auto& u : c.at("users").at("upsert")) {
        auto user = gw::UserFromJsonValue(u);
        if (!user.ok()) return invalid("a user in the plan: " + user.status().message());
        change.users.add.push_back(std::move(*user));
      }
      change.users.remove = c.at("users").at("remove").get<std::vector<std::string>>();
      change.users.kept = c.at("users").at("kept");
      if (c.contains("write")) {
        DesiredCustomer desired;
        desired.name = change.customer;
        desired.file = change.file;
        desired.effective = nullptr;
        const json& w = c["write"];
        desired.write.owner = w.at("owner");
        desired.write.applied_revision = w.at("appliedRevision");
        desired.write.labels = w.at("labels").get<std::map<std::string, std::string>>();
        desired.write.spec = w.at("spec");
        desired.secret_fingerprints =
            w.at("secretFingerprints").get<std::map<std::string, std::string>>();
        change.write = desired.write;
        loaded.desired.customers.push_back(std::move(desired));
      }
      plan.changes.push_back(std::move(change));
    }
  } catch (const json::exception& e) {
    return invalid(fmt::format("the saved plan is incomplete: {}", e.what()));
  }
  return loaded;
}

gw::Status ResolveSavedSecrets(LoadedPlan& loaded, const std::filesystem::path& repository_root) {
  for (auto& customer : loaded.desired.customers) {
    for (const auto& [pointer, fingerprint] : customer.secret_fingerprints) {
      // The reference sits beside the secret in the settings document: /x/password <-
      // /x/passwordRef.
      json::json_pointer reference_at(pointer + "Ref");
      if (!customer.write.spec.contains(reference_at) ||
          !customer.write.spec[reference_at].is_string()) {
        return gw::Status(
            gw::StatusCode::kInvalidArgument,
            fmt::format("customer {}: no reference for the secret {}", customer.name, pointer));
      }
      auto value =
          ResolveSecret(customer.write.spec[reference_at].get<std::string>(), repository_root);
      if (!value.ok())
        return gw::Status(value.status().code(),
                          fmt::format("customer {}: {}", customer.name, value.status().message()));
      if (gw::SecretFingerprint(loaded.plan.partner, customer.name, pointer, *value) !=
          fingerprint) {
        return gw::Status(
            gw::StatusCode::kFailedPrecondition,
            fmt::format(
                "customer {}: the secret {} is not the one the plan was made with; plan again",
                customer.name, pointer));
      }
      customer.write.secrets[pointer] = *value;
    }
  }
  return gw::Status::Ok();
}

}  // namespace gwctl
