// StatusServer: the HTTP side of `gwctl run`, on a gw::HttpServer (it faces the
// internet for webhooks, so it gets the same bounds as the admin API).
//   GET  /healthz     200 while the process runs
//   GET  /readyz      200 once a pass has succeeded, else 503
//   GET  /metrics     Prometheus text format
//   GET  /status      JSON: the loop's status, per customer, and a count per state;
//                     ?state=S1,S2 and ?customer=NAME narrow the list (400: unknown state)
//   GET  /            a read-only status page (no external assets; refreshes itself);
//                     above 200 customers it lists only those not in sync
//   POST /hooks/git   a push notification: verified (HMAC-SHA256 or GitLab token), then
//                     a pass is queued (202); unsigned or wrong: 401, and logged
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "gateway/http_server.h"
#include "gateway/status.h"
#include "loop.h"
#include "loop_log.h"
#include "loop_metrics.h"

namespace gwctl::cli {

class StatusServer {
 public:
  // `webhook_secret` is asked on every webhook, so a reloaded secret applies at once.
  StatusServer(ReconcileLoop& loop, LoopMetrics& metrics, LoopLog& log,
               std::function<std::string()> webhook_secret);
  ~StatusServer();

  // Binds "HOST:PORT" (port 0: one the kernel picks) and serves on a thread.
  gw::Status Start(const std::string& listen);
  std::string url() const { return url_; }
  void Stop();

 private:
  ReconcileLoop& loop_;
  LoopMetrics& metrics_;
  LoopLog& log_;
  std::function<std::string()> webhook_secret_;
  void Install(gw::HttpServer& server);

  std::unique_ptr<gw::HttpServer> server_;
  std::thread thread_;
  std::string url_;
};

// The status page for `status` (server-rendered, so it reads without JavaScript).
std::string StatusPage(const LoopStatus& status);

}  // namespace gwctl::cli
