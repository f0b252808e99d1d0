// Test support: a real gatewayd process on a kernel-chosen loopback port, with a fresh
// store and a tokens file holding an operator token and one token per partner.
#pragma once

#include <unistd.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gateway/client.h"
#include "gateway/tokens.h"
#include "process.h"

namespace gwtest {

class Gatewayd {
 public:
  static constexpr const char* kOperatorToken = "operator-token-for-tests";
  static constexpr const char* kFilterToken = "filter-token-for-tests";  // gw-milter's role
  static std::string PartnerToken(const std::string& partner) { return "token-of-" + partner; }

  // Starts gatewayd with tokens for `partners`; extra arguments are appended.
  explicit Gatewayd(std::vector<std::string> partners = {"northwind", "contoso"},
                    std::vector<std::string> extra_args = {}, std::filesystem::path dir = {})
      : dir_(dir.empty() ? MakeTempDir("gatewayd-test") : dir), owns_dir_(dir.empty()) {
    {
      std::ofstream tokens(dir_ / "tokens.yaml");
      tokens << "tokens:\n  - {name: ops, role: operator, sha256: \""
             << gw::HashToken(kOperatorToken) << "\"}\n"
             << "  - {name: gw-milter, role: filter, sha256: \"" << gw::HashToken(kFilterToken)
             << "\"}\n";
      for (const auto& p : partners) {
        tokens << "  - {name: " << p << "-ci, partner: " << p << ", sha256: \""
               << gw::HashToken(PartnerToken(p)) << "\"}\n";
      }
    }
    Start(std::move(extra_args));
  }
  ~Gatewayd() {
    process_.reset();
    if (owns_dir_) std::filesystem::remove_all(dir_);
  }

  void Start(std::vector<std::string> extra_args = {}, int run_as_uid = -1) {
    std::vector<std::string> argv = {
        GATEWAYD_BINARY, "--data",   (dir_ / "data").string(),       "--listen",
        listen_,         "--tokens", (dir_ / "tokens.yaml").string()};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    // The tests' mail servers are on loopback, which gatewayd refuses as a destination
    // unless allowed; a test that says otherwise passes its own.
    if (std::find(argv.begin(), argv.end(), "--allow-destination-network") == argv.end()) {
      argv.insert(argv.end(), {"--allow-destination-network", "127.0.0.0/8"});
    }
    extra_args_ = std::move(extra_args);
    process_ = std::make_unique<ChildProcess>(argv, run_as_uid);
    auto line = process_->WaitForLine("listening on ");
    url_ = line ? line->substr(line->find("http")) : "";
  }

  // Stops gatewayd (SIGKILL) and starts it again on the same port, store and arguments:
  // clients configured with url() reach it again.
  void Restart() {
    process_.reset();
    listen_ = url_.substr(url_.find("//") + 2);
    Start(extra_args_);
  }
  void Kill() { process_.reset(); }

  bool started() const { return !url_.empty(); }
  // The port gatewayd logged that it serves `what` on ("socketmap on " -> the port of
  // "socketmap on 127.0.0.1:PORT"); 0 if it did not.
  int LoggedPort(const std::string& what) {
    const std::string& log = process_->output();
    size_t at = log.find(what);
    if (at == std::string::npos) return 0;
    std::string line = log.substr(at, log.find('\n', at) - at);
    return std::stoi(line.substr(line.rfind(':') + 1));
  }
  const std::string& url() const { return url_; }
  ChildProcess& process() { return *process_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::string store_path() const { return (dir_ / "data" / "gateway.db").string(); }

  std::unique_ptr<gw::GatewayClient> Client(const std::string& token) const {
    gw::ClientOptions options;
    options.token = token;
    options.request_timeout = std::chrono::seconds(30);
    return std::move(gw::ConnectGateway(url_, options)).value();
  }

 private:
  std::filesystem::path dir_;
  bool owns_dir_;
  std::unique_ptr<ChildProcess> process_;
  std::string url_;
  std::string listen_ = "127.0.0.1:0";
  std::vector<std::string> extra_args_;  // of the last start, for Restart
};

}  // namespace gwtest
