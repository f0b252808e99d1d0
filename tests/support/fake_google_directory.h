// Test support: a fake Google OAuth token endpoint and Admin SDK Directory API on one
// loopback port over TLS (a certificate from the test's CA for "localhost"). The token
// endpoint takes a JWT bearer grant signed by the service account's key (its signature,
// audience, subject and scopes checked); users.list, groups.list and members.list page
// by pageToken, and an empty list has no entries key at all, as Google's does.
#pragma once

#include <httplib.h>

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

class FakeGoogleDirectory {
 public:
  using json = nlohmann::json;

  // `private_key_pem`: the service account's key (its public half checks assertions).
  FakeGoogleDirectory(const TestCa& ca, std::string private_key_pem, std::string admin,
                      size_t page_size)
      : key_(std::move(private_key_pem)),
        admin_(std::move(admin)),
        page_size_(page_size),
        issued_(ca.Issue("google", {"localhost"})),
        server_(issued_.cert.c_str(), issued_.key.c_str()) {
    server_.Post("/token",
                 [this](const httplib::Request& req, httplib::Response& res) { Token(req, res); });
    server_.Get(R"(/admin/directory/v1/(users|groups))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  std::string kind = req.matches[1];
                  List(req, res, kind, kind == "users" ? users_ : groups_);
                });
    server_.Get(R"(/admin/directory/v1/groups/([^/]+)/members)",
                [this](const httplib::Request& req, httplib::Response& res) {
                  std::vector<json> members;
                  for (const auto& id : members_[req.matches[1]]) members.push_back({{"id", id}});
                  List(req, res, "members", members);
                });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeGoogleDirectory() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return fmt::format("https://localhost:{}", port_); }

  void AddUser(json user) {
    std::lock_guard lock(mutex_);
    users_.push_back(std::move(user));
  }
  void AddGroup(json group, std::vector<std::string> member_ids = {}) {
    std::lock_guard lock(mutex_);
    members_[group.at("id").get<std::string>()] = std::move(member_ids);
    groups_.push_back(std::move(group));
  }
  // The account's id, accepted besides my_customer.
  void SetCustomerId(std::string id) {
    std::lock_guard lock(mutex_);
    customer_id_ = std::move(id);
  }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void Token(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    requests_.push_back("token");
    auto checked = CheckRs256Jwt(req.get_param_value("assertion"), key_);
    bool ok = req.get_param_value("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer" &&
              checked && checked->second.value("aud", "") == url() + "/token" &&
              checked->second.value("sub", "") == admin_ &&
              checked->second.value("scope", "").find("admin.directory.user.readonly") !=
                  std::string::npos;
    if (!ok) {
      res.status = 401;
      res.set_content(
          R"({"error":"unauthorized_client","error_description":"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."})",
          "application/json");
      return;
    }
    tokens_.insert(fmt::format("ya29.fake-{}", tokens_.size() + 1));
    res.set_content(
        json{{"access_token", *tokens_.rbegin()}, {"expires_in", 3599}, {"token_type", "Bearer"}}
            .dump(),
        "application/json");
  }

  void List(const httplib::Request& req, httplib::Response& res, const std::string& field,
            const std::vector<json>& entries) {
    std::lock_guard lock(mutex_);
    requests_.push_back(field);
    std::string header = req.get_header_value("Authorization");
    if (header.rfind("Bearer ", 0) != 0 || !tokens_.count(header.substr(7))) {
      res.status = 401;
      res.set_content(
          R"({"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}})",
          "application/json");
      return;
    }
    std::string customer = req.get_param_value("customer");
    if (field != "members" && customer != "my_customer" && customer != customer_id_) {
      res.status = 400;
      res.set_content(
          R"({"error":{"code":400,"message":"Bad Request","status":"INVALID_ARGUMENT"}})",
          "application/json");
      return;
    }
    size_t offset = req.has_param("pageToken") ? std::stoul(req.get_param_value("pageToken")) : 0;
    json page = {{"kind", "admin#directory#" + field}, {"etag", "\"fake\""}};
    json values = json::array();
    for (size_t i = offset; i < entries.size() && i < offset + page_size_; ++i)
      values.push_back(entries[i]);
    if (!values.empty()) page[field] = values;  // Google leaves an empty list out
    if (offset + page_size_ < entries.size())
      page["nextPageToken"] = std::to_string(offset + page_size_);
    res.set_content(page.dump(), "application/json");
  }

  std::string key_, admin_, customer_id_ = "my_customer";
  size_t page_size_;
  TestCa::Issued issued_;
  httplib::SSLServer server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<json> users_, groups_;
  std::map<std::string, std::vector<std::string>> members_;
  std::set<std::string> tokens_;
  std::vector<std::string> requests_;
};

}  // namespace gwtest
