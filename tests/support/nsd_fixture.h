// Test support: a real nsd serving the test's zones on a loopback port the kernel picked,
// from zone files in a temporary directory; Publish rewrites a zone and has nsd re-read
// it (SIGHUP). nsd runs in the foreground as the test's user (no chroot, no privileges
// dropped), so it needs nothing installed but the nsd package. NsdMissing() says why a
// test skips.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "gateway/dns_resolver.h"
#include "gatewayd_fixture.h"
#include "loopback.h"
#include "process.h"

namespace gwtest {

inline constexpr const char* kNsdBinary = "/usr/sbin/nsd";

inline std::string NsdMissing() {
  if (access(kNsdBinary, X_OK) != 0) return "needs nsd (ci/setup --tests)";
  return "";
}

class Nsd {
 public:
  // `zones`: zone name -> its records, one per line in zone-file syntax, without the SOA
  // and NS (added here).
  // `sign`, when given, rewrites each zone file after it is written (DNSSEC signing).
  using Signer = std::function<void(const std::string& zone, const std::filesystem::path& file)>;
  explicit Nsd(const std::map<std::string, std::string>& zones, Signer sign = nullptr)
      : dir_(MakeTempDir("nsd")), sign_(std::move(sign)) {
    for (const auto& [zone, records] : zones) WriteZone(zone, records);
    for (int attempt = 0; attempt < 3 && !started_; ++attempt) {
      port_ = PickFreePort();
      std::ofstream conf(dir_ / "nsd.conf");
      conf << fmt::format(
          "server:\n  ip-address: 127.0.0.1@{0}\n  port: {0}\n  username: \"\"\n  chroot: \"\"\n"
          "  zonesdir: \"{1}\"\n  database: \"\"\n  zonelistfile: \"{1}/zone.list\"\n"
          "  xfrdfile: \"{1}/xfrd.state\"\n  xfrdir: \"{1}\"\n  pidfile: \"{1}/nsd.pid\"\n"
          "  logfile: \"{1}/nsd.log\"\n  server-count: 1\n  verbosity: 1\n"
          "remote-control:\n  control-enable: no\n",
          port_, dir_.string());
      for (const auto& [zone, records] : zones)
        conf << fmt::format("zone:\n  name: {0}\n  zonefile: {0}.zone\n", zone);
      conf.close();
      process_ = std::make_unique<ChildProcess>(
          std::vector<std::string>{kNsdBinary, "-d", "-c", (dir_ / "nsd.conf").string()});
      started_ = Answering(zones.begin()->first);
    }
  }
  ~Nsd() {
    if (process_ && !process_->Exited()) {  // SIGTERM: nsd stops its server processes too
      process_->Signal(SIGTERM);
      process_->Wait();
    }
    std::error_code ignored;  // a server process may still be removing its pid file
    std::filesystem::remove_all(dir_, ignored);
  }
  Nsd(const Nsd&) = delete;
  Nsd& operator=(const Nsd&) = delete;

  bool started() const { return started_; }
  gw::Endpoint endpoint() const { return {"127.0.0.1", port_}; }
  std::string log() { return process_ ? process_->output() : ""; }

  // Replaces the zone's records and has nsd serve them; true once it does (each zone
  // file carries its serial in a TXT record at _serial, which tells when it is served).
  bool Publish(const std::string& zone, const std::string& records) {
    WriteZone(zone, records);
    process_->Signal(SIGHUP);
    for (int i = 0; i < 100; ++i) {
      if (ServedSerial(zone) == serials_[zone]) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::unique_ptr<gw::DnsResolver> Resolver(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(500)) const {
    gw::DnsResolverOptions options;
    options.servers = {endpoint()};
    options.timeout = timeout;
    return std::move(gw::DnsResolver::Create(options)).value();
  }

 private:
  void WriteZone(const std::string& zone, const std::string& records) {
    int serial = ++serials_[zone];
    std::ofstream(dir_ / (zone + ".zone")) << fmt::format(
        "$ORIGIN {0}.\n$TTL 60\n@ IN SOA ns.{0}. admin.{0}. {1} 60 60 600 60\n"
        "@ IN NS ns.{0}.\nns IN A 127.0.0.1\n_serial IN TXT \"{1}\"\n{2}\n",
        zone, serial, records);
    if (sign_) sign_(zone, dir_ / (zone + ".zone"));
  }

  int ServedSerial(const std::string& zone) {
    auto answers = Resolver()->Resolve({{"_serial." + zone, gw::DnsType::kTxt}});
    return answers[0].records.empty() ? 0 : std::atoi(answers[0].records[0].c_str());
  }

  bool Answering(const std::string& zone) {
    for (int i = 0; i < 100; ++i) {
      if (process_->Exited()) return false;
      auto answers = Resolver()->Resolve({{zone, gw::DnsType::kA}});
      if (answers[0].Known()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::filesystem::path dir_;
  Signer sign_;
  int port_ = 0;
  bool started_ = false;
  std::map<std::string, int> serials_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace gwtest
