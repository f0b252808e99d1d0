#include "api/admin_handlers.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "api/json_codec.h"
#include "gateway/access.h"
#include "gateway/bounded_json.h"
#include "gateway/customer_rules.h"
#include "gateway/rfc3339.h"

namespace gw {

using nlohmann::json;

namespace {

const char* ErrorCodeName(int http) {
  switch (http) {
    case 400:
      return "malformed";
    case 401:
      return "unauthenticated";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 409:
      return "conflict";
    case 412:
      return "precondition_failed";
    case 413:
      return "too_large";
    case 422:
      return "invalid";
    case 428:
      return "precondition_required";
    case 429:
      return "too_many_requests";
    case 503:
      return "unavailable";
    default:
      return "internal";
  }
}

void WriteJson(HttpResponse& res, int http, const json& body) {
  res.status = http;
  res.SetContent(body.dump(), "application/json");
}

// Accepts "7", "\"7\"" and W/"7".
std::optional<int64_t> ParseEtag(std::string value) {
  if (value.rfind("W/", 0) == 0) value = value.substr(2);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
    value = value.substr(1, value.size() - 2);
  try {
    size_t used = 0;
    int64_t v = std::stoll(value, &used);
    if (used == value.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// ?after=N&limit=N of a list that pages by id, or answers 400.
bool PageOf(const HttpRequest& req, HttpResponse& res, int64_t& after, size_t& limit) {
  try {
    if (req.HasParam("after")) after = std::stoll(req.Param("after"));
    if (req.HasParam("limit")) limit = std::stoul(req.Param("limit"));
  } catch (const std::exception&) {
    WriteError(res, 400, "after and limit must be numbers");
    return false;
  }
  return true;
}

void WriteClaims(HttpResponse& res, const std::vector<DomainClaim>& claims) {
  json listed = json::array();
  for (const auto& claim : claims) listed.push_back(ToJson(claim));
  WriteJson(res, 200, {{"claims", std::move(listed)}});
}

// Parses the JSON body or answers 400.
std::optional<json> Body(const HttpRequest& req, HttpResponse& res) {
  auto parsed = ParseBoundedJson(req.body);
  if (!parsed.ok()) {
    WriteError(res, 400, "request body: " + parsed.status().message());
    return std::nullopt;
  }
  return std::move(*parsed);
}

void ListPartners(const AdminContext& admin, const Actor& actor, const HttpRequest&,
                  HttpResponse& res) {
  auto partners = admin.service.ListPartners(actor);
  if (!partners.ok()) return WriteStatus(res, partners.status());
  WriteJson(res, 200, {{"partners", *partners}});
}

void PutPartner(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                HttpResponse& res) {
  if (Status st = admin.service.PutPartner(actor, req.matches[1]); !st.ok())
    return WriteStatus(res, st);
  WriteJson(res, 200, {{"name", req.matches[1]}});
}

void GetState(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
              HttpResponse& res) {
  auto state = admin.service.GetState(actor, req.matches[1]);
  if (!state.ok()) return WriteStatus(res, state.status());
  WriteJson(res, 200, ToJson(*state));
}

void ListCustomers(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                   HttpResponse& res) {
  auto customers = admin.service.ListCustomers(actor, req.matches[1]);
  if (!customers.ok()) return WriteStatus(res, customers.status());
  json list = json::array();
  for (const auto& c : *customers) list.push_back(ToJson(c));
  WriteJson(res, 200, {{"customers", std::move(list)}});
}

void GetCustomer(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                 HttpResponse& res) {
  auto customer = admin.service.GetCustomer(actor, req.matches[1], req.matches[2]);
  if (!customer.ok()) return WriteStatus(res, customer.status());
  res.SetHeader("ETag", fmt::format("\"{}\"", customer->version));
  WriteJson(res, 200, ToJson(*customer));
}

// The compiled configuration the mail path reads: sizes in bytes, destinations in
// delivery order, relay sources as ranges.
void GetCustomerConfig(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                       HttpResponse& res) {
  auto customer = admin.service.GetCustomer(actor, req.matches[1], req.matches[2]);
  if (!customer.ok()) return WriteStatus(res, customer.status());
  res.SetHeader("ETag", fmt::format("\"{}\"", customer->version));
  WriteJson(res, 200, ToJson(CompileStored(*customer).config));
}

void PutCustomer(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                 HttpResponse& res) {
  WriteCondition condition;
  if (req.Header("If-None-Match") == "*") {
    condition = WriteCondition::CreateOnly();
  } else if (req.HasHeader("If-Match")) {
    auto version = ParseEtag(req.Header("If-Match"));
    if (!version) return WriteError(res, 400, "If-Match must be a version, such as \"3\"");
    condition = WriteCondition::AtVersion(*version);
  } else {
    return WriteError(res, 428,
                      "send If-None-Match: * to create, or If-Match: <version> to replace");
  }
  auto body = Body(req, res);
  if (!body) return;
  auto write = CustomerWriteFromJson(*body);
  if (!write.ok()) return WriteStatus(res, write.status());
  auto customer =
      admin.service.PutCustomer(actor, req.matches[1], req.matches[2], *write, condition);
  if (!customer.ok()) return WriteStatus(res, customer.status());
  res.SetHeader("ETag", fmt::format("\"{}\"", customer->version));
  bool created = condition.kind == WriteCondition::Kind::kCreateOnly;
  WriteJson(res, created ? 201 : 200, ToJson(*customer));
}

void DeleteCustomer(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                    HttpResponse& res) {
  if (!req.HasHeader("If-Match")) return WriteError(res, 428, "send If-Match: <version> to delete");
  auto version = ParseEtag(req.Header("If-Match"));
  if (!version) return WriteError(res, 400, "If-Match must be a version, such as \"3\"");
  Status st = admin.service.DeleteCustomer(actor, req.matches[1], req.matches[2], *version);
  if (!st.ok()) return WriteStatus(res, st);
  res.status = 204;
}

void ListUsers(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
               HttpResponse& res) {
  size_t limit = 1000;
  if (req.HasParam("limit")) {
    try {
      limit = std::stoul(req.Param("limit"));
    } catch (const std::exception&) {
      return WriteError(res, 400, "limit must be a number", "limit");
    }
  }
  auto page =
      admin.service.ListUsers(actor, req.matches[1], req.matches[2], req.Param("after"), limit);
  if (!page.ok()) return WriteStatus(res, page.status());
  WriteJson(res, 200, ToJson(*page));
}

void BatchUsers(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                HttpResponse& res) {
  auto body = Body(req, res);
  if (!body) return;
  auto batch = UserBatchFromJson(*body);
  if (!batch.ok()) return WriteStatus(res, batch.status());
  auto result = admin.service.BatchUsers(actor, req.matches[1], req.matches[2], *batch);
  if (!result.ok()) return WriteStatus(res, result.status());
  WriteJson(res, 200, ToJson(*result));
}

void GetGateway(const AdminContext& admin, const Actor&, const HttpRequest&, HttpResponse& res) {
  WriteJson(res, 200, ToJson(admin.options.facts));
}

// Domain claims: ?customer=NAME&pending=true narrow the list.
void ListDomainClaims(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                      HttpResponse& res) {
  auto claims = admin.service.ListDomainClaims(actor, req.matches[1], req.Param("customer"),
                                               req.Param("pending") == "true");
  if (!claims.ok()) return WriteStatus(res, claims.status());
  WriteClaims(res, *claims);
}

void CheckDomains(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                  HttpResponse& res) {
  const std::string &partner = req.matches[1], &customer = req.matches[2];
  if (auto visible = admin.service.GetCustomer(actor, partner, customer); !visible.ok())
    return WriteStatus(res, visible.status());
  if (!admin.options.check_domains) {
    return WriteStatus(res, Status(StatusCode::kFailedPrecondition,
                                   "this gateway does not verify domains (gatewayd "
                                   "--verify-domains)"));
  }
  auto claims = admin.options.check_domains(partner, customer);
  if (!claims.ok()) return WriteStatus(res, claims.status());
  WriteClaims(res, *claims);
}

// An operator vouches for a claim without DNS.
void VerifyDomain(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                  HttpResponse& res) {
  DomainCheck check;
  check.partner = req.matches[1];
  check.customer = req.matches[2];
  check.domain = req.matches[3];
  check.found = true;
  check.detail = fmt::format("verified by hand by {}", actor.name);
  auto claims = admin.service.RecordDomainChecks(actor, {check});
  if (!claims.ok()) return WriteStatus(res, claims.status());
  if (claims->empty()) {
    return WriteStatus(
        res, Status(StatusCode::kNotFound, fmt::format("no claim of customer '{}' on '{}'",
                                                       check.customer, check.domain)));
  }
  if (!claims->front().verified()) {
    return WriteStatus(res, Status(StatusCode::kConflict, claims->front().check_detail, "/domain"));
  }
  WriteJson(res, 200, ToJson(claims->front()));
}

void TakeLease(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
               HttpResponse& res) {
  auto body = Body(req, res);
  if (!body) return;
  if (!body->is_object() || !(*body)["holder"].is_string() ||
      (body->contains("ttlSeconds") && !(*body)["ttlSeconds"].is_number_integer())) {
    return WriteError(res, 422, "expected {\"holder\": string, \"ttlSeconds\": integer}",
                      "/holder");
  }
  auto lease = admin.service.TakeLease(actor, req.matches[1], (*body)["holder"],
                                       body->value("ttlSeconds", 60));
  if (!lease.ok()) return WriteStatus(res, lease.status());
  WriteJson(res, 200, {{"holder", lease->holder}, {"expiresAt", lease->expires_at_unix}});
}

void Quarantine(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                HttpResponse& res) {
  auto body = Body(req, res);
  if (!body) return;
  auto request = QuarantineRequestFromJson(*body);
  if (!request.ok()) return WriteStatus(res, request.status());
  if (request->first.customer != req.matches[2]) {
    return WriteError(res, 422, "customer must match the path", "/customer");
  }
  auto id = admin.service.Quarantine(actor, req.matches[1], request->first, request->second);
  if (!id.ok()) return WriteStatus(res, id.status());
  WriteJson(res, 201, {{"id", *id}});
}

void ListQuarantine(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                    HttpResponse& res) {
  int64_t after = 0;
  size_t limit = 1000;
  if (!PageOf(req, res, after, limit)) return;
  auto messages = admin.service.ListQuarantine(actor, req.matches[1], req.matches[2], after, limit);
  if (!messages.ok()) return WriteStatus(res, messages.status());
  json list = json::array();
  for (const auto& m : *messages) list.push_back(ToJson(m));
  WriteJson(res, 200, {{"messages", std::move(list)}});
}

void ReleaseQuarantined(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                        HttpResponse& res) {
  int64_t id = 0;
  try {
    id = std::stoll(req.matches[3]);
  } catch (const std::exception&) {
    return WriteError(res, 404, "a quarantined message is named by its number");
  }
  auto released = admin.service.ReleaseQuarantined(actor, req.matches[1], req.matches[2], id);
  if (!released.ok()) return WriteStatus(res, released.status());
  WriteJson(res, 200, ToJson(*released));
}

void ArchiveMessage(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                    HttpResponse& res) {
  auto body = Body(req, res);
  if (!body) return;
  auto request = ArchiveRequestFromJson(*body);
  if (!request.ok()) return WriteStatus(res, request.status());
  if (request->meta.customer != req.matches[2]) {
    return WriteError(res, 422, "customer must match the path", "/customer");
  }
  auto id =
      admin.service.Archive(actor, req.matches[1], request->meta, request->message, request->text);
  if (!id.ok()) return WriteStatus(res, id.status());
  WriteJson(res, 201, {{"id", *id}});
}

// An archive search's query parameters; false (answered 400) when one is not readable.
bool ArchiveQueryOf(const HttpRequest& req, HttpResponse& res, ArchiveQuery& query) {
  query.sender = req.Param("sender");
  query.recipient = req.Param("recipient");
  query.since = req.Param("since");
  query.until = req.Param("until");
  query.subject = req.Param("subject");
  query.text = req.Param("text");
  try {
    if (req.HasParam("before")) query.before = std::stoll(req.Param("before"));
    if (req.HasParam("limit")) query.limit = std::stoul(req.Param("limit"));
  } catch (const std::exception&) {
    WriteError(res, 400, "before and limit must be numbers");
    return false;
  }
  return true;
}

void SearchArchive(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                   HttpResponse& res) {
  ArchiveQuery query;
  if (!ArchiveQueryOf(req, res, query)) return;
  auto found = admin.service.SearchArchive(actor, req.matches[1], req.matches[2], query);
  if (!found.ok()) return WriteStatus(res, found.status());
  json list = json::array();
  for (const auto& m : *found) list.push_back(ToJson(m));
  WriteJson(res, 200, {{"messages", std::move(list)}});
}

void LoadArchived(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                  HttpResponse& res) {
  int64_t id = 0;
  try {
    id = std::stoll(req.matches[3]);
  } catch (const std::exception&) {
    return WriteError(res, 404, "an archived message is named by its number");
  }
  auto loaded = admin.service.LoadArchived(actor, req.matches[1], req.matches[2], id);
  if (!loaded.ok()) return WriteStatus(res, loaded.status());
  res.status = 200;
  res.SetContent(std::move(loaded->second), "message/rfc822");
}

void ExportArchive(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                   HttpResponse& res) {
  ArchiveQuery query;
  query.limit = 0;  // the export's own maximum
  if (!ArchiveQueryOf(req, res, query)) return;
  std::string format = req.HasParam("format") ? req.Param("format") : "mbox";
  auto exported = admin.service.ExportArchive(actor, req.matches[1], req.matches[2], query, format);
  if (!exported.ok()) return WriteStatus(res, exported.status());
  res.status = 200;
  res.SetHeader("Content-Disposition",
                fmt::format("attachment; filename=\"{}-archive.{}\"", req.matches[2], format));
  res.SetContent(std::move(*exported), format == "zip" ? "application/zip" : "application/mbox");
}

void VerifyArchive(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                   HttpResponse& res) {
  auto check = admin.service.VerifyArchive(actor, req.matches[1], req.matches[2]);
  if (!check.ok()) return WriteStatus(res, check.status());
  WriteJson(res, 200, ToJson(*check));
}

// Write-only: the password is hashed at once and never answered, logged or audited.
void SetContinuityPassword(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                           HttpResponse& res) {
  auto body = Body(req, res);
  if (!body) return;
  if (!body->is_object() || !(*body)["password"].is_string() || body->size() != 1)
    return WriteError(res, 422, "expected {\"password\": string}", "/password");
  Status set = admin.service.SetContinuityPassword(actor, req.matches[1], req.matches[2],
                                                   req.matches[3], (*body)["password"]);
  if (!set.ok()) return WriteStatus(res, set);
  res.status = 204;
}

// Customers in continuity now: all for an operator, the partner's own for a partner.
void ListContinuity(const AdminContext& admin, const Actor& actor, const HttpRequest&,
                    HttpResponse& res) {
  json list = json::array();
  for (const auto& e :
       admin.options.continuity ? admin.options.continuity() : std::vector<ContinuityEntry>{}) {
    if (!Authorize(actor, Action::kReadContinuity, e.partner, e.customer).ok()) continue;
    list.push_back({{"partner", e.partner},
                    {"customer", e.customer},
                    {"since", e.since},
                    {"reason", e.reason}});
  }
  WriteJson(
      res, 200,
      {{"enabled", static_cast<bool>(admin.options.continuity)}, {"customers", std::move(list)}});
}

// Continuity retention now, or as of another moment (operators; a later one expunges
// sooner: a test clock, or room made on purpose).
void RunContinuityRetention(const AdminContext& admin, const Actor&, const HttpRequest& req,
                            HttpResponse& res) {
  if (!admin.options.expire_continuity)
    return WriteError(res, 409, "this gatewayd keeps no continuity mailboxes");
  auto as_of = std::chrono::system_clock::now();
  if (!req.body.empty()) {
    auto body = Body(req, res);
    if (!body) return;
    auto at = body->is_object() && (*body)["asOf"].is_string() ? ParseRfc3339((*body)["asOf"])
                                                               : std::nullopt;
    if (!at) return WriteError(res, 422, "expected {\"asOf\": RFC 3339 time}", "/asOf");
    as_of = *at;
  }
  auto expired = admin.options.expire_continuity(as_of);
  if (!expired.ok()) return WriteStatus(res, expired.status());
  WriteJson(res, 200, {{"mailboxes", *expired}});
}

// The spam report pass gatewayd runs every minute, now or as of a moment already past
// (operators: a test clock, or a pass that an outage missed).
void RunSpamReports(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                    HttpResponse& res) {
  auto as_of = std::chrono::system_clock::now();
  if (!req.body.empty()) {
    auto body = Body(req, res);
    if (!body) return;
    if (!body->is_object() || (body->contains("asOf") && !(*body)["asOf"].is_string()))
      return WriteError(res, 422, "expected {\"asOf\": RFC 3339 time}", "/asOf");
    if (body->contains("asOf")) {
      auto parsed = ParseRfc3339((*body)["asOf"]);
      if (!parsed) return WriteError(res, 422, "asOf must be an RFC 3339 time", "/asOf");
      as_of = *parsed;
    }
  }
  auto run = admin.service.RunSpamReports(actor, as_of);
  if (!run.ok()) return WriteStatus(res, run.status());
  WriteJson(res, 200,
            {{"customersDue", run->customers_due},
             {"reportsSent", run->reports_sent},
             {"messagesListed", run->messages_listed},
             {"failures", run->failures}});
}

// {"name", "role", "customer"?, "expiresInDays"?} -> 201 with the bearer token, once.
void MintToken(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
               HttpResponse& res) {
  auto body = Body(req, res);
  if (!body) return;
  TokenRequest request;
  static const std::set<std::string> kFields = {"name", "role", "customer", "expiresInDays"};
  if (!body->is_object()) return WriteError(res, 422, "expected a JSON object");
  for (const auto& [key, value] : body->items()) {
    if (!kFields.contains(key)) return WriteError(res, 422, "unknown field " + key, "/" + key);
    bool number = key == "expiresInDays";
    if (number ? !value.is_number_integer() : !value.is_string())
      return WriteError(res, 422, key + (number ? " must be a whole number" : " must be a string"),
                        "/" + key);
  }
  request.name = body->value("name", "");
  request.role = body->value("role", "");
  request.customer = body->value("customer", "");
  request.expires_in_days = body->value("expiresInDays", request.expires_in_days);
  auto minted = admin.service.MintToken(actor, req.matches[1], request);
  if (!minted.ok()) return WriteStatus(res, minted.status());
  json answer = ToJson(minted->token);
  answer["token"] = minted->bearer;
  res.SetHeader("Cache-Control", "no-store");
  WriteJson(res, 201, answer);
}

void ListTokens(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                HttpResponse& res) {
  auto tokens = admin.service.ListTokens(actor, req.matches[1]);
  if (!tokens.ok()) return WriteStatus(res, tokens.status());
  json list = json::array();
  for (const auto& token : *tokens) list.push_back(ToJson(token));
  WriteJson(res, 200, {{"tokens", std::move(list)}});
}

void RevokeToken(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                 HttpResponse& res) {
  if (Status s = admin.service.RevokeToken(actor, req.matches[1], req.matches[2]); !s.ok())
    return WriteStatus(res, s);
  res.status = 204;
}

// A customer's personal list entries: every user's, or one user's (/users/{}/lists).
void ListPersonalEntries(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                         HttpResponse& res) {
  std::string address = req.matches.size() > 3 ? req.matches[3] : "";
  auto entries = admin.service.ListPersonalEntries(actor, req.matches[1], req.matches[2], address);
  if (!entries.ok()) return WriteStatus(res, entries.status());
  json list = json::array();
  for (const auto& entry : *entries) list.push_back(ToJson(entry));
  WriteJson(res, 200, {{"entries", std::move(list)}});
}

// {"list": "allow" | "block", "value": address or domain}
void PutPersonalEntry(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                      HttpResponse& res) {
  auto body = Body(req, res);
  if (!body) return;
  if (!body->is_object() || body->size() != 2 || !(*body)["list"].is_string() ||
      !(*body)["value"].is_string())
    return WriteError(res, 422, "expected {\"list\": \"allow\" or \"block\", \"value\": string}");
  if (Status s = admin.service.PutPersonalEntry(actor, req.matches[1], req.matches[2],
                                                req.matches[3], (*body)["list"], (*body)["value"]);
      !s.ok())
    return WriteStatus(res, s);
  res.status = 204;
}

void RemovePersonalEntry(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                         HttpResponse& res) {
  if (Status s = admin.service.RemovePersonalEntry(actor, req.matches[1], req.matches[2],
                                                   req.matches[3], req.matches[4]);
      !s.ok())
    return WriteStatus(res, s);
  res.status = 204;
}

void ListAudit(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
               HttpResponse& res) {
  int64_t after = 0;
  size_t limit = 1000;
  if (!PageOf(req, res, after, limit)) return;
  std::string partner = req.Param("partner");
  if (partner.empty()) partner = actor.partner;
  auto entries = admin.service.ListAudit(actor, partner, after, limit);
  if (!entries.ok()) return WriteStatus(res, entries.status());
  json list = json::array();
  for (const auto& e : *entries) list.push_back(ToJson(e));
  WriteJson(res, 200, {{"entries", std::move(list)}});
}

}  // namespace

void WriteError(HttpResponse& res, int http, const std::string& message, const std::string& field,
                const std::vector<StatusDetail>& details) {
  json error = {{"code", ErrorCodeName(http)}, {"message", message}};
  if (!field.empty()) error["field"] = field;
  for (const auto& d : details) {
    error["details"].push_back({{"field", d.field}, {"rule", d.rule}, {"message", d.message}});
  }
  res.status = http;
  res.SetContent(json{{"error", error}}.dump(), "application/json");
}

void WriteStatus(HttpResponse& res, const Status& status) {
  WriteError(res, HttpStatusFor(status.code()), status.message(), status.field(), status.details());
  // A busy store clears within seconds: tell clients when to come back, not to give up.
  if (status.code() == StatusCode::kUnavailable) {
    int64_t seconds = std::max<int64_t>(1, (status.retry_after_ms() + 999) / 1000);
    res.SetHeader("Retry-After", std::to_string(seconds));
  }
}

// Every /v1 route, grouped as service/ is: partners, customers, users, domains,
// quarantine, continuity, spam reports, audit, personal lists, tokens.
const std::vector<AdminRoute> kAdminRoutes = {
    {"GET", "/v1/partners", &ListPartners, Action::kListPartners},
    {"PUT", "/v1/partners/{}", &PutPartner, std::nullopt},
    {"GET", "/v1/partners/{}/state", &GetState, Action::kReadState},
    {"GET", "/v1/partners/{}/customers", &ListCustomers, Action::kReadCustomers},
    {"GET", "/v1/partners/{}/customers/{}", &GetCustomer, Action::kReadCustomers},
    {"GET", "/v1/partners/{}/customers/{}/config", &GetCustomerConfig, Action::kReadCustomers},
    {"PUT", "/v1/partners/{}/customers/{}", &PutCustomer, Action::kWriteCustomers},
    {"DELETE", "/v1/partners/{}/customers/{}", &DeleteCustomer, Action::kWriteCustomers},
    {"GET", "/v1/partners/{}/customers/{}/users", &ListUsers, Action::kReadUsers},
    {"POST", "/v1/partners/{}/customers/{}/users:batch", &BatchUsers, Action::kWriteUsers},
    {"GET", "/v1/gateway", &GetGateway, std::nullopt},
    {"GET", "/v1/partners/{}/domains", &ListDomainClaims, Action::kReadDomainClaims},
    {"POST", "/v1/partners/{}/customers/{}/domains:check", &CheckDomains, Action::kCheckDomains},
    {"POST", "/v1/partners/{}/customers/{}/domains/{}/verify", &VerifyDomain,
     Action::kVerifyDomains},
    {"POST", "/v1/partners/{}/lease", &TakeLease, Action::kTakeLease},
    {"POST", "/v1/partners/{}/customers/{}/quarantine", &Quarantine, Action::kKeepQuarantined},
    {"GET", "/v1/partners/{}/customers/{}/quarantine", &ListQuarantine, Action::kReadQuarantine},
    {"POST", "/v1/partners/{}/customers/{}/quarantine/{}/release", &ReleaseQuarantined,
     Action::kReleaseQuarantined},
    {"POST", "/v1/partners/{}/customers/{}/archive", &ArchiveMessage, Action::kArchiveMail},
    {"GET", "/v1/partners/{}/customers/{}/archive", &SearchArchive, Action::kReadArchive},
    {"GET", "/v1/partners/{}/customers/{}/archive:export", &ExportArchive, Action::kReadArchive},
    {"GET", "/v1/partners/{}/customers/{}/archive:verify", &VerifyArchive, Action::kReadArchive},
    {"GET", "/v1/partners/{}/customers/{}/archive/{}", &LoadArchived, Action::kReadArchive},
    {"PUT", "/v1/partners/{}/customers/{}/users/{}/continuity-password", &SetContinuityPassword,
     Action::kSetContinuityPassword},
    {"GET", "/v1/continuity", &ListContinuity, std::nullopt},
    {"POST", "/v1/continuity/retention:run", &RunContinuityRetention, Action::kRunHousekeeping},
    {"POST", "/v1/spam-reports:run", &RunSpamReports, Action::kRunHousekeeping},
    {"GET", "/v1/audit", &ListAudit, std::nullopt},
    {"GET", "/v1/partners/{}/customers/{}/lists", &ListPersonalEntries, Action::kReadPersonalLists},
    {"GET", "/v1/partners/{}/customers/{}/users/{}/lists", &ListPersonalEntries,
     Action::kReadPersonalLists},
    {"POST", "/v1/partners/{}/customers/{}/users/{}/lists", &PutPersonalEntry,
     Action::kWritePersonalLists},
    {"DELETE", "/v1/partners/{}/customers/{}/users/{}/lists/{}", &RemovePersonalEntry,
     Action::kWritePersonalLists},
    {"POST", "/v1/partners/{}/tokens", &MintToken, Action::kManageTokens},
    {"GET", "/v1/partners/{}/tokens", &ListTokens, Action::kManageTokens},
    {"DELETE", "/v1/partners/{}/tokens/{}", &RevokeToken, Action::kManageTokens},
};

std::pair<std::string, std::string> ScopeOf(const AdminRoute& route, const HttpRequest& req) {
  std::string_view pattern = route.pattern;
  std::pair<std::string, std::string> scope;
  if (pattern.rfind("/v1/partners/{}", 0) == 0 && req.matches.size() > 1)
    scope.first = req.matches[1];
  if (pattern.rfind("/v1/partners/{}/customers/{}", 0) == 0 && req.matches.size() > 2)
    scope.second = req.matches[2];
  return scope;
}

}  // namespace gw
