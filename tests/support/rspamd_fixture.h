// A private rspamd for the mail tests: its own configuration directory (only local.d
// overrides of Debian's /etc/rspamd), its workers on kernel-picked loopback ports, DNS
// pointed at a dead address so it never reaches the network, and the modules that only
// ask DNS (RBLs, SPF, DKIM, DMARC, ...) off, as each of their lookups would wait for a
// timeout (8 messages/s instead of hundreds; a gateway with DNS keeps them on). Run as
// nobody. Compiling
// its Hyperscan regular expressions takes ~15 s; the compiled cache is kept between
// runs in RSPAMD_CACHE_DIR (a build directory), which makes later starts ~1 s. Stopped
// by the destructor.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "hostile_clients.h"
#include "loopback.h"
#include "process.h"

namespace gwtest {

// Empty when rspamd can run here; otherwise why not.
inline std::string RspamdMissing() {
  if (access("/usr/bin/rspamd", X_OK) != 0) return "needs rspamd (ci/setup --tests)";
  if (geteuid() != 0) return "needs root: rspamd drops to the nobody user";
  return "";
}

class Rspamd {
 public:
  Rspamd() : dir_(MakeTempDir("rspamd")) {
    namespace fs = std::filesystem;
    fs::create_directories(dir_ / "local.d");
    fs::create_directories(dir_ / "run");
    fs::create_directories(dir_ / "log");
    fs::create_directories(RSPAMD_CACHE_DIR);
    Write("logging.inc",
          fmt::format("type = \"file\";\nfilename = \"{}/log/rspamd.log\";\nlevel = \"info\";\n",
                      dir_.string()));
    Write("options.inc",
          "dns { nameserver = [\"127.0.0.1:1\"]; timeout = 0.2s; retransmits = 1; }\n");
    for (const char* module : {"rbl", "surbl", "spf", "dkim", "dkim_signing", "dmarc", "arc", "asn",
                               "fuzzy_check", "hfilter", "mx_check", "url_redirector", "emails"}) {
      Write(std::string(module) + ".conf", "enabled = false;\n");
    }
    for (const auto& d : {dir_, dir_ / "run", dir_ / "log", fs::path(RSPAMD_CACHE_DIR)}) {
      std::filesystem::permissions(d, fs::perms::all, fs::perm_options::add);
    }
    // Its ports are picked before rspamd binds them: another process may take one in
    // between, and rspamd then exits; new ones are tried.
    for (int attempt = 0; attempt < 3 && !ready_; ++attempt) {
      if (attempt > 0 && !process_->Exited()) break;  // up but silent: no retry helps
      Start();
    }
  }
  ~Rspamd() {
    // rspamd stops its workers on SIGTERM; a worker that outlives it anyway is killed.
    std::vector<pid_t> workers = ChildrenOf(process_->pid());
    kill(process_->pid(), SIGTERM);
    for (int i = 0; i < 100 && !process_->Exited(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (pid_t pid : workers) kill(pid, SIGKILL);
    process_.reset();
    std::filesystem::remove_all(dir_);
  }

  bool ready() const { return ready_; }
  int port() const { return normal_; }
  std::string Log() const {
    std::ifstream in(dir_ / "log" / "rspamd.log");
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

 private:
  void Start() {
    normal_ = PickFreePort();
    Write("worker-normal.inc",
          fmt::format("bind_socket = \"127.0.0.1:{}\";\ncount = 1;\n", normal_));
    Write("worker-controller.inc",
          fmt::format("bind_socket = \"127.0.0.1:{}\";\n", PickFreePort()));
    Write("worker-proxy.inc", fmt::format("bind_socket = \"127.0.0.1:{}\";\n", PickFreePort()));
    process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        "/usr/bin/rspamd", "-f", "-c", "/etc/rspamd/rspamd.conf",
        "--var=LOCAL_CONFDIR=" + dir_.string(), "--var=DBDIR=" RSPAMD_CACHE_DIR,
        "--var=RUNDIR=" + (dir_ / "run").string(), "--var=LOGDIR=" + (dir_ / "log").string(), "-u",
        "nobody", "-g", "nogroup"});
    // Up to 120 s: on a cold cache two instances may compile at once on a busy machine.
    for (int i = 0; i < 2400 && !ready_ && !process_->Exited(); ++i) {
      ready_ = Ping();
      if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / "local.d" / name) << text;
  }
  bool Ping() const {
    int fd = ConnectLoopback(normal_);
    if (fd < 0) return false;
    bool pong = SendAll(fd, "GET /ping HTTP/1.0\r\n\r\n") &&
                ReadUntil(fd, std::chrono::seconds(1), [](const std::string& b) {
                  return b.find("pong") != std::string::npos;
                }).bytes.find("pong") != std::string::npos;
    close(fd);
    return pong;
  }

  std::filesystem::path dir_;
  int normal_ = 0;
  std::unique_ptr<ChildProcess> process_;
  bool ready_ = false;
};

}  // namespace gwtest
