// Test support for DNSSEC: a zone signed with a key of the test's own (ldns), served by
// nsd, and a validating unbound that trusts that key, on a loopback address of its own
// at port 53 (where resolv.conf can name it). Postfix started with the resolv.conf this
// writes (MailGatewayOptions::resolv_conf) then sees the zone's records as secure:
// DANE. Needs root (port 53, and Postfix's mount namespace) and the unbound and
// ldnsutils packages; DnssecMissing() says why a test skips.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "gatewayd_fixture.h"
#include "loopback.h"
#include "nsd_fixture.h"
#include "process.h"

namespace gwtest {

inline std::string DnssecMissing() {
  if (geteuid() != 0) return "needs root: unbound on port 53 and a mount namespace for Postfix";
  for (const char* tool : {"/usr/sbin/unbound", "/usr/bin/ldns-keygen", "/usr/bin/ldns-signzone",
                           "/usr/bin/unshare"}) {
    if (access(tool, X_OK) != 0) return fmt::format("needs {} (ci/setup --tests)", tool);
  }
  return NsdMissing();
}

// One signing key for `zone` (a combined KSK/ZSK), and its DS record.
class ZoneKey {
 public:
  ZoneKey(std::filesystem::path dir, const std::string& zone) : dir_(std::move(dir)) {
    auto made = RunCommand(fmt::format(
        "cd {} && /usr/bin/ldns-keygen -a ECDSAP256SHA256 -k {} 2>&1", dir_.string(), zone));
    base_ = made.output.substr(0, made.output.find('\n'));
    if (made.exit_code != 0 || base_.empty())
      throw std::runtime_error("ldns-keygen: " + made.output);
    std::ifstream ds(dir_ / (base_ + ".ds"));
    std::getline(ds, ds_);
  }

  const std::string& ds() const { return ds_; }

  // Signs `file` in place.
  void Sign(const std::filesystem::path& file) const {
    auto signed_zone = RunCommand(
        fmt::format("/usr/bin/ldns-signzone -f {0}.signed {0} {1}/{2} 2>&1 && mv {0}.signed {0}",
                    file.string(), dir_.string(), base_));
    if (signed_zone.exit_code != 0)
      throw std::runtime_error("ldns-signzone: " + signed_zone.output);
  }

 private:
  std::filesystem::path dir_;
  std::string base_, ds_;
};

// unbound validating `zone` (served by `authority`) with the trust anchor `ds`.
class ValidatingResolver {
 public:
  ValidatingResolver(const std::string& zone, const gw::Endpoint& authority, const std::string& ds)
      : dir_(MakeTempDir("unbound")) {
    std::ofstream(dir_ / "anchor.ds") << ds << "\n";
    std::mt19937 random(std::random_device{}());
    for (int attempt = 0; attempt < 5 && !ready_; ++attempt) {
      address_ = fmt::format("127.53.{}.{}", random() % 250 + 1, random() % 250 + 1);
      std::ofstream(dir_ / "unbound.conf") << fmt::format(
          "server:\n  interface: {0}\n  port: 53\n  username: \"\"\n  chroot: \"\"\n"
          "  directory: \"{1}\"\n  pidfile: \"{1}/unbound.pid\"\n  use-syslog: no\n"
          "  logfile: \"{1}/unbound.log\"\n  verbosity: 1\n  val-log-level: 2\n"
          "  do-not-query-localhost: no\n  qname-minimisation: no\n"
          "  access-control: 127.0.0.0/8 allow\n  module-config: \"validator iterator\"\n"
          "  trust-anchor-file: \"{1}/anchor.ds\"\n"
          "stub-zone:\n  name: \"{2}\"\n  stub-addr: {3}@{4}\n"
          "remote-control:\n  control-enable: no\n",
          address_, dir_.string(), zone, authority.host, authority.port);
      process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
          "/usr/sbin/unbound", "-d", "-c", (dir_ / "unbound.conf").string()});
      for (int i = 0; i < 100 && !process_->Exited() && !ready_; ++i) {
        ready_ = CanConnect(address_, 53);
        if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    std::ofstream(dir_ / "resolv.conf")
        << fmt::format("nameserver {}\noptions edns0 trust-ad\n", address_);
  }
  ~ValidatingResolver() {
    if (process_ && !process_->Exited()) {
      process_->Signal(SIGTERM);
      process_->Wait();
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  ValidatingResolver(const ValidatingResolver&) = delete;
  ValidatingResolver& operator=(const ValidatingResolver&) = delete;

  bool ready() const { return ready_; }
  std::string log() const {
    std::ifstream in(dir_ / "unbound.log");
    return std::string(std::istreambuf_iterator<char>(in), {}) +
           (process_ ? process_->output() : "");
  }
  // A resolv.conf naming this resolver, with the AD bit trusted (glibc drops it otherwise).
  std::filesystem::path resolv_conf() const { return dir_ / "resolv.conf"; }

 private:
  std::filesystem::path dir_;
  std::string address_;
  bool ready_ = false;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace gwtest
