// gatewayd: the gateway engine as a server. main only wires the store, the tokens and
// the admin API together, and turns signals into stop (SIGTERM/SIGINT) and reload (SIGHUP).
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "gateway/admin_server.h"
#include "gateway/service.h"
#include "gateway/tokens.h"

namespace {

void Log(const std::string& message) {
  std::fprintf(stderr, "gatewayd: %s\n", message.c_str());
}

int Serve(const std::string& data, const std::string& listen, const std::string& tokens_path,
          const gw::ServiceOptions& store, gw::AdminServerOptions options) {
  if (gw::Status parsed = gw::ParseListenAddress(listen, options.http); !parsed.ok()) {
    Log(parsed.message());
    return 2;
  }

  // Signals go to one thread that waits for them; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  gw::RaiseOpenFileLimit();
  std::string store_path = (std::filesystem::path(data) / "gateway.db").string();
  auto service = gw::Service::Open(store_path, store);
  if (!service.ok()) {
    Log(service.status().message());
    return 1;
  }
  Log(fmt::format("opened store {}", store_path));
  auto tokens = gw::TokenStore::Load(tokens_path);
  if (!tokens.ok()) {
    Log(tokens.status().message());
    return 1;
  }
  Log(fmt::format("loaded {} token(s) from {}", (*tokens)->size(), tokens_path));
  auto server = gw::AdminServer::Bind(**service, **tokens, options);
  if (!server.ok()) {
    Log(server.status().message());
    return 1;
  }
  std::thread waiter([&] {
    while (true) {
      int signal = 0;
      sigwait(&signals, &signal);
      if (signal == SIGHUP) {
        gw::Status reloaded = (*tokens)->Reload();
        Log(reloaded.ok()
                ? fmt::format("SIGHUP: reloaded {} token(s)", (*tokens)->size())
                : fmt::format("SIGHUP: kept the previous tokens: {}", reloaded.message()));
        continue;
      }
      Log(fmt::format("{}: finishing requests in flight, then stopping",
                      signal == SIGTERM ? "SIGTERM" : "SIGINT"));
      (*server)->Stop();
      return;
    }
  });
  Log(fmt::format("listening on {}", (*server)->url()));
  (*server)->Serve();
  waiter.join();
  Log("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("gatewayd: the email security gateway engine and its admin API", "gatewayd");
  std::string data = ".", listen = "127.0.0.1:8025", tokens;
  gw::AdminServerOptions options;
  app.add_option("--data", data, "Directory of the store (gateway.db, SQLite in WAL mode)")
      ->capture_default_str();
  app.add_option("--listen", listen, "HOST:PORT to serve the admin API on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--tokens", tokens, "Tokens file (hashes only; see `gatewayd hash-token`)");
  app.add_option("--tls-cert", options.http.tls_cert, "PEM certificate: serve HTTPS");
  app.add_option("--tls-key", options.http.tls_key, "PEM private key for --tls-cert");
  gw::HttpServerLimits& limits = options.http.limits;
  app.add_option("--max-body-bytes", limits.max_body_bytes,
                 "Largest request body accepted; a larger Content-Length is answered 413 "
                 "before the body is read")
      ->capture_default_str();
  app.add_option("--max-buffered-body-bytes", limits.max_buffered_body_bytes,
                 "Request bodies being received at once, all clients together; past it a "
                 "request with a body is answered 503 with Retry-After")
      ->capture_default_str();
  app.add_option("--threads", limits.worker_threads, "Request threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--max-connections", limits.max_connections,
                 "Connections open at once; past it, the one waiting longest for its request "
                 "head is closed to make room")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--max-connections-per-address", limits.max_connections_per_address,
                 "Connections open at once from one client address")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  int head_timeout_ms = static_cast<int>(limits.head_timeout.count());
  app.add_option("--head-timeout-ms", head_timeout_ms,
                 "Time a client has to send a request's head (line and headers), the TLS "
                 "handshake included")
      ->capture_default_str()
      ->check(CLI::Range(100, 600'000));
  app.add_option("--max-in-flight-per-partner", options.max_in_flight_per_partner,
                 "Requests one partner may have in flight; more are answered 429 with "
                 "Retry-After (keep it below --threads so other partners get one)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  gw::ServiceOptions store;
  app.add_option("--store-busy-timeout-ms", store.busy_timeout_ms,
                 "How long a write waits while another process holds the store; then the "
                 "request is answered 503 with Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(1, 600'000));
  app.add_option("--hostname", store.gateway_host,
                 "The gateway's own host name, as customers' MX records name it: a destination "
                 "naming it is refused (mail would loop)");
  app.footer(
      "Signals: SIGTERM/SIGINT finish requests in flight and exit 0; SIGHUP re-reads the tokens "
      "file.\n"
      "Example: gatewayd --data /var/lib/gatewayd --tokens /etc/gatewayd/tokens.yaml");
  CLI::App* hash =
      app.add_subcommand("hash-token", "Read a token on stdin and print its tokens-file entry");
  std::string name = "NAME", partner;
  hash->add_option("--name", name, "Name for the entry")->capture_default_str();
  hash->add_option("--partner", partner, "Scope the token to this partner (default: operator)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  limits.head_timeout = std::chrono::milliseconds(head_timeout_ms);
  if (hash->parsed()) {
    std::string token;
    std::getline(std::cin, token);
    if (token.empty()) {
      Log("hash-token: no token on stdin");
      return 2;
    }
    std::string scope = partner.empty() ? "role: operator" : "partner: " + partner;
    std::cout << fmt::format("  - {{name: {}, {}, sha256: \"{}\"}}\n", name, scope,
                             gw::HashToken(token));
    return 0;
  }
  if (tokens.empty()) {
    Log("--tokens FILE is required (see --help)");
    return 2;
  }
  return Serve(data, listen, tokens, store, options);
}
