#include "gateway/http_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <optional>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>

#include "api/http_core.h"
#include "api/http_target.h"
#include "base/admission.h"
#include "gateway/endpoint.h"

namespace gw {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// ---- requests ----------------------------------------------------------------------

namespace {

// Beast 1.74 compares boost::string_view.
bool SameHeaderName(std::string_view a, std::string_view b) {
  return beast::iequals(beast::string_view(a.data(), a.size()),
                        beast::string_view(b.data(), b.size()));
}

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

// ---- accepting ---------------------------------------------------------------------

namespace httpd {

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
  std::shared_ptr<Connection> connection =
      MakeSession(*this, std::move(socket), tls ? &*tls : nullptr);
  *admitted = connection;
  connection->admitted = id;
  ++accepted;
  connection->address = std::move(address);
  connection->Start();
}

}  // namespace httpd

struct HttpServer::Impl : httpd::ServerCore {
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
    return Status::Invalid("--tls-cert and --tls-key go together");
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
    if (ec || found.empty()) return Status::Invalid(fmt::format("cannot resolve {}", o.host));
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
