// The HTTP transport: gatewayd's admin API through cpp-httplib, mapping HTTP statuses
// back to the Status codes the Service returned on the other side.
#include <httplib.h>

#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "api/json_codec.h"
#include "api/transports.h"
#include "gateway/bounded_json.h"

namespace gw {

using nlohmann::json;

namespace {

std::string Escape(const std::string& segment) {
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '@') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

class HttpClient final : public GatewayClient {
 public:
  HttpClient(std::string url, const ClientOptions& options)
      : url_(std::move(url)), options_(options) {}

  std::string Describe() const override { return url_; }

  Status EnsurePartner(const std::string& partner) override {
    return Call("PUT", "/v1/partners/" + Escape(partner), json::object()).status();
  }

  Result<PartnerState> GetState(const std::string& partner) override {
    auto body = Call("GET", Partner(partner) + "/state");
    if (!body.ok()) return body.status();
    return Decode(PartnerStateFromJson(*body));
  }

  Result<Customer> GetCustomer(const std::string& partner, const std::string& name) override {
    auto body = Call("GET", Partner(partner) + "/customers/" + Escape(name));
    if (!body.ok()) return body.status();
    return Decode(CustomerFromJson(*body));
  }

  Result<Customer> PutCustomer(const std::string& partner, const std::string& name,
                               const CustomerWrite& write, WriteCondition condition) override {
    httplib::Headers headers;
    if (condition.kind == WriteCondition::Kind::kCreateOnly) {
      headers.emplace("If-None-Match", "*");
    } else {
      headers.emplace("If-Match", fmt::format("\"{}\"", condition.version));
    }
    auto body =
        Call("PUT", Partner(partner) + "/customers/" + Escape(name), ToJson(write), headers);
    if (!body.ok()) return body.status();
    return Decode(CustomerFromJson(*body));
  }

  Status DeleteCustomer(const std::string& partner, const std::string& name,
                        int64_t version) override {
    httplib::Headers headers = {{"If-Match", fmt::format("\"{}\"", version)}};
    return Call("DELETE", Partner(partner) + "/customers/" + Escape(name), std::nullopt, headers)
        .status();
  }

  Result<UserPage> ListUsers(const std::string& partner, const std::string& customer,
                             const std::string& after, size_t limit) override {
    std::string path =
        fmt::format("{}/customers/{}/users?limit={}", Partner(partner), Escape(customer), limit);
    if (!after.empty()) path += "&after=" + Escape(after);
    auto body = Call("GET", path);
    if (!body.ok()) return body.status();
    return Decode(UserPageFromJson(*body));
  }

  Result<UserBatchResult> BatchUsers(const std::string& partner, const std::string& customer,
                                     const UserBatch& batch) override {
    auto body = Call("POST", Partner(partner) + "/customers/" + Escape(customer) + "/users:batch",
                     ToJson(batch));
    if (!body.ok()) return body.status();
    return Decode(UserBatchResultFromJson(*body));
  }

  Result<Lease> TakeLease(const std::string& partner, const std::string& holder,
                          int64_t ttl_seconds) override {
    auto body = Call("POST", Partner(partner) + "/lease",
                     json{{"holder", holder}, {"ttlSeconds", ttl_seconds}});
    if (!body.ok()) return body.status();
    return Lease{body->value("holder", ""), body->value("expiresAt", int64_t{0})};
  }

  Result<std::vector<AuditEntry>> ListAudit(const std::string& partner, int64_t after,
                                            size_t limit) override {
    auto body = Call("GET", fmt::format("/v1/audit?partner={}&after={}&limit={}", Escape(partner),
                                        after, limit));
    if (!body.ok()) return body.status();
    std::vector<AuditEntry> entries;
    for (const auto& e : body->value("entries", json::array())) {
      auto entry = AuditEntryFromJson(e);
      if (!entry.ok()) return Decode(Result<AuditEntry>(entry.status())).status();
      entries.push_back(std::move(*entry));
    }
    return entries;
  }

  Result<int64_t> Quarantine(const std::string& partner, const QuarantinedMessage& meta,
                             const std::string& message) override {
    auto body =
        Call("POST", Quarantined(partner, meta.customer), QuarantineRequestToJson(meta, message));
    if (!body.ok()) return body.status();
    return body->value("id", int64_t{0});
  }

  Result<std::vector<QuarantinedMessage>> ListQuarantine(const std::string& partner,
                                                         const std::string& customer, int64_t after,
                                                         size_t limit) override {
    auto body = Call(
        "GET", fmt::format("{}?after={}&limit={}", Quarantined(partner, customer), after, limit));
    if (!body.ok()) return body.status();
    std::vector<QuarantinedMessage> messages;
    for (const auto& m : body->value("messages", json::array())) {
      auto message = Decode(QuarantinedMessageFromJson(m));
      if (!message.ok()) return message.status();
      messages.push_back(std::move(*message));
    }
    return messages;
  }

  Result<std::vector<PersonalListEntry>> ListPersonalEntries(const std::string& partner,
                                                             const std::string& customer) override {
    auto body = Call("GET", Partner(partner) + "/customers/" + Escape(customer) + "/lists");
    if (!body.ok()) return body.status();
    std::vector<PersonalListEntry> entries;
    for (const auto& e : body->value("entries", json::array())) {
      auto entry = Decode(PersonalListEntryFromJson(e));
      if (!entry.ok()) return entry.status();
      entries.push_back(std::move(*entry));
    }
    return entries;
  }

  Result<QuarantinedMessage> ReleaseQuarantined(const std::string& partner,
                                                const std::string& customer, int64_t id) override {
    auto body = Call("POST", fmt::format("{}/{}/release", Quarantined(partner, customer), id),
                     json::object());
    if (!body.ok()) return body.status();
    return Decode(QuarantinedMessageFromJson(*body));
  }

  Result<std::optional<std::vector<ContinuityEntry>>> ListContinuity(
      const std::string& partner) override {
    auto body = Call("GET", "/v1/continuity");
    if (!body.ok()) return body.status();
    if (!(*body)["enabled"].is_boolean() || !(*body)["customers"].is_array())
      return Status(StatusCode::kInternal, url_ + " answered GET /v1/continuity unexpectedly");
    if (!(*body)["enabled"].get<bool>()) return std::optional<std::vector<ContinuityEntry>>();
    std::vector<ContinuityEntry> entries;
    for (const auto& e : (*body)["customers"]) {
      if (!e.is_object() || e.value("partner", "") != partner) continue;
      entries.push_back(
          {partner, e.value("customer", ""), e.value("since", ""), e.value("reason", "")});
    }
    return std::optional(std::move(entries));
  }

  Status SetContinuityPassword(const std::string& partner, const std::string& customer,
                               const std::string& address, const std::string& password) override {
    return Call("PUT",
                fmt::format("{}/customers/{}/users/{}/continuity-password", Partner(partner),
                            Escape(customer), Escape(address)),
                json{{"password", password}})
        .status();
  }

  Result<GatewayFacts> GetFacts() override {
    auto body = Call("GET", "/v1/gateway");
    if (!body.ok()) return body.status();
    return Decode(GatewayFactsFromJson(*body));
  }

  Result<std::vector<DomainClaim>> CheckDomains(const std::string& partner,
                                                const std::string& customer) override {
    auto body = Call("POST", Partner(partner) + "/customers/" + Escape(customer) + "/domains:check",
                     json::object());
    if (!body.ok()) return body.status();
    std::vector<DomainClaim> claims;
    const json& listed = (*body)["claims"];
    for (size_t i = 0; listed.is_array() && i < listed.size(); ++i) {
      auto claim = Decode(DomainClaimFromJson(listed[i], fmt::format("/claims/{}", i)));
      if (!claim.ok()) return claim.status();
      claims.push_back(std::move(*claim));
    }
    return claims;
  }

  Result<int64_t> Archive(const std::string& partner, const ArchivedMessage& meta,
                          const std::string& message, const std::string& text) override {
    auto body =
        Call("POST", Archived(partner, meta.customer), ArchiveRequestToJson(meta, message, text));
    if (!body.ok()) return body.status();
    return body->value("id", int64_t{0});
  }

  Result<std::vector<ArchivedMessage>> SearchArchive(const std::string& partner,
                                                     const std::string& customer,
                                                     const ArchiveQuery& query) override {
    auto body = Call("GET", Archived(partner, customer) + QueryOf(query));
    if (!body.ok()) return body.status();
    std::vector<ArchivedMessage> found;
    for (const auto& m : body->value("messages", json::array())) {
      auto entry = Decode(ArchivedMessageFromJson(m));
      if (!entry.ok()) return entry.status();
      found.push_back(std::move(*entry));
    }
    return found;
  }

  Result<std::string> LoadArchived(const std::string& partner, const std::string& customer,
                                   int64_t id) override {
    return Fetch("GET", fmt::format("{}/{}", Archived(partner, customer), id));
  }

  Result<std::string> ExportArchive(const std::string& partner, const std::string& customer,
                                    const ArchiveQuery& query, const std::string& format) override {
    std::string query_text = QueryOf(query);
    query_text += query_text.empty() ? "?format=" : "&format=";
    query_text += Escape(format);
    return Fetch("GET", Archived(partner, customer) + ":export" + query_text);
  }

  Result<ArchiveCheck> VerifyArchive(const std::string& partner,
                                     const std::string& customer) override {
    auto body = Call("GET", Archived(partner, customer) + ":verify");
    if (!body.ok()) return body.status();
    return Decode(ArchiveCheckFromJson(*body));
  }

 private:
  static std::string Archived(const std::string& partner, const std::string& customer) {
    return Partner(partner) + "/customers/" + Escape(customer) + "/archive";
  }

  // The query string of an archive search ("" when nothing narrows it).
  static std::string QueryOf(const ArchiveQuery& q) {
    std::string out;
    auto add = [&](const char* name, const std::string& value) {
      if (value.empty()) return;
      out += out.empty() ? '?' : '&';
      out += name;
      out += '=';
      out += Escape(value);
    };
    add("sender", q.sender);
    add("recipient", q.recipient);
    add("since", q.since);
    add("until", q.until);
    add("subject", q.subject);
    add("text", q.text);
    add("before", q.before > 0 ? std::to_string(q.before) : "");
    add("limit", std::to_string(q.limit));
    return out;
  }

  static std::string Quarantined(const std::string& partner, const std::string& customer) {
    return Partner(partner) + "/customers/" + Escape(customer) + "/quarantine";
  }

  static std::string Partner(const std::string& partner) {
    return "/v1/partners/" + Escape(partner);
  }

  template <typename T>
  Result<T> Decode(Result<T> decoded) const {
    if (decoded.ok()) return decoded;
    return Status(StatusCode::kInternal, fmt::format("{} answered with an unexpected body: {}",
                                                     url_, decoded.status().message()));
  }

  // The JSON body of a 2xx answer; any other answer as the Status it carries.
  Result<json> Call(const std::string& method, const std::string& path,
                    std::optional<json> request = std::nullopt,
                    const httplib::Headers& headers = {}) {
    auto body = Fetch(method, path, std::move(request), headers);
    if (!body.ok()) return body.status();
    if (body->empty()) return json::object();
    // A gateway is trusted with configuration, not with this process's stack.
    auto parsed = ParseBoundedJson(*body);
    if (!parsed.ok()) {
      return Status(StatusCode::kInternal,
                    fmt::format("{} answered {} {} with a body that is not JSON", url_, method,
                                path.substr(0, path.find('?'))));
    }
    return std::move(*parsed);
  }

  // The body of a 2xx answer, as it came (a message, an export).
  Result<std::string> Fetch(const std::string& method, const std::string& path,
                            std::optional<json> request = std::nullopt,
                            const httplib::Headers& headers = {}) {
    std::string body = request ? request->dump() : "";
    std::unique_ptr<httplib::Client> client = Acquire();
    httplib::Result response =
        method == "GET"    ? client->Get(path, headers)
        : method == "PUT"  ? client->Put(path, headers, body, "application/json")
        : method == "POST" ? client->Post(path, headers, body, "application/json")
                           : client->Delete(path, headers);
    Release(std::move(client));
    if (!response) {
      return Status(StatusCode::kUnavailable, fmt::format("cannot reach gateway at {}: {}", url_,
                                                          httplib::to_string(response.error())));
    }
    if (response->status >= 200 && response->status < 300) return std::move(response->body);
    auto bounded = ParseBoundedJson(response->body);
    json parsed = bounded.ok() ? std::move(*bounded) : json(json::value_t::discarded);
    std::string message = fmt::format("HTTP {}", response->status), field;
    std::vector<StatusDetail> details;
    if (!parsed.is_discarded() && parsed.contains("error") && parsed["error"].is_object()) {
      // Read leniently: a field of the wrong type is left out, never thrown.
      auto text = [](const json& object, const char* key, std::string fallback = "") {
        auto it = object.find(key);
        return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
      };
      const json& error = parsed["error"];
      message = text(error, "message", message);
      field = text(error, "field");
      if (auto list = error.find("details"); list != error.end() && list->is_array()) {
        for (const auto& d : *list) {
          if (d.is_object())
            details.push_back({text(d, "field"), text(d, "rule"), text(d, "message")});
        }
      }
    }
    Status status(StatusCodeForHttp(response->status), message, field);
    status.set_details(std::move(details));
    if (response->has_header("Retry-After")) {
      // Seconds (the HTTP-date form is not used by gatewayd).
      status.set_retry_after_ms(1000 *
                                std::atoll(response->get_header_value("Retry-After").c_str()));
    }
    return status;
  }

  // One connection per concurrent call: httplib clients serialise their requests.
  std::unique_ptr<httplib::Client> Acquire() {
    {
      std::lock_guard lock(pool_mutex_);
      if (!idle_.empty()) {
        auto client = std::move(idle_.back());
        idle_.pop_back();
        return client;
      }
    }
    auto client = std::make_unique<httplib::Client>(url_);
    client->set_connection_timeout(options_.connect_timeout);
    client->set_read_timeout(options_.request_timeout);
    client->set_write_timeout(options_.request_timeout);
    if (!options_.token.empty()) client->set_bearer_token_auth(options_.token.c_str());
    if (!options_.ca_file.empty()) client->set_ca_cert_path(options_.ca_file.c_str());
    client->set_keep_alive(true);
    client->set_tcp_nodelay(true);
    return client;
  }

  void Release(std::unique_ptr<httplib::Client> client) {
    std::lock_guard lock(pool_mutex_);
    idle_.push_back(std::move(client));
  }

  std::string url_;
  ClientOptions options_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<httplib::Client>> idle_;
};

}  // namespace

Result<std::unique_ptr<GatewayClient>> OpenHttpClient(const std::string& url,
                                                      const ClientOptions& options) {
  std::string base = url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return std::unique_ptr<GatewayClient>(new HttpClient(base, options));
}

}  // namespace gw
