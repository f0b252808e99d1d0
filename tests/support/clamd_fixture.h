// A private clamd for the tests: its own configuration and a signature database made
// here (signatures cannot be downloaded on this machine; production runs freshclam):
// an MD5 (.hdb) signature of the EICAR test file, and a body pattern (.ndb) no real mail
// holds. clamd's mail and archive parsers are its own, so the signatures match inside
// MIME parts and zips. TCP on a kernel-picked loopback port; stopped by the destructor.
#pragma once

#include <openssl/evp.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "loopback.h"
#include "mime_samples.h"
#include "process.h"

namespace gwtest {

inline constexpr char kClamd[] = "/usr/sbin/clamd";
// The test pattern the .ndb signature finds (the .hdb one is mime_samples.h's kEicar).
inline const std::string kVirusPattern = "GW-ANTIVIRUS-TEST-PATTERN-7f3a";
// The names clamd reports for them (custom signatures are "UNOFFICIAL").
inline const std::string kEicarName = "Gw.Test.Eicar.UNOFFICIAL";
inline const std::string kPatternName = "Gw.Test.Pattern.UNOFFICIAL";

// Empty when clamd can run here; otherwise why not.
inline std::string ClamdMissing() {
  if (access(kClamd, X_OK) != 0) return "needs clamd (ci/setup --tests installs clamav-daemon)";
  return "";
}

class Clamd {
 public:
  Clamd() : dir_(MakeTempDir("clamd")) {
    namespace fs = std::filesystem;
    fs::create_directories(dir_ / "db");
    unsigned char md5[EVP_MAX_MD_SIZE];
    unsigned int md5_size = 0;
    EVP_Digest(kEicar.data(), kEicar.size(), md5, &md5_size, EVP_md5(), nullptr);
    std::string hex, pattern;
    for (unsigned int i = 0; i < md5_size; ++i) hex += fmt::format("{:02x}", md5[i]);
    for (unsigned char c : kVirusPattern) pattern += fmt::format("{:02x}", c);
    std::ofstream(dir_ / "db" / "gw.hdb")
        << fmt::format("{}:{}:Gw.Test.Eicar\n", hex, kEicar.size());
    std::ofstream(dir_ / "db" / "gw.ndb") << fmt::format("Gw.Test.Pattern:0:*:{}\n", pattern);
    // The port is picked before clamd binds it: another is tried if it was taken.
    for (int attempt = 0; attempt < 3 && !ready_; ++attempt) Start();
  }
  ~Clamd() {
    Stop();
    std::filesystem::remove_all(dir_);
  }

  bool ready() const { return ready_; }
  int port() const { return port_; }
  std::string endpoint() const { return fmt::format("127.0.0.1:{}", port_); }
  std::string output() { return process_ ? process_->output() : ""; }

  // clamd gone (a crash, a restart): scans fail until it is back.
  void Stop() {
    if (!process_) return;
    kill(process_->pid(), SIGTERM);
    for (int i = 0; i < 100 && !process_->Exited(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    process_.reset();
    ready_ = false;
  }

 private:
  void Start() {
    port_ = PickFreePort();
    std::ofstream(dir_ / "clamd.conf") << fmt::format(
        "TCPSocket {}\nTCPAddr 127.0.0.1\nDatabaseDirectory {}\nForeground yes\n"
        "LogFile {}\nPidFile {}\nStreamMaxLength 100M\nMaxThreads 4\n"
        "SelfCheck 0\n",
        port_, (dir_ / "db").string(), (dir_ / "clamd.log").string(),
        (dir_ / "clamd.pid").string());
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{kClamd, "-c", (dir_ / "clamd.conf").string()});
    for (int i = 0; i < 200 && !ready_; ++i) {
      if (process_->Exited()) return;
      ready_ = CanConnect(port_);
      if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
  bool ready_ = false;
};

}  // namespace gwtest
