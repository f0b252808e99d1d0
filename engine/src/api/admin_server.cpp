#include "api/admin_server.h"

#include <chrono>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "api/admin_handlers.h"
#include "gateway/histogram.h"
#include "gateway/http_server.h"

namespace gw {

struct AdminServer::Impl {
  Service& service;
  const TokenStore& tokens;
  AdminServerOptions options;
  std::unique_ptr<HttpServer> server;

  std::mutex in_flight_mutex;
  std::map<std::string, int> in_flight;  // partner -> its requests being answered
  int in_flight_total = 0;

  std::mutex metrics_mutex;
  std::map<std::pair<std::string, int>, uint64_t> requests;  // (method, status) -> count
  Histogram durations{{0.005, 0.01, 0.05, 0.1, 0.5, 1, 5}};

  Impl(Service& s, const TokenStore& t, AdminServerOptions o)
      : service(s), tokens(t), options(std::move(o)) {}

  // Counts a request in flight for its partner while it lives; ok() is false (and
  // nothing is counted) when the partner is already at its limit.
  class InFlight {
   public:
    InFlight(Impl& impl, std::string partner) : impl_(impl), partner_(std::move(partner)) {
      std::lock_guard lock(impl_.in_flight_mutex);
      if (!partner_.empty() &&
          impl_.in_flight[partner_] >= impl_.options.max_in_flight_per_partner) {
        ok_ = false;
        return;
      }
      if (!partner_.empty()) ++impl_.in_flight[partner_];
      ++impl_.in_flight_total;
    }
    ~InFlight() {
      if (!ok_) return;
      std::lock_guard lock(impl_.in_flight_mutex);
      if (!partner_.empty() && --impl_.in_flight[partner_] == 0) impl_.in_flight.erase(partner_);
      --impl_.in_flight_total;
    }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;
    bool ok() const { return ok_; }

   private:
    Impl& impl_;
    std::string partner_;
    bool ok_ = true;
  };

  // The tokens file's, or a minted token's (a store read: on a worker thread only).
  std::optional<Actor> Authenticate(const HttpRequest& req) const {
    std::string header = req.Header("Authorization");
    if (header.rfind("Bearer ", 0) != 0) return std::nullopt;
    std::string_view bearer = std::string_view(header).substr(7);
    if (auto actor = tokens.Authenticate(bearer)) return actor;
    return service.AuthenticateMinted(bearer);
  }

  static void WriteUnauthenticated(const HttpRequest& req, HttpResponse& res) {
    res.SetHeader("WWW-Authenticate", "Bearer");
    WriteError(res, 401, req.HasHeader("Authorization") ? "unknown token" : "missing bearer token");
  }

  // On the I/O thread, which must not wait for the store: a tokens file's token is
  // checked in full, a minted one for its form only (Route checks it in full).
  bool PassesHead(const HttpRequest& req) const {
    std::string header = req.Header("Authorization");
    if (header.rfind("Bearer ", 0) != 0) return false;
    std::string_view bearer = std::string_view(header).substr(7);
    return tokens.Authenticate(bearer).has_value() || LooksLikeMintedToken(bearer);
  }

  // Before a /v1 request's body is read: no token, no body. Decided by the route matched
  // (its decoded segments), never by the path as sent: "/%761/..." is a /v1 route too.
  std::optional<HttpResponse> CheckHead(const HttpRequest& req) const {
    if (req.route.rfind("/v1/", 0) != 0 || PassesHead(req)) return std::nullopt;
    HttpResponse res;
    WriteUnauthenticated(req, res);
    return res;
  }

  // Authenticates, admits, runs `body`, and records how long it took.
  template <typename Body>
  HttpHandler Route(Body body) {
    return [this, body](const HttpRequest& req, HttpResponse& res) {
      auto started = std::chrono::steady_clock::now();
      std::optional<Actor> actor = Authenticate(req);
      if (!actor) {
        WriteUnauthenticated(req, res);
      } else if (InFlight admitted(*this, actor->is_operator() ? "" : actor->partner);
                 !admitted.ok()) {
        res.SetHeader("Retry-After", "1");
        WriteError(res, 429,
                   fmt::format("partner {} already has {} requests in flight, the most it may; "
                               "try again",
                               actor->partner, options.max_in_flight_per_partner));
      } else {
        body(*actor, req, res);
      }
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::lock_guard lock(metrics_mutex);
      durations.Observe(seconds);
    };
  }

  std::string Metrics() {
    HttpServerStats connections = server->stats();
    int answering;
    {
      std::lock_guard lock(in_flight_mutex);
      answering = in_flight_total;
    }
    std::lock_guard lock(metrics_mutex);
    std::string out = fmt::format(
        "# HELP gatewayd_http_requests_in_flight Authenticated requests being answered.\n"
        "# TYPE gatewayd_http_requests_in_flight gauge\n"
        "gatewayd_http_requests_in_flight {}\n"
        "# HELP gatewayd_http_connections_open Admin API connections open.\n"
        "# TYPE gatewayd_http_connections_open gauge\n"
        "gatewayd_http_connections_open {}\n"
        "# HELP gatewayd_http_connections_total Admin API connections by outcome: accepted, "
        "refused over a cap, evicted to make room, timed out, or over a size limit.\n"
        "# TYPE gatewayd_http_connections_total counter\n"
        "gatewayd_http_connections_total{{outcome=\"accepted\"}} {}\n"
        "gatewayd_http_connections_total{{outcome=\"refused\"}} {}\n"
        "gatewayd_http_connections_total{{outcome=\"evicted\"}} {}\n"
        "gatewayd_http_connections_total{{outcome=\"timed_out\"}} {}\n"
        "gatewayd_http_connections_total{{outcome=\"too_large\"}} {}\n"
        "# HELP gatewayd_http_requests_total Admin API requests by method and status.\n"
        "# TYPE gatewayd_http_requests_total counter\n",
        answering, connections.open_connections, connections.accepted, connections.refused,
        connections.evicted, connections.timed_out, connections.too_large);
    for (const auto& [key, count] : requests) {
      out += fmt::format("gatewayd_http_requests_total{{method=\"{}\",code=\"{}\"}} {}\n",
                         key.first, key.second, count);
    }
    out += durations.Render("gatewayd_http_request_duration_seconds",
                            "Time to answer authenticated requests.");
    if (options.more_metrics) out += options.more_metrics();
    return out;
  }

  void Install();
};

void AdminServer::Impl::Install() {
  HttpServer& s = *server;
  s.RouteInline("GET", "/healthz", [](const HttpRequest&, HttpResponse& res) {
    res.SetContent("ok\n", "text/plain");
  });
  s.Route("GET", "/readyz", [this](const HttpRequest&, HttpResponse& res) {
    auto [ready, checks] =
        options.readiness ? options.readiness() : std::pair<bool, std::string>{true, "{}"};
    res.status = ready ? 200 : 503;
    res.SetContent(checks + "\n", "application/json");
  });
  s.Route("GET", "/metrics", [this](const HttpRequest&, HttpResponse& res) {
    res.SetContent(Metrics(), "text/plain; version=0.0.4");
  });
  for (const AdminRoute& entry : kAdminRoutes) {
    s.Route(entry.method, entry.pattern,
            Route([this, &entry](const Actor& actor, const HttpRequest& req, HttpResponse& res) {
              // Who may is decided before what was asked is read (access.h).
              if (entry.action) {
                auto [partner, customer] = ScopeOf(entry, req);
                if (Status allowed = Authorize(actor, *entry.action, partner, customer);
                    !allowed.ok())
                  return WriteStatus(res, allowed);
              }
              entry.handler({service, options}, actor, req, res);
            }));
  }
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminServer::~AdminServer() = default;

Result<std::unique_ptr<AdminServer>> AdminServer::Bind(Service& service, const TokenStore& tokens,
                                                       const AdminServerOptions& options) {
  auto impl = std::make_unique<Impl>(service, tokens, options);
  HttpServerOptions http = options.http;
  http.error_body = [](HttpResponse& res, int status, const std::string& message) {
    WriteError(res, status, message);
  };
  http.check_head = [impl = impl.get()](const HttpRequest& req) { return impl->CheckHead(req); };
  http.on_answer = [impl = impl.get()](const HttpRequest& req, const HttpResponse& res) {
    std::lock_guard lock(impl->metrics_mutex);
    ++impl->requests[{req.method.empty() ? "unread" : req.method, res.status}];
  };
  auto server = HttpServer::Bind(std::move(http));
  if (!server.ok()) return server.status();
  impl->server = std::move(*server);
  impl->Install();
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

int AdminServer::port() const {
  return impl_->server->port();
}

std::string AdminServer::url() const {
  return impl_->server->url();
}

void AdminServer::Serve() {
  impl_->server->Serve();
}
void AdminServer::Stop() {
  impl_->server->Stop();
}

}  // namespace gw
