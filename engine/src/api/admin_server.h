// AdminServer: gatewayd's HTTP admin API (/v1, /healthz, /metrics) over a Service,
// served by an HttpServer (so slow or hostile clients are bounded as it describes).
// Every request but /healthz needs a bearer token from the TokenStore; errors have one
// JSON shape, {"error": {"code", "message", "field"}}. Bodies nested deeper than
// kMaxJsonDepth are 400 before they are parsed. Under overload the answer is 429 (a
// partner over its share) or 503 (the store busy), both with Retry-After. Stop() stops
// accepting and lets requests in flight finish.
#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include <memory>
#include <string>
#include "gateway/continuity.h"

#include "gateway/http_server.h"
#include "gateway/service.h"
#include "gateway/status.h"
#include "gateway/tokens.h"

namespace gw {

struct AdminServerOptions {
  // Address, TLS, worker threads, body size, deadlines and connection caps. The admin
  // server sets its error_body, check_head and on_answer itself.
  HttpServerOptions http;
  // Requests one partner may have in flight at once; more are answered 429 with
  // Retry-After, so a partner's flood leaves threads for the others. Operators are exempt.
  // One gwctl at its default parallelism (8 customers, plus its lease) stays below it.
  int max_in_flight_per_partner = 12;
  // More Prometheus text for /metrics (the mail lookups'), if set.
  std::function<std::string()> more_metrics;
  // Continuity (continuity_monitor.h), when gatewayd runs it: the customers in it now,
  // and the retention pass (GET /v1/continuity, POST /v1/continuity/retention:run).
  std::function<std::vector<ContinuityEntry>()> continuity;
  std::function<Result<int64_t>(std::chrono::system_clock::time_point)> expire_continuity;
  // GET /readyz: whether the host can carry mail now, and its checks as JSON (200 or 503).
  std::function<std::pair<bool, std::string>()> readiness;
  // GET /v1/gateway: the MX hosts and SPF include customers publish.
  GatewayFacts facts;
  // Domain verification (domain_verifier.h), when gatewayd runs it: a customer's pending
  // claims checked now (POST .../domains:check).
  std::function<Result<std::vector<DomainClaim>>(const std::string& partner,
                                                 const std::string& customer)>
      check_domains;
};

class AdminServer {
 public:
  // Binds the listening socket (so the port is known) without serving yet.
  static Result<std::unique_ptr<AdminServer>> Bind(Service& service, const TokenStore& tokens,
                                                   const AdminServerOptions& options);
  ~AdminServer();

  int port() const;
  std::string url() const;  // http(s)://host:port
  void Serve();             // blocks until Stop()
  void Stop();

 private:
  struct Impl;
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gw
