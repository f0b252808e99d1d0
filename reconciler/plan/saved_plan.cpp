#include "saved_plan.h"

#include <fmt/format.h>

#include "gateway/json_reader.h"
#include "plan_format.h"

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
  auto invalid = [](std::string why) { return gw::Status::Invalid(std::move(why)); };
  auto incomplete = [](const gw::Status& problem) {
    return gw::Status(gw::StatusCode::kInvalidArgument,
                      fmt::format("the saved plan is incomplete: {} (at {})", problem.message(),
                                  problem.field()));
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
  gw::JsonReader top(saved, "");
  top.Get("partner", plan.partner, true);
  top.Get("gateway", plan.gateway, true);
  top.Get("observedRevision", plan.observed_revision, true);
  top.Get("observedChecksum", plan.observed_checksum, true);
  top.Get("repositoryRevision", plan.repository_revision, true);
  top.Get("refusals", plan.refusals, true);
  top.Get("owner", loaded.desired.owner, true);
  const json* changes = top.Raw("changes");
  if (top.status().ok() && (!changes || !changes->is_array())) {
    top.Fail(gw::Status::Invalid("expected a list of changes", "/changes"));
  }
  if (!top.status().ok()) return incomplete(top.status());
  loaded.desired.partner = plan.partner;
  for (size_t i = 0; i < changes->size(); ++i) {
    std::string at = fmt::format("/changes/{}", i);
    const json& c = (*changes)[i];
    gw::JsonReader r(c, at);
    CustomerChange change;
    std::string kind;
    r.Get("kind", kind, true);
    r.Get("customer", change.customer, true);
    r.Get("file", change.file, true);
    r.Get("observedVersion", change.observed_version, true);
    r.Get("observedOwner", change.observed_owner, true);
    r.Get("detail", change.detail);
    const json* fields = r.Raw("fields");
    const json* users = r.Raw("users");
    if (r.status().ok() && (!fields || !fields->is_array() || !users)) {
      r.Fail(gw::Status::Invalid("a change needs fields and users", at));
    }
    if (!r.status().ok()) return incomplete(r.status());
    bool known = true;
    change.kind = KindFromName(kind, known);
    if (!known) return invalid("unknown change kind \"" + kind + "\" at " + at);
    for (size_t j = 0; j < fields->size(); ++j) {
      gw::JsonReader f((*fields)[j], fmt::format("{}/fields/{}", at, j));
      FieldChange field;
      f.Get("path", field.path, true);
      f.Get("secret", field.secret, true);
      f.Get("immutable", field.immutable, true);
      if (const json* before = f.Raw("before")) field.before = *before;
      if (const json* after = f.Raw("after")) field.after = *after;
      if (const json* source = f.Raw("source")) {
        gw::JsonReader where(*source, fmt::format("{}/fields/{}/source", at, j));
        where.Get("file", field.source.file, true);
        where.Get("line", field.source.line, true);
        f.Fail(where.status());
      }
      if (!f.status().ok()) return incomplete(f.status());
      change.fields.push_back(std::move(field));
    }
    gw::JsonReader u(*users, at + "/users");
    u.Get("remove", change.users.remove, true);
    u.Get("kept", change.users.kept, true);
    const json* upsert = u.Raw("upsert");
    if (u.status().ok() && (!upsert || !upsert->is_array())) {
      u.Fail(gw::Status::Invalid("expected a list of users to upsert", at + "/users/upsert"));
    }
    if (!u.status().ok()) return incomplete(u.status());
    for (const auto& record : *upsert) {
      auto user = gw::UserFromJson(record);
      if (!user.ok()) return invalid("a user in the plan: " + user.status().message());
      change.users.add.push_back(std::move(*user));
    }
    if (const json* write = r.Raw("write")) {
      DesiredCustomer desired;
      desired.name = change.customer;
      desired.file = change.file;
      desired.effective = nullptr;
      gw::JsonReader w(*write, at + "/write");
      w.Get("owner", desired.write.owner, true);
      w.Get("appliedRevision", desired.write.applied_revision, true);
      w.Get("labels", desired.write.labels, true);
      w.Get("spec", desired.write.spec, true);
      w.Get("secretFingerprints", desired.secret_fingerprints, true);
      if (!w.status().ok()) return incomplete(w.status());
      change.write = desired.write;
      loaded.desired.customers.push_back(std::move(desired));
    }
    plan.changes.push_back(std::move(change));
  }
  return loaded;
}

gw::Status ResolveSavedSecrets(LoadedPlan& loaded, const SecretPolicy& secrets) {
  for (auto& customer : loaded.desired.customers) {
    for (const auto& [pointer, fingerprint] : customer.secret_fingerprints) {
      if (fingerprint == kUnreadSecretFingerprint) {
        return gw::Status(gw::StatusCode::kFailedPrecondition,
                          fmt::format("customer {}: the plan was made by an untrusted run, which "
                                      "did not read the secret {}; plan again",
                                      customer.name, pointer));
      }
      // The reference sits beside the secret in the settings document: /x/password <-
      // /x/passwordRef.
      json::json_pointer reference_at(pointer + "Ref");
      if (!customer.write.spec.contains(reference_at) ||
          !customer.write.spec[reference_at].is_string()) {
        return gw::Status(
            gw::StatusCode::kInvalidArgument,
            fmt::format("customer {}: no reference for the secret {}", customer.name, pointer));
      }
      auto value = ResolveSecret(customer.write.spec[reference_at].get<std::string>(), secrets);
      if (!value.ok())
        return gw::Status(value.status().code(),
                          fmt::format("customer {}: {}", customer.name, value.status().message()));
      if (!gw::SecretMatches(fingerprint, *value)) {
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
