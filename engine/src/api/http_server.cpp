#include "gateway/http_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <optional>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "api/http_target.h"
#include "base/admission.h"
#include "gateway/endpoint.h"

namespace gw {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// ---- requests ----------------------------------------------------------------------

namespace {

// Beast 1.74 compares boost::string_view.
bool SameHeaderName(std::string_view a, std::string_view b) {
  return beast::iequals(beast::string_view(a.data(), a.size()),
                        beast::string_view(b.data(), b.size()));
}

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

}  // namespace

std::string HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (SameHeaderName(key, name)) return value;
  return "";
}

bool HttpRequest::HasHeader(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& header) { return SameHeaderName(header.first, name); });
}

std::string HttpRequest::Param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}

// ---- connections -------------------------------------------------------------------

namespace {

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

template <typename Stream>
class Session : public Connection {
 public:
  template <typename... Args>
  Session(ServerCore& server, Args&&... args)
      : server_(server), stream_(std::forward<Args>(args)...) {}

  // The first head's deadline runs from accept, across the TLS handshake.
  void Start() override {
    Transport().socket().set_option(tcp::no_delay(true));
    NewParser();
    Transport().expires_after(server_.options.limits.head_timeout);
    if constexpr (kTls) {
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = Self()](beast::error_code ec) {
                                if (ec) return self->Fail(ec);
                                self->ReadHead();
                              });
    } else {
      ReadHead();
    }
  }

  void Close() override {
    if (closed) return;
    closed = true;
    ReleaseBody();
    beast::error_code ignored;
    Transport().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Transport().close();
    server_.Unregister(*this);
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& Transport() { return beast::get_lowest_layer(stream_); }
  std::shared_ptr<Session> Self() { return std::static_pointer_cast<Session>(shared_from_this()); }

  void Enter(Phase next) {
    phase = next;
    // Only a connection without a complete request head may be displaced.
    server_.admission.Enter(admitted, next == Phase::kIdle   ? Admission::State::kIdle
                                      : next == Phase::kHead ? Admission::State::kPartial
                                                             : Admission::State::kBusy);
  }

  void ReleaseBody() {
    server_.ReleaseBody(reserved_);
    reserved_ = 0;
  }

  void NewParser() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.options.limits.max_head_bytes));
    parser_->body_limit(server_.options.limits.max_body_bytes);
  }

  // Between requests: wait for the first byte of the next one within the idle timeout.
  void ReadNext() {
    NewParser();
    if (buffer_.size() > 0) return NextHead();  // pipelined
    Enter(Phase::kIdle);
    Transport().expires_after(server_.options.limits.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = Self()](beast::error_code ec, size_t bytes) {
                              if (ec) return self->Fail(ec);
                              self->buffer_.commit(bytes);
                              self->NextHead();
                            });
  }

  // A later request's head: its deadline runs from its first byte.
  void NextHead() {
    Enter(Phase::kHead);
    Transport().expires_after(server_.options.limits.head_timeout);
    ReadHead();
  }

  void ReadHead() {
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = Self()](beast::error_code ec, size_t) {
                              if (ec) return self->Fail(ec);
                              self->OnHead();
                            });
  }

  // The head is complete: route it, let the owner check it, and only then read a body.
  void OnHead() {
    const auto& head = parser_->get();
    keep_alive_ = head.keep_alive();
    request_ = std::make_shared<HttpRequest>();
    HttpRequest& request = *request_;
    request.method = std::string(head.method_string());
    std::string_view target(head.target().data(), head.target().size());
    size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    request.remote_address = address;
    for (const auto& field : head)
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));

    if (target.empty() || target.front() != '/')
      return Refuse(400, "the request target must be a path");
    auto segments = DecodePath(request.path);
    if (!segments.ok()) return Refuse(400, segments.status().message());
    if (question != std::string_view::npos) {
      auto params = ParseQuery(target.substr(question + 1));
      if (!params) return Refuse(400, "the query has an invalid %-escape");
      request.params = std::move(*params);
    }
    std::string allowed;
    std::vector<std::string> captures;
    for (const auto& entry : server_.routes) {
      if (!entry.Matches(*segments, captures)) continue;
      if (entry.method == request.method) {
        route_ = &entry;
        break;
      }
      allowed += (allowed.empty() ? "" : ", ") + entry.method;
    }
    if (!route_) {
      if (allowed.empty()) return Refuse(404, "no such resource");
      HttpResponse response = server_.ErrorAnswer(
          405, fmt::format("{} is not allowed here; use {}", request.method, allowed));
      response.SetHeader("Allow", allowed);
      return Answer(std::move(response));
    }
    request.route = route_->pattern_text;
    request.matches.push_back(request.path);
    for (auto& capture : captures) request.matches.push_back(std::move(capture));

    if (server_.options.check_head) {
      if (auto refusal = server_.options.check_head(request)) return Answer(std::move(*refusal));
    }
    if (!parser_->is_done()) {
      // Chunked bodies may grow to the limit: reserve all of it.
      reserved_ = parser_->content_length().value_or(server_.options.limits.max_body_bytes);
      if (!server_.ReserveBody(reserved_)) {
        reserved_ = 0;
        HttpResponse busy = server_.ErrorAnswer(
            503, "the gateway is receiving too many request bodies at once; try again");
        busy.SetHeader("Retry-After", "1");
        return Answer(std::move(busy));
      }
    }
    if (!beast::iequals(head[http::field::expect], "100-continue") || parser_->is_done()) {
      return ReadBody();
    }
    Transport().expires_after(server_.options.limits.write_timeout);
    auto proceed =
        std::make_shared<http::response<http::empty_body>>(http::status::continue_, head.version());
    http::async_write(stream_, *proceed, [self = Self(), proceed](beast::error_code ec, size_t) {
      if (ec) return self->Fail(ec);
      self->ReadBody();
    });
  }

  void ReadBody() {
    if (parser_->is_done()) return Dispatch();
    Enter(Phase::kBody);
    Transport().expires_after(server_.options.limits.body_timeout);
    http::async_read(stream_, buffer_, *parser_, [self = Self()](beast::error_code ec, size_t) {
      if (ec) return self->Fail(ec);
      self->Dispatch();
    });
  }

  void Dispatch() {
    Transport().expires_never();
    request_->body = std::move(parser_->get().body());
    const RouteEntry* route = route_;
    if (route->inline_answer) return Answer(Run(*route, *request_));
    Enter(Phase::kHandling);
    asio::post(server_.workers, [self = Self(), route, request = request_] {
      HttpResponse response = self->Run(*route, *request);
      asio::post(self->server_.io, [self, response = std::move(response)]() mutable {
        self->Answer(std::move(response));
      });
    });
  }

  HttpResponse Run(const RouteEntry& route, const HttpRequest& request) {
    HttpResponse response;
    try {
      route.handler(request, response);
    } catch (const std::exception&) {
      response = server_.ErrorAnswer(500, "internal error");
    }
    return response;
  }

  // Answers a request that could not be read or routed.
  void Refuse(int status, const std::string& message) {
    if (!request_) {
      request_ = std::make_shared<HttpRequest>();
      request_->remote_address = address;
    }
    Answer(server_.ErrorAnswer(status, message));
  }

  // Sends the answer; the connection stays open for the next request only if this one
  // was read whole (an answer made before the body was read closes it).
  void Answer(HttpResponse answer) {
    if (closed) return;
    ReleaseBody();
    if (!parser_->is_done()) keep_alive_ = false;
    if (server_.options.on_answer) server_.options.on_answer(*request_, answer);
    request_.reset();
    route_ = nullptr;
    Enter(Phase::kWriting);
    bool keep = keep_alive_ && !server_.stopping;
    response_.emplace(static_cast<http::status>(answer.status), 11);
    if (!answer.body.empty() || answer.status != 204)
      response_->set(http::field::content_type, answer.content_type);
    for (const auto& [name, value] : answer.headers) response_->insert(name, value);
    response_->body() = std::move(answer.body);
    response_->keep_alive(keep);
    response_->prepare_payload();
    Transport().expires_after(server_.options.limits.write_timeout);
    http::async_write(stream_, *response_, [self = Self(), keep](beast::error_code ec, size_t) {
      self->response_.reset();
      if (ec) return self->Close();
      if (!keep) return self->Linger();
      self->ReadNext();
    });
  }

  // Closing with unread request bytes makes the kernel send a reset, which can destroy
  // the answer before the client reads it: stop sending, then discard what the client
  // still sends for a moment (bounded in time and bytes) before closing.
  void Linger() {
    if constexpr (kTls) {
      Close();
    } else {
      beast::error_code ignored;
      Transport().socket().shutdown(tcp::socket::shutdown_send, ignored);
      Enter(Phase::kIdle);
      Transport().expires_after(std::chrono::seconds(2));
      Discard(1u << 20);
    }
  }

  void Discard(size_t budget) {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(16384),
                            [self = Self(), budget](beast::error_code ec, size_t bytes) {
                              if (ec || bytes >= budget) return self->Close();
                              self->Discard(budget - bytes);
                            });
  }

  void Fail(beast::error_code ec) {
    if (closed) return;
    if (ec == http::error::body_limit) {
      ++server_.too_large;
      return Refuse(413, fmt::format("the request body is larger than {} bytes",
                                     server_.options.limits.max_body_bytes));
    }
    if (ec == http::error::header_limit) {
      ++server_.too_large;
      return Refuse(431, fmt::format("the request head is larger than {} bytes",
                                     server_.options.limits.max_head_bytes));
    }
    if (ec == beast::error::timeout) ++server_.timed_out;
    // A request that cannot be parsed gets a 400; a client that went away, nothing.
    if (ec.category() == beast::error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message &&
        phase != Phase::kIdle) {
      return Refuse(400, "the request could not be read: " + ec.message());
    }
    Close();
  }

  ServerCore& server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::shared_ptr<HttpRequest> request_;  // from its head until it is answered
  const RouteEntry* route_ = nullptr;
  size_t reserved_ = 0;  // of the server's body budget
  bool keep_alive_ = false;
};

void ServerCore::Accept() {
  acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (stopping) return;
    if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
      // Out of descriptors: make room, and try again shortly rather than spin.
      admission.DisplaceOne();
      accept_retry.expires_after(std::chrono::milliseconds(10));
      accept_retry.async_wait([this](boost::system::error_code waited) {
        if (!waited) Accept();
      });
      return;
    }
    if (!ec) Admit(std::move(socket));
    Accept();
  });
}

void ServerCore::Admit(tcp::socket socket) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec) return;
  std::string address = remote.address().to_string();
  // Displacing runs here, on the I/O thread, where a connection closes.
  auto admitted = std::make_shared<std::weak_ptr<Connection>>();
  Admission::Id id = admission.Admit(address, [admitted] {
    if (auto victim = admitted->lock()) victim->Close();
  });
  if (!id) {
    ++refused;
    if (!tls) {
      // Best effort, without waiting: a client that reads learns why.
      static constexpr std::string_view kBusy =
          "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
          "Content-Length: 0\r\n\r\n";
      socket.non_blocking(true, ec);
      socket.write_some(asio::buffer(kBusy), ec);
    }
    socket.close(ec);
    return;
  }
  std::shared_ptr<Connection> connection;
  if (tls) {
    connection = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
        *this, std::move(socket), *tls);
  } else {
    connection = std::make_shared<Session<beast::tcp_stream>>(*this, std::move(socket));
  }
  *admitted = connection;
  connection->admitted = id;
  ++accepted;
  connection->address = std::move(address);
  connection->Start();
}

}  // namespace

struct HttpServer::Impl : ServerCore {
  using ServerCore::ServerCore;
};

// ---- the server --------------------------------------------------------------------

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  Stop();
  impl_->workers.join();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Bind(HttpServerOptions options) {
  if (options.tls_cert.empty() != options.tls_key.empty())
    return Status(StatusCode::kInvalidArgument, "--tls-cert and --tls-key go together");
  auto impl = std::make_unique<Impl>(std::move(options));
  const auto& o = impl->options;
  boost::system::error_code ec;
  if (!o.tls_cert.empty()) {
    impl->tls.emplace(asio::ssl::context::tls_server);
    impl->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1);
    impl->tls->use_certificate_chain_file(o.tls_cert, ec);
    if (!ec) impl->tls->use_private_key_file(o.tls_key, asio::ssl::context::pem, ec);
    if (ec) {
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("cannot use TLS certificate {} with key {}: {}", o.tls_cert,
                                o.tls_key, ec.message()));
    }
  }
  auto address = asio::ip::make_address(o.host, ec);
  if (ec) {
    // A name, such as localhost: the first address it resolves to.
    tcp::resolver resolver(impl->io);
    auto found = resolver.resolve(o.host, std::to_string(o.port), ec);
    if (ec || found.empty())
      return Status(StatusCode::kInvalidArgument, fmt::format("cannot resolve {}", o.host));
    address = found.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, static_cast<unsigned short>(o.port));
  auto& acceptor = impl->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("cannot listen on {}:{}: {}", o.host, o.port, ec.message()));
  }
  impl->port = acceptor.local_endpoint().port();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Route(std::string method, std::string pattern, HttpHandler handler) {
  std::vector<std::string> segments;
  for (std::string_view segment : SplitPath(pattern)) segments.emplace_back(segment);
  impl_->routes.push_back(
      {std::move(method), std::move(pattern), std::move(segments), std::move(handler), false});
}

void HttpServer::RouteInline(std::string method, std::string pattern, HttpHandler handler) {
  Route(std::move(method), std::move(pattern), std::move(handler));
  impl_->routes.back().inline_answer = true;
}

int HttpServer::port() const {
  return impl_->port;
}

std::string HttpServer::url() const {
  const std::string& host = impl_->options.host;
  return fmt::format("{}://{}:{}", impl_->tls ? "https" : "http",
                     host.find(':') != std::string::npos ? "[" + host + "]" : host, impl_->port);
}

HttpServerStats HttpServer::stats() const {
  HttpServerStats stats;
  stats.open_connections = impl_->admission.open();
  stats.accepted = impl_->accepted;
  stats.refused = impl_->refused;
  stats.evicted = impl_->admission.displaced();
  stats.timed_out = impl_->timed_out;
  stats.too_large = impl_->too_large;
  return stats;
}

void HttpServer::Serve() {
  asio::post(impl_->io, [this] { impl_->Accept(); });
  impl_->io.run();
}

void HttpServer::Stop() {
  asio::post(impl_->io, [this] { impl_->BeginStop(); });
}

Status ParseListenAddress(std::string_view listen, HttpServerOptions& options) {
  auto endpoint = ParseEndpoint(listen, "--listen");
  if (!endpoint.ok()) return endpoint.status();
  options.host = endpoint->host;
  options.port = endpoint->port;
  return Status::Ok();
}

void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace gw
