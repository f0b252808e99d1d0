// HttpServer: HTTP/1.1 (and HTTPS) for listeners that face clients we do not trust: the
// admin API and `gwctl run`'s status and webhook endpoint.
//
// One I/O thread reads and writes every connection asynchronously, so a client that
// trickles bytes costs a socket and a few kilobytes, never a thread. A request is handed
// to a worker thread only once its head and body are complete; inline routes (health
// checks) are answered on the I/O thread and so stay answerable while every worker is
// busy. Every phase has a deadline (TLS handshake and request head together, body,
// write, idle keep-alive), and the bodies being received at once share a budget.
// Connections are capped per client address and in total; when a cap is reached the
// connection that has waited longest without sending a complete request head (idle
// keep-alive first) is closed to make room, so a flood of slow clients only ever
// displaces itself. A request is routed and checked (check_head) as soon as its head is
// in: a Content-Length over the body limit is answered 413, an unknown path 404 and a
// refused token 401, all before the body is read.
//
// Paths are routed by segment ("/v1/partners/{}/customers/{}"): each `{}` matches one
// non-empty, percent-decoded segment, never "." or "..", never with a control character
// or invalid UTF-8 (those are 400 before any handler runs). Routes are case-sensitive.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/status.h"

namespace gw {

struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // as sent, without the query
  std::string route;   // the pattern of the route it matched, as registered ("/v1/partners/{}")
  // matches[0] is the path; matches[1..] the decoded `{}` segments, in order.
  std::vector<std::string> matches;
  std::vector<std::pair<std::string, std::string>> headers;
  std::multimap<std::string, std::string> params;  // decoded query parameters
  std::string body;
  std::string remote_address;

  // Header names compare case-insensitively; a missing header is "".
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  std::string Param(const std::string& name) const;  // the first value, or ""
  bool HasParam(const std::string& name) const { return params.count(name) > 0; }
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "text/plain";

  void SetContent(std::string content, std::string type) {
    body = std::move(content);
    content_type = std::move(type);
  }
  void SetHeader(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

struct HttpServerLimits {
  // From accept to the end of the request head (the TLS handshake included), and for
  // each later request from its first byte. Trickling does not extend it.
  std::chrono::milliseconds head_timeout{10'000};
  std::chrono::milliseconds body_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  // How long a keep-alive connection may wait for its next request.
  std::chrono::milliseconds idle_timeout{5'000};
  // How long Stop() lets requests in flight finish before closing them.
  std::chrono::milliseconds drain_timeout{30'000};
  size_t max_head_bytes = 16u << 10;
  size_t max_body_bytes = 64u << 20;
  // Request bodies being received and answered at once, all connections together; a
  // request whose Content-Length (a chunked one: max_body_bytes) would pass it is 503.
  size_t max_buffered_body_bytes = 512u << 20;
  size_t max_connections = 4096;
  size_t max_connections_per_address = 256;
  int worker_threads = 16;
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;          // 0: one the kernel picks
  std::string tls_cert;  // both set: HTTPS
  std::string tls_key;
  HttpServerLimits limits;
  // Writes the body of an answer the server makes itself (400, 404, 405, 413, 431, 503).
  // Default: the message as text/plain.
  std::function<void(HttpResponse&, int status, const std::string& message)> error_body;
  // Runs on the I/O thread once a request's head is read and routed, before its body: an
  // answer returned here is sent at once and the body is never read. Authentication
  // belongs here, so that no anonymous client can make the server receive a body. Must
  // not block.
  std::function<std::optional<HttpResponse>(const HttpRequest& head)> check_head;
  // Called on the I/O thread after each answer (for metrics and logs). `request.method`
  // is empty when the request could not be read.
  std::function<void(const HttpRequest&, const HttpResponse&)> on_answer;
};

// Counters since the server started, for /metrics.
struct HttpServerStats {
  uint64_t open_connections = 0;
  uint64_t accepted = 0;
  uint64_t refused = 0;  // over a cap with nothing to displace
  uint64_t evicted = 0;  // closed to make room for a new connection
  uint64_t timed_out = 0;
  uint64_t too_large = 0;  // 413 and 431
};

class HttpServer {
 public:
  // Binds the listening socket (so the port is known) without serving yet.
  static Result<std::unique_ptr<HttpServer>> Bind(HttpServerOptions options);
  ~HttpServer();

  // Routes are added before Serve(). A handler runs on a worker thread.
  void Route(std::string method, std::string pattern, HttpHandler handler);
  // Runs on the I/O thread: for fast answers that must not wait for a worker. It must
  // not block.
  void RouteInline(std::string method, std::string pattern, HttpHandler handler);

  int port() const;
  std::string url() const;  // http(s)://host:port
  HttpServerStats stats() const;

  // Serves until Stop(): stops accepting, closes idle connections, lets requests in
  // flight finish (up to limits.drain_timeout), then returns. Thread-safe.
  void Serve();
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads a --listen value, "HOST:PORT" or "[V6]:PORT" (port 0: one the kernel picks), into
// `options`; the error names the flag's value.
Status ParseListenAddress(std::string_view listen, HttpServerOptions& options);

// Raises this process's open-file limit to its hard limit, so connection caps, not the
// kernel's default of 1024 descriptors, decide how many clients are served.
void RaiseOpenFileLimit();

}  // namespace gw
