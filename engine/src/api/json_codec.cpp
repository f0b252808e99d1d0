#include "api/json_codec.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "base/base64.h"
#include "gateway/domain_name.h"
#include "gateway/json_reader.h"

namespace gw {

using nlohmann::json;

namespace {

using Reader = JsonReader;

struct HttpMapping {
  StatusCode code;
  int http;
};
// Read top down: the first row for a code gives its HTTP status, the first row for a
// status gives its code.
constexpr HttpMapping kHttpMappings[] = {
    {StatusCode::kOk, 200},
    {StatusCode::kMalformed, 400},
    {StatusCode::kUnauthenticated, 401},
    {StatusCode::kPermissionDenied, 403},
    {StatusCode::kNotFound, 404},
    {StatusCode::kConflict, 409},
    {StatusCode::kFailedPrecondition, 412},
    {StatusCode::kAlreadyExists, 412},
    {StatusCode::kResourceExhausted, 413},
    {StatusCode::kInvalidArgument, 422},
    {StatusCode::kPreconditionRequired, 428},
    {StatusCode::kUnavailable, 503},
    {StatusCode::kUnavailable, 429},  // overload and gateway errors from proxies: try again
    {StatusCode::kUnavailable, 502},
    {StatusCode::kUnavailable, 504},
    {StatusCode::kInternal, 500},
};

}  // namespace

int HttpStatusFor(StatusCode code) {
  for (const auto& m : kHttpMappings) {
    if (m.code == code) return m.http;
  }
  return 500;
}

StatusCode StatusCodeForHttp(int http_status) {
  for (const auto& m : kHttpMappings) {
    if (m.http == http_status) return m.code;
  }
  return StatusCode::kInternal;
}

Result<Customer> CustomerFromJson(const json& value) {
  Reader r(value, "");
  Customer c;
  r.Get("name", c.name, true);
  r.Get("version", c.version, true);
  r.Get("owner", c.owner);
  r.Get("appliedRevision", c.applied_revision);
  r.Get("labels", c.labels);
  r.Get("secretFingerprints", c.secret_fingerprints);
  r.Get("userCount", c.user_count);
  r.Get("usersDigest", c.users_digest);
  r.Get("createdAt", c.created_at);
  r.Get("updatedAt", c.updated_at);
  if (const json* spec = r.Raw("spec")) c.spec = *spec;
  if (const json* claims = r.Raw("domainClaims"); claims && claims->is_array()) {
    for (size_t i = 0; i < claims->size(); ++i) {
      auto claim = DomainClaimFromJson((*claims)[i], fmt::format("/domainClaims/{}", i));
      if (!claim.ok()) return claim.status();
      c.domain_claims.push_back(std::move(*claim));
    }
  }
  if (!r.status().ok()) return r.status();
  return c;
}

json ToJson(const GatewayFacts& facts) {
  return {{"mxHosts", facts.mx_hosts},
          {"spfInclude", facts.spf_include},
          {"verifiesDomains", facts.verifies_domains}};
}

Result<GatewayFacts> GatewayFactsFromJson(const json& value) {
  Reader r(value, "");
  GatewayFacts facts;
  r.Get("mxHosts", facts.mx_hosts);
  r.Get("spfInclude", facts.spf_include);
  r.Get("verifiesDomains", facts.verifies_domains);
  if (!r.status().ok()) return r.status();
  return facts;
}

Result<DomainClaim> DomainClaimFromJson(const json& value, const std::string& at) {
  Reader r(value, at);
  DomainClaim claim;
  std::string record;
  r.Get("domain", claim.domain, true);
  r.Get("partner", claim.partner);
  r.Get("customer", claim.customer);
  r.Get("record", record);
  r.Get("claimedAt", claim.claimed_at);
  r.Get("verifiedAt", claim.verified_at);
  r.Get("checkedAt", claim.checked_at);
  r.Get("checkDetail", claim.check_detail);
  if (!r.status().ok()) return r.status();
  if (record.rfind(kVerificationRecordPrefix, 0) == 0)
    claim.token = record.substr(kVerificationRecordPrefix.size());
  return claim;
}

Result<CustomerWrite> CustomerWriteFromJson(const json& value) {
  Reader r(value, "");
  r.AllowOnly({"owner", "appliedRevision", "labels", "spec", "secrets"});
  CustomerWrite w;
  r.Get("owner", w.owner);
  r.Get("appliedRevision", w.applied_revision);
  r.Get("labels", w.labels);
  r.Get("secrets", w.secrets);
  const json* spec = r.Raw("spec");
  if (!spec) r.Fail(Status::Invalid("missing required field 'spec'", "/spec"));
  if (!r.status().ok()) return r.status();
  w.spec = *spec;
  return w;
}

json ToJson(const CustomerWrite& w) {
  json out = {{"owner", w.owner},
              {"appliedRevision", w.applied_revision},
              {"labels", w.labels},
              {"spec", w.spec}};
  if (!w.secrets.empty()) out["secrets"] = w.secrets;
  return out;
}

namespace {

// A list of users at `pointer` (errors name the element: /upsert/3/address).
Result<std::vector<User>> UsersFromJson(const json& list, const std::string& pointer) {
  if (!list.is_array()) return Status::Invalid("expected a list of users", pointer);
  std::vector<User> users;
  users.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    auto user = UserFromJson(list[i], fmt::format("{}/{}", pointer, i));
    if (!user.ok()) return user.status();
    users.push_back(std::move(*user));
  }
  return users;
}

}  // namespace

Result<UserBatch> UserBatchFromJson(const json& value) {
  Reader r(value, "");
  r.AllowOnly({"upsert", "delete"});
  UserBatch batch;
  r.Get("delete", batch.remove);
  if (!r.status().ok()) return r.status();
  if (const json* upsert = r.Raw("upsert")) {
    auto users = UsersFromJson(*upsert, "/upsert");
    if (!users.ok()) return users.status();
    batch.upsert = std::move(*users);
  }
  return batch;
}

json ToJson(const UserBatch& batch) {
  json upsert = json::array();
  for (const auto& u : batch.upsert) upsert.push_back(ToJson(u));
  return {{"upsert", std::move(upsert)}, {"delete", batch.remove}};
}

json ToJson(const UserBatchResult& r) {
  return {{"upserted", r.upserted},
          {"removed", r.removed},
          {"userCount", r.user_count},
          {"usersDigest", r.users_digest}};
}

Result<UserBatchResult> UserBatchResultFromJson(const json& value) {
  Reader r(value, "");
  UserBatchResult out;
  r.Get("upserted", out.upserted, true);
  r.Get("removed", out.removed, true);
  r.Get("userCount", out.user_count, true);
  r.Get("usersDigest", out.users_digest, true);
  if (!r.status().ok()) return r.status();
  return out;
}

json ToJson(const UserPage& page) {
  json users = json::array();
  for (const auto& u : page.users) users.push_back(ToJson(u));
  json out = {{"users", std::move(users)}};
  if (!page.next_after.empty()) out["nextAfter"] = page.next_after;
  return out;
}

Result<UserPage> UserPageFromJson(const json& value) {
  Reader r(value, "");
  UserPage page;
  r.Get("nextAfter", page.next_after);
  if (!r.status().ok()) return r.status();
  const json* users = r.Raw("users");
  if (!users) return Status::Invalid("expected a list of users", "/users");
  auto parsed = UsersFromJson(*users, "/users");
  if (!parsed.ok()) return parsed.status();
  page.users = std::move(*parsed);
  return page;
}

json ToJson(const PartnerState& state) {
  json customers = json::array();
  for (const auto& c : state.customers) customers.push_back(ToJson(c));
  return {{"partner", state.partner},
          {"revision", state.revision},
          {"customers", std::move(customers)}};
}

Result<PartnerState> PartnerStateFromJson(const json& value) {
  Reader r(value, "");
  PartnerState state;
  r.Get("partner", state.partner, true);
  r.Get("revision", state.revision, true);
  if (!r.status().ok()) return r.status();
  const json* customers = r.Raw("customers");
  if (!customers || !customers->is_array())
    return Status::Invalid("expected a list of customers", "/customers");
  state.customers.reserve(customers->size());
  for (const auto& c : *customers) {
    auto customer = CustomerFromJson(c);
    if (!customer.ok()) return customer.status();
    state.customers.push_back(std::move(*customer));
  }
  return state;
}

Result<QuarantinedMessage> QuarantinedMessageFromJson(const json& value) {
  Reader r(value, "");
  QuarantinedMessage m;
  r.Get("id", m.id);
  r.Get("customer", m.customer, true);
  r.Get("receivedAt", m.received_at);
  r.Get("sender", m.sender);
  r.Get("recipients", m.recipients);
  r.Get("subject", m.subject);
  r.Get("size", m.size);
  r.Get("reason", m.reason);
  r.Get("detail", m.detail);
  r.Get("releasedAt", m.released_at);
  r.Get("releasedTo", m.released_to);
  r.Get("releaseRequests", m.release_requests);
  r.Get("removedBy", m.removed_by);
  if (!r.status().ok()) return r.status();
  return m;
}

Result<PersonalListEntry> PersonalListEntryFromJson(const json& value) {
  Reader r(value, "");
  PersonalListEntry e;
  r.Get("address", e.address, true);
  r.Get("list", e.list, true);
  r.Get("kind", e.kind, true);
  r.Get("value", e.value, true);
  r.Get("addedAt", e.added_at);
  r.Get("addedBy", e.added_by);
  if (!r.status().ok()) return r.status();
  return e;
}

json QuarantineRequestToJson(const QuarantinedMessage& meta, const std::string& message) {
  return {{"customer", meta.customer},       {"sender", meta.sender},
          {"recipients", meta.recipients},   {"subject", meta.subject},
          {"reason", meta.reason},           {"detail", meta.detail},
          {"message", EncodeBase64(message)}};
}

Result<std::pair<QuarantinedMessage, std::string>> QuarantineRequestFromJson(const json& value) {
  Reader r(value, "");
  r.AllowOnly({"customer", "sender", "recipients", "subject", "reason", "detail", "message"});
  QuarantinedMessage meta;
  std::string encoded;
  r.Get("customer", meta.customer, true);
  r.Get("sender", meta.sender);
  r.Get("recipients", meta.recipients, true);
  r.Get("subject", meta.subject);
  r.Get("reason", meta.reason, true);
  r.Get("detail", meta.detail);
  r.Get("message", encoded, true);
  if (!r.status().ok()) return r.status();
  auto message = DecodeBase64(encoded);
  if (!message) return Status::Invalid("message must be base64", "/message");
  return std::make_pair(std::move(meta), std::move(*message));
}

json ArchiveRequestToJson(const ArchivedMessage& meta, const std::string& message,
                          const std::string& text) {
  return {{"customer", meta.customer},
          {"direction", meta.direction},
          {"sender", meta.sender},
          {"recipients", meta.recipients},
          {"subject", meta.subject},
          {"message", EncodeBase64(message)},
          {"text", text}};
}

Result<ArchiveRequest> ArchiveRequestFromJson(const json& value) {
  Reader r(value, "");
  r.AllowOnly({"customer", "direction", "sender", "recipients", "subject", "message", "text"});
  ArchiveRequest request;
  std::string encoded;
  r.Get("customer", request.meta.customer, true);
  r.Get("direction", request.meta.direction, true);
  r.Get("sender", request.meta.sender);
  r.Get("recipients", request.meta.recipients, true);
  r.Get("subject", request.meta.subject);
  r.Get("message", encoded, true);
  r.Get("text", request.text);
  if (!r.status().ok()) return r.status();
  auto message = DecodeBase64(encoded);
  if (!message) return Status::Invalid("message must be base64", "/message");
  request.message = std::move(*message);
  return request;
}

Result<ArchivedMessage> ArchivedMessageFromJson(const json& value) {
  Reader r(value, "");
  ArchivedMessage m;
  r.Get("id", m.id, true);
  r.Get("customer", m.customer);
  r.Get("direction", m.direction);
  r.Get("receivedAt", m.received_at);
  r.Get("sender", m.sender);
  r.Get("recipients", m.recipients);
  r.Get("subject", m.subject);
  r.Get("size", m.size);
  r.Get("digest", m.digest);
  r.Get("retainUntil", m.retain_until);
  r.Get("chain", m.chain);
  r.Get("releasedAt", m.released_at);
  r.Get("releaseReason", m.release_reason);
  if (!r.status().ok()) return r.status();
  return m;
}

Result<ArchiveCheck> ArchiveCheckFromJson(const json& value) {
  Reader r(value, "");
  ArchiveCheck c;
  r.Get("entries", c.entries, true);
  r.Get("firstId", c.first_id);
  r.Get("lastId", c.last_id);
  r.Get("anchor", c.anchor);
  r.Get("head", c.head);
  r.Get("problems", c.problems);
  if (!r.status().ok()) return r.status();
  return c;
}

Result<AuditEntry> AuditEntryFromJson(const json& value) {
  Reader r(value, "");
  AuditEntry e;
  r.Get("id", e.id, true);
  r.Get("at", e.at);
  r.Get("partner", e.partner);
  r.Get("actor", e.actor);
  r.Get("action", e.action);
  r.Get("target", e.target);
  if (!r.status().ok()) return r.status();
  if (const json* detail = r.Raw("detail")) e.detail = *detail;
  return e;
}

}  // namespace gw
