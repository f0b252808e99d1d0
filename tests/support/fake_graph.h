// Test support: a fake Microsoft identity platform and Microsoft Graph on one loopback
// port over TLS (a certificate from the test's CA for "localhost"), with the documented
// shapes: the client-credentials token endpoint (a client secret, or a client assertion
// JWT whose RS256 signature and x5t are checked against the registered certificate), and
// /v1.0/users/delta and /v1.0/groups/delta: pages of `page_size` objects linked by
// @odata.nextLink, the last with an @odata.deltaLink; a delta link returns only what
// changed since it was handed out (changed objects whole, removed ones as @removed, a
// group's members as members@delta).
//
// Faults a test can ask for: 429 with Retry-After, 410 on delta links (a resync), every
// token issued so far expiring, links to another host.
#pragma once

#include <httplib.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "jwt_check.h"
#include "test_ca.h"

namespace gwtest {

class FakeGraph {
 public:
  using json = nlohmann::json;

  struct Options {
    std::string tenant = "contoso.onmicrosoft.com";
    std::string client_id = "11111111-2222-3333-4444-555555555555";
    std::string secret = "the-client-secret";
    std::string certificate_pem;  // a certificate registered on the app, if any
    size_t page_size = 999;
  };

  FakeGraph(const TestCa& ca, Options options)
      : options_(std::move(options)),
        issued_(ca.Issue("graph", {"localhost"})),
        server_(issued_.cert.c_str(), issued_.key.c_str()) {
    Tenant& first = tenants_[options_.tenant];
    first.client_id = options_.client_id;
    first.secret = options_.secret;
    first.certificate_pem = options_.certificate_pem;
    server_.Post(R"(/([^/]+)/oauth2/v2\.0/token)",
                 [this](const httplib::Request& req, httplib::Response& res) { Token(req, res); });
    server_.Get(R"(/v1\.0/(users|groups)/delta)",
                [this](const httplib::Request& req, httplib::Response& res) { Delta(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    // Bound and listening already: connections wait in the backlog until this thread serves.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeGraph() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return fmt::format("https://localhost:{}", port_); }

  // The directory. `object` holds an "id"; putting it again is a change.
  void PutUser(json object) { PutUser(options_.tenant, std::move(object)); }
  void PutGroup(json object) { Put(options_.tenant, false, std::move(object)); }
  void PutUser(const std::string& tenant, json object) { Put(tenant, true, std::move(object)); }
  void Remove(const std::string& id) {
    std::lock_guard lock(mutex_);
    Tenant& tenant = tenants_[options_.tenant];
    for (auto* kind : {&tenant.users, &tenant.groups}) {
      if (kind->live.erase(id)) kind->removed[id] = ++version_;
    }
  }
  // Another tenant on the same service (Graph serves every tenant from one host), with
  // its own app and secret.
  void AddTenant(const std::string& tenant, const std::string& client_id,
                 const std::string& secret) {
    std::lock_guard lock(mutex_);
    Tenant& added = tenants_[tenant];
    added.client_id = client_id;
    added.secret = secret;
  }

  // The next `count` Graph requests are answered 429 with Retry-After: `seconds`.
  void Throttle(int count, int seconds) {
    std::lock_guard lock(mutex_);
    throttle_ = count;
    retry_after_ = seconds;
  }
  // Every delta link handed out so far answers 410 Gone (the service wants a full read).
  void ForgetDeltaLinks() {
    std::lock_guard lock(mutex_);
    for (auto& [name, tenant] : tenants_) tenant.oldest_delta = version_ + 1;
  }
  // Every token issued so far is refused (401) from now on.
  void ExpireTokens() {
    std::lock_guard lock(mutex_);
    tokens_.clear();
  }
  void SetPageSize(size_t size) {
    std::lock_guard lock(mutex_);
    options_.page_size = size;
  }
  // Every round starts with a page of no objects that links to the next (Graph may do so).
  void EmptyFirstPages(bool on) { empty_first_pages_ = on; }
  // Paging links point at another host.
  void LinkElsewhere(bool on) { link_elsewhere_ = on; }

  // What was asked: "token", "users full", "users delta", "groups full", ... one entry
  // per request (pages included), in order.
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  void ClearRequests() {
    std::lock_guard lock(mutex_);
    requests_.clear();
  }

 private:
  struct Objects {
    std::map<std::string, std::pair<json, long>> live;        // id -> (object, version changed)
    std::map<std::string, long> removed;                      // id -> version removed
    std::map<std::string, std::set<std::string>> members_at;  // for members@delta: last sent
  };

  struct Tenant {
    std::string client_id, secret, certificate_pem;
    Objects users, groups;
    long oldest_delta = 0;
  };

  void Put(const std::string& tenant, bool user, json object) {
    std::lock_guard lock(mutex_);
    Objects& kind = user ? tenants_[tenant].users : tenants_[tenant].groups;
    std::string id = object.at("id");
    kind.removed.erase(id);
    kind.live[id] = {std::move(object), ++version_};
  }

  static void Error(httplib::Response& res, int status, const std::string& code,
                    const std::string& message) {
    res.status = status;
    res.set_content(json{{"error", {{"code", code}, {"message", message}}}}.dump(),
                    "application/json");
  }

  void Token(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    requests_.push_back("token");
    auto refuse = [&](const std::string& code, const std::string& description) {
      res.status = 401;
      res.set_content(json{{"error", code}, {"error_description", description}}.dump(),
                      "application/json");
    };
    auto found = tenants_.find(req.matches[1]);
    if (found == tenants_.end()) return refuse("invalid_request", "AADSTS90002: Tenant not found.");
    const Tenant& tenant = found->second;
    if (req.get_param_value("grant_type") != "client_credentials" ||
        req.get_param_value("client_id") != tenant.client_id ||
        req.get_param_value("scope") != url() + "/.default") {
      return refuse("invalid_request", "AADSTS900144: bad client credentials request.");
    }
    if (req.has_param("client_secret")) {
      if (req.get_param_value("client_secret") != tenant.secret)
        return refuse("invalid_client", "AADSTS7000215: Invalid client secret provided.");
    } else if (!AssertionValid(tenant, req.get_param_value("client_assertion"),
                               url() + "/" + found->first + "/oauth2/v2.0/token")) {
      return refuse("invalid_client",
                    "AADSTS700027: Client assertion failed signature validation.");
    }
    std::string token = fmt::format("token-{}", ++token_count_);
    tokens_[token] = found->first;
    res.set_content(
        json{{"token_type", "Bearer"}, {"expires_in", 3599}, {"access_token", token}}.dump(),
        "application/json");
  }

  static bool AssertionValid(const Tenant& tenant, const std::string& jwt,
                             const std::string& audience) {
    if (tenant.certificate_pem.empty()) return false;
    auto checked = CheckRs256Jwt(jwt, tenant.certificate_pem);
    if (!checked) return false;
    const auto& [header, claims] = *checked;
    return claims.value("aud", "") == audience && claims.value("iss", "") == tenant.client_id &&
           claims.value("sub", "") == tenant.client_id &&
           FromBase64Url(header.value("x5t", "")) == CertificateSha1(tenant.certificate_pem);
  }

  // The links carry "since.upto.offset": changes after `since` up to `upto`, from `offset`.
  void Delta(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    std::string kind = req.matches[1];
    std::string header = req.get_header_value("Authorization");
    bool has_token = req.has_param("$deltatoken") || req.has_param("$skiptoken");
    requests_.push_back(kind + (req.has_param("$deltatoken") ? " delta"
                                : has_token                  ? " page"
                                                             : " full"));
    if (throttle_ > 0) {
      --throttle_;
      res.set_header("Retry-After", std::to_string(retry_after_));
      return Error(res, 429, "TooManyRequests", "Please retry again later.");
    }
    auto token = header.rfind("Bearer ", 0) == 0 ? tokens_.find(header.substr(7)) : tokens_.end();
    if (token == tokens_.end()) {
      return Error(res, 401, "InvalidAuthenticationToken",
                   "Access token has expired or is not yet valid.");
    }
    long since = 0, upto = version_;
    size_t offset = 0;
    if (req.has_param("$deltatoken")) {
      since = std::stol(req.get_param_value("$deltatoken"));
      if (since < tenants_[token->second].oldest_delta) {
        res.set_header("Location", url() + "/v1.0/" + kind + "/delta?$deltatoken=");
        return Error(res, 410, "resyncRequired", "Resync required.");
      }
    } else if (req.has_param("$skiptoken")) {
      std::string skip = req.get_param_value("$skiptoken");
      std::sscanf(skip.c_str(), "%ld.%ld.%zu", &since, &upto, &offset);
    }
    Tenant& tenant = tenants_[token->second];
    Objects& objects = kind == "users" ? tenant.users : tenant.groups;
    bool members = req.has_param("$select") &&
                   req.get_param_value("$select").find("members") != std::string::npos;
    // The ids in this round, in a stable order (live changes, then removals); only the
    // page's own objects are copied.
    std::vector<std::pair<std::string, bool>> changed;  // id, removed
    for (const auto& [id, entry] : objects.live) {
      if (entry.second > since && entry.second <= upto) changed.emplace_back(id, false);
    }
    for (const auto& [id, removed_at] : objects.removed) {
      if (removed_at > since && removed_at <= upto && since > 0) changed.emplace_back(id, true);
    }
    auto render = [&](const std::string& id, bool removed) -> json {
      if (removed) return {{"id", id}, {"@removed", {{"reason", "deleted"}}}};
      json object = objects.live.at(id).first;
      if (!object.contains("members")) return object;
      std::set<std::string> now = object["members"].get<std::set<std::string>>();
      object.erase("members");
      if (!members) return object;
      json delta = json::array();
      std::set<std::string> before = since == 0 ? std::set<std::string>() : objects.members_at[id];
      for (const auto& m : now)
        if (!before.count(m))
          delta.push_back({{"@odata.type", "#microsoft.graph.user"}, {"id", m}});
      for (const auto& m : before)
        if (!now.count(m))
          delta.push_back({{"@odata.type", "#microsoft.graph.user"},
                           {"id", m},
                           {"@removed", {{"reason", "deleted"}}}});
      object["members@delta"] = delta;
      objects.members_at[id] = now;
      return object;
    };
    json page = {{"@odata.context", "https://graph.microsoft.com/v1.0/$metadata#" + kind}};
    std::string base = (link_elsewhere_ ? std::string("https://elsewhere.example") : url()) +
                       "/v1.0/" + kind + "/delta?";
    if (empty_first_pages_ && !req.has_param("$skiptoken")) {
      page["value"] = json::array();
      page["@odata.nextLink"] = base + fmt::format("$skiptoken={}.{}.0", since, upto);
      res.set_content(page.dump(), "application/json");
      return;
    }
    json values = json::array();
    for (size_t i = offset; i < changed.size() && i < offset + options_.page_size; ++i)
      values.push_back(render(changed[i].first, changed[i].second));
    page["value"] = values;
    if (offset + options_.page_size < changed.size()) {
      page["@odata.nextLink"] =
          base + fmt::format("$skiptoken={}.{}.{}", since, upto, offset + options_.page_size);
    } else {
      page["@odata.deltaLink"] = base + fmt::format("$deltatoken={}", upto);
    }
    res.set_content(page.dump(), "application/json");
  }

  Options options_;
  TestCa::Issued issued_;
  httplib::SSLServer server_;
  std::thread thread_;
  int port_ = 0;

  mutable std::mutex mutex_;
  std::map<std::string, Tenant> tenants_;
  long version_ = 0;
  int throttle_ = 0, retry_after_ = 1;
  long token_count_ = 0;
  std::map<std::string, std::string> tokens_;  // -> tenant
  std::atomic<bool> link_elsewhere_{false};
  std::atomic<bool> empty_first_pages_{false};
  std::vector<std::string> requests_;
};

}  // namespace gwtest
