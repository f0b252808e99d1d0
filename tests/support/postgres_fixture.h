// Test support: a real PostgreSQL server of the test's own, on loopback, on a port the
// kernel picked, in a temporary directory, stopped and removed by the destructor.
// PostgreSQL refuses to run as root, so it runs as the `postgres` user (runuser); the
// test process must be root to arrange that. PostgresMissing() says why a test skips.
#pragma once

#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "gatewayd_fixture.h"
#include "loopback.h"
#include "process.h"

namespace gwtest {

inline constexpr const char* kPostgresBin = "/usr/lib/postgresql/15/bin";

// Empty when a PostgreSQL server can be started here; otherwise why not.
inline std::string PostgresMissing() {
  if (geteuid() != 0) return "needs root: PostgreSQL runs as the postgres user (runuser)";
  if (access((std::string(kPostgresBin) + "/pg_ctl").c_str(), X_OK) != 0)
    return "needs postgresql 15 (ci/setup --tests)";
  if (!getpwnam("postgres")) return "needs the postgres user (ci/setup --tests)";
  return "";
}

class Postgres {
 public:
  Postgres() : dir_(MakeTempDir("postgres")) {
    struct passwd* user = getpwnam("postgres");
    if (!user || chown(dir_.c_str(), user->pw_uid, user->pw_gid) != 0) {
      problem_ = "cannot give the data directory to postgres";
      return;
    }
    auto made = RunCommand(
        fmt::format("runuser -u postgres -- {}/initdb -D {}/data -U gw -A trust --no-sync -E UTF8 "
                    "--locale C.UTF-8",
                    kPostgresBin, dir_.string()));
    if (made.exit_code != 0) {
      problem_ = "initdb failed: " + made.output;
      return;
    }
    // The port is picked just before the server binds it: another is tried if taken.
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = PickFreePort();
      auto started = RunCommand(
          fmt::format("runuser -u postgres -- {0}/pg_ctl -D {1}/data -l {1}/log -w -t 30 -o "
                      "\"-p {2} -k {1} -c listen_addresses=127.0.0.1 -c fsync=off "
                      "-c synchronous_commit=off -c full_page_writes=off\" start",
                      kPostgresBin, dir_.string(), port_));
      if (started.exit_code == 0) {
        auto created = RunCommand(
            fmt::format("runuser -u postgres -- {}/createdb -h 127.0.0.1 -p {} -U gw gateway",
                        kPostgresBin, port_));
        if (created.exit_code != 0) problem_ = "createdb failed: " + created.output;
        return;
      }
      problem_ = "pg_ctl start failed: " + started.output;
    }
  }

  ~Postgres() {
    RunCommand(fmt::format("runuser -u postgres -- {}/pg_ctl -D {}/data -m immediate -w stop",
                           kPostgresBin, dir_.string()));
    std::filesystem::remove_all(dir_);
  }

  Postgres(const Postgres&) = delete;
  Postgres& operator=(const Postgres&) = delete;

  // Stops the server (fast: clients are disconnected) and starts it again on its port.
  bool Restart() {
    // -l: a server writing to our pipe would hold it open (the same options otherwise).
    return RunCommand(fmt::format("runuser -u postgres -- {0}/pg_ctl -D {1}/data -l {1}/log -m "
                                  "fast -w -t 30 restart",
                                  kPostgresBin, dir_.string()))
               .exit_code == 0;
  }

  std::string problem() const { return problem_; }
  int port() const { return port_; }
  // A connection string for the test's database.
  std::string url() const { return fmt::format("postgresql://gw@127.0.0.1:{}/gateway", port_); }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  std::string problem_;
};

}  // namespace gwtest
