// The admin HTTP server's insides, shared by http_server.cpp (accepting, admission, the
// public HttpServer) and http_session.cpp (one connection's request/response state
// machine, plain or TLS). Nothing outside those two files includes it.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "base/admission.h"
#include "gateway/http_server.h"

namespace gw::httpd {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct RouteEntry {
  std::string method;
  std::string pattern_text;          // as registered
  std::vector<std::string> pattern;  // "{}" matches one segment
  HttpHandler handler;
  bool inline_answer = false;

  bool Matches(const std::vector<std::string>& segments, std::vector<std::string>& captures) const {
    if (segments.size() != pattern.size()) return false;
    captures.clear();
    for (size_t i = 0; i < pattern.size(); ++i) {
      if (pattern[i] == "{}") {
        if (segments[i].empty()) return false;
        captures.push_back(segments[i]);
      } else if (pattern[i] != segments[i]) {
        return false;
      }
    }
    return true;
  }
};

enum class Phase { kHead, kIdle, kBody, kHandling, kWriting };

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  virtual ~Connection() = default;
  virtual void Start() = 0;
  // Closes the socket (pending operations end with operation_aborted) and leaves the
  // registry. I/O thread only; idempotent.
  virtual void Close() = 0;

  Phase phase = Phase::kHead;
  std::string address;
  Admission::Id admitted = 0;
  bool closed = false;
};

struct ServerCore {
  HttpServerOptions options;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  tcp::acceptor acceptor{io};
  std::optional<asio::ssl::context> tls;
  asio::thread_pool workers;
  std::vector<RouteEntry> routes;
  int port = 0;

  Admission admission{options.limits.max_connections, options.limits.max_connections_per_address};
  // I/O thread only.
  bool stopping = false;
  size_t buffered_body_bytes = 0;
  asio::steady_timer drain_timer{io};
  asio::steady_timer accept_retry{io};

  std::atomic<uint64_t> accepted{0}, refused{0}, timed_out{0}, too_large{0};

  explicit ServerCore(HttpServerOptions o)
      : options(std::move(o)), workers(std::max(1, options.limits.worker_threads)) {}

  HttpResponse ErrorAnswer(int status, const std::string& message) const {
    HttpResponse response;
    response.status = status;
    if (options.error_body) {
      options.error_body(response, status, message);
    } else {
      response.SetContent(message + "\n", "text/plain");
    }
    return response;
  }

  // A connection leaves the admission; when the server stops, the last one ends it.
  void Unregister(Connection& connection) {
    admission.Leave(connection.admitted);
    MaybeFinish();
  }

  // The budget of request bytes being received at once (limits.max_buffered_body_bytes).
  bool ReserveBody(size_t bytes) {
    if (buffered_body_bytes + bytes > options.limits.max_buffered_body_bytes) return false;
    buffered_body_bytes += bytes;
    return true;
  }
  void ReleaseBody(size_t bytes) { buffered_body_bytes -= bytes; }

  void Accept();
  void Admit(tcp::socket socket);

  void BeginStop() {
    if (stopping) return;
    stopping = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    accept_retry.cancel();
    for (auto& close : admission.Closers(/*idle_only=*/true)) close();
    drain_timer.expires_after(options.limits.drain_timeout);
    drain_timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      for (auto& close : admission.Closers(/*idle_only=*/false)) close();
      io.stop();
    });
    MaybeFinish();
  }

  void MaybeFinish() {
    if (!stopping || admission.open() != 0) return;
    drain_timer.cancel();
    work.reset();
  }
};

// A connection for an accepted socket, speaking TLS when `tls` is set; Start() begins it.
std::shared_ptr<Connection> MakeSession(ServerCore& server, tcp::socket socket,
                                        asio::ssl::context* tls);

}  // namespace gw::httpd
